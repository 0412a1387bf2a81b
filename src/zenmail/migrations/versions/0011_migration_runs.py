"""migration_runs: project rounds started from the API, run in the background

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "migration_runs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("project_id", sa.Integer(),
                  sa.ForeignKey("migration_projects.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("round", sa.String(length=20), nullable=False),
        sa.Column("account", sa.String(length=320), nullable=True),
        sa.Column("pilot", sa.Boolean(), nullable=False),
        sa.Column("sync_deletions", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("owner_pid", sa.Integer(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.String(length=400), nullable=False),
        sa.Column("verdict", sa.String(length=40), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("started_at", _TS, nullable=True),
        sa.Column("finished_at", _TS, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("migration_runs")
