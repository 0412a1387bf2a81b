"""eco_policies: each tenant's eco-design policy (archive after, expunge Trash/Junk after,
reduce images of archived mail); removed with its tenant.

Revision ID: 0010
Revises: 0004
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "eco_policies",
        sa.Column("tenant_id", sa.Integer(),
                  sa.ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("archive_after_months", sa.Integer(), nullable=True),
        sa.Column("trash_after_days", sa.Integer(), nullable=True),
        sa.Column("reduce_images", sa.Boolean(), nullable=False,
                  server_default=sa.false()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("eco_policies")
