"""What the filter held back: Postfix's hold queue is the quarantine.

rspamd's zenmail rules answer `quarantine` (a milter HOLD) for mail with a phishing sign
(templates/rspamd/rspamd.local.lua); Postfix keeps such a message whole in its hold queue,
where nothing expires it. A tenant's administrator sees the held mail addressed to the
tenant's domains, and releases it (delivered as it is, not scanned again) or deletes it.
Held mail older than [filter] quarantine_days is deleted by the rspamd chore (`expire`).
Nothing is dropped silently: every release, deletion and expiry is in the audit log, and
expiries count in the tenant's security report ("expired").

A message to several tenants is listed for each; only a global administrator may release
or delete it, since the others would decide for another tenant too.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from sqlalchemy import select

from zenmail.directory.context import Ctx, audit
from zenmail.directory.models import Domain, Tenant
from zenmail.directory.views import View
from zenmail.errors import InvalidInput, NotFound, PermissionDenied, StackError
from zenmail.filtering.store import call

_ID = re.compile(r"^[0-9A-Za-z]{6,20}$")


@dataclass
class Held(View):
    id: str
    arrived: datetime
    sender: str
    recipients: list[str]
    tenants: list[str]
    subject: str
    from_header: str
    reasons: list[str] = field(default_factory=list)
    size: int = 0


class Queue:
    """Postfix's queue tools on one instance (`postfix -c CONF`)."""

    def __init__(self, conf_dir: Path) -> None:
        self.conf_dir = conf_dir

    @classmethod
    def of(cls, state_dir: Path) -> Queue:
        """The stack's Postfix under `state_dir` (where zenmail.stack.daemons.postfix keeps
        its live configuration; a unit test keeps the two the same)."""
        return cls(state_dir.resolve() / "postfix" / "etc")

    def _run(self, cmd: list[str], what: str) -> str:
        try:
            done = subprocess.run([cmd[0], "-c", str(self.conf_dir), *cmd[1:]],
                                  capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        except FileNotFoundError as exc:
            raise StackError(f"{cmd[0]} is not installed; run `make install`") from exc
        if done.returncode != 0:
            raise StackError(f"{what} failed: {done.stderr.decode(errors='replace').strip()}")
        return done.stdout.decode(errors="replace")

    def held(self) -> list[dict[str, object]]:
        if not (self.conf_dir / "main.cf").exists():
            return []  # no mail stack was ever started here: nothing can be held
        out = self._run(["postqueue", "-j"], "listing the Postfix queue")
        rows = [json.loads(line) for line in out.splitlines() if line.strip()]
        return [r for r in rows if r.get("queue_name") == "hold"]

    def headers(self, queue_id: str) -> bytes:
        return self._run(["postcat", "-h", "-q", queue_id], "reading a held message").encode()

    def release(self, queue_id: str) -> None:
        self._run(["postsuper", "-H", queue_id], "releasing a held message")
        self._run(["postqueue", "-i", queue_id], "delivering a released message")

    def delete(self, queue_id: str) -> None:
        self._run(["postsuper", "-d", queue_id, "hold"], "deleting a held message")


def _domain_tenants(ctx: Ctx) -> dict[str, tuple[int, str]]:
    with ctx.reading() as s:
        return {d: (tid, t) for d, tid, t in s.execute(
            select(Domain.name, Domain.tenant_id, Tenant.name).join(
                Tenant, Domain.tenant_id == Tenant.id))}


def _reasons(headers: bytes) -> tuple[str, str, list[str]]:
    msg = BytesHeaderParser(policy=default_policy).parsebytes(headers)
    result = str(msg.get("X-Spamd-Result", ""))
    reasons = [m.group(0).strip() for m in re.finditer(r"\b(ZM_[A-Z_]+|PHISHING)\([^)]*\)"
                                                         r"(\[[^\]]*\])?", result)]
    return str(msg.get("Subject", "")), str(msg.get("From", "")), reasons


def _view(q: Queue, row: dict[str, object], owners: dict[str, tuple[int, str]]) -> Held:
    rcpts = [str(r["address"]).lower() for r in row.get("recipients", [])  # type: ignore[attr-defined]
             ]
    tenants = sorted({owners[r.rpartition("@")[2]][1] for r in rcpts
                      if r.rpartition("@")[2] in owners})
    qid = str(row["queue_id"])
    subject, from_header, reasons = _reasons(q.headers(qid))
    return Held(id=qid, arrived=datetime.fromtimestamp(int(str(row["arrival_time"])), UTC),
                sender=str(row.get("sender", "")), recipients=rcpts, tenants=tenants,
                subject=subject, from_header=from_header, reasons=reasons,
                size=int(str(row.get("message_size", 0))))


def _tenant_ids(rcpts: list[str], owners: dict[str, tuple[int, str]]) -> set[int | None]:
    return {owners.get(r.rpartition("@")[2], (None, ""))[0] for r in rcpts}


def list_held(ctx: Ctx, q: Queue, tenant: str | None = None) -> list[Held]:
    """The held messages `ctx` may see (a tenant administrator: its tenant's), oldest first."""
    owners = _domain_tenants(ctx)
    if tenant is not None:
        with ctx.reading() as s:
            wanted = ctx.find(s, Tenant, tenant, lock=False).id
    out = []
    for row in q.held():
        rcpts = [str(r["address"]).lower() for r in row.get("recipients", [])]  # type: ignore[attr-defined]
        ids = _tenant_ids(rcpts, owners)
        if not ctx.actor.is_global and ctx.actor.tenant_id not in ids:
            continue
        if tenant is not None and wanted not in ids:
            continue
        out.append(_view(q, row, owners))
    return sorted(out, key=lambda h: h.arrived)


def _find(ctx: Ctx, q: Queue, queue_id: str) -> Held:
    if not _ID.match(queue_id):
        raise InvalidInput(f"{queue_id!r} is not a quarantine id; `zenmail quarantine list` "
                           "shows them")
    owners = _domain_tenants(ctx)
    for row in q.held():
        if str(row["queue_id"]) != queue_id:
            continue
        rcpts = [str(r["address"]).lower() for r in row.get("recipients", [])]  # type: ignore[attr-defined]
        ids = _tenant_ids(rcpts, owners)
        if ctx.actor.is_global:
            return _view(q, row, owners)
        if ctx.actor.tenant_id in ids:
            if ids != {ctx.actor.tenant_id}:
                raise PermissionDenied(f"message {queue_id} is addressed to other "
                                       "organisations too; a global administrator decides")
            return _view(q, row, owners)
        break
    raise NotFound(f"no held message {queue_id}; `zenmail quarantine list` shows them")


def _audit(ctx: Ctx, action: str, held: Held, note: str = "") -> None:
    owners = _domain_tenants(ctx)
    ids = sorted(t for t in _tenant_ids(held.recipients, owners) if t is not None)
    with ctx.unit() as s:
        audit(s, ctx, action, f"{held.id} from {held.sender} to {', '.join(held.recipients)}"
              + note, ids[0] if len(ids) == 1 else None)


def release(ctx: Ctx, q: Queue, queue_id: str) -> Held:
    """Deliver a held message now, as it is."""
    held = _find(ctx, q, queue_id)
    q.release(queue_id)
    _audit(ctx, "quarantine.release", held)
    return held


def delete(ctx: Ctx, q: Queue, queue_id: str) -> Held:
    """Remove a held message for good."""
    held = _find(ctx, q, queue_id)
    q.delete(queue_id)
    _audit(ctx, "quarantine.delete", held)
    return held


def expire(ctx: Ctx, q: Queue, days: int, r: Any = None,
           now: datetime | None = None) -> list[Held]:
    """Delete the held messages that arrived more than `days` days before `now` (0: none),
    each audited as `quarantine.expire` and, with Redis `r`, counted as "expired" in its
    tenants' security report of today. `now` (a test's clock) decides the ages. Returns
    what was deleted."""
    if days <= 0:
        return []
    now = now or datetime.now(UTC)
    cutoff = (now - timedelta(days=days)).timestamp()
    owners = _domain_tenants(ctx)
    gone = []
    for row in q.held():
        if int(str(row["arrival_time"])) >= cutoff:
            continue
        held = _view(q, row, owners)
        try:
            q.delete(held.id)
        except StackError:
            if any(str(x["queue_id"]) == held.id for x in q.held()):
                raise
            continue  # released or deleted by an administrator meanwhile
        _audit(ctx, "quarantine.expire", held,
               f", held since {held.arrived:%Y-%m-%d %H:%M} UTC (over {days} days)")
        if r is not None:
            for tenant in held.tenants:
                call(r.hincrby, f"zm:st:{tenant}:{datetime.now(UTC):%Y%m%d}", "expired", 1)
        gone.append(held)
    return gone
