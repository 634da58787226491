# ray-agents developer commands. `make install` then `make test` on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export RAY_USAGE_STATS_ENABLED := 0
export LITELLM_LOCAL_MODEL_COST_MAP := True

.PHONY: install js test chaos bench lint format dev demo clean

install:  ## system packages the tests start (as root: apt-get), then .venv with ray-agents (editable) and dev extras
	bash .ci/system-packages
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	$(MAKE) js

js:  ## the TypeScript client (clients/js): npm ci, then build dist/ and serve/static/agents.js
	cd clients/js && npm ci --no-audit --no-fund && npm run build

test:  ## the whole suite (real Ray, real Redis, real Serve; the JS client's node tests via tests/test_js_client.py)
	$(BIN)/python -m pytest -q -p no:cacheprovider

chaos:  ## long fault-injection runs: kills and node loss under load
	$(BIN)/python -m pytest -q -s -p no:cacheprovider -m chaos -o addopts=""

bench:  ## latency, throughput, activation, checkpoints by size, restore/fork, memory; pooled vs dedicated (ratios vs raw Ray)
	$(BIN)/python bench/bench_core.py
	$(BIN)/python bench/bench_density.py
	$(BIN)/python bench/bench_writes.py
	$(BIN)/python bench/bench_sizes.py
	$(BIN)/python bench/bench_stores.py
	$(BIN)/python bench/bench_mcp.py
	$(BIN)/python bench/bench_events.py

lint:  ## style, formatting, the import layering (wire <- SDK <- runtime <- ingress), typed handles
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python -c "import sys, agents, agents.http, agents.client; assert 'ray' not in sys.modules, 'importing the SDK imported Ray'"
	$(BIN)/pyright  # tests/typecheck only ([tool.pyright]): typed calls pass, refused ones must fail

format:
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

dev demo:  ## run the example against an embedded local Ray
	$(BIN)/python examples/counter.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
