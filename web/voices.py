"""Voice resolution: what a request's ``voice`` names, and the voice listing.

A ``voice`` is, in order of precedence:
1. ``clone:Name`` — a saved voice profile;
2. ``{"id": ...}`` — a saved voice by id or name, else a built-in voice as in 3/5;
3. an OpenAI voice name (aliases in ``voice_aliases.json``, data not code);
4. a saved voice by plain name or id (``"Ana"``, ``"voice_..."``), as OpenAI clients name custom voices;
5. a native speaker name of the loaded CustomVoice model, in any case (a saved voice of the same name wins).
Built-in names are checked against the chosen model's speakers in ``web.speech_plan``. An unknown voice is a
400 ``voice_not_found`` (param ``voice``) whichever way it is named, as OpenAI answers an unknown voice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Protocol

from common.contracts import ModelInfo
from common.errors import InvalidRequest
from web.schemas import VoiceObject

CLONE_PREFIX = "clone:"


@dataclass(frozen=True, slots=True)
class BuiltinVoice:
    requested: str
    speaker: str  # alias target or the requested native name (case as given)


@dataclass(frozen=True, slots=True)
class SavedVoice:
    id: str
    name: str


ResolvedVoice = BuiltinVoice | SavedVoice


class SavedVoices(Protocol):
    """Saved voice profiles, looked up by id or (case-insensitive) name."""

    async def find(self, ref: str) -> SavedVoice | None: ...

    async def list_all(self) -> Sequence[SavedVoice]: ...


class NoSavedVoices:
    """For servers without a voice store: every ``clone:`` voice is unknown."""

    async def find(self, ref: str) -> SavedVoice | None:
        return None

    async def list_all(self) -> Sequence[SavedVoice]:
        return ()


def load_aliases() -> dict[str, str]:
    data = json.loads(resources.files("web").joinpath("voice_aliases.json").read_text(encoding="utf-8"))
    return dict(data["aliases"])  # VoiceCatalog matches names in any case


class VoiceCatalog:
    def __init__(self, aliases: Mapping[str, str], saved: SavedVoices) -> None:
        self._aliases = {name.lower(): speaker for name, speaker in aliases.items()}
        self._saved = saved

    async def resolve(self, voice: str | VoiceObject) -> ResolvedVoice:
        if isinstance(voice, VoiceObject):
            saved = await self._saved.find(voice.id)
            return saved if saved is not None else self._builtin(voice.id)
        if voice[: len(CLONE_PREFIX)].lower() == CLONE_PREFIX:
            name = voice[len(CLONE_PREFIX) :].strip()
            saved = await self._saved.find(name) if name else None
            if saved is None:
                raise InvalidRequest(
                    f"voice {voice!r} not found: no saved voice named {name!r}",
                    param="voice",
                    code="voice_not_found",
                )
            return saved
        if voice.strip().lower() not in self._aliases:  # OpenAI clients name a custom voice plainly too
            saved = await self._saved.find(voice.strip()) if voice.strip() else None
            if saved is not None:
                return saved
        return self._builtin(voice)

    def _builtin(self, name: str) -> BuiltinVoice:
        stripped = name.strip()
        if not stripped:
            raise InvalidRequest("voice must not be empty", param="voice")
        return BuiltinVoice(requested=stripped, speaker=self._aliases.get(stripped.lower(), stripped))

    async def listing(self, models: Sequence[ModelInfo]) -> list[dict[str, str]]:
        """Open WebUI's ``/v1/audio/voices`` items: aliases, native speakers, then saved voices."""
        speakers = {s.lower(): s for m in models if m.model_type == "custom_voice" for s in m.speakers}
        voices = [
            {"id": alias, "name": f"{alias} ({target})"}
            for alias, target in self._aliases.items()
            if target.lower() in speakers
        ]
        voices += [{"id": s, "name": s.replace("_", " ").title()} for s in speakers.values()]
        voices += [{"id": f"{CLONE_PREFIX}{v.name}", "name": v.name} for v in await self._saved.list_all()]
        return voices
