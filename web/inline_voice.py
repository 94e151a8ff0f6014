"""A one-off clone in ``/v1/audio/speech``: ``ref_audio`` (base64) + ``ref_text`` instead of a saved voice.

The reference is checked like an upload (``common.audio.upload``), kept content-addressed in the blob store
(``common.voice_references``) and sent to the engine side as a ``ref_…`` voice id, so a Base model is
chosen and a repeated reference reuses its cached clone prompt. Nothing is added to the voice library.
"""

from __future__ import annotations

import asyncio

from common.errors import Unavailable
from common.voice_library import VoiceLibrary
from common.voice_references import store_reference
from web.schemas import SpeechRequest
from web.uploads import decode_base64
from web.voices import SavedVoice

INLINE_VOICE_NAME = "(ref_audio)"


async def inline_voice(library: VoiceLibrary | None, body: SpeechRequest) -> SavedVoice:
    if library is None:
        raise Unavailable("one-off voice clones need the voice library, which this server lacks")
    assert body.ref_audio is not None
    data = decode_base64(body.ref_audio, param="ref_audio")
    audio = await asyncio.to_thread(library.ingest, data, param="ref_audio")
    voice_id = await asyncio.to_thread(
        store_reference, library.blobs, audio, ref_text=body.ref_text, x_vector_only=body.x_vector_only
    )
    return SavedVoice(id=voice_id, name=INLINE_VOICE_NAME)
