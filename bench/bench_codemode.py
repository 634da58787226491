"""Code Mode overheads per backend: cold start per run and cost per tool call.

    .venv/bin/python bench/bench_codemode.py [--runs 30] [--calls 200]

Cold start: a program that returns a constant, end to end (process start, limits, protocol, teardown).
Per call: a program making `--calls` sequential tool calls, minus the empty program, divided by the
calls. Both are compared with a direct Python call of the same tool (awaited in this process).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

from agents.codemode import Limits, run_code
from agents.codemode.stubs import Language

EMPTY: dict[Language, str] = {"typescript": "return 1;", "python": "1"}
LOOP: dict[Language, str] = {
    "typescript": "let s = 0; for (let i = 0; i < {n}; i++) s = await tools.add({{a: s, b: 1}}); return s;",
    "python": "s = 0\nfor i in range({n}):\n    s = await add(s, 1)\ns",
}


async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def timed(fn: Callable[[], Awaitable[object]], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        await fn()
        samples.append(time.perf_counter() - start)
    return samples


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[98] if len(samples) > 1 else samples[0]


async def bench(runs: int, calls: int) -> None:
    direct = await timed(lambda: add(1, 2), 10_000)
    direct_median = statistics.median(direct)
    print(f"direct call of the tool: median {direct_median * 1e6:.2f} us, p99 {p99(direct) * 1e6:.2f} us")
    for language in ("typescript", "python"):
        await run_code(EMPTY[language], language=language)  # warm the OS page cache

        async def empty(language: Language = language) -> None:
            result = await run_code(EMPTY[language], language=language)
            assert result.result == 1, result

        async def loop(language: Language = language) -> None:
            code = LOOP[language].format(n=calls)
            result = await run_code(code, tools=[add], language=language, limits=Limits(max_tool_calls=calls))
            assert result.result == calls, result

        cold = await timed(empty, runs)
        loops = await timed(loop, max(5, runs // 3))
        per_call = [(t - statistics.median(cold)) / calls for t in loops]
        cold_median, call_median = statistics.median(cold), statistics.median(per_call)
        print(
            f"{language:>10}: cold start median {cold_median * 1e3:.1f} ms, p99 {p99(cold) * 1e3:.1f} ms"
            f" ({cold_median / direct_median:,.0f}x a direct call)"
        )
        print(
            f"{'':>10}  per tool call median {call_median * 1e6:.0f} us, p99 {p99(per_call) * 1e6:.0f} us"
            f" ({call_median / direct_median:,.0f}x a direct call)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="runs of the empty program per backend")
    parser.add_argument("--calls", type=int, default=200, help="tool calls per program in the call benchmark")
    args = parser.parse_args()
    asyncio.run(bench(args.runs, args.calls))


if __name__ == "__main__":
    main()
