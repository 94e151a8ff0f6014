"""A small protocol client over the real ``websockets`` library, for the realtime tests and the bench."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from websockets.sync.client import ClientConnection, connect

MAX_SIZE = 64 * 1024 * 1024


def ws_url(base_url: str, **query: str) -> str:
    url = base_url.replace("http://", "ws://", 1) + "/v1/audio/speech/stream"
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def open_session(base_url: str, *, headers: dict[str, str] | None = None, **query: str) -> ClientConnection:
    return connect(ws_url(base_url, **query), additional_headers=headers, max_size=MAX_SIZE, open_timeout=30)


def send(ws: ClientConnection, **message: Any) -> None:
    ws.send(json.dumps(message))


def event(ws: ClientConnection, timeout: float = 60) -> dict[str, Any]:
    """The next JSON event (binary frames before it are a test failure)."""
    frame = ws.recv(timeout=timeout)
    assert isinstance(frame, str), f"expected an event, got {len(frame)} bytes of audio"
    return json.loads(frame)


@dataclass
class Turn:
    """What the server sent for one turn: events in order, and each sentence's audio frames."""

    events: list[dict[str, Any]] = field(default_factory=list)
    audio: dict[int, list[bytes]] = field(default_factory=dict)

    @property
    def sentences(self) -> list[str]:
        return [e["sentence_text"] for e in self.events if e["type"] == "audio.start"]

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    def sentence_audio(self, index: int) -> bytes:
        return b"".join(self.audio.get(index, []))


def read_turn(ws: ClientConnection, timeout: float = 120) -> Turn:
    """Everything up to and including ``session.done``; audio frames are filed under the open sentence."""
    turn, current = Turn(), None
    while True:
        frame = ws.recv(timeout=timeout)
        if isinstance(frame, bytes):
            assert current is not None, "audio before audio.start"
            turn.audio.setdefault(current, []).append(frame)
            continue
        message = json.loads(frame)
        turn.events.append(message)
        if message["type"] == "audio.start":
            current = message["sentence_index"]
        elif message["type"] == "audio.done":
            current = None
        elif message["type"] == "session.done":
            return turn


def speak(ws: ClientConnection, fragments: list[str]) -> Turn:
    for fragment in fragments:
        send(ws, type="input.text", text=fragment)
    send(ws, type="input.done")
    return read_turn(ws)
