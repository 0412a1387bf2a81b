"""Each tenant's eco policy, and applying it to the tenant's mailboxes through Dovecot.

A policy says: move mail received more than N months ago into the Archive tree (INBOX to
Archive/INBOX, Sent to Archive/Sent, a folder F to Archive/F), expunge what lay in Trash and
Junk for more than N days, and (opt-in) reduce the images of archived mail
(zenmail.eco.images). Applying it goes through `doveadm` (`doveadm move`, `doveadm
expunge`), Dovecot's own tools, so indexes, flags, keywords, internal dates, quota and
the clients' view stay consistent while mail arrives; the same search query selects what a
dry run counts and what the real run moves.

Expunged mail goes to the Expunged folder like any deletion (lazy_expunge): restorable for
30 days, then purged by the supervisor's Dovecot chore. Before that, where the vault can
snapshot (a `Keeper`, zenmail.eco.safety), a snapshot is made to hold every message of the
folder about to be expunged; if none can be taken, that folder is not expunged this time
and the result says why.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from zenmail.directory import accounts, tenants
from zenmail.directory.context import Ctx, audit
from zenmail.directory.models import Tenant
from zenmail.directory.views import View
from zenmail.eco import maildir
from zenmail.eco.images import Original, ReduceResult
from zenmail.eco.models import EcoPolicy
from zenmail.eco.safety import Keeper
from zenmail.errors import InvalidInput, StackError, ZenmailError

# Folders never archived: the archive itself, deleted mail, and mail still being written.
NOT_ARCHIVED = ("Archive", "Trash", "Junk", "Expunged", "Drafts")
ARCHIVE = "Archive"

# Runs `doveadm ARGS…` against the stack's Dovecot, returns its output.
Doveadm = Callable[..., str]


@dataclass
class PolicyInfo(View):
    tenant: str
    archive_after_months: int | None
    trash_after_days: int | None
    reduce_images: bool
    updated_at: str


@dataclass
class FolderAction(View):
    account: str
    action: str          # archive, expunge, reduce (images)
    folder: str
    target: str          # Archive/INBOX, or "" for an expunge
    messages: int
    bytes: int           # of the messages moved or expunged; saved, for a reduction
    snapshot: str = ""   # the vault snapshot that holds what was expunged or reduced


@dataclass
class ApplyResult(View):
    dry_run: bool
    tenants: list[str] = field(default_factory=list)
    actions: list[FolderAction] = field(default_factory=list)
    archived_messages: int = 0
    archived_bytes: int = 0
    expunged_messages: int = 0
    expunged_bytes: int = 0
    images_reduced: int = 0
    image_bytes_saved: int = 0
    originals: list[Original] = field(default_factory=list)  # of the reduced messages
    snapshots_taken: list[str] = field(default_factory=list)  # "account: snapshot"
    refused: list[str] = field(default_factory=list)  # what was not done, and why


_DURATION = re.compile(r"^\s*(\d{1,4})\s*([dmy])\s*$")


def parse_duration(text: str, unit: str) -> int | None:
    """`12m`, `1y`, `30d` in months (unit "m") or days (unit "d"); `off` or `0` is None."""
    if text.strip().lower() in ("off", "never", "0", "none"):
        return None
    m = _DURATION.match(text.lower())
    if not m:
        raise InvalidInput(f"{text!r} is not a duration: write it as 30d, 12m or 2y "
                           "(days, months, years), or off")
    n, u = int(m.group(1)), m.group(2)
    if unit == "m":
        if u == "d":
            raise InvalidInput(f"{text!r}: archiving counts in months or years (12m, 2y)")
        value = n * 12 if u == "y" else n
    else:
        value = n * 365 if u == "y" else n * 30 if u == "m" else n
    if value == 0:
        return None
    if value > (1200 if unit == "m" else 36500):
        raise InvalidInput(f"{text!r} is longer than a century")
    return value


def _info(tenant: Tenant, p: EcoPolicy | None) -> PolicyInfo:
    if p is None:
        return PolicyInfo(tenant.name, None, None, False, "")
    return PolicyInfo(tenant.name, p.archive_after_months, p.trash_after_days,
                      p.reduce_images, p.updated_at.isoformat())


def set_policy(ctx: Ctx, tenant: str, archive_after: str | None, trash_after: str | None,
               reduce_images: bool | None) -> PolicyInfo:
    """Set what is given of a tenant's policy; what is not given stays."""
    months = parse_duration(archive_after, "m") if archive_after is not None else None
    days = parse_duration(trash_after, "d") if trash_after is not None else None
    with ctx.unit() as s:
        t = ctx.find(s, Tenant, tenant, lock=True)
        p = s.get(EcoPolicy, t.id)
        before = _info(t, p).to_dict() if p else None
        if p is None:
            p = EcoPolicy(tenant_id=t.id, archive_after_months=None, trash_after_days=None,
                          reduce_images=False)
            s.add(p)
        if archive_after is not None:
            p.archive_after_months = months
        if trash_after is not None:
            p.trash_after_days = days
        if reduce_images is not None:
            p.reduce_images = reduce_images
        p.updated_at = datetime.now(UTC)
        if p.reduce_images and p.archive_after_months is None:
            raise InvalidInput("--reduce-images works on archived mail only: give "
                               "--archive-after too (e.g. 12m)")
        s.flush()
        info = _info(t, p)
        audit(s, ctx, "eco.policy", t.name, t.id, before=before, after=info.to_dict())
        return info


