"""What ``/readyz`` asks: each dependency the request path needs, by name, with what is missing.

The composition root lists the checks for its mode (embedded: the database, the engine; distributed: the
database, Redis, a worker). A check's probe returns normally when the dependency answers and raises when it
does not; the exception's text, shortened, is what ``/readyz`` reports for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from common.ports import Dispatcher

PROBE_TIMEOUT_S = 3.0
_MAX_MESSAGE = 200


@dataclass(frozen=True, slots=True)
class ReadinessCheck:
    name: str
    probe: Callable[[], Awaitable[None]]


class NotReady(Exception):
    """A probe's plain-words reason (raised by the probes below)."""


async def problem_of(check: ReadinessCheck) -> str | None:
    """None when the dependency answered within ``PROBE_TIMEOUT_S``; else what is wrong, in words."""
    try:
        await asyncio.wait_for(check.probe(), PROBE_TIMEOUT_S)
    except TimeoutError:
        return f"did not answer within {PROBE_TIMEOUT_S:g} s"
    except Exception as e:  # any failure is the answer: not ready, and why
        message = str(e).strip().splitlines()[0] if str(e).strip() else ""
        text_ = message if isinstance(e, NotReady) else f"{type(e).__name__}: {message}"
        return text_[:_MAX_MESSAGE]
    return None


def database_check(sessions: sessionmaker[Session]) -> ReadinessCheck:
    def select_one() -> None:
        with sessions() as session:
            session.execute(text("SELECT 1"))

    async def probe() -> None:
        await asyncio.to_thread(select_one)

    return ReadinessCheck("database", probe)


def dispatcher_check(dispatcher: Dispatcher, *, name: str, missing: str) -> ReadinessCheck:
    """``missing``: what to say when the dispatcher is not ready (the engine loading, no live worker)."""

    async def probe() -> None:
        if not await dispatcher.is_ready():
            raise NotReady(missing)

    return ReadinessCheck(name, probe)
