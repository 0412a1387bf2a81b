"""Message trace: "where is my email?", answered from the logs the stack writes.

Postfix logs into STATE/log/postfix.log and Dovecot into STATE/log/dovecot.log (each with
its previous file, `.1`, when rotated). A message is followed by its Postfix queue id:

    smtpd    QID: client=..., sasl_username=...         who handed it over
    cleanup  QID: message-id=<...>                       its Message-ID
    cleanup  QID: milter-reject: ... / reject: ...       refused by the filter at the end of DATA
    qmgr     QID: from=<...>, size=..., nrcpt=...        its envelope sender
    lmtp/smtp/error  QID: to=<...>, relay=..., dsn=..., status=sent|deferred|bounced (why)
    smtpd    NOQUEUE: reject: RCPT from ...: 550 ...; from=<...> to=<...>   refused at RCPT

and a delivery to Dovecot is matched to the folder Dovecot saved it in through the LMTP
session id both name (`250 2.0.0 <rcpt> SESSION Saved` / `lmtp(rcpt)<pid><SESSION>: ...
saved mail to FOLDER`).

The filter's verdict comes from rspamd's log (STATE/log/rspamd.log), whose line for each
scan names the queue id Postfix passed through the milter:
`qid: <QID>, ... (default: T (reject): [1000.00/15.00] [...])` — the action and the score
against the score that refuses.

A tenant administrator sees the messages its domains sent or received, and only its own
recipients of mail it received; asking about an address of another tenant's domain is
"no domain", as everywhere else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from zenmail.config import Settings
from zenmail.directory import names
from zenmail.directory.context import Ctx
from zenmail.directory.models import Domain
from zenmail.directory.views import View
from zenmail.errors import InvalidInput, NotFound
from zenmail.stack import probeaccount
from zenmail.stack.files import Layout

_STAMP = re.compile(r"^(\w{3}\s+\d+ \d\d:\d\d:\d\d) ")
# Short queue ids are hex; long ones (enable_long_queue_ids) use a larger alphabet.
_QID = re.compile(r"postfix/[\w/-]+\[\d+\]: ([0-9A-F]{6,}|[0-9A-Za-z]{12,}): (.*)$")
_NOQUEUE = re.compile(r"postfix/[\w/-]+\[\d+\]: NOQUEUE: (?:milter-)?reject: \S+ from \S+: "
                      r"(.*?); from=<([^>]*)> to=<([^>]*)>")
# Without Sieve Dovecot logs "saved mail to F"; with a Sieve script (the filter's global
# spam-to-Junk rule, a user's own) "sieve: msgid=…: stored mail into mailbox 'F'".
_SAVED = re.compile(r"lmtp\(([^)]+)\)<\d+><([^>]+)>: Info: (?:sieve: )?(?:msgid=.*?: )?"
                    r"(?:saved mail to (.+)|stored mail into mailbox '(.+)')$")
_FIELD = re.compile(r"([\w-]+)=(<[^>]*>|[^,\s]+)")
_SESSION = re.compile(r"\b250 2\.0\.0 <[^>]*> (\S+) Saved")
_SINCE = re.compile(r"^(\d+)\s*([smhd])$")
_VERDICT = re.compile(r"\bqid: <([^>]+)>.*?\(default: [A-Z] \(([\w ]+)\): "
                      r"\[(-?[\d.]+)/(-?[\d.]+)\]")


@dataclass
class Delivery(View):
    recipient: str
    status: str  # sent | deferred | bounced | rejected
    at: str
    relay: str = ""
    dsn: str = ""
    reason: str = ""
    folder: str = ""


@dataclass
class Traced(View):
    queue_id: str  # "" for mail refused before it had one (at RCPT time)
    received_at: str
    message_id: str = ""
    sender: str = ""
    client: str = ""
    login: str = ""
    deliveries: list[Delivery] = field(default_factory=list)
    status: str = ""  # the worst of its deliveries': rejected, bounced, deferred, sent, queued
    filter_action: str = ""  # rspamd's: no action, add header, reject, ... ("": not scanned)
    filter_score: float | None = None
    filter_threshold: float | None = None  # the score from which rspamd refuses

    def summarise(self) -> Traced:
        states = {d.status for d in self.deliveries}
        self.status = next((s for s in ("rejected", "bounced", "deferred", "sent")
                            if s in states), "queued")
        return self


def _when(line: str, year: int) -> datetime | None:
    m = _STAMP.match(line)
    if not m:
        return None
    try:
        t = datetime.strptime(f"{year} {m.group(1)}", "%Y %b %d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    # Syslog stamps have no year: a date ahead of today belongs to last year.
    return t.replace(year=year - 1) if t > datetime.now(UTC) + timedelta(days=1) else t


def _lines(path: Path) -> list[str]:
    out: list[str] = []
    for p in (path.with_name(path.name + ".1"), path):
        try:
            out += p.read_text(errors="replace").splitlines()
        except OSError:
            continue
    return out


def verdicts(rspamd_log: list[str]) -> dict[str, tuple[str, float, float]]:
    """{queue id: (action, score, threshold)} of every scan rspamd logged (the last one of
    a queue id wins: a message scanned twice was rescanned after a change)."""
    out: dict[str, tuple[str, float, float]] = {}
    for line in rspamd_log:
        if "qid: <" not in line:
            continue
        m = _VERDICT.search(line)
        if m:
            out[m.group(1)] = (m.group(2), float(m.group(3)), float(m.group(4)))
    return out


def parse(postfix_log: list[str], dovecot_log: list[str], year: int | None = None,
          rspamd_log: list[str] | None = None) -> list[Traced]:
    """Every message the logs mention, oldest first."""
    year = year or datetime.now(UTC).year
    folders: dict[tuple[str, str], str] = {}
    for line in dovecot_log:
        m = _SAVED.search(line)
        if m:
            folders[(m.group(2), m.group(1).lower())] = (m.group(3) or m.group(4)).strip()
    found: dict[str, Traced] = {}
    out: list[Traced] = []
    for line in postfix_log:
        when = _when(line, year)
        if when is None:
            continue
        stamp = when.isoformat()
        m = _NOQUEUE.search(line)
        if m:
            reason, sender, rcpt = m.groups()
            refused = Traced("", stamp, sender=sender)
            refused.deliveries.append(Delivery(rcpt, "rejected", stamp, reason=reason))
            out.append(refused)
            continue
        m = _QID.search(line)
        if not m:
            continue
        qid, rest = m.groups()
        if qid not in found:
            found[qid] = Traced(qid, stamp)
            out.append(found[qid])
        t = found[qid]
        fields = {k: v.strip("<>") for k, v in _FIELD.findall(rest)}
        if rest.startswith("client="):
            t.client = fields.get("client", "")
            t.login = fields.get("sasl_username", "")
        elif rest.startswith("message-id="):
            t.message_id = fields.get("message-id", "")
        elif rest.startswith("from=") and "to" not in fields:
            t.sender = fields.get("from", "")
        elif "milter-reject:" in rest or rest.startswith("reject:"):
            reason = rest.split(": ", 2)[-1].split("; from=")[0]
            t.sender = t.sender or fields.get("from", "")  # refused before qmgr saw it
            for rcpt in [fields.get("to", "")] if fields.get("to") else [""]:
                t.deliveries.append(Delivery(rcpt, "rejected", stamp, reason=reason))
        elif rest.startswith("to=") and "status" in fields:
            reason = rest.split(f"status={fields['status']} ", 1)[-1].strip()
            reason = reason[1:-1] if reason.startswith("(") else reason
            d = Delivery(fields["to"], fields["status"], stamp, relay=fields.get("relay", ""),
                         dsn=fields.get("dsn", ""), reason=reason)
            session = _SESSION.search(reason)
            if session:
                d.folder = folders.get((session.group(1), d.recipient.lower()), "")
            _replace(t, d)
    scanned = verdicts(rspamd_log or [])
    for t in out:
        if t.queue_id in scanned:
            t.filter_action, t.filter_score, t.filter_threshold = scanned[t.queue_id]
    return [t.summarise() for t in out]


def _replace(t: Traced, d: Delivery) -> None:
    """A later attempt for the same recipient supersedes an earlier one (deferred, sent)."""
    t.deliveries = [x for x in t.deliveries if x.recipient != d.recipient] + [d]


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`30m`, `2h`, `7d` (ago) or an ISO date/time (UTC unless it says otherwise)."""
    now = now or datetime.now(UTC)
    m = _SINCE.match(text.strip())
    if m:
        n, unit = int(m.group(1)), m.group(2)
        return now - timedelta(**{{"s": "seconds", "m": "minutes", "h": "hours",
                                   "d": "days"}[unit]: n})
    try:
        t = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"--since {text!r}: give a time ago such as 30m, 2h or 7d, or an "
                           "ISO date such as 2026-11-28T09:00") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


