"""A webhook receiver on loopback whose answers the test scripts: a status, a hang, or a redirect."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HANG = "hang"
REDIRECT = "redirect"


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int | str


@dataclass
class Receiver:
    url: str
    script: list[int | str] = field(default_factory=list)  # answers in order; then 200 forever
    deliveries: list[Delivery] = field(default_factory=list)
    redirected: int = 0  # requests that followed a redirect (must stay 0)
    hang_s: float = 30.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout_s: float = 30.0) -> list[Delivery]:
        deadline = time.monotonic() + timeout_s
        with self.arrived:
            while len(self.deliveries) < count:
                if not self.arrived.wait(max(0.0, deadline - time.monotonic())):
                    raise TimeoutError(f"{len(self.deliveries)} of {count} deliveries after {timeout_s} s")
            return list(self.deliveries)


def only_delivery(receiver: Receiver, event_type: str, *, quiet_s: float = 1.5) -> dict[str, Any]:
    """The one delivery a job's webhook makes: the first arrives, no second one within ``quiet_s``."""
    (first,) = receiver.wait_for(1)
    time.sleep(quiet_s)
    assert len(receiver.deliveries) == 1, [json.loads(d.body)["type"] for d in receiver.deliveries]
    event: dict[str, Any] = json.loads(first.body)
    assert event["type"] == event_type, event
    return event


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            if self.path.startswith("/elsewhere"):
                receiver.redirected += 1
                self._answer(200)
                return
            with receiver.lock:
                answer = receiver.script.pop(0) if receiver.script else 200
            delivery = Delivery(self.path, {k.lower(): v for k, v in self.headers.items()}, body, answer)
            with receiver.arrived:
                receiver.deliveries.append(delivery)
                receiver.arrived.notify_all()
            if answer == HANG:
                time.sleep(receiver.hang_s)
                return
            if answer == REDIRECT:
                self.send_response(307)
                self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self._answer(int(answer))

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler


@contextmanager
def run_receiver() -> Iterator[Receiver]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(Receiver(url="")))
    server.daemon_threads = True
    receiver = Receiver(url=f"http://127.0.0.1:{server.server_port}/hooks/tts")
    server.RequestHandlerClass = _handler(receiver)
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
