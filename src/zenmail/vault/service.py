"""The vault's use cases, behind the tenant wall: what the CLI and the API call.

Every name goes through `ctx.find` (a tenant administrator reaches only its tenant's
accounts; an employee only their own), every restore is written to the audit log.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from zenmail.config import Settings
from zenmail.directory import accounts, aliases, names
from zenmail.directory.context import Ctx, audit
from zenmail.directory.models import Account, Alias, Domain, Tenant
from zenmail.errors import InvalidInput, NotFound, ZenmailError
from zenmail.vault import erase as erasing
from zenmail.vault import policy, retention, transfer
from zenmail.vault import restore as restoring
from zenmail.vault import scope as scoping
from zenmail.vault import shared as vault_shared
from zenmail.vault import snapshot as snapshots
from zenmail.vault.catalogue import (
    CATALOGUE_PATH,
    DIRECTORY_PATH,
    Entry,
    SnapshotRow,
    parse_catalogue,
)
from zenmail.vault.laps import Laps
from zenmail.vault.restic import Restic


def _account(ctx: Ctx, address: str) -> tuple[str, int]:
    with ctx.reading() as s:
        a = ctx.find(s, Account, address)
        return a.address, a.tenant_id


def scope(ctx: Ctx, tenant: str | None = None, account: str | None = None,
          everything: bool = False) -> scoping.Scope:
    """What a snapshot of these options covers; refused at once outside the actor's wall."""
    return scoping.resolve(ctx, tenant, account, everything)


def take(ctx: Ctx, settings: Settings, scope: scoping.Scope,
         progress: snapshots.Progress | None = None, keep: bool = False) -> SnapshotRow:
    """`keep`: a snapshot the retention never forgets (snapshot.KEEP_TAG)."""
    row = snapshots.take(settings, scope, progress,
                         extra_tags=(snapshots.KEEP_TAG,) if keep else ())
    with ctx.unit() as s:
        tenant_id = None
        if scope.kind != "all":
            t = ctx.find(s, Tenant, scope.tenants[0])
            tenant_id = t.id
        audit(s, ctx, "vault.snapshot", scope.label, tenant_id,
              after={"snapshot": row.id, "messages": row.messages})
    return row


def _synced(settings: Settings) -> None:
    index = snapshots.open_index(settings)
    try:
        snapshots.sync(settings, index, Restic(settings))
    finally:
        index.close()


def list_snapshots(ctx: Ctx, settings: Settings, tenant: str | None = None,
                   account: str | None = None, refresh: bool = True) -> list[SnapshotRow]:
    if refresh:
        _synced(settings)
    with ctx.reading() as s:
        if account:
            account = ctx.find(s, Account, account).address
        elif tenant:
            tenant = ctx.find(s, Tenant, tenant).name
        elif not ctx.actor.is_global:
            t = s.get(Tenant, ctx.actor.tenant_id)
            tenant = t.name if t else "-"
    index = snapshots.open_index(settings)
    try:
        rows = index.snapshots(tenant=tenant, account=account)
    finally:
        index.close()
    return rows


def parse_day(value: str | None, what: str) -> float | None:
    if not value:
        return None
    try:
        d = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"{what} {value!r} is not a date; write it as YYYY-MM-DD or "
                           "YYYY-MM-DDTHH:MM") from exc
    return (d if d.tzinfo else d.replace(tzinfo=UTC)).timestamp()


def find(ctx: Ctx, settings: Settings, address: str, folder: str | None = None,
         subject: str | None = None, sender: str | None = None, since: str | None = None,
         until: str | None = None, limit: int = 1000) -> list[Entry]:
    account, _ = _account(ctx, address)
    lo, hi = parse_day(since, "--since"), parse_day(until, "--until")
    index = snapshots.open_index(settings)
    try:
        return index.find(account, folder, subject, sender, lo, hi, limit)
    finally:
        index.close()


def _audited(ctx: Ctx, action: str, target: str, tenant_id: int,
             done: restoring.Restored, **more: object) -> None:
    with ctx.unit() as s:
        audit(s, ctx, action, target, tenant_id, after={**done.to_dict(), **more})


