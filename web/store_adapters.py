"""Storage behind the web ports: API keys (``voice_store``) and saved voices (the voice library); both are
synchronous and run in threads."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from sqlalchemy.orm import Session, sessionmaker

from common.errors import Unauthorized
from common.voice_library import VoiceLibrary
from voice_store import api_keys
from voice_store.db import session_scope
from voice_store.errors import InvalidApiKey
from web.auth import KeyIdentity
from web.voices import SavedVoice

_MISSING_KEY = "missing API key: send `Authorization: Bearer <key>` (create one with `qwen3-tts keys create`)"
_MAX_LISTED_VOICES = 100


class StoreApiKeys:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def _authenticate(self, token: str | None) -> KeyIdentity | None:
        with session_scope(self._sessions) as session:
            if not api_keys.has_active_api_keys(session=session):
                return None
            if token is None:
                raise Unauthorized(_MISSING_KEY)
            try:
                record = api_keys.verify_api_key(session=session, token=token)
            except InvalidApiKey as e:
                raise Unauthorized("invalid API key") from e
            return KeyIdentity(id=record.id, max_concurrent_streams=record.max_concurrent_streams)

    async def authenticate(self, token: str | None) -> KeyIdentity | None:
        return await asyncio.to_thread(self._authenticate, token)


class LibrarySavedVoices:
    """The voice library's profiles as the voices a request may name (``clone:Name``, ``{"id": ...}``)."""

    def __init__(self, library: VoiceLibrary) -> None:
        self._library = library

    async def find(self, ref: str) -> SavedVoice | None:
        profile = await asyncio.to_thread(self._library.find, ref)
        return None if profile is None else SavedVoice(id=profile.id, name=profile.name)

    async def list_all(self) -> Sequence[SavedVoice]:
        page = await asyncio.to_thread(self._library.list, limit=_MAX_LISTED_VOICES)
        return [SavedVoice(id=profile.id, name=profile.name) for profile in page.items]
