"""domains and addresses stored in their ASCII (IDNA A-label) form

Before this revision a Unicode domain was stored as typed ("bücher.example"), while Postfix
and Dovecot, without SMTPUTF8, look up "xn--bcher-kva.example": such accounts, aliases and
domains never received mail. This converts every stored domain name, address, alias and
alias target (and administrator name) to the A-label form, and writes one audit entry per
changed row. It stops, changing nothing, if a converted name already exists in its other
spelling, naming both so that one of them can be removed first.

The conversion is written out here rather than imported, so that this revision keeps doing
what it did when later code changes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

import json
from collections.abc import Callable
from datetime import UTC, datetime

import idna
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ACTOR = "migration:0003"


def _a_label(domain: str) -> str:
    if domain.isascii():
        return domain
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise RuntimeError(f"stored domain {domain!r} is not a valid internationalised name "
                           f"({exc}); remove what uses it with the previous zenmail version, "
                           "then upgrade again") from exc


def _u_label(domain: str) -> str:
    try:
        return idna.decode(domain) if "xn--" in domain else domain
    except idna.IDNAError:
        return domain


def _address(value: str, convert: Callable[[str], str] = _a_label) -> str:
    local, at, domain = value.rpartition("@")
    return f"{local}{at}{convert(domain)}" if at else convert(value)


# (table, unique column, what it holds); each of these tables has a tenant_id
_COLUMNS = [
    ("domains", "name", "domain"),
    ("accounts", "address", "address"),
    ("aliases", "address", "address"),
    ("admins", "name", "address"),
]


def _convert(value: str, kind: str, to_ascii: bool) -> str:
    if kind == "domain":
        return _a_label(value) if to_ascii else _u_label(value)
    return _address(value, _a_label if to_ascii else _u_label)


def _rename(conn: sa.Connection, to_ascii: bool) -> None:
    audit = sa.table("audit_log", sa.column("at", sa.DateTime(timezone=True)),
                     sa.column("actor", sa.String), sa.column("tenant_id", sa.Integer),
                     sa.column("action", sa.String), sa.column("target", sa.Text),
                     sa.column("before", sa.Text), sa.column("after", sa.Text))
    now = datetime.now(UTC)
    for table_name, column, kind in _COLUMNS:
        table = sa.table(table_name, sa.column("id", sa.Integer), sa.column(column, sa.String),
                         sa.column("tenant_id", sa.Integer))
        rows = conn.execute(sa.select(table.c.id, table.c[column], table.c.tenant_id)).all()
        taken = {value for _, value, _ in rows}
        changes = []
        for row_id, value, tenant_id in rows:
            new = _convert(value, kind, to_ascii)
            if new == value:
                continue
            if new in taken:
                raise RuntimeError(
                    f"{table_name}: {value!r} would become {new!r}, which is already there; "
                    f"they are the same name. Remove one of them with the previous zenmail "
                    "version, then upgrade again")
            taken.add(new)
            changes.append((row_id, value, new, tenant_id))
        for row_id, value, new, tenant_id in changes:
            conn.execute(table.update().where(table.c.id == row_id).values({column: new}))
            conn.execute(audit.insert().values(
                at=now, actor=ACTOR, tenant_id=tenant_id, action=f"{table_name}.rename",
                target=new, before=json.dumps({column: value}),
                after=json.dumps({column: new})))

    targets = sa.table("alias_targets", sa.column("id", sa.Integer),
                       sa.column("alias_id", sa.Integer), sa.column("target", sa.String))
    rows = conn.execute(sa.select(targets.c.id, targets.c.alias_id, targets.c.target)).all()
    kept = {(alias_id, target) for _, alias_id, target in rows}
    for row_id, alias_id, target in rows:
        new = _address(target, _a_label if to_ascii else _u_label)
        if new == target:
            continue
        if (alias_id, new) in kept:
            # The alias already delivers to the other spelling: the same mailbox, once.
            conn.execute(targets.delete().where(targets.c.id == row_id))
        else:
            conn.execute(targets.update().where(targets.c.id == row_id).values(target=new))
            kept.add((alias_id, new))


def upgrade() -> None:
    _rename(op.get_bind(), to_ascii=True)


def downgrade() -> None:
    # Back to the Unicode spelling that the code of revision 0002 stored and looked up.
    _rename(op.get_bind(), to_ascii=False)
