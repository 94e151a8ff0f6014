"""Clone prompts of saved voices for whoever runs the engine: computed once per (voice version, model).

``ClonePromptCache`` is the engine host's ``clone_prompts`` provider: ``cache(engine, voice_id)`` returns the
``qwen_tts.VoiceClonePrompt`` of the voice's current version, looking in three places in turn:

1. an in-memory LRU keyed by (voice id, version, model key) — no I/O but one indexed row read;
2. the blob store, where a computed prompt is saved beside the voice's audio
   (``voices/<id>/v<version>/prompt-<model key>.npz``) and recorded in ``voice_clone_prompts``;
3. the engine: speaker embedding and reference codes from the normalized reference audio; then saved (2)
   and remembered (1).

Invalidation. The current version is read from the database on every call, so a changed voice (new audio,
transcript or mode → new version) misses every older entry, in every process; the repository forgets older
prompts' rows and the voice library deletes their blobs. In-process changes also call ``forget`` to free the
memory at once. A prompt computed while the voice changed is returned but not recorded
(``VoiceVersionStale``).

One-off references (``ref_audio`` in a speech request) have ids ``ref_<digest of their content>`` and live
only in the blob store (``references/<id>/``): same lookup, no row, and nothing to invalidate.

Model keys. A prompt depends on the model's speaker encoder and codec, so the key names the model: its
configured name plus a digest of its checkpoint source (``ModelKeys``), stable across restarts.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import threading
import wave
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from common.audio.pcm import s16le_to_float
from common.errors import NotFound
from common.voice_references import INLINE_VOICE_PREFIX, inline_reference_prefix
from voice_store import voices
from voice_store.blobs import BlobStore
from voice_store.db import session_scope
from voice_store.errors import BlobNotFound, InvalidBlobKey, VoiceNotFound, VoiceVersionStale
from workers.engine_port import Engine

log = logging.getLogger(__name__)

PROMPT_FORMAT = 1
INLINE_VERSION = 0  # one-off references never change


@dataclass(frozen=True, slots=True)
class VoiceSource:
    """What a voice's clone prompt is computed from (one version)."""

    voice_id: str
    version: int
    audio_blob_key: str
    ref_text: str | None
    x_vector_only: bool
    is_inline: bool = False  # a one-off reference: blobs only, no row (its id names its content)


class ModelKeys:
    """Blob-key-safe names of loaded engines: wrap the loader with ``track``, then ask ``keys(engine)``.

    A name is the configured model name plus a digest of its checkpoint source.
    """

    def __init__(self, sources: Mapping[str, str]) -> None:
        self._sources = dict(sources)  # model name → checkpoint directory or repo id
        self._by_engine: dict[int, str] = {}

    def track(self, loader: Callable[[str], Engine]) -> Callable[[str], Engine]:
        def load(name: str) -> Engine:
            engine = loader(name)
            digest = hashlib.sha256(self._sources.get(name, name).encode()).hexdigest()[:10]
            self._by_engine[id(engine)] = f"{re.sub(r'[^A-Za-z0-9._-]', '_', name)}-{digest}"
            return engine

        return load

    def __call__(self, engine: Engine) -> str:
        try:
            return self._by_engine[id(engine)]
        except KeyError as e:
            raise RuntimeError("this engine was not loaded through ModelKeys.track") from e


def prompt_to_bytes(prompt: Any) -> bytes:
    buffer = io.BytesIO()
    meta = {"format": PROMPT_FORMAT, "ref_text": prompt.ref_text, "x_vector_only": prompt.x_vector_only}
    codes = prompt.ref_codes if prompt.ref_codes is not None else np.zeros((0, 0), dtype=np.int64)
    np.savez(
        buffer,
        speaker_embedding=np.asarray(prompt.speaker_embedding, dtype=np.float32),
        ref_codes=np.asarray(codes, dtype=np.int64),
        meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
    )
    return buffer.getvalue()


def prompt_from_bytes(data: bytes) -> Any:
    """The stored prompt; ``ValueError`` when the blob is not one (then it is recomputed)."""
    from qwen_tts import VoiceClonePrompt  # only processes that run the engine read prompts

    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            meta = json.loads(arrays["meta"].tobytes())
            embedding, codes = arrays["speaker_embedding"], arrays["ref_codes"]
    except (OSError, KeyError, ValueError) as e:
        raise ValueError(f"not a stored clone prompt: {e}") from e
    if meta.get("format") != PROMPT_FORMAT:
        raise ValueError(f"clone prompt format {meta.get('format')!r}, expected {PROMPT_FORMAT}")
    x_vector_only = bool(meta["x_vector_only"])
    return VoiceClonePrompt(
        speaker_embedding=embedding,
        ref_codes=None if x_vector_only else codes,
        ref_text=meta["ref_text"],
        x_vector_only=x_vector_only,
    )


def read_wav(data: bytes) -> tuple[np.ndarray, int]:
    """Samples (float32 mono) and rate of a 16-bit PCM WAV, as the voice library stores them."""
    with wave.open(io.BytesIO(data)) as reader:
        if reader.getsampwidth() != 2 or reader.getnchannels() != 1:
            raise ValueError("reference audio must be 16-bit mono PCM")
        return s16le_to_float(reader.readframes(reader.getnframes())), reader.getframerate()


