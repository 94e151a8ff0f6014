"""Storage behind the web ports: API keys (``voice_store``) and saved voices (the voice library); both are
synchronous and run in threads."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from sqlalchemy.orm import Session, sessionmaker

from common.errors import Unauthorized
from common.voice_library import VoiceLibrary
from voice_store import api_keys
from voice_store.db import DATABASE_UNAVAILABLE, session_scope
from voice_store.errors import InvalidApiKey
from web.auth import KeyIdentity
from web.key_cache import KeyCache
from web.voices import SavedVoice

_MISSING_KEY = "missing API key: send `Authorization: Bearer <key>` (create one with `qwen3-tts keys create`)"
_MAX_LISTED_VOICES = 100


KEY_CACHE_TTL_S = 5.0
"""A key created or revoked by another process (``qwen3-tts keys``) is seen within this many seconds."""
KEY_CACHE_STALE_S = 300.0
"""While the database is unreachable, what was known this recently still answers (built-in voices work)."""


class StoreApiKeys:
    """Keys from ``voice_store``, remembered briefly (``web.key_cache``): a request does not ask the
    database whether keys exist every time, and a database blip does not fail requests it can answer."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        ttl_s: float = KEY_CACHE_TTL_S,
        stale_s: float = KEY_CACHE_STALE_S,
    ) -> None:
        self._sessions = sessions
        self._cache: KeyCache[object] = KeyCache(ttl_s=ttl_s, stale_s=stale_s)

    def invalidate(self) -> None:
        """Forget what is remembered (a key was created or revoked in this process)."""
        self._cache.invalidate()

    def _authenticate(self, token: str | None) -> KeyIdentity | None:
        if not self._cache.get("any", self._any_live_key, unavailable=DATABASE_UNAVAILABLE):
            return None
        if token is None:
            raise Unauthorized(_MISSING_KEY)
        found = self._cache.get(
            f"token:{token}", lambda: self._identity(token), unavailable=DATABASE_UNAVAILABLE
        )
        if not isinstance(found, KeyIdentity):
            raise Unauthorized("invalid API key")
        return found

    def _any_live_key(self) -> bool:
        with session_scope(self._sessions) as session:
            return api_keys.has_active_api_keys(session=session)

    def _identity(self, token: str) -> KeyIdentity | None:
        """The key's identity, or None for a token that is no live key (remembered as a refusal too)."""
        with session_scope(self._sessions) as session:
            try:
                record = api_keys.verify_api_key(session=session, token=token)
            except InvalidApiKey:
                return None
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
