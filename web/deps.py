"""What routes receive (``Annotated`` dependencies): the app's services and state, the caller's key."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from common.jobs.service import JobService
from common.ports import Dispatcher
from common.settings import Settings
from common.voice_library import VoiceLibrary
from web.admission import Admission
from web.auth import ApiKeys, KeyIdentity, OpenAccess, bearer_token
from web.metrics import Metrics
from web.readiness import ReadinessCheck
from web.voices import NoSavedVoices, SavedVoices, VoiceCatalog


@dataclass(slots=True)
class Services:
    """The adapters the composition root (``server.composition``) picks for this app."""

    dispatcher: Dispatcher
    settings: Settings
    api_keys: ApiKeys = field(default_factory=OpenAccess)
    saved_voices: SavedVoices = field(default_factory=NoSavedVoices)
    voice_library: VoiceLibrary | None = None  # the /v1/voices API (None: not offered)
    jobs: JobService | None = None  # the /v1/jobs API (None: not offered)
    demo: bool = False
    readiness: tuple[ReadinessCheck, ...] = ()  # what /readyz asks (empty: the dispatcher alone)


@dataclass(slots=True)
class AppState:
    services: Services
    metrics: Metrics
    admission: Admission
    catalog: VoiceCatalog


def get_state(request: Request) -> AppState:
    return request.app.state.tts


StateDep = Annotated[AppState, Depends(get_state)]


# declares the bearer scheme in the OpenAPI document (Swagger UI's "Authorize"); the check is ApiKeys'
_bearer = HTTPBearer(auto_error=False, description="an API key from `qwen3-tts keys create`, once one exists")


async def current_key(
    request: Request,
    state: StateDep,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> KeyIdentity | None:
    return await state.services.api_keys.authenticate(bearer_token(request))


CurrentKey = Annotated[KeyIdentity | None, Depends(current_key)]


async def listing_key(
    request: Request,
    state: StateDep,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> KeyIdentity | None:
    """The Open WebUI listings: a key once keys exist, unless ``public_listings`` opens them."""
    if state.services.settings.public_listings:
        return None
    return await state.services.api_keys.authenticate(bearer_token(request))


async def metrics_key(
    request: Request,
    state: StateDep,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """``/metrics``: once keys exist, a valid key or the separate ``metrics_token`` (a scraper's)."""
    token, expected = bearer_token(request), state.services.settings.metrics_token
    if expected and token and hmac.compare_digest(token.encode(), expected.encode()):
        return
    await state.services.api_keys.authenticate(token)


ListingKey = Annotated[KeyIdentity | None, Depends(listing_key)]
MetricsKey = Annotated[None, Depends(metrics_key)]