class ClonePromptCache:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        blobs: BlobStore,
        model_key: Callable[[Engine], str],
        capacity: int = 64,
    ) -> None:
        self._sessions = sessions
        self._blobs = blobs
        self._model_key = model_key
        self._capacity = capacity
        self._lru: OrderedDict[tuple[str, int, str], Any] = OrderedDict()
        self._lock = threading.Lock()
        self.stats = {"memory": 0, "blob": 0, "computed": 0}

    def __call__(self, engine: Engine, voice_id: str) -> Any:
        model_key = self._model_key(engine)
        # a one-off reference's id names its content: a memory hit needs no lookup
        inline_key = (voice_id, INLINE_VERSION, model_key)
        if voice_id.startswith(INLINE_VOICE_PREFIX) and (prompt := self._recall(inline_key)) is not None:
            return prompt
        source = self._source(voice_id)
        key = (source.voice_id, source.version, model_key)
        if (prompt := self._recall(key)) is not None:
            return prompt
        prompt = self._stored(source, model_key)
        if prompt is not None:
            self.stats["blob"] += 1
        else:
            prompt = self._compute(engine, source, model_key)
            self.stats["computed"] += 1
        self._remember(key, prompt)
        return prompt

    def forget(self, voice_id: str) -> None:
        """Drop every in-memory prompt of ``voice_id`` (it changed or was deleted)."""
        with self._lock:
            for key in [k for k in self._lru if k[0] == voice_id]:
                del self._lru[key]

    def __len__(self) -> int:
        return len(self._lru)

    # -- internals -------------------------------------------------------------------------------------------
    def _source(self, voice_id: str) -> VoiceSource:
        if voice_id.startswith(INLINE_VOICE_PREFIX):
            return self._inline_source(voice_id)
        with session_scope(self._sessions) as session:
            try:
                voice = voices.get_voice(session=session, voice_id=voice_id)
            except VoiceNotFound as e:
                self.forget(voice_id)
                raise NotFound(str(e), param="voice", code="voice_not_found") from e
            return VoiceSource(
                voice_id=voice.id,
                version=voice.version,
                audio_blob_key=voice.audio_blob_key,
                ref_text=voice.ref_text,
                x_vector_only=voice.x_vector_only or not voice.ref_text,
            )

    def _inline_source(self, voice_id: str) -> VoiceSource:
        prefix = inline_reference_prefix(voice_id)
        try:
            meta = json.loads(self._blobs.get(f"{prefix}meta.json"))
        except (BlobNotFound, InvalidBlobKey) as e:
            raise NotFound(f"reference {voice_id!r} not found", param="voice", code="voice_not_found") from e
        return VoiceSource(
            voice_id=voice_id,
            version=INLINE_VERSION,
            audio_blob_key=f"{prefix}reference.wav",
            ref_text=meta["ref_text"],
            x_vector_only=bool(meta["x_vector_only"]) or not meta["ref_text"],
            is_inline=True,
        )

    @staticmethod
    def _blob_key(source: VoiceSource, model_key: str) -> str:
        if source.is_inline:
            return f"{inline_reference_prefix(source.voice_id)}prompt-{model_key}.npz"
        return voices.voice_blob_key(source.voice_id, source.version, f"prompt-{model_key}.npz")

    def _stored(self, source: VoiceSource, model_key: str) -> Any | None:
        if source.is_inline:
            blob_key: str | None = self._blob_key(source, model_key)
        else:
            with session_scope(self._sessions) as session:
                record = voices.get_clone_prompt(
                    session=session,
                    voice_id=source.voice_id,
                    voice_version=source.version,
                    model_key=model_key,
                )
                blob_key = record.blob_key if record is not None else None
        if blob_key is None:
            return None
        try:
            return prompt_from_bytes(self._blobs.get(blob_key))
        except (BlobNotFound, ValueError) as e:
            log.warning("stored clone prompt %s is unusable (%s); recomputing it", blob_key, e)
            return None

    def _compute(self, engine: Engine, source: VoiceSource, model_key: str) -> Any:
        samples, sample_rate = read_wav(self._blobs.get(source.audio_blob_key))
        prompt = engine.create_voice_clone_prompt(  # type: ignore[attr-defined]
            ref_audio=samples,
            ref_sample_rate=sample_rate,
            ref_text=None if source.x_vector_only else source.ref_text,
            x_vector_only=source.x_vector_only,
        )
        blob_key = self._blob_key(source, model_key)
        self._blobs.put(blob_key, prompt_to_bytes(prompt), content_type="application/octet-stream")
        if source.is_inline:
            return prompt
        try:
            with session_scope(self._sessions, write=True) as session:
                voices.record_clone_prompt(
                    session=session,
                    voice_id=source.voice_id,
                    voice_version=source.version,
                    model_key=model_key,
                    blob_key=blob_key,
                )
        except (VoiceVersionStale, VoiceNotFound):  # changed meanwhile: serve this request, keep nothing
            self._blobs.delete(blob_key)
        return prompt

    def _recall(self, key: tuple[str, int, str]) -> Any | None:
        with self._lock:
            if (prompt := self._lru.get(key)) is not None:
                self._lru.move_to_end(key)
                self.stats["memory"] += 1
            return prompt

    def _remember(self, key: tuple[str, int, str], prompt: Any) -> None:
        with self._lock:
            for old in [k for k in self._lru if k[0] == key[0] and k[1] != key[1]]:
                del self._lru[old]  # older versions of the same voice are dead
            self._lru[key] = prompt
            self._lru.move_to_end(key)
            while len(self._lru) > self._capacity:
                self._lru.popitem(last=False)
