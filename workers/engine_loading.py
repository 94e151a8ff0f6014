"""Settings → ``name → TTSEngine`` loader: the one place model loading options are resolved.

Used by the embedded composition root and by the distributed workers. The engine (and torch) is imported
inside ``engine_loader``, so importing this module stays light.
"""

from __future__ import annotations

import inspect
from typing import Any

from common.settings import Settings, SettingsError
from workers.engine_port import Engine

# config.yaml key → TTSEngine option it is passed as
_ENGINE_OPTIONS = {
    "optimization.compile_mode": "compile_mode",
    "optimization.use_cuda_graphs": "use_cuda_graphs",
    "optimization.quantize": "quantize",
    "optimization.cpu_threads": "cpu_threads",
    "optimization.max_batch_size": "max_batch_size",
    "optimization.streaming.emit_every_frames": "emit_every_frames",
    "max_frames_per_piece": "default_max_new_frames",
    "optimization.max_prompt_len + max_frames_per_piece": "max_seq_len",
}


def resolved_dtype(settings: Settings) -> str:
    if settings.dtype != "auto":
        return settings.dtype
    return "float32" if settings.device == "cpu" else "bfloat16"


def engine_options(settings: Settings, accepted: set[str]) -> dict[str, Any]:
    """The settings that are set, as engine options; a set key the engine lacks is an error.

    The KV caches are sized here: a row holds ``max_prompt_len + max_frames_per_piece`` positions, and the
    engine keeps ``max_batch_size`` rows."""
    optimization = settings.optimization
    values = {
        "optimization.compile_mode": optimization.compile_mode,
        "optimization.use_cuda_graphs": optimization.use_cuda_graphs,
        "optimization.quantize": optimization.quantize,
        "optimization.cpu_threads": optimization.cpu_threads,
        "optimization.max_batch_size": optimization.max_batch_size,
        "optimization.streaming.emit_every_frames": optimization.streaming.emit_every_frames,
        "max_frames_per_piece": settings.max_frames_per_piece,
        "optimization.max_prompt_len + max_frames_per_piece": optimization.max_prompt_len
        + settings.max_frames_per_piece,
    }
    options = {}
    for key, value in values.items():
        if value is None:
            continue
        if _ENGINE_OPTIONS[key] not in accepted:
            raise SettingsError(f"{key} is set, but this engine build has no {_ENGINE_OPTIONS[key]!r} option")
        options[_ENGINE_OPTIONS[key]] = value
    return options


def engine_loader(settings: Settings) -> Any:
    """``name → TTSEngine`` for the models map; options checked against the engine's signature up front."""
    from qwen_tts import TTSEngine  # the engine (and torch) load only in the process that runs it

    accepted = set(inspect.signature(TTSEngine.__init__).parameters)
    accepted |= set(inspect.signature(TTSEngine.from_pretrained).parameters)  # quantize
    options = engine_options(settings, accepted)
    dtype = resolved_dtype(settings)

    def load(name: str) -> Engine:
        return TTSEngine.from_pretrained(
            settings.models[name], device=settings.device, dtype=dtype, **options
        )

    return load