def restore_message(ctx: Ctx, settings: Settings, address: str, restore_id: str,
                    to_folder: str | None = None, timings: dict[str, float] | None = None
                    ) -> restoring.Restored:
    """`timings` (if given) gets the seconds of each phase: lookup (the account and the
    message in the index), those of restore.restore, audit."""
    lap = Laps(timings)
    account, tenant_id = _account(ctx, address)
    index = snapshots.open_index(settings)
    try:
        entry = index.entry(restore_id, account)
    finally:
        index.close()
    lap("lookup")
    done = restoring.restore(settings, [entry], account, to_folder, timings)
    lap = Laps(timings)
    _audited(ctx, "vault.restore_message", account, tenant_id, done, restore_id=restore_id)
    lap("audit")
    return done


def _snapshot_entries(settings: Settings, snapshot: str, account: str,
                      folder: str | None) -> tuple[SnapshotRow, list[Entry]]:
    _synced(settings)
    index = snapshots.open_index(settings)
    try:
        row = index.resolve(snapshot)
        entries = index.entries(row.id, account, folder)
    finally:
        index.close()
    if not entries:
        where = f"folder {folder!r} of {account}" if folder else account
        raise NotFound(f"snapshot {row.short} holds no messages of {where}; `zenmail restore "
                       f"find {account}` shows what the snapshots hold")
    return row, entries


def restore_folder(ctx: Ctx, settings: Settings, address: str, folder: str, snapshot: str,
                   to_folder: str | None = None) -> restoring.Restored:
    account, tenant_id = _account(ctx, address)
    row, entries = _snapshot_entries(settings, snapshot, account, folder)
    done = restoring.restore(settings, entries, account, to_folder)
    _audited(ctx, "vault.restore_folder", f"{account}/{folder}", tenant_id, done,
             snapshot=row.id)
    return done


def restore_account(ctx: Ctx, settings: Settings, address: str, snapshot: str,
                    into: str | None = None) -> restoring.Restored:
    """Every folder of the account as the snapshot holds it, into itself or `into`. An
    account removed from the directory since is first recreated from the snapshot's
    directory rows (same password hash, quota and name), if its domain is still yours."""
    key = names.address_key(address)
    with ctx.reading() as s:
        exists = ctx.get(s, Account, key) is not None
        if not exists:
            ctx.find(s, Domain, names.domain_of(key))  # the wall, before anything is read
    target: str | None = None
    tenant_id = 0
    if into:
        target, tenant_id = _account(ctx, into)
    elif exists:
        target, tenant_id = _account(ctx, key)
    row, entries = _snapshot_entries(settings, snapshot, key, None)
    directory = json.loads(Restic(settings).dump(row.id, DIRECTORY_PATH))
    if target is None:
        rec = next((a for a in directory["accounts"] if a["address"] == key), None)
        if rec is None:
            raise NotFound(f"snapshot {row.short} holds no directory row of {key}; restore "
                           "its mail into another account with --into")
        accounts.add(ctx, key, password_hash=rec["password_hash"], quota=rec["quota_bytes"],
                     display_name=rec["display_name"])
        target, tenant_id = _account(ctx, key)
    done = restoring.restore(settings, entries, target)
    done.dav_items = _dav_back(ctx, settings, entries[0].snapshot, key, target)
    if target == key:
        done.aliases = _aliases_back(ctx, key, directory)
    _audited(ctx, "vault.restore_account", f"{key} -> {target}", tenant_id, done,
             snapshot=row.id, recreated=not exists and not into)
    return done


@contextmanager
def _unpacked(settings: Settings, snapshot: str, path: str) -> Iterator[Path]:
    """The folder `path` (under /) of a snapshot, unpacked into a scratch directory that
    goes on leaving (it may not exist: the snapshot did not hold it)."""
    work = settings.mail_store / snapshots.STAGE / f"unpacked-{secrets.token_hex(6)}"
    try:
        Restic(settings).restore(snapshot, work, [path])
        yield work / path.lstrip("/")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _dav_back(ctx: Ctx, settings: Settings, holder: str, key: str, target: str) -> int:
    """The account's calendars and contacts as the snapshot holds them, into `target` (one
    item per UID: restoring twice writes the same items again, no duplicate)."""
    with _unpacked(settings, holder, f"/dav/{key}") as folder:
        if not folder.is_dir():
            return 0
        from zenmail.dav import transfer as dav_transfer  # Radicale loads only when needed

        return dav_transfer.restore_files(ctx, settings, folder, address=target)


