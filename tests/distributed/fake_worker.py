"""A real Celery worker process (``workers.worker_main.run_worker``) over the service tests' fake engine.

``python -m tests.distributed.fake_worker --models NAME:TYPE:DELAY_S[:HANG_S],... --hostname NODE
[--encoder NAME] [--machine HOST]`` with the settings in the ``QWEN_TTS_*`` environment; ``--encoder`` names a
fault encoder for the job outputs (``tests.jobs.fault_encoders``); ``--machine`` renames the host, in a UTS
namespace of the process's own (the harness starts it through ``unshare``); with ``HANG_S``, a request whose
text starts with "hang" blocks that long before its first chunk (a stuck engine step). With ``--tiny``,
``--models`` names entries of the settings' models map, served by the real engine (tiny checkpoints). The fake
stands where ``qwen_tts.TTSEngine`` does.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from common.settings import Settings, load_settings
from tests.jobs.fault_encoders import encoder_named
from tests.service.fake_engine import FakeChunk, FakeEngine, FakeRequest, fake_request
from workers.engine_port import Engine
from workers.worker_main import default_loader, run_worker


@dataclass
class HangingEngine(FakeEngine):
    hang_s: float = 0.0

    def stream(self, request: FakeRequest) -> Iterator[FakeChunk]:
        chunks = super().stream(request)
        return self._hang(chunks) if request.text.lower().startswith("hang") else chunks

    def _hang(self, chunks: Iterator[FakeChunk]) -> Iterator[FakeChunk]:
        time.sleep(self.hang_s)
        yield from chunks


def fake_engines(spec: str) -> dict[str, FakeEngine]:
    engines: dict[str, FakeEngine] = {}
    for item in spec.split(","):
        name, model_type, delay_s, *hang_s = item.split(":")
        engines[name] = HangingEngine(
            model_type,
            delay_s=float(delay_s),
            supports_instruct=model_type != "base",
            hang_s=float(hang_s[0]) if hang_s else 0.0,
        )
    return engines


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", required=True)
    parser.add_argument("--hostname", required=True)
    parser.add_argument("--tiny", action="store_true", help="--models are names in the settings' models map")
    parser.add_argument("--encoder", default="default", help="default, broken or stall-once:PATH")
    parser.add_argument("--machine", help="this host's name (the process runs in its own UTS namespace)")
    args = parser.parse_args()
    if args.machine:  # another machine, as far as claim owners ("host:pid") go
        socket.sethostname(args.machine)
    settings = load_settings()
    if args.tiny:
        run_worker(settings, models=args.models.split(","), hostname=args.hostname, loader=default_loader)
        return 0
    engines = fake_engines(args.models)

    def loader(_: Settings) -> Callable[[str], Engine]:
        return engines.__getitem__

    run_worker(
        settings,
        models=list(engines),
        hostname=args.hostname,
        loader=loader,
        make_request=fake_request,
        encode=encoder_named(args.encoder),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
