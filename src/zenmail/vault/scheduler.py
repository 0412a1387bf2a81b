"""The vault's schedule, as a supervised process of the stack (`python -m
zenmail.vault.scheduler --settings STATE/run/settings.json`, started by `zenmail up` like the
login-failure policy, restarted by the supervisor if it dies).

Every `[vault] every_minutes` it snapshots everything and then applies the retention
(`[vault] keep_*`). The first run comes one period after the start, so starting a stack
never begins with a long snapshot. A failed run is logged (STATE/log/vault.log) and
retried at the next period; the vault lock keeps it from overlapping an on-demand snapshot.

It also applies the tenants' eco policies once per `[eco] apply_every_hours` (docs/eco.md):
here, and not in Dovecot's supervisor chore, because image reduction and the expunge of
Trash and Junk first put the originals in a vault snapshot (zenmail.vault.originals), and
the stack imports no engine. Being the same process, the two never wait for each other's
vault lock.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from zenmail.config import Settings
from zenmail.db import Database
from zenmail.directory.context import Actor, Ctx
from zenmail.eco.run import apply_policies
from zenmail.errors import ZenmailError
from zenmail.stack.daemons.dovecot import Dovecot
from zenmail.stack.registry import Stack
from zenmail.vault import originals, policy, retention, service

ECO_CHECK = 600.0  # seconds between looks at whether the eco policies are due


def run_once(settings: Settings) -> str:
    """One scheduled run: a snapshot of each tenant (so each tenant's own retention applies
    to its snapshots; an unchanged tenant costs one small restic call), then the
    retention."""
    db = Database(settings.db_url)
    try:
        ctx = Ctx(db, Actor("vault:schedule"))
        rows = [service.take(ctx, settings, service.scope(ctx, tenant=p.tenant))
                for p in policy.policies(ctx, settings)]
        keep = policy.keep_by_tenant(ctx, settings)
    finally:
        db.dispose()
    kept = retention.apply(settings, keep)
    return (f"{len(rows)} snapshot(s), one per tenant: {sum(r.messages for r in rows)} "
            f"messages of {sum(r.accounts for r in rows)} accounts; retention kept "
            f"{kept.after} of {kept.before} snapshots")


def eco_stamp(settings: Settings) -> Path:
    """The time of the last eco run (its mtime), kept over restarts."""
    dovecot = Stack(settings).services["dovecot"]
    assert isinstance(dovecot, Dovecot)
    return dovecot.home / "lib" / "eco-applied"


def apply_eco(settings: Settings) -> bool:
    """Every tenant's eco policy (archive, expunge Trash and Junk, reduce images), the
    vault keeping the originals, once per `[eco] apply_every_hours`. True if it ran."""
    every = settings.eco.apply_every_hours
    stamp = eco_stamp(settings)
    try:
        last = stamp.stat().st_mtime
    except FileNotFoundError:
        last = 0.0
    if not every or time.time() - last < every * 3600:
        return False
    dovecot = Stack(settings).services["dovecot"]
    assert isinstance(dovecot, Dovecot)
    db = Database(settings.db_url)
    try:
        ctx = Ctx(db, Actor("vault:eco"))
        result = apply_policies(settings, ctx,
                                lambda *args: dovecot.doveadm(*args, timeout=3600),
                                keep=originals.keeper(ctx, settings))
    finally:
        db.dispose()
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.touch()
    print(f"eco: {len(result.tenants)} tenants' policies applied: "
          f"{result.archived_messages} messages archived, {result.expunged_messages} "
          f"expunged, {result.images_reduced} images reduced", flush=True)
    for why in result.refused:  # tried again at the next run
        print(f"eco: {why}", file=sys.stderr, flush=True)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description="zenmail vault schedule")
    parser.add_argument("--settings", required=True, type=Path)
    args = parser.parse_args()
    settings = Settings.model_validate_json(args.settings.read_text())
    every = settings.vault.every_minutes * 60
    stopping = False

    def stop(_sig: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"vault: snapshots every {settings.vault.every_minutes} min"
          if every else "vault: scheduled snapshots are off (every_minutes = 0)", flush=True)
    due = time.monotonic() + every
    eco_due = time.monotonic()
    while not stopping:
        time.sleep(1)
        if time.monotonic() >= eco_due:
            eco_due = time.monotonic() + ECO_CHECK
            try:
                apply_eco(settings)
            except ZenmailError as exc:
                print(f"eco: the policies could not be applied: {exc}", file=sys.stderr,
                      flush=True)
        if not every or time.monotonic() < due:
            continue
        due = time.monotonic() + every
        try:
            print(f"vault: {run_once(settings)}", flush=True)
        except ZenmailError as exc:
            print(f"vault: scheduled run failed: {exc}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
