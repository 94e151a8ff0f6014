"""``voice_store`` behind the web ports: API keys and saved voices (sync SQLAlchemy, run in threads)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from sqlalchemy.orm import Session, sessionmaker

from common.errors import Unauthorized
from voice_store import api_keys, voices
from voice_store.db import session_scope
from voice_store.errors import InvalidApiKey, InvalidVoiceName, VoiceNotFound
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


class StoreSavedVoices:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def _find(self, ref: str) -> SavedVoice | None:
        with session_scope(self._sessions) as session:
            try:
                voice = voices.get_voice(session=session, voice_id=ref)
            except VoiceNotFound:
                try:
                    voice = voices.get_voice_by_name(session=session, name=ref)
                except (VoiceNotFound, InvalidVoiceName):
                    return None
            return SavedVoice(id=voice.id, name=voice.name)

    def _list(self) -> list[SavedVoice]:
        with session_scope(self._sessions) as session:
            page = voices.list_voices(session=session, limit=_MAX_LISTED_VOICES)
            return [SavedVoice(id=v.id, name=v.name) for v in page.items]

    async def find(self, ref: str) -> SavedVoice | None:
        return await asyncio.to_thread(self._find, ref)

    async def list_all(self) -> Sequence[SavedVoice]:
        return await asyncio.to_thread(self._list)
