"""``qwen3-tts``: serve the API, manage API keys, upgrade the database schema.

qwen3-tts serve [--host H] [--port P] [--model NAME|DIR|REPO] [--device D] [--dtype T] [--quantize int8]
                [--demo]
qwen3-tts worker --models A,B [--gpu N] [--device D] [--hostname NODE]   (distributed: QWEN_TTS_REDIS_URL set)
qwen3-tts keys create NAME [--max-streams N] | keys list | keys revoke KEY_ID
qwen3-tts db upgrade
qwen3-tts voices import DIR | voices export DIR
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from common.errors import ServiceError
from common.settings import Settings, SettingsError, load_settings
from voice_store.errors import StoreError

log = logging.getLogger("qwen3-tts")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qwen3-tts", description="OpenAI-compatible Qwen3-TTS server")
    parser.add_argument(
        "--config", type=Path, help="config.yaml (default: $TTS_CONFIG or ~/qwen3-tts/config.yaml)"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP API with the engine in this process")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--model", help="a name from the models map, a checkpoint directory or a repo id")
    serve.add_argument("--device", help="cpu, cuda, cuda:1, ...")
    serve.add_argument("--dtype", choices=["auto", "float32", "bfloat16", "float16"])
    serve.add_argument(
        "--quantize", choices=["int8"], help="int8 talker/predictor weights (optimization.quantize)"
    )
    serve.add_argument("--demo", action="store_true", help="serve tiny random-weight models (audio is noise)")

    worker = commands.add_parser(
        "worker",
        help="run a distributed-mode worker: qwen3-tts worker --gpu N --models A,B (see worker --help)",
        add_help=False,
        prefix_chars="\x00",  # every argument goes to workers.worker_main
    )
    worker.add_argument("worker_args", nargs=argparse.REMAINDER)

    keys = commands.add_parser("keys", help="manage API keys").add_subparsers(dest="action", required=True)
    create = keys.add_parser("create", help="create a key; its token is shown once")
    create.add_argument("name")
    create.add_argument("--max-streams", type=int, help="concurrent streams for this key (default: server's)")
    keys.add_parser("list", help="list active keys")
    revoke = keys.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id")

    db = commands.add_parser("db", help="database schema").add_subparsers(dest="action", required=True)
    db.add_parser("upgrade", help="bring the schema to the newest migration (idempotent)")

    voices = commands.add_parser("voices", help="voice library folders (the original server's layout)")
    voice_actions = voices.add_subparsers(dest="action", required=True)
    voice_import = voice_actions.add_parser("import", help="import DIR/profiles/<id>/meta.json (idempotent)")
    voice_import.add_argument("directory", type=Path)
    voice_export = voice_actions.add_parser("export", help="write every voice as DIR/profiles/<id>/")
    voice_export.add_argument("directory", type=Path)
    return parser


def _serve_overrides(args: argparse.Namespace, base: Settings) -> dict[str, Any]:
    overrides: dict[str, Any] = {k: v for k in ("host", "port", "device", "dtype") if (v := getattr(args, k))}
    if args.model:
        if args.model in base.models:
            overrides["default_model"] = args.model
        else:  # a directory or a repo id: serve it under its last path component
            name = Path(args.model).name or args.model
            overrides["models"] = {**base.models, name: args.model}
            overrides["default_model"] = name
    if args.quantize:
        overrides["optimization"] = {"quantize": args.quantize}  # deep-merged over the file and env
    return overrides


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from server.composition import serve_distributed, serve_embedded

    settings = load_settings(_serve_overrides(args, settings), config_path=args.config)
    if settings.run_mode == "distributed":  # redis_url set: the engine runs in `qwen3-tts worker` processes
        if args.demo:  # the workers serve the tiny models (`qwen3-tts worker --demo`): requests use them
            settings = settings.model_copy(update={"default_model": "demo-CustomVoice"})
        serve_distributed(settings, demo=args.demo)
        return 0
    from workers.devices import check_device

    check_device(settings.device)  # a wrong --device: one line, before anything loads
    try:
        serve_embedded(settings, demo=args.demo)
    except ServiceError as e:
        if args.demo or not _is_missing_checkpoint(e):
            raise
        hint = "; or try every feature without weights: qwen3-tts serve --demo (tiny random models, noise)"
        raise ServiceError(f"{e.message}{hint}") from e
    return 0


def _is_missing_checkpoint(error: BaseException) -> bool:
    from qwen_tts import CheckpointError  # loaded already: the engine raised it

    return isinstance(error.__cause__, CheckpointError)


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    """``--demo``: the tiny random-weight models (written once under the data directory), served by this
    worker unless ``--models`` names some of them, so the distributed mode runs end to end without weights."""
    from workers.worker_main import main as worker_main

    worker_args = list(args.worker_args)
    if "--demo" in worker_args:
        from server.composition import DEMO_MODEL_TYPES, demo_settings

        worker_args.remove("--demo")
        settings = demo_settings(settings, settings.resolved_data_dir / "demo-models")
        if "--models" not in worker_args:
            worker_args += ["--models", ",".join(DEMO_MODEL_TYPES)]
    return worker_main(worker_args, settings)


def _keys(args: argparse.Namespace, settings: Settings) -> int:
    from voice_store import api_keys
    from voice_store.db import create_db_engine, create_session_factory, session_scope, upgrade_schema

    settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)
    upgrade_schema(settings.resolved_database_url)
    sessions = create_session_factory(create_db_engine(settings.resolved_database_url))
    with session_scope(sessions, write=True) as session:
        if args.action == "create":
            record, token = api_keys.create_api_key(
                session=session, name=args.name, max_concurrent_streams=args.max_streams
            )
            sys.stdout.write(f"{record.id}\t{record.name}\n{token}\n(the token is shown only this once)\n")
        elif args.action == "list":
            for record in api_keys.list_api_keys(session=session):
                limit = record.max_concurrent_streams or "default"
                sys.stdout.write(f"{record.id}\t{record.name}\t{record.prefix}…\tstreams={limit}\n")
        else:
            api_keys.revoke_api_key(session=session, key_id=args.key_id)
            sys.stdout.write(f"revoked {args.key_id}\n")
    return 0


def _db(args: argparse.Namespace, settings: Settings) -> int:
    from voice_store.db import upgrade_schema

    settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)
    upgrade_schema(settings.resolved_database_url)
    sys.stdout.write(f"schema is at head ({settings.resolved_database_url})\n")
    return 0


def _voices(args: argparse.Namespace, settings: Settings) -> int:
    from common.voice_library_io import ProfileError, export_library, import_library
    from server.composition import build_voice_library, open_stores

    library = build_voice_library(settings, *open_stores(settings))
    directory = args.directory.expanduser()
    if args.action == "export":
        written = export_library(library, directory)
        sys.stdout.write(f"exported {len(written)} voice(s) to {directory}\n")
        return 0
    try:
        report = import_library(library, directory)
    except ProfileError as e:
        sys.stderr.write(f"qwen3-tts: {e}\n")
        return 2
    for label, names in (("created", report.created), ("unchanged", report.unchanged)):
        sys.stdout.write(f"{label}: {len(names)}{' (' + ', '.join(names) + ')' if names else ''}\n")
    for name in report.conflicts:
        sys.stdout.write(f"conflict: a different voice named {name!r} exists; left as it is\n")
    for folder, reason in report.failed:
        sys.stdout.write(f"failed: {folder}: {reason}\n")
    return 1 if report.failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(config_path=args.config)
        logging.basicConfig(
            level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        logging.getLogger("alembic").setLevel(logging.WARNING)  # its plugin set-up lines are noise at INFO
        handlers = {"serve": _serve, "worker": _worker, "keys": _keys, "db": _db, "voices": _voices}
        handler = handlers[args.command]
        return handler(args, settings)
    except SettingsError as e:
        sys.stderr.write(f"qwen3-tts: {e}\n")
        return 2
    except (ServiceError, StoreError) as e:  # model loading (wrapped by the host) and the stores
        sys.stderr.write(f"qwen3-tts: {e}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
