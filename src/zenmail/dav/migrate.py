"""Copy an account's calendars and address books from any CalDAV/CardDAV server.

    report = migrate_account(ctx, settings, "alice@acme.example",
                             HttpTransport(url, user, password))

Every calendar and address book the source lists for the login is copied into the account's
principal, item by item; then the target is read back and every source UID looked for.
The report gives counts per collection, the UIDs missing, and a verdict: `complete` only
when every source item is in the target.

Where things go: a source with one calendar fills the account's default calendar (and one
address book its default address book); with several, each becomes a collection named after
the source's (e.g. `work`, `holidays`), created with its display name, colour and
description. The mapping is recorded, so a later run writes to the same places.

Idempotent and resumable: what was copied is recorded per target item (UID → digest of the
source text) in STATE/migrate-dav/<address>.json, written as the copy goes. A second run
copies only items that are new or changed at the source (or missing in the target), so an
interrupted run picks up where it stopped and a finished one, run again, copies nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zenmail.config import Settings
from zenmail.dav import items, local, shared, storage
from zenmail.dav.client import Collection, DavClient, Item, Kind, Transport
from zenmail.directory.context import Ctx, audit
from zenmail.directory.models import Account
from zenmail.directory.views import View

EXT: dict[Kind, str] = {"calendar": "ics", "addressbook": "vcf"}
SAVE_EVERY = 50  # items between two writes of the state file
Progress = Callable[[str, int, int], None]  # (collection, done, total)


@dataclass
class CollectionReport(View):
    source: str
    target: str
    kind: str
    items: int = 0
    copied: int = 0
    unchanged: int = 0
    failed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


@dataclass
class MigrationReport(View):
    account: str
    source: str
    collections: list[CollectionReport] = field(default_factory=list)
    verdict: str = ""

    @property
    def copied(self) -> int:
        return sum(c.copied for c in self.collections)

    @property
    def missing(self) -> list[str]:
        return [uid for c in self.collections for uid in c.missing]

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out.update(items=sum(c.items for c in self.collections), copied=self.copied,
                   unchanged=sum(c.unchanged for c in self.collections),
                   failed=sum(len(c.failed) for c in self.collections),
                   missing=len(self.missing))
        return out


def state_file(settings: Settings, address: str) -> Path:
    return settings.state_dir.resolve() / "migrate-dav" / f"{address}.json"


def _load(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    except (OSError, ValueError):
        return {"targets": {}, "items": {}}


def _save(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, sort_keys=True))
    os.replace(tmp, path)


def _targets(colls: list[Collection], existing: dict[str, Collection],
             known: dict[str, str]) -> dict[str, str]:
    """Source collection href -> target slug (recorded ones kept)."""
    out: dict[str, str] = {}
    taken: dict[str, str] = {slug: c.kind for slug, c in existing.items()}
    defaults: tuple[tuple[Kind, str], ...] = (("calendar", storage.DEFAULT_CALENDAR),
                                              ("addressbook", storage.DEFAULT_ADDRESSBOOK))
    for kind, default in defaults:
        mine = [c for c in colls if c.kind == kind]
        for c in mine:
            if c.href in known:
                out[c.href] = known[c.href]
                continue
            slug = default if len(mine) == 1 else shared.to_name(c.slug or c.displayname)
            base, n = slug, 2
            while (slug in taken and taken[slug] != kind) or (
                    slug in out.values() and slug != default):
                slug, n = f"{base}-{n}", n + 1
            out[c.href] = slug
            taken[slug] = kind
    return out


def _copy(dst: DavClient, coll: Collection, source_items: list[Item], target: str,
          slug: str, present: dict[str, str], done: dict[str, str],
          rep: CollectionReport, uids: list[str], path: Path, state: dict[str, Any],
          progress: Progress | None) -> None:
    for n, item in enumerate(source_items, 1):
        uid = items.uid_of(item.body) or f"href:{item.href}"
        uids.append(uid)
        key = f"{slug}/{uid}"
        digest = items.digest(item.body)
        if done.get(key) == digest and (uid in present or uid.startswith("href:")):
            rep.unchanged += 1
        else:
            href = present.get(uid) or target + items.file_name(
                uid if not uid.startswith("href:") else digest, EXT[coll.kind])
            status = dst.put(href, item.body, coll.kind)
            if status in (200, 201, 204):
                rep.copied += 1
                done[key] = digest
                present.setdefault(uid, href)
            else:
                rep.failed.append(uid)
        if n % SAVE_EVERY == 0:
            local.flush()  # the record never runs ahead of what is on the disk
            _save(path, state)
        if progress is not None:
            progress(rep.target, n, rep.items)


def migrate_account(ctx: Ctx, settings: Settings, address: str, source: Transport,
                    source_url: str, progress: Progress | None = None) -> MigrationReport:
    with ctx.reading() as s:
        account = ctx.find(s, Account, address)
        addr, tenant_id = account.address, account.tenant_id
    src = DavClient(source)
    colls = src.discover()
    dst = local.client(settings, addr, bulk=True)
    home = f"/{addr}/"
    existing = {c.slug: c for c in dst.discover_under(home)}
    path = state_file(settings, addr)
    state = _load(path)
    if state.get("source") not in (None, source_url):
        state = {"targets": {}, "items": {}}  # another source: start a new record
    state["source"] = source_url
    mapping = _targets(colls, existing, state.setdefault("targets", {}))
    state["targets"] = mapping
    done: dict[str, str] = state.setdefault("items", {})
    report = MigrationReport(addr, source_url)
    for coll in colls:
        slug = mapping[coll.href]
        target = f"{home}{slug}/"
        rep = CollectionReport(coll.href, f"{addr}/{slug}", coll.kind)
        report.collections.append(rep)
        if slug not in existing:
            status = dst.make_collection(target, coll.kind, coll.displayname or slug,
                                         coll.props)
            if status != 201:
                rep.failed.append(f"(collection not created: {status})")
                continue
        source_items = src.items(coll)
        rep.items = len(source_items)
        present = local.uid_hrefs(dst, target, coll.kind)
        uids: list[str] = []
        try:
            _copy(dst, coll, source_items, target, slug, present, done, rep, uids, path,
                  state, progress)
        finally:  # interrupted or not, what was copied is on disk and on record
            local.flush()
            _save(path, state)
        # The proof: read the target back and look every source UID up.
        after = {items.uid_of(i.body) for i in dst.items(Collection(target, coll.kind))}
        rep.missing = sorted(u for u in dict.fromkeys(uids)
                             if not u.startswith("href:") and u not in after)
    problems = report.missing or any(c.failed for c in report.collections)
    report.verdict = "complete" if not problems else (
        f"incomplete: {len(report.missing)} item(s) missing, "
        f"{sum(len(c.failed) for c in report.collections)} failed")
    with ctx.unit() as s:
        audit(s, ctx, "dav.migrate", addr, tenant_id,
              after={"source": source_url, "copied": report.copied,
                     "missing": len(report.missing), "verdict": report.verdict})
    return report
