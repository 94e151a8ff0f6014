"""Jobs: each segment's claim (owner, fencing token, lease expiry) and when its message was last sent.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 19:40:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("job_segments") as batch:
        batch.add_column(sa.Column("claim_owner", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("claim_token", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("job_segments") as batch:
        batch.drop_column("enqueued_at")
        batch.drop_column("lease_expires_at")
        batch.drop_column("claim_token")
        batch.drop_column("claim_owner")
