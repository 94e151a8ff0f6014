"""Voices: OpenAI voice consent recordings, and the consent a voice was created under.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 19:21:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "voice_consents",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("language", sa.String(length=35), nullable=False),
        sa.Column("recording_blob_key", sa.String(length=512), nullable=False),
        sa.Column("recording_content_type", sa.String(length=100), nullable=False),
        sa.Column("recording_sha256", sa.String(length=64), nullable=False),
        sa.Column("duration_s", sa.Double(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voice_consents")),
    )
    with op.batch_alter_table("voices") as batch:
        batch.add_column(sa.Column("consent_id", sa.String(length=40), nullable=True))
        batch.create_index(batch.f("ix_voices_consent_id"), ["consent_id"], unique=False)
        batch.create_foreign_key(
            batch.f("fk_voices_consent_id_voice_consents"),
            "voice_consents",
            ["consent_id"],
            ["id"],
            ondelete="RESTRICT",
        )


def downgrade() -> None:
    with op.batch_alter_table("voices") as batch:
        batch.drop_constraint(batch.f("fk_voices_consent_id_voice_consents"), type_="foreignkey")
        batch.drop_index(batch.f("ix_voices_consent_id"))
        batch.drop_column("consent_id")
    op.drop_table("voice_consents")