def restore_shared(ctx: Ctx, settings: Settings, tenant: str, snapshot: str,
                   calendar: str | None = None) -> vault_shared.Loaded:
    """A tenant's shared calendars (or the one named `calendar`) as a tenant or --all
    snapshot holds them: each event missing or changed since back where its UID is, a
    removed calendar made again with its display name; restoring twice writes nothing the
    second time, no duplicate."""
    with ctx.reading() as s:
        t = ctx.find(s, Tenant, tenant)  # the wall, before anything is read
        name, tenant_id = t.name, t.id
    only = None
    if calendar is not None:
        from zenmail.dav import shared as dav_shared  # Radicale loads only when needed

        only = dav_shared.check_name(calendar)
    _synced(settings)
    index = snapshots.open_index(settings)
    try:
        row = index.resolve(snapshot)
    finally:
        index.close()
    if name not in row.tenants:
        raise NotFound(f"snapshot {row.short} does not hold tenant {name}; `zenmail snapshot "
                       f"list --tenant {name}` shows the snapshots that do")
    done = _shared_back(ctx, settings, row, name, only)
    with ctx.unit() as s:
        audit(s, ctx, "vault.restore_shared", f"{name}/{only}" if only else name, tenant_id,
              after={"snapshot": row.id, **done.to_dict()})
    return done


def _shared_back(ctx: Ctx, settings: Settings, row: SnapshotRow, tenant: str,
                 only: str | None) -> vault_shared.Loaded:
    with _unpacked(settings, row.id, f"/dav/{vault_shared.SHARED}/{tenant}") as folder:
        held = vault_shared.names_in(folder)
        if not held:
            raise NotFound(f"snapshot {row.short} holds no shared calendars of tenant "
                           f"{tenant} (account snapshots do not carry them, nor snapshots "
                           "taken before zenmail kept them); `zenmail snapshot list "
                           f"--tenant {tenant}` shows the tenant's snapshots")
        if only is not None and only not in held:
            raise NotFound(f"snapshot {row.short} holds no shared calendar {only} of tenant "
                           f"{tenant}; it holds {', '.join(held)}")
        return vault_shared.load(ctx, settings, folder, tenant, only)


def _aliases_back(ctx: Ctx, key: str, directory: dict[str, Any]) -> list[str]:
    """The aliases that pointed at the account in the snapshot point at it again (created
    if they were removed, with their other targets that are still valid). An alias whose
    address another account has taken since stays as it is."""
    back = []
    for al in directory.get("aliases", []):
        if key not in al["targets"]:
            continue
        with ctx.reading() as s:
            now = ctx.get(s, Alias, al["address"])
            if now is not None and key in [t.target for t in now.targets]:
                continue
        for targets in (al["targets"], [key]):
            try:
                info = aliases.add(ctx, al["address"], targets)
            except ZenmailError:
                continue
            if key in info.targets:
                back.append(al["address"])
            break
    return back


def verify(ctx: Ctx, settings: Settings, read_data_subset: str | None = None
           ) -> dict[str, Any]:
    """restic's own check (with a share of the data read back), then every snapshot's
    catalogue against what the snapshot holds: each catalogued message present, same size."""
    ctx.require_global("verify the whole vault")
    restic = Restic(settings)
    restic.require()
    restic.unlock()
    ok, text = restic.check(read_data_subset)
    problems = [] if ok else [f"restic check: {ln.strip()}" for ln in text.splitlines()
                              if any(w in ln.lower() for w in ("error", "fail", "not match",
                                                               "missing", "damaged"))][:50]
    _synced(settings)
    if not ok:
        problems += _affected(settings, restic, text)
    index = snapshots.open_index(settings)
    messages = 0
    try:
        ids = index.snapshot_ids()
        for sid in ids:
            try:
                files = restic.ls(sid)
                stored = parse_catalogue(restic.dump(sid, CATALOGUE_PATH), sid)
            except ZenmailError as exc:
                problems.append(f"snapshot {sid[:8]}: unreadable ({exc})")
                continue
            for e in stored:
                messages += 1
                if files.get(e.path) != e.size:
                    problems.append(f"snapshot {sid[:8]}: {e.account} {e.folder} message "
                                    f"{e.restore_id()} is missing or has another size")
            mine = {(x.n, x.sha256) for a in {e.account for e in stored}
                    for x in index.entries(sid, a, own=True)}
            for account, holder in index.holders(sid).items():
                if holder not in ids:
                    problems.append(f"snapshot {sid[:8]}: {account} lies in snapshot "
                                    f"{holder[:8]}, which the vault no longer has")
            if mine != {(e.n, e.sha256) for e in stored}:
                problems.append(f"snapshot {sid[:8]}: the local index differs from the "
                                "catalogue in the snapshot; delete STATE/vault-index to "
                                "rebuild it")
    finally:
        index.close()
    return {"ok": not problems, "snapshots": len(ids), "messages": messages,
            "problems": problems, "restic": text[-2000:]}


