"""What the server refuses, and how: error events that keep the socket usable, fatal ones that close it."""

from __future__ import annotations

import time

import pytest
from websockets.exceptions import ConnectionClosed

from tests.realtime.client import event, open_session, send, speak
from tests.realtime.conftest import MAX_MESSAGE_BYTES, FakeServer
from tests.service.fake_engine import StreamRecord


def test_messages_before_session_config_are_refused_and_the_socket_stays(fake_server: FakeServer) -> None:
    with open_session(fake_server.url) as ws:
        for kind in ("input.text", "input.done"):
            send(ws, type=kind, **({"text": "Hi."} if kind == "input.text" else {}))
            assert event(ws)["code"] == "session_not_configured"
        send(ws, type="session.config", voice="alloy")
        assert speak(ws, ["Now it works."]).sentences == ["Now it works."]


@pytest.mark.parametrize(
    ("config", "code", "param"),
    [
        ({"voice": "alloy", "speed": 9}, "invalid_config", "speed"),
        ({"voice": "alloy", "response_format": "flac"}, "invalid_config", "response_format"),
        ({"voice": "alloy", "temperature": 0}, "invalid_config", "temperature"),
        ({"voice": "alloy", "task_type": "Talk"}, "invalid_config", "task_type"),
        ({"voice": "alloy", "bogus": 1}, "unknown_field", "bogus"),
        ({"voice": "nobody"}, "voice_not_found", "voice"),
        ({"voice": "clone:Nobody"}, "voice_not_found", "voice"),
        ({"voice": "alloy", "model": "no-such-model"}, "model_not_found", "model"),
        ({"voice": "alloy", "language": "klingon"}, "unsupported_language", "language"),
        ({"voice": "alloy", "model": "fake-Base", "task_type": "CustomVoice"}, "model_mismatch", "task_type"),
        ({"task_type": "VoiceDesign"}, "invalid_request", "instructions"),
        ({"voice": "alloy", "timestamp_type": "word"}, "word_timestamps_unavailable", "timestamp_type"),
        ({"voice": "alloy", "word_timestamps": True}, "word_timestamps_unavailable", "word_timestamps"),
        ({"voice": "alloy", "split_granularity": "clause"}, "invalid_config", "split_granularity"),
        ({"voice": "alloy", "speaker_embedding": [0.1]}, "unknown_field", "speaker_embedding"),
        ({}, "invalid_config", None),
    ],
)
def test_a_refused_config_names_why_and_the_previous_one_stays(
    fake_server: FakeServer, config: dict[str, object], code: str, param: str | None
) -> None:
    with open_session(fake_server.url) as ws:
        send(ws, type="session.config", **config)
        refused = event(ws)
        assert (refused["type"], refused["code"], refused.get("param")) == ("error", code, param), refused
        if code == "unknown_field":
            assert f"'{param}'" in refused["message"]
        send(ws, type="input.text", text="Before a config.")
        assert event(ws)["code"] == "session_not_configured"
        send(ws, type="session.config", voice="alloy")
        send(ws, type="session.config", **config)  # refused again: the good config stays
        assert event(ws)["code"] == code
        assert speak(ws, ["Still speaking."]).sentences == ["Still speaking."]


def test_bad_frames_get_error_events(fake_server: FakeServer) -> None:
    with open_session(fake_server.url) as ws:
        ws.send("not json")
        assert event(ws)["code"] == "invalid_json"
        ws.send(b"\x00\x01")
        assert event(ws)["code"] == "invalid_message"
        send(ws, type="input.speak")
        assert event(ws)["code"] == "unknown_type"
        send(ws, type="session.config", voice="alloy")
        send(ws, type="input.text", text="Open turn")
        send(ws, type="session.config", voice="echo")
        assert event(ws)["code"] == "turn_in_progress"
        send(ws, type="input.text", text=" ends.", extra=1)
        assert event(ws)["code"] == "unknown_field"
        assert speak(ws, []).sentences == ["Open turn"]


def test_an_oversize_frame_closes_1009_after_an_error_event(fake_server: FakeServer) -> None:
    with open_session(fake_server.url) as ws:
        send(ws, type="session.config", voice="alloy")
        send(ws, type="input.text", text="x" * MAX_MESSAGE_BYTES)
        assert event(ws)["code"] == "message_too_large"
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
    assert ws.close_code == 1009


def test_session_close_and_idle_timeout_end_the_socket(fake_server: FakeServer) -> None:
    with open_session(fake_server.url) as ws:
        send(ws, type="session.close")
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
    assert ws.close_code == 1000
    with open_session(fake_server.url) as ws:  # the fixture's idle timeout is 1 s
        refused = event(ws, timeout=10)
        assert refused["code"] == "idle_timeout"
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
    assert ws.close_code == 1000


def _settled(record: StreamRecord, timeout_s: float = 5.0) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not (record.closed_early or record.finished):
        time.sleep(0.01)
    return record.chunks


def test_closing_mid_turn_stops_generation_within_two_chunks(fake_server: FakeServer) -> None:
    engine = fake_server.engines["slow-CustomVoice"]
    before = len(engine.records)
    with open_session(fake_server.url) as ws:
        send(ws, type="session.config", voice="alloy", model="slow-CustomVoice")
        send(ws, type="input.text", text="A sentence that takes seconds to speak in full. " * 2)
        assert event(ws)["type"] == "audio.start"
        assert isinstance(ws.recv(timeout=10), bytes)
        records = engine.records[before:]
        at_close = [r.chunks for r in records]
    # both sentences were submitted (the second overlaps the first), and both stop
    finals = [_settled(r) for r in records]
    assert records and all(r.closed_early for r in records), "generation went on after the client left"
    assert all(final - start <= 2 for final, start in zip(finals, at_close, strict=True)), (at_close, finals)