def show_policy(ctx: Ctx, tenant: str) -> PolicyInfo:
    with ctx.reading() as s:
        t = ctx.find(s, Tenant, tenant)
        return _info(t, s.get(EcoPolicy, t.id))


def policies(ctx: Ctx, tenant: str | None = None) -> list[PolicyInfo]:
    """The policies the caller may see (every tenant's, or one), tenants without one too."""
    with ctx.reading() as s:
        return [_info(t, s.get(EcoPolicy, t.id))
                for t in tenants.visible(ctx, s, tenant)]


def months_ago(today: date, months: int) -> date:
    """The same day `months` calendar months before (the month's last day if shorter)."""
    y, m = divmod(today.year * 12 + today.month - 1 - months, 12)
    return date(y, m + 1, min(today.day, calendar.monthrange(y, m + 1)[1]))


def _selected(doveadm: Doveadm, user: str, folder: str, query: list[str]
              ) -> tuple[int, int]:
    """How many messages, and how many bytes, `query` selects in one folder."""
    out = doveadm("-f", "tab", "fetch", "-u", user, "size.virtual", "mailbox", folder,
                  *query)
    sizes = [int(x) for x in out.splitlines()[1:] if x.strip().isdigit()]
    return len(sizes), sum(sizes)


def _folders(doveadm: Doveadm, user: str) -> list[str]:
    out = doveadm("mailbox", "list", "-u", user)
    return [line.strip() for line in out.splitlines() if line.strip()]


def _kept_before_expunge(keep: Keeper, store: Path, user: str, folder: str,
                         result: ApplyResult) -> str | None:
    """The snapshot holding every message of the folder (a superset of what `savedbefore`
    selects); None if the vault could not take one (the reason is in `result.refused`)."""
    directory = dict(maildir.folders(maildir.account_maildir(store, user))).get(folder)
    files = [m.path for m in maildir.messages(folder, directory)] if directory else []
    try:
        kept = keep(user, files)
    except ZenmailError as exc:
        result.refused.append(f"{user}: {folder} was not emptied, its messages could not be "
                              f"put in a vault snapshot first: {exc}")
        return None
    if kept.taken:
        result.snapshots_taken.append(f"{user}: {kept.short}")
    return kept.short


