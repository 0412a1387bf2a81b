"""devices: app passwords, the credentials view Dovecot reads, auth changes, device links

- `tenants.app_passwords_required`: the tenant's people may log in to IMAP/SMTP only with
  app passwords.
- `app_passwords`: one credential per device of an account ({SSHA256} of a random secret).
- `mail_credentials`: a view with one row per account holding everything Dovecot checks a
  password against: the main hash (empty when the tenant requires app passwords) and the
  live app passwords as `id:hash id:hash …` (one row, because Dovecot's SQL passdb refuses
  a query that answers several). Written out here per dialect, as it was at this revision.
- `auth_changes`: credentials that changed, so every node flushes Dovecot's auth cache.
- `device_links`: one-time links handing a device its setup profile.

Revision ID: 0009
Revises: 0004
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_VIEW = """CREATE VIEW mail_credentials AS
SELECT a.address AS address, a.enabled AS enabled,
       CASE WHEN t.app_passwords_required THEN '' ELSE a.password_hash END AS main,
       COALESCE((SELECT {agg} FROM app_passwords p
                 WHERE p.account_id = a.id AND p.revoked_at IS NULL), '') AS apps
FROM accounts a JOIN tenants t ON t.id = a.tenant_id"""
_AGG = {
    "sqlite": "group_concat(p.id || ':' || p.password_hash, ' ')",
    "postgresql": "string_agg(p.id || ':' || p.password_hash, ' ' ORDER BY p.id)",
}


def upgrade() -> None:
    # A plain ADD COLUMN (SQLite takes it with a constant default): a batch rebuild of
    # `tenants` would drop the table that every account and domain refers to.
    op.add_column("tenants", sa.Column("app_passwords_required", sa.Boolean(), nullable=False,
                                       server_default=sa.false()))
    op.create_table(
        "app_passwords",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account_id", sa.Integer(),
                  sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_app_passwords_account_id", "app_passwords", ["account_id"])
    op.create_table(
        "auth_changes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_auth_changes_at", "auth_changes", ["at"])
    op.create_table(
        "device_links",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("account_id", sa.Integer(),
                  sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_device_links_account_id", "device_links", ["account_id"])
    dialect = op.get_bind().dialect.name
    op.execute(_VIEW.format(agg=_AGG[dialect]))


def downgrade() -> None:
    op.execute("DROP VIEW mail_credentials")
    op.drop_index("ix_device_links_account_id", "device_links")
    op.drop_table("device_links")
    op.drop_index("ix_auth_changes_at", "auth_changes")
    op.drop_table("auth_changes")
    op.drop_index("ix_app_passwords_account_id", "app_passwords")
    op.drop_table("app_passwords")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("app_passwords_required")