def trace(ctx: Ctx, settings: Settings, *, message_id: str | None = None,
          sender: str | None = None, recipient: str | None = None,
          since: str | None = None) -> list[Traced]:
    """The messages matching every filter given, newest last, as `ctx` may see them."""
    with ctx.reading() as s:
        hosted = dict(s.execute(select(Domain.name, Domain.tenant_id)).all())
    mine = None if ctx.actor.is_global else {
        d for d, tid in hosted.items() if tid == ctx.actor.tenant_id}
    for address in (sender, recipient):
        if address and mine is not None:
            d = names.domain_key(_domain(address)) if "@" in address else ""
            if d in hosted and d not in mine:
                raise NotFound(f"no domain {d!r}; `zenmail domain list` shows yours")
    layout = Layout.of(settings.state_dir)
    found = parse(_lines(layout.log / "postfix.log"), _lines(layout.log / "dovecot.log"),
                  rspamd_log=_lines(layout.log / "rspamd.log"))
    after = parse_since(since) if since else None
    wanted_id = message_id.strip().strip("<>") if message_id else None
    probe = probeaccount.address(settings)
    out = []
    for t in found:
        if probe not in (sender, recipient) and (t.sender == probe or any(
                d.recipient == probe for d in t.deliveries)):
            continue  # the watch's own probes, every minute: not what support looks for
        if after is not None and datetime.fromisoformat(t.received_at) < after:
            continue
        if wanted_id is not None and t.message_id != wanted_id:
            continue
        if sender is not None and t.sender.lower() != sender.lower():
            continue
        if recipient is not None and not any(d.recipient.lower() == recipient.lower()
                                             for d in t.deliveries):
            continue
        if mine is not None:
            if _domain(t.sender) in mine:
                pass  # its own mail: every recipient it sent to
            elif any(_domain(d.recipient) in mine for d in t.deliveries):
                t.deliveries = [d for d in t.deliveries if _domain(d.recipient) in mine]
            else:
                continue
        out.append(t.summarise())
    return out
