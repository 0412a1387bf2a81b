"""The security report of one tenant over a period (`zenmail security report`, the API):
spam, viruses and phishing blocked or held, mail held in quarantine now, the most targeted
people, suspended senders, locked-out accounts. Figures come from the counters rspamd's
zenmail rules keep per tenant and day in Redis (zenmail.filtering.store), kept 400 days.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from zenmail.directory.context import Ctx
from zenmail.directory.models import Account, Tenant
from zenmail.directory.views import View
from zenmail.errors import InvalidInput
from zenmail.filtering import egress
from zenmail.filtering.store import call

KINDS = ("spam", "virus", "phishing", "held", "expired", "outbound", "outbound_refused")
MAX_DAYS = 400


@dataclass
class SecurityReport(View):
    tenant: str
    since: str
    until: str
    blocked: dict[str, int]
    most_targeted: list[dict[str, Any]]
    suspended_senders: list[dict[str, Any]]
    locked_accounts: list[dict[str, Any]] = field(default_factory=list)
    held_now: int = 0


def parse_since(text: str | None, today: date | None = None) -> date:
    """`--since`: a date (2026-11-01) or a number of days (7d); default 30 days."""
    today = today or datetime.now(UTC).date()
    if not text:
        return today - timedelta(days=30)
    try:
        if text.endswith("d") and text[:-1].isdigit():
            since = today - timedelta(days=int(text[:-1]))
        else:
            since = date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput(f"--since {text!r} is neither a date (2026-11-01) nor a number of "
                           "days (7d)") from exc
    if since > today:
        raise InvalidInput(f"--since {text} is in the future")
    return max(since, today - timedelta(days=MAX_DAYS))


def report(ctx: Ctx, r: Any, tenant: str, since: date, *,
           locks: Callable[[], list[Any]] = list,
           held_now: Callable[[], int] = lambda: 0) -> SecurityReport:
    """The report of `tenant` (as `ctx` may see it: another tenant's is not found, before
    anything else is asked). `locks()`: the lockouts in force (zenmail.security.lockout), of
    which the tenant's are reported; `held_now()`: its messages in quarantine."""
    with ctx.reading() as s:
        t = ctx.find(s, Tenant, tenant, lock=False)
        name = t.name
        people = set(s.scalars(select(Account.address).where(Account.tenant_id == t.id)))
    locked = [lk.to_dict() for lk in locks() if getattr(lk, "account", None) in people]
    today = datetime.now(UTC).date()
    totals = dict.fromkeys(KINDS, 0)
    targets: dict[str, float] = {}
    day = since
    while day <= today:
        stamp = day.strftime("%Y%m%d")
        for k, v in (call(r.hgetall, f"zm:st:{name}:{stamp}") or {}).items():
            if k in totals:
                totals[k] += int(v)
        for who, n in call(r.zrange, f"zm:tg:{name}:{stamp}", 0, -1, False, True):
            targets[who] = targets.get(who, 0) + n
        day += timedelta(days=1)
    top = sorted(targets.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    suspended = [x.to_dict() for x in egress.suspensions(ctx, r) if x.tenant == name]
    return SecurityReport(tenant=name, since=since.isoformat(), until=today.isoformat(),
                          blocked=totals,
                          most_targeted=[{"account": a, "messages": int(n)} for a, n in top],
                          suspended_senders=suspended, locked_accounts=locked,
                          held_now=held_now())
