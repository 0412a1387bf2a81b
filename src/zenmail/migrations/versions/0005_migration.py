"""migration state: projects, jobs (source → account), folders, messages

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "migration_projects",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("max_msgs_per_s", sa.Float(), nullable=False),
        sa.Column("max_bytes_per_s", sa.BigInteger(), nullable=False),
        sa.Column("plan", sa.Text(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.UniqueConstraint("tenant_id", "name"),
    )
    op.create_table(
        "migration_jobs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("account_id", sa.Integer(),
                  sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("project_id", sa.Integer(),
                  sa.ForeignKey("migration_projects.id", ondelete="CASCADE"), nullable=True,
                  index=True),
        sa.Column("source_host", sa.String(length=255), nullable=False),
        sa.Column("source_port", sa.Integer(), nullable=False),
        sa.Column("source_user", sa.String(length=320), nullable=False),
        sa.Column("source_tls", sa.String(length=10), nullable=False),
        sa.Column("source_insecure", sa.Boolean(), nullable=False),
        sa.Column("master_user", sa.String(length=320), nullable=True),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("pilot", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("verdict", sa.String(length=40), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("report", sa.Text(), nullable=True),
        sa.Column("messages_total", sa.BigInteger(), nullable=False),
        sa.Column("messages_done", sa.BigInteger(), nullable=False),
        sa.Column("bytes_total", sa.BigInteger(), nullable=False),
        sa.Column("bytes_done", sa.BigInteger(), nullable=False),
        sa.Column("started_at", _TS, nullable=True),
        sa.Column("finished_at", _TS, nullable=True),
        sa.UniqueConstraint("account_id", "source_host", "source_port", "source_user"),
    )
    op.create_table(
        "migration_folders",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("job_id", sa.Integer(),
                  sa.ForeignKey("migration_jobs.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("source_name", sa.String(length=1000), nullable=False),
        sa.Column("target_name", sa.String(length=1000), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("highest_modseq", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("job_id", "source_name"),
    )
    op.create_table(
        "migration_messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("folder_id", sa.Integer(),
                  sa.ForeignKey("migration_folders.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("uid", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("flags", sa.Text(), nullable=False),
        sa.Column("internal_date", sa.BigInteger(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("target_uid", sa.BigInteger(), nullable=True),
        sa.Column("pending_from", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.UniqueConstraint("folder_id", "uid"),
    )


def downgrade() -> None:
    op.drop_table("migration_messages")
    op.drop_table("migration_folders")
    op.drop_table("migration_jobs")
    op.drop_table("migration_projects")
