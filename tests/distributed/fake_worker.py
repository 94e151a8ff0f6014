"""A real Celery worker process (``workers.worker_main.run_worker``) over the service tests' fake engine.

``python -m tests.distributed.fake_worker --models NAME:TYPE:DELAY_S,... --hostname NODE`` with the
settings in the ``QWEN_TTS_*`` environment. With ``--tiny``, ``--models`` names entries of the settings'
models map, served by the real engine (tiny checkpoints). The fake stands where ``qwen_tts.TTSEngine`` does.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from common.settings import Settings, load_settings
from tests.service.fake_engine import FakeEngine, fake_request
from workers.engine_port import Engine
from workers.worker_main import default_loader, run_worker


def fake_engines(spec: str) -> dict[str, FakeEngine]:
    engines = {}
    for item in spec.split(","):
        name, model_type, delay_s = item.split(":")
        engines[name] = FakeEngine(model_type, delay_s=float(delay_s), supports_instruct=model_type != "base")
    return engines


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", required=True)
    parser.add_argument("--hostname", required=True)
    parser.add_argument("--tiny", action="store_true", help="--models are names in the settings' models map")
    args = parser.parse_args()
    settings = load_settings()
    if args.tiny:
        run_worker(settings, models=args.models.split(","), hostname=args.hostname, loader=default_loader)
        return 0
    engines = fake_engines(args.models)

    def loader(_: Settings) -> Callable[[str], Engine]:
        return engines.__getitem__

    run_worker(
        settings, models=list(engines), hostname=args.hostname, loader=loader, make_request=fake_request
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
