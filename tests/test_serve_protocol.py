"""Golden fixtures freeze the wire format; patches and frame parsing are checked without a server."""

from __future__ import annotations

import json
import pathlib

import pytest

from agents.wire import patch, protocol

FIXTURES = sorted((pathlib.Path(__file__).parent / "fixtures" / "protocol").glob("*.json"))


def test_every_frame_kind_has_a_fixture() -> None:
    names = {f.stem.partition("_")[2] for f in FIXTURES}
    server = {"identity", "state", "state_patch", "result", "chunk", "end", "error", "close"}
    assert protocol.CLIENT_TYPES | server <= names


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda f: f.stem)
def test_fixture_parses_and_round_trips_unchanged(fixture: pathlib.Path) -> None:
    data = json.loads(fixture.read_text())
    if fixture.stem.startswith("client_"):
        frame = protocol.parse_client_text(json.dumps(data))
        assert frame is not None
    else:
        frame = protocol.server_frames.validate_python(data)
    assert json.loads(frame.dump()) == data


def test_user_messages_are_not_protocol_frames() -> None:
    for text in ("hello", '{"type": "chat", "text": "hi"}', "[1, 2]", "{not json"):
        assert protocol.parse_client_text(text) is None


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ('{"type": "rpc", "id": "1"}', "malformed_frame"),
        ('{"type": "rpc", "id": "1", "method": "m", "extra": 1}', "malformed_frame"),
        ('{"type": "cancel"}', "malformed_frame"),
        ('{"type": "sync", "pad": "' + "x" * 100 + '"}', "frame_too_large"),
    ],
)
def test_bad_protocol_frames_raise_typed_frame_errors(text: str, code: str) -> None:
    with pytest.raises(protocol.FrameError) as raised:
        protocol.parse_client_text(text, limit=64)
    assert raised.value.code == code


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ({"a": 1, "l": [1]}, {"a": 2, "l": [1, 2, 3]}),
        ({"a": {"b": None}}, {"a": {"b": 1, "c/d~": None}}),
        ({"l": [1, 2, 3]}, {"l": [3]}),
        ({"l": [{"x": 1}, {"x": 2}]}, {"l": [{"x": 1}, {"x": 5}]}),
        ({"a": 1}, [1, 2]),
        ({"a": 1, "b": 2}, {"b": 2}),
    ],
)
def test_patch_diff_then_apply_reproduces_the_new_state(old, new) -> None:
    ops = patch.diff(old, new)
    assert patch.apply(old, ops) == new
    assert old != new  # and `apply` did not touch its input


def test_appending_to_a_list_is_one_small_op() -> None:
    old = {"messages": [f"m{i}" for i in range(100)]}
    new = {"messages": [*old["messages"], "hi"]}
    assert patch.diff(old, new) == [{"op": "add", "path": "/messages/-", "value": "hi"}]


def test_a_patch_that_does_not_fit_is_refused() -> None:
    with pytest.raises(ValueError, match="does not apply"):
        patch.apply({"a": 1}, [{"op": "replace", "path": "/b", "value": 1}])


def test_a_frame_nested_past_the_decoders_depth_is_malformed_not_a_crash() -> None:
    with pytest.raises(protocol.FrameError) as raised:
        protocol.parse_client_text('{"a":' + "[" * 20_000 + "]" * 20_000 + "}")
    assert raised.value.code == "malformed_frame"


def test_a_refused_call_frame_names_its_call_when_its_id_can_be_read() -> None:
    for text, code in (
        ('{"type": "rpc", "id": "c7", "method": "m", "args": ["' + "x" * 100 + '"]}', "frame_too_large"),
        ('{"type": "rpc", "id": "c7", "method": "m", "args": "nope"}', "malformed_frame"),
    ):
        with pytest.raises(protocol.FrameError) as raised:
            protocol.parse_client_text(text, limit=64 if code == "frame_too_large" else 1 << 20)
        assert (raised.value.code, raised.value.call_id) == (code, "c7")
    with pytest.raises(protocol.FrameError) as raised:
        protocol.parse_client_text("x" * 100, limit=64)
    assert raised.value.call_id is None
