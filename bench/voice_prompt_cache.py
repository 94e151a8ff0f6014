"""What the clone-prompt cache saves per request for a saved voice.

    python -m bench.voice_prompt_cache [--seconds 10] [--repeat 5] [--device cpu]

Without the cache every request for ``clone:Name`` pays ``engine.create_voice_clone_prompt`` (resampling,
speaker encoder on the mels, Mimi encoder for the reference codes). With it, a request pays one of:

- memory: an LRU hit (one indexed row read for the current version: the invalidation check);
- blob:   the first request in a fresh process (row read + prompt row read + blob read + npz parse).

Measured through ``workers.voice_prompts.ClonePromptCache`` on SQLite + a local blob folder, for:

- tiny:  the tiny random-weight Base checkpoint (``qwen_tts.tiny_checkpoint``), the real engine;
- 0.6B:  the same engine with the speaker encoder and the Mimi encoder swapped for random-weight modules of
         the released shapes (ECAPA-TDNN 512/1536 channels → 1024; transformers' default Mimi config, the
         12.5 Hz tokenizer's encoder, ours), the only modules a clone prompt runs.

Prints milliseconds (median of ``--repeat``).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from common.audio.pcm import float_to_s16le, wav_header
from common.audio.upload import ingest_audio
from common.voice_library import VoiceLibrary
from voice_store.blobs import LocalBlobStore
from voice_store.db import create_db_engine, create_session_factory, sqlite_url, upgrade_schema
from workers.voice_prompts import ClonePromptCache, ModelKeys


def median_ms(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def reference_wav(seconds: float) -> bytes:
    t = np.arange(int(seconds * 24_000)) / 24_000
    voice = 0.3 * np.sin(2 * np.pi * 180 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    pcm = float_to_s16le(voice.astype(np.float32))
    return wav_header(len(pcm)) + pcm


def tiny_engine(folder: Path, device: str) -> object:
    from qwen_tts import TTSEngine
    from qwen_tts.tiny_checkpoint import write_tiny_checkpoint

    write_tiny_checkpoint(folder / "tiny-base", "base")
    return TTSEngine.from_pretrained(folder / "tiny-base", device=device)


def released_shapes(engine: object) -> object:
    """``engine`` with the clone-prompt modules at the released 0.6B shapes (random weights)."""
    from qwen_tts.codec.encoder import CodecEncoder
    from qwen_tts.codec.encoder_config import EncoderConfig
    from qwen_tts.config import SpeakerEncoderConfig
    from qwen_tts.speaker_encoder import SpeakerEncoder

    device = engine.device  # type: ignore[attr-defined]
    engine.model.speaker_encoder = SpeakerEncoder(SpeakerEncoderConfig()).to(device).eval()  # type: ignore[attr-defined]
    engine.codec.encoder = CodecEncoder(EncoderConfig.from_dict({})).to(device).eval()  # type: ignore[attr-defined]
    return engine


def measure(label: str, engine: object, folder: Path, seconds: float, repeat: int) -> None:
    url = sqlite_url(folder / f"{label}.sqlite3")
    upgrade_schema(url)
    sessions = create_session_factory(create_db_engine(url))
    blobs = LocalBlobStore(folder / f"{label}-blobs")
    library = VoiceLibrary(sessions=sessions, blobs=blobs)
    voice = library.create(
        name=label, audio=ingest_audio(reference_wav(seconds)), ref_text="Some words here."
    )
    keys = ModelKeys({"base": label})
    tracked = keys.track(lambda name: engine)("base")

    def fresh_cache() -> ClonePromptCache:
        return ClonePromptCache(sessions=sessions, blobs=blobs, model_key=keys)

    fresh_cache()(tracked, voice.id)  # warm-up (first-call allocations), and the blob the next rows read
    miss = median_ms(
        lambda: engine.create_voice_clone_prompt(  # type: ignore[attr-defined]
            ref_audio=ingest_audio(reference_wav(seconds)).samples,
            ref_sample_rate=24_000,
            ref_text="Some words here.",
        ),
        repeat,
    )
    blob = median_ms(lambda: fresh_cache()(tracked, voice.id), repeat)
    warm = fresh_cache()
    warm(tracked, voice.id)
    memory = median_ms(lambda: warm(tracked, voice.id), repeat * 20)
    print(
        f"{label:>5}: reference {seconds:g} s | no cache {miss:8.1f} ms | blob hit {blob:6.2f} ms | "
        f"memory hit {memory:5.2f} ms | saved per request {miss - memory:8.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="reference audio length")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    import torch

    torch.set_grad_enabled(False)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        engine = tiny_engine(folder, args.device)
        measure("tiny", engine, folder, args.seconds, args.repeat)
        measure("0.6B", released_shapes(engine), folder, args.seconds, args.repeat)


if __name__ == "__main__":
    main()
