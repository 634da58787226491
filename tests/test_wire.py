"""The wire layer stands alone: clients import no Ray, and every error code survives the trip."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest

from agents.errors import AgentError, CallError, Rejected, registered
from agents.wire.errors import from_wire, to_wire
from agents.wire.retry import backoff


def test_importing_the_sdk_and_its_clients_does_not_import_ray() -> None:
    code = (
        "import sys, agents, agents.http, agents.client, agents.wire.protocol, agents.chat, agents.codemode; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('ray', 'cluster', 'serve')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_client_decodes_chat_errors_without_importing_chat() -> None:
    code = (
        "import sys; from agents.wire.errors import from_wire; "
        "e = from_wire('unknown_approval', 'no such call', 404); "
        "print(type(e).__name__, 'agents.chat' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["UnknownApprovalError", "False"]


@pytest.mark.parametrize("code", sorted(registered()))
def test_every_registered_error_code_round_trips(code: str) -> None:
    cls = registered()[code]
    carries_status = cls.from_wire.__func__ is not AgentError.from_wire.__func__  # e.g. Rejected(status)
    status = 418 if carries_status else cls.status
    error = from_wire(code, "what went wrong", status)
    assert type(error) is cls
    wire = to_wire(error)
    assert (wire.code, wire.status, wire.message) == (code, status, "what went wrong")
    clone = pickle.loads(pickle.dumps(error))  # crosses Ray as itself
    assert (type(clone), clone.message, clone.status) == (cls, "what went wrong", status)


def test_a_rejection_keeps_its_status() -> None:
    assert to_wire(from_wire("rejected", "no token", 401)).status == 401
    assert isinstance(from_wire("rejected", "no token", 401), Rejected)


def test_an_unknown_code_keeps_its_code_and_status() -> None:
    error = from_wire("teapot", "short and stout", 418)
    assert isinstance(error, CallError)
    assert (error.code, error.status, error.message) == ("teapot", 418, "short and stout")


def test_user_exceptions_go_on_the_wire_as_exception() -> None:
    wire = to_wire(ValueError("bad"))
    assert (wire.code, wire.status, wire.message) == ("exception", 500, "ValueError: bad")


def test_an_error_code_cannot_be_registered_twice() -> None:
    with pytest.raises(TypeError, match="taken"):

        class Clash(AgentError):
            code = "invalid_arguments"


def test_backoff_grows_with_jitter_and_caps() -> None:
    assert backoff(0, first_free=True) == 0.0
    assert 0.025 <= backoff(0) < 0.075
    assert all(1.0 <= backoff(10, cap=2.0) < 3.0 for _ in range(50))
