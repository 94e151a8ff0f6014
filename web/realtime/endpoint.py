"""The route: ``WS /v1/audio/speech/stream`` (see ``web.realtime.session`` for the connection's life)."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from web.realtime.session import Session

router = APIRouter()


@router.websocket("/v1/audio/speech/stream")
async def speech_stream(websocket: WebSocket) -> None:
    await websocket.accept()
    await Session(websocket, websocket.app.state.tts).run()
