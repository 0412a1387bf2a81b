"""The vault's schedule, as a supervised process of the stack (`python -m
zenmail.vault.scheduler --settings STATE/run/settings.json`, started by `zenmail up` like the
login-failure policy, restarted by the supervisor if it dies).

Every `[vault] every_minutes` it snapshots everything and then applies the retention
(`[vault] keep_*`). The first run comes one period after the start, so starting a stack
never begins with a long snapshot. A failed run is logged (STATE/log/vault.log) and
retried at the next period; the vault lock keeps it from overlapping an on-demand snapshot.
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
from zenmail.errors import ZenmailError
from zenmail.vault import policy, retention, service


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
    while not stopping:
        time.sleep(1)
        if not every or time.monotonic() < due:
            continue
        due = time.monotonic() + every
        try:
            print(f"vault: {run_once(settings)}", flush=True)
        except ZenmailError as exc:
            print(f"vault: scheduled run failed: {exc}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
