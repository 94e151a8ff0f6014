"""Jobs: ``error_step`` (where a failed job failed) and ``finalize_attempts`` (bounded finalize retries).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 18:40:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("error_step", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("finalize_attempts", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("finalize_attempts")
        batch.drop_column("error_step")
