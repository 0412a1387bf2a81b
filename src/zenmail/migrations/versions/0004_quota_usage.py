"""quota_usage: what each mailbox stores, written by Dovecot, read by zenmail

Dovecot's quota_clone plugin copies an account's usage (bytes and messages, as its quota
`count` backend counts them) into this table through its SQL dict whenever it changes, so
`quota show`, `tenant show` and the API read usage with one query instead of asking Dovecot
per account. Keyed by the user name Dovecot knows (the address); no foreign key, so that a
write for an account removed meanwhile cannot fail Dovecot's dict transaction.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quota_usage",
        sa.Column("username", sa.String(length=320), primary_key=True),
        sa.Column("bytes", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("messages", sa.BigInteger(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_table("quota_usage")