def prune(ctx: Ctx, settings: Settings) -> retention.Kept:
    ctx.require_global("apply the vault's retention")
    kept = retention.apply(settings, policy.keep_by_tenant(ctx, settings))
    with ctx.unit() as s:
        audit(s, ctx, "vault.prune", "vault", None,
              after={"before": kept.before, "after": kept.after})
    return kept


def retention_policies(ctx: Ctx, settings: Settings, tenant: str | None = None
                       ) -> list[policy.RetentionInfo]:
    return policy.policies(ctx, settings, tenant)


def set_retention(ctx: Ctx, settings: Settings, tenant: str, keep: dict[str, int | None],
                  reset: bool = False) -> policy.RetentionInfo:
    """A tenant's own retention (a tenant administrator sets its own tenant's)."""
    return policy.set_policy(ctx, settings, tenant, keep, reset)


def export(ctx: Ctx, settings: Settings, tenant: str | None, account: str | None, out: Path,
           with_mbox: bool = False, progress: snapshots.Progress | None = None
           ) -> dict[str, Any]:
    if not (tenant or account):
        raise InvalidInput("give --tenant T or --account A: what to export")
    scope = scoping.resolve(ctx, tenant, account)
    manifest = transfer.export(settings, scope, out, with_mbox, progress)
    with ctx.unit() as s:
        t = ctx.find(s, Tenant, scope.tenants[0])
        audit(s, ctx, "vault.export", scope.label, t.id,
              after={"file": str(out), "files": len(manifest["files"])})
    return manifest


def import_(ctx: Ctx, settings: Settings, source: Path, account: str | None = None,
            progress: snapshots.Progress | None = None) -> dict[str, Any]:
    return transfer.import_archive(ctx, settings, source, account, progress)


def erase(ctx: Ctx, settings: Settings, address: str) -> dict[str, Any]:
    """Erase a person: the account (if it still exists), its mailbox on disk, and every copy
    in the snapshots. A tenant administrator may erase its tenant's accounts; an account
    already removed from the directory only a global administrator."""
    key = names.address_key(address)
    with ctx.reading() as s:
        row = ctx.get(s, Account, key)
        tenant_id = row.tenant_id if row else None
    if row is None:
        ctx.require_global("erase an account that no longer exists")
    else:
        accounts.remove(ctx, key)
    shutil.rmtree(snapshots.account_dir(settings, key), ignore_errors=True)
    done = erasing.from_vault(settings, key)
    with ctx.unit() as s:
        audit(s, ctx, "vault.erase", key, tenant_id, after=done.to_dict())
    return done.to_dict()


def _affected(settings: Settings, restic: Restic, check_output: str) -> list[str]:
    """What a damaged pack takes with it: `restic find --pack` gives the files whose data
    lies in it, and the catalogue says which messages those are."""
    packs = re.findall(r"Pack ID does not match, want ([0-9a-f]{64})", check_output)
    out: list[str] = []
    index = snapshots.open_index(settings)
    try:
        by_path: dict[tuple[str, str], Entry] = {}
        for sid in index.snapshot_ids():
            for account in index.tenants_of(sid):
                for entry in index.entries(sid, account, own=True):
                    by_path[(sid, entry.path)] = entry
        for pack in packs[:20]:
            done = restic.run(["find", "--json", "--pack", pack], "finding what a damaged "
                              "pack holds", check=False)
            try:
                found = json.loads(done.stdout or b"[]") or []
            except ValueError:
                found = []
            # restic 0.14: one object per blob found, with its path and snapshot.
            named = set()
            for match in found:
                key = (str(match.get("snapshot", "")), str(match.get("path", "")))
                e = by_path.get(key)
                if e is not None and key not in named:
                    named.add(key)
                    out.append(f"snapshot {key[0][:8]}: {e.account} {e.folder} message "
                               f"{e.restore_id()} ({e.subject!r}) lies in damaged pack "
                               f"{pack[:8]}")
            if not found:
                out.append(f"pack {pack[:8]} is damaged; what it held could not be "
                           "resolved (a directory listing of the snapshots lies in it)")
    finally:
        index.close()
    return out
