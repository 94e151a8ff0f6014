"""A segment claim's holder renews its lease while it runs the segment (issue 19).

The lease is short (``jobs.segment_lease_s``); every third of it the holder extends it with a conditional
update that succeeds only for its own token (``renew_claim``). A claim whose lease expired therefore lost its
holder (the process died, its host was lost or partitioned) and the janitor sends the segment again within
about a lease, not after the task's hard time limit. A renewal that finds the claim superseded or released
logs once and stops: the holder's late result is then discarded by the token check. A renewal that fails
(the database briefly down) is tried again at the next tick; the lease outlives two missed ones.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from common.periodic import beating
from voice_store.db import session_scope
from voice_store.job_transitions import renew_claim

log = logging.getLogger(__name__)


def renewing(
    sessions: sessionmaker[Session], *, job_id: str, position: int, token: int, lease_s: float
) -> AbstractContextManager[None]:
    """Renew claim ``token`` of the segment every ``lease_s / 3`` while the body runs."""

    def renew() -> bool:
        try:
            with session_scope(sessions, write=True) as session:
                held = renew_claim(
                    session=session, job_id=job_id, position=position, token=token, lease_s=lease_s
                )
        except SQLAlchemyError as e:  # the next tick tries again
            log.warning("job %s segment %d: claim %d not renewed: %s", job_id, position, token, e)
            return True
        if not held:
            log.warning("job %s segment %d: claim %d lost: no longer renewed", job_id, position, token)
        return held

    return beating(renew, period_s=lease_s / 3, name=f"claim-{job_id}-{position}")
