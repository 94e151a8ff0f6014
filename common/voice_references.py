"""One-off references: ``ref_audio`` (+ ``ref_text``) in ``/v1/audio/speech``, cloned without a profile.

The web side keeps the checked reference in the blob store under ``references/<id>/`` (``reference.wav``,
then ``meta.json``, written last so its presence means complete) and sends ``<id>`` as the job's voice id;
the engine side (``workers.voice_prompts``) reads it from there. The id, ``ref_<digest>``, names the
normalized audio, transcript and mode, so sending the same reference again reuses the clone prompt computed
the first time, and nothing about it ever changes (nothing to invalidate).
"""

from __future__ import annotations

import hashlib
import json

from common.audio.upload import ReferenceAudio
from common.voice_library import check_mode, clean_ref_text
from voice_store.blobs import BlobStore

INLINE_VOICE_PREFIX = "ref_"


def inline_reference_prefix(voice_id: str) -> str:
    return f"references/{voice_id}/"


def store_reference(
    blobs: BlobStore, audio: ReferenceAudio, *, ref_text: str | None = None, x_vector_only: bool | None = None
) -> str:
    """Keep ``audio`` as a one-off reference (once per content); returns its ``ref_…`` voice id."""
    ref_text = clean_ref_text(ref_text)
    x_vector_only = ref_text is None if x_vector_only is None else x_vector_only
    check_mode(ref_text=ref_text, x_vector_only=x_vector_only)
    wav = audio.normalized_wav()
    meta = json.dumps({"ref_text": ref_text, "x_vector_only": x_vector_only}).encode()
    voice_id = INLINE_VOICE_PREFIX + hashlib.sha256(wav + b"\0" + meta).hexdigest()[:32]
    prefix = inline_reference_prefix(voice_id)
    if not blobs.exists(f"{prefix}meta.json"):
        blobs.put(f"{prefix}reference.wav", wav, content_type="audio/wav")
        blobs.put(f"{prefix}meta.json", meta, content_type="application/json")
    return voice_id
