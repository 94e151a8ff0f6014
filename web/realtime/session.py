"""One WebSocket connection: authenticate, configure, then any number of turns until the client leaves.

States: *unauthenticated* (keys exist and neither the ``Authorization`` header nor ``?api_key=`` carried
one: the first ``session.config`` must, in its ``api_key`` field), *unconfigured* (everything but
``session.config`` and ``session.close`` gets an error event), *configured* (``input.text`` fragments feed the
sentence splitter, complete sentences go to the ``TurnPipeline``, ``input.done`` flushes and ends the turn).
A refused ``session.config`` is reported and changes nothing: the socket stays usable with the previous
config. Fatal: a wrong key or the stream limit (close 1008), an oversize frame (1009), an internal failure
(1011); an idle socket with no audio due closes (1000) after ``realtime.idle_timeout_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from common.errors import ServiceError, Unauthorized
from common.text import SentenceSplitter
from voice_store.db import DATABASE_UNAVAILABLE
from web.admission import Ticket
from web.auth import bearer_token
from web.deps import AppState
from web.realtime.protocol import (
    Bare,
    InputText,
    ProtocolError,
    SessionConfig,
    error_event,
    parse_message,
)
from web.realtime.session_setup import SessionSetup, configure
from web.realtime.turn import Outbox, Sentence, TurnPipeline

log = logging.getLogger(__name__)

CLOSE_NORMAL, CLOSE_POLICY, CLOSE_TOO_BIG, CLOSE_INTERNAL = 1000, 1008, 1009, 1011
API_KEY_QUERY = "api_key"
DATABASE_DOWN = "the database is unavailable; retry shortly"


class _Closed(Exception):
    """The connection is over (the client left, or the server closed it)."""


class Session:
    def __init__(self, websocket: WebSocket, state: AppState) -> None:
        self._ws = websocket
        self._state = state
        self._options = state.services.settings.realtime
        self._outbox = Outbox(websocket)
        self._id = f"ws-{uuid.uuid4().hex[:12]}"
        self._pipeline: TurnPipeline | None = None
        self._ticket: Ticket | None = None
        self._authenticated = False
        self._setup: SessionSetup | None = None
        self._splitter: SentenceSplitter | None = None
        self._turn = 0
        self._next_index = 0
        self._turn_open = False
        self._receiving: asyncio.Future[Any] | None = None

    async def run(self) -> None:
        metrics = self._state.metrics
        metrics.realtime_sessions.inc()
        metrics.realtime_active_sessions.inc()
        self._pipeline = TurnPipeline(self._state, self._outbox, session_id=self._id)
        try:
            await self._authenticate(bearer_token(self._ws) or self._ws.query_params.get(API_KEY_QUERY))
            while True:
                await self._handle(await self._next_frame())
        except _Closed:
            pass
        except Exception as e:
            log.exception("realtime session %s failed", self._id)
            await self._fatal(f"internal error: {type(e).__name__}", "internal_error", CLOSE_INTERNAL)
        finally:
            if self._receiving is not None:
                self._receiving.cancel()
            await self._pipeline.close()
            if self._ticket is not None:
                self._ticket.release()
            metrics.realtime_active_sessions.dec()

    async def _authenticate(self, token: str | None, *, deferred: bool = True) -> None:
        """A key from the header or query now; with none while keys exist, wait for ``session.config``'s."""
        try:
            key = await self._state.services.api_keys.authenticate(token)
        except Unauthorized as e:
            if token is None and deferred:
                return
            await self._fatal(e.message, e.code, CLOSE_POLICY)
            raise _Closed from e
        except DATABASE_UNAVAILABLE as e:
            # the key store is unreachable: the server's problem, not the client's
            await self._fatal(DATABASE_DOWN, "database_unavailable", CLOSE_INTERNAL)
            raise _Closed from e
        dispatcher = self._state.services.dispatcher
        try:
            self._ticket = self._state.admission.admit(  # held for the session: untimed
                key, queue_depth=dispatcher.queue_depth(), rows=dispatcher.rows(), timed=False
            )
        except ServiceError as e:
            await self._fatal(e.message, e.code, CLOSE_POLICY)
            raise _Closed from e
        self._authenticated = True

    async def _next_frame(self) -> dict[str, Any]:
        """The next client frame; closes an idle socket, ends on a disconnect or a pipeline failure."""
        assert self._pipeline is not None
        while True:
            if self._receiving is None:
                self._receiving = asyncio.ensure_future(self._ws.receive())
            done, _ = await asyncio.wait(
                {self._receiving, self._pipeline.failed},
                timeout=self._options.idle_timeout_s,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if self._pipeline.failed in done:
                failure = self._pipeline.failed.result()
                if (
                    isinstance(failure, WebSocketDisconnect)
                    or self._ws.client_state != WebSocketState.CONNECTED
                ):
                    raise _Closed from failure  # the sender wrote to a socket the client had closed
                raise failure
            if not done:
                if self._pipeline.busy:
                    continue
                seconds = self._options.idle_timeout_s
                await self._fatal(f"no message for {seconds:g} s: closing", "idle_timeout", CLOSE_NORMAL)
                raise _Closed
            frame, self._receiving = self._receiving.result(), None
            if frame["type"] == "websocket.disconnect":
                raise _Closed
            return frame

    def _is_connected(self) -> bool:
        connected = WebSocketState.CONNECTED
        return self._ws.client_state == connected and self._ws.application_state == connected

    async def _handle(self, frame: dict[str, Any]) -> None:
        text = frame.get("text")
        if text is None:
            await self._error(
                "binary frames are not part of this protocol; send JSON text", "invalid_message"
            )
            return
        if (
            len(text) > self._options.max_message_bytes // 4
            and len(text.encode()) > self._options.max_message_bytes
        ):
            limit = self._options.max_message_bytes
            await self._fatal(f"message larger than {limit} bytes", "message_too_large", CLOSE_TOO_BIG)
            raise _Closed
        try:
            message = parse_message(json.loads(text))
        except json.JSONDecodeError:
            await self._error("messages must be JSON", "invalid_json")
            return
        except ProtocolError as e:
            await self._error(e.message, e.code, e.param)
            return
        if isinstance(message, Bare) and message.type == "session.close":
            await self._fatal(None, "", CLOSE_NORMAL)
            raise _Closed
        if isinstance(message, SessionConfig):
            await self._configure(message)
        elif self._setup is None:
            await self._error(f"send session.config before {message.type}", "session_not_configured", "type")
        elif isinstance(message, InputText):
            self._turn_open = self._turn_open or bool(message.text)
            assert self._splitter is not None
            self._add(self._splitter.feed(message.text))
        else:  # input.done
            assert self._splitter is not None and self._pipeline is not None
            self._add(self._splitter.flush())
            self._pipeline.end_turn(self._next_index)
            self._turn, self._next_index, self._turn_open = self._turn + 1, 0, False

    async def _configure(self, config: SessionConfig) -> None:
        assert self._pipeline is not None
        if self._turn_open or self._pipeline.busy:
            await self._error(
                "session.config cannot change a turn in progress; send input.done and wait for session.done",
                "turn_in_progress",
            )
            return
        if not self._authenticated:
            await self._authenticate(config.api_key, deferred=False)
        try:
            self._setup = await configure(self._state, config)
        except ProtocolError as e:
            await self._error(e.message, e.code, e.param)
            return
        self._splitter = SentenceSplitter(
            language=config.language, max_chars=self._options.max_sentence_chars
        )

    def _add(self, texts: list[str]) -> None:
        assert self._pipeline is not None and self._setup is not None
        now = time.perf_counter()
        for text in texts:
            self._pipeline.add(Sentence(self._turn, self._next_index, text, now, self._setup))
            self._next_index += 1

    async def _error(self, message: str, code: str, param: str | None = None) -> None:
        await self._outbox.event(error_event(message, code, param))

    async def _fatal(self, message: str | None, code: str, close_code: int) -> None:
        """Tell the client why (when there is a why), then close; a socket already gone is fine."""
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            if message is not None:
                await self._error(message, code)
            await self._ws.close(close_code)
