"""Outbound limits, and the suspensions they lead to.

rspamd's zenmail rules (templates/rspamd/rspamd.local.lua) enforce [filter]'s limits at
submission: messages per account and per tenant per hour, recipients per message and per
account per day, each refused with a clear 4.7.1/5.7.1 answer. A burst of refused outbound
mail (spam, viruses, or over a limit: `suspend_after` within an hour) suspends the account's
sending: every later submission gets 5.7.1 until an administrator lifts it
(`zenmail account unlock`), and a `sending_suspended` event is recorded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from zenmail.directory.context import Ctx, audit
from zenmail.directory.models import Account
from zenmail.directory.views import View
from zenmail.filtering.store import call

PREFIX = "zm:susp:"


@dataclass
class Suspension(View):
    account: str
    tenant: str
    since: datetime
    reason: str


def _parse(account: str, raw: str) -> Suspension:
    when, _, rest = raw.partition("|")
    tenant, _, reason = rest.partition("|")
    since = datetime.fromtimestamp(int(when) if when.isdigit() else 0, UTC)
    return Suspension(account, tenant, since, reason)


def suspensions(ctx: Ctx, r: Any) -> list[Suspension]:
    """Accounts whose sending is suspended, as `ctx` may see them."""
    found = []
    for key in call(r.keys, PREFIX + "*"):
        raw = call(r.get, key)
        if raw is not None:
            found.append(_parse(key.removeprefix(PREFIX), raw))
    if not ctx.actor.is_global:
        with ctx.reading() as s:
            mine = set(s.scalars(ctx.scoped(select(Account.address), Account.tenant_id)))
        found = [x for x in found if x.account in mine]
    return sorted(found, key=lambda x: x.account)


def events(r: Any, limit: int = 100) -> list[dict[str, Any]]:
    return [json.loads(e) for e in call(r.lrange, "zm:events", 0, limit - 1)]


def unsuspend(ctx: Ctx, r: Any, address: str) -> Suspension | None:
    """Let the account send again (and forget its strikes); audited. None if it was not
    suspended. The account must be visible to `ctx` (another tenant's: not found)."""
    with ctx.reading() as s:
        acc = ctx.find(s, Account, address, lock=False)
        name, tenant_id = acc.address, acc.tenant_id
    raw = call(r.get, PREFIX + name)
    strikes = call(r.keys, f"zm:eg:s:{name}:*")
    if strikes:
        call(r.delete, *strikes)
    if raw is None:
        return None
    call(r.delete, PREFIX + name)
    with ctx.unit() as s:
        audit(s, ctx, "account.unsuspend", name, tenant_id)
    return _parse(name, raw)
