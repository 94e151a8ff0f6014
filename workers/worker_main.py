"""``qwen3-tts worker --gpu N --models 0.6B-CustomVoice,0.6B-Base``: one Celery worker per GPU.

The process pins itself to its GPU (``CUDA_VISIBLE_DEVICES=N``, set before anything imports torch), then runs
a prefork worker with one child (``-c 1``): hard limits and crashes kill only the child, and the parent
replaces it. The child loads and warms every served model in ``worker_process_init``, before it takes a task,
and consumes one queue per model variant (``workers.contracts.model_queue``). Residency is bounded by a
memory budget, least recently used out (``workers.residency``).

One task runs at a time in the child, but requests do not: a stream task hands its request to the child's
``EngineHost`` and returns, so the child decodes up to ``optimization.max_batch_size`` requests together in
the engine's batch; job segments join the same host (``workers.runtime``). Also runnable as
``python -m workers.worker_main``.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import socket
import sys
from collections.abc import Callable, Sequence
from typing import Any

from celery.signals import worker_process_init, worker_process_shutdown

from common.redis_options import redis_client_options
from common.redis_stream import StreamLimits
from common.settings import Settings, SettingsError, load_settings
from common.stores import build_blob_store, build_sessions
from workers.celery_app import CONTROL_QUEUE, create_celery_app
from workers.contracts import model_queue
from workers.devices import check_device
from workers.engine_host import EngineHost, TimeLimits
from workers.engine_port import Engine, JoinPolicy, RequestFactory, qwen_request
from workers.job_tasks import JobWorker, register_job_tasks
from workers.jobs.alignment import worker_aligner
from workers.jobs.finalize import EncodeFile
from workers.residency import ModelResidency
from workers.runtime import WorkerRuntime
from workers.tasks import JobWorkerSlot, RuntimeSlot, register_tasks
from workers.voice_prompts import ClonePromptCache, ModelKeys

log = logging.getLogger(__name__)

GPU_BUDGET_FRACTION = 0.9
LoaderFactory = Callable[[Settings], Callable[[str], Engine]]


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gpu", type=int, help="GPU index it owns (CUDA_VISIBLE_DEVICES); none = CPU")
    parser.add_argument("--models", required=True, help="comma-separated model names it serves")
    parser.add_argument(
        "--device", help="cpu, cuda, cuda:1, ... (default: the device setting; cuda with --gpu)"
    )
    parser.add_argument("--hostname", help="Celery node name (default gpuN@host or cpu-PID@host)")
    parser.add_argument("--loglevel", help="default: the log_level setting")
    parser.add_argument(
        "--quantize", choices=["int8"], help="int8 talker/predictor weights (optimization.quantize)"
    )


def parse_models(text: str, settings: Settings) -> list[str]:
    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if not names:
        raise SettingsError("--models needs at least one model name")
    if unknown := [n for n in names if n not in settings.models]:
        raise SettingsError(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(settings.models)}")
    return names


def memory_budget(settings: Settings) -> int | None:
    """Bytes of weights a worker keeps resident (``distributed.memory_budget_gb``, else 90% of its GPU)."""
    if (gb := settings.distributed.memory_budget_gb) is not None:
        return int(gb * 2**30)
    if settings.device.startswith("cuda"):
        import torch

        return int(GPU_BUDGET_FRACTION * torch.cuda.get_device_properties(0).total_memory)
    return None


def release_memory() -> None:
    gc.collect()
    if (torch := sys.modules.get("torch")) is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def default_loader(settings: Settings) -> Callable[[str], Engine]:
    from workers.engine_loading import engine_loader

    return engine_loader(settings)


def build_child(
    settings: Settings,
    app: Any,
    *,
    models: Sequence[str],
    hostname: str,
    loader: Callable[[str], Engine],
    make_request: RequestFactory | None,
    encode: EncodeFile | None = None,
) -> tuple[WorkerRuntime, JobWorker]:
    """What one worker child holds: stores, resident models, saved voices' clone prompts, the engine host
    (streams and job segments both run on it), job context."""
    import redis

    from workers.jobs.synthesis import HostSynthesizer
    from workers.jobs.wiring import job_worker

    sessions, blobs = build_sessions(settings), build_blob_store(settings)
    model_keys = ModelKeys(settings.models)
    prompts = ClonePromptCache(sessions=sessions, blobs=blobs, model_key=model_keys)
    residency = ModelResidency(
        model_keys.track(loader), budget_bytes=memory_budget(settings), release=release_memory
    )
    options = settings.distributed
    host = EngineHost(
        residency,
        model_names=models,
        preload=models,
        make_request=make_request or qwen_request,
        clone_prompts=prompts,
        max_frames_per_piece=settings.max_frames_per_piece,
        join=JoinPolicy.of(settings),
        limits=TimeLimits(job_s=options.task_soft_time_limit_s, step_s=options.task_time_limit_s),
        warm_up=True,
        aligner=worker_aligner(settings.aligner_model, settings.device),
    )
    runtime = WorkerRuntime(
        redis=redis.Redis.from_url(
            settings.redis_url, **redis_client_options(asyncio=False, socket_timeout_s=30)
        ),
        key_prefix=options.key_prefix,
        limits=StreamLimits.from_options(options),
        host=host,
        residency=residency,
        capacity=settings.optimization.max_batch_size,
        shutdown_timeout_s=options.soft_shutdown_timeout_s,
        hostname=hostname,
    )
    return runtime, job_worker(settings, app, sessions, blobs, HostSynthesizer(host), encode=encode)


def consume_model_queues(app: Any, node: str, models: Sequence[str]) -> None:
    """Tell this worker's consumer (the parent process) to take the model queues: called by the child once
    its models are loaded and warm. Celery starts consuming before a prefork child has run
    ``worker_process_init``; listening on the model queues only from here means no request waits for a load
    while another worker is idle."""
    for name in models:
        replies = app.control.add_consumer(model_queue(name), destination=[node], reply=True, timeout=10.0)
        if not replies:
            raise RuntimeError(f"worker {node} did not confirm consuming {model_queue(name)}")


def run_worker(
    settings: Settings,
    *,
    models: Sequence[str],
    gpu: int | None = None,
    hostname: str | None = None,
    loglevel: str = "INFO",
    loader: LoaderFactory = default_loader,
    make_request: RequestFactory | None = None,
    encode: EncodeFile | None = None,
) -> None:
    """Run a worker until it is stopped (SIGTERM: soft shutdown, the requests in flight finish first).

    ``loader``, ``make_request`` and ``encode`` (the job outputs' encoder) are seams for tests' fakes."""
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)  # before the child imports torch
        if settings.device == "cpu":
            settings = settings.model_copy(update={"device": "cuda"})
    check_device(settings.device, isolated=True)  # asked in a child: this parent forks the model children
    node = hostname or f"{f'gpu{gpu}' if gpu is not None else f'cpu-{os.getpid()}'}@{socket.gethostname()}"
    app = create_celery_app(settings)
    slot, jobs_slot = RuntimeSlot(), JobWorkerSlot()
    register_tasks(app, slot)
    register_job_tasks(app, jobs_slot)

    def start_child(**_: Any) -> None:
        runtime, job_worker = build_child(
            settings,
            app,
            models=models,
            hostname=node,
            loader=loader(settings),
            make_request=make_request,
            encode=encode,
        )
        runtime.start()
        slot.set(runtime)
        jobs_slot.set(job_worker)
        consume_model_queues(app, node, models)

    def stop_child(**_: Any) -> None:
        if slot.is_set:
            slot().close()

    worker_process_init.connect(start_child, weak=False)
    worker_process_shutdown.connect(stop_child, weak=False)
    log.info(
        "worker %s: models %s on %s; each child runs up to %d requests at once (optimization.max_batch_size)",
        node,
        ", ".join(models),
        settings.device,
        settings.optimization.max_batch_size,
    )
    app.worker_main(
        [
            "worker",
            "--pool=prefork",
            "--concurrency=1",
            f"--queues={CONTROL_QUEUE}",  # the model queues follow once the models are loaded
            f"--hostname={node}",
            f"--loglevel={loglevel}",
            "--without-gossip",
            "--without-mingle",
        ]
    )


def main(argv: Sequence[str] | None = None, settings: Settings | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qwen3-tts worker", description="run a distributed-mode worker")
    add_worker_arguments(parser)
    args = parser.parse_args(argv)
    return run_from_args(args, settings)


def run_from_args(args: argparse.Namespace, settings: Settings | None = None) -> int:
    """The ``qwen3-tts worker`` subcommand (``server.cli`` calls this with its parsed arguments)."""
    try:
        settings = settings or load_settings()
        if args.device:
            settings = settings.model_copy(update={"device": args.device})
        if args.quantize:
            optimization = settings.optimization.model_copy(update={"quantize": args.quantize})
            settings = settings.model_copy(update={"optimization": optimization})
        models = parse_models(args.models, settings)
        if settings.run_mode != "distributed":
            raise SettingsError("a worker needs redis_url (QWEN_TTS_REDIS_URL=redis://host:6379/0)")
    except SettingsError as e:
        sys.stderr.write(f"qwen3-tts worker: {e}\n")
        return 2
    loglevel = (args.loglevel or settings.log_level).upper()
    logging.basicConfig(level=loglevel, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        run_worker(settings, models=models, gpu=args.gpu, hostname=args.hostname, loglevel=loglevel)
    except SettingsError as e:  # e.g. a device this machine lacks
        sys.stderr.write(f"qwen3-tts worker: {e}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