def apply_account(doveadm: Doveadm, user: str, p: PolicyInfo, today: date,
                  dry_run: bool, keep: Keeper | None = None, store: Path | None = None,
                  result: ApplyResult | None = None) -> list[FolderAction]:
    """Apply one policy to one mailbox; returns what was (or would be) done. With `keep`
    (and the mail `store`), Trash and Junk are expunged only once a vault snapshot holds
    them; what was refused goes to `result`."""
    result = result if result is not None else ApplyResult(dry_run=dry_run)
    actions: list[FolderAction] = []
    folders = _folders(doveadm, user)
    if p.archive_after_months:
        # IMAP's BEFORE: internal date (when received) before that day.
        query = ["before", months_ago(today, p.archive_after_months).isoformat()]
        for folder in folders:
            if folder.split("/")[0] in NOT_ARCHIVED:
                continue
            n, size = _selected(doveadm, user, folder, query)
            if not n:
                continue
            target = f"{ARCHIVE}/{folder}"
            if not dry_run:
                for name in (ARCHIVE, target):
                    if name not in folders:
                        doveadm("mailbox", "create", "-s", "-u", user, name)
                        folders.append(name)
                doveadm("move", "-u", user, target, "mailbox", folder, *query)
            actions.append(FolderAction(user, "archive", folder, target, n, size))
    if p.trash_after_days:
        # savedbefore: how long the message has been in that folder, not its age.
        query = ["savedbefore", (today - timedelta(days=p.trash_after_days)).isoformat()]
        for folder in ("Trash", "Junk"):
            if folder not in folders:
                continue
            n, size = _selected(doveadm, user, folder, query)
            if not n:
                continue
            held = ""
            if not dry_run:
                if keep is not None and store is not None:
                    snap = _kept_before_expunge(keep, store, user, folder, result)
                    if snap is None:
                        continue
                    held = snap
                doveadm("expunge", "-u", user, "mailbox", folder, *query)
            actions.append(FolderAction(user, "expunge", folder, "", n, size, held))
    return actions


def apply(ctx: Ctx, doveadm: Doveadm, tenant: str | None = None, dry_run: bool = False,
          today: date | None = None,
          reduce: Callable[[str, bool], ReduceResult] | None = None,
          progress: Callable[[str], None] | None = None, keep: Keeper | None = None,
          store: Path | None = None) -> ApplyResult:
    """Apply the policies of the tenants the caller may see (or of one tenant).

    `reduce(address, dry_run)` reduces the images of an account's archived mail; it runs
    for tenants that opted in. `keep` (with the mail `store`): the vault's safety net
    before Trash and Junk are expunged (zenmail.eco.safety).
    """
    today = today or datetime.now(UTC).date()
    result = ApplyResult(dry_run=dry_run)
    for p in policies(ctx, tenant):
        if not (p.archive_after_months or p.trash_after_days):
            continue
        result.tenants.append(p.tenant)
        counts = [0, 0, 0, 0, 0, 0]  # archived, bytes; expunged, bytes; images, saved
        first_taken = len(result.snapshots_taken)  # this tenant's are those after it
        for a in accounts.list_all(ctx, tenant=p.tenant):
            if progress:
                progress(a.address)
            try:
                done = apply_account(doveadm, a.address, p, today, dry_run, keep, store,
                                     result)
            except StackError as exc:
                if "doesn't exist" in str(exc) or "Unknown user" in str(exc):
                    continue  # never logged in nor received mail: nothing to do
                raise
            result.actions += done
            for x in done:
                if x.action == "archive":
                    counts[0] += x.messages
                    counts[1] += x.bytes
                else:
                    counts[2] += x.messages
                    counts[3] += x.bytes
            if p.reduce_images and reduce is not None:
                r = reduce(a.address, dry_run)
                result.images_reduced += r.images
                result.image_bytes_saved += r.saved
                counts[4] += r.images
                counts[5] += r.saved
                result.originals += r.originals
                result.snapshots_taken += [f"{a.address}: {s}" for s in r.snapshots_taken]
                if r.refused:
                    result.refused.append(r.refused)
                if r.messages:
                    result.actions.append(FolderAction(
                        a.address, "reduce", ARCHIVE, "", r.messages, r.saved,
                        r.originals[0].snapshot if r.originals else ""))
        result.archived_messages += counts[0]
        result.archived_bytes += counts[1]
        result.expunged_messages += counts[2]
        result.expunged_bytes += counts[3]
        if not dry_run and any(counts):
            with ctx.unit() as s:
                t = ctx.find(s, Tenant, p.tenant)
                audit(s, ctx, "eco.applied", t.name, t.id,
                      after={"archived": counts[0], "archived_bytes": counts[1],
                             "expunged": counts[2], "expunged_bytes": counts[3],
                             "images_reduced": counts[4], "image_bytes_saved": counts[5],
                             "snapshots_taken": result.snapshots_taken[first_taken:]})
    return result
