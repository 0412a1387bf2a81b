"""Dovecot's auth cache, kept honest: flush an account's entry whenever its credentials change.

With the cache on, Dovecot remembers a successful login (a fast digest of the password) and
the account's passdb fields for a while. A changed password, a disabled account, a revoked
app password or a tenant that starts requiring app passwords must count at the next login,
so every such change is (1) written to `auth_changes` in the transaction that makes it
(`Ctx.auth_changed`), (2) flushed at once by the process that made it (the CLI and
the API pass `flush` as `Ctx.on_auth_change`), and (3) drained by every node's login policy
process (`Drain`), which also covers changes made on another node or by a process that could
not reach Dovecot.

`doveadm auth cache flush USER…` talks to Dovecot's auth process over its local socket; it
is cheap (a few ms) and a no-op when the cache is off or the user is not in it.
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path

from sqlalchemy import delete, func, select

from zenmail.db import Database
from zenmail.directory.context import EVERYONE
from zenmail.directory.models import AuthChange, utcnow

log = logging.getLogger("zenmail.authcache")
CHUNK = 200          # users per doveadm call
KEEP = timedelta(days=1)  # rows older than this are pruned; a node down longer flushes all


def dovecot_conf(state_dir: Path) -> Path:
    """Where the stack's Dovecot reads its configuration (stack/daemons/dovecot.py; a unit
    test holds the two together)."""
    return state_dir / "dovecot" / "etc" / "dovecot.conf"


def flush(conf: Path, addresses: Sequence[str] = ()) -> bool:
    """Flush these users' entries (all entries if none given, or "*" among them); False if
    Dovecot could not be told (not running here), which every node's drain makes up for."""
    if not conf.exists():
        return False
    users = [] if EVERYONE in addresses else sorted(set(addresses))
    batches = [users[i:i + CHUNK] for i in range(0, len(users), CHUNK)] or [[]]
    for batch in batches:
        try:
            done = subprocess.run(["doveadm", "-c", str(conf), "auth", "cache", "flush",
                                   *batch], capture_output=True, text=True, timeout=15,
                                  stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("auth cache not flushed: %s", exc)
            return False
        if done.returncode != 0:
            log.info("auth cache not flushed (Dovecot not running?): %s",
                     (done.stderr or done.stdout).strip())
            return False
    return True


def flusher(state_dir: Path) -> Callable[[list[str]], None]:
    """`Ctx.on_auth_change` for a process of this node (the CLI, the API)."""
    conf = dovecot_conf(state_dir)

    def flush_changed(addresses: list[str]) -> None:
        flush(conf, addresses)
    return flush_changed


class Drain:
    """Follows `auth_changes` and flushes what changed since the last step. The first step
    flushes everything (what changed while this process was away is unknown)."""

    def __init__(self, db: Database, conf: Path) -> None:
        self.db = db
        self.conf = conf
        self.mark: int | None = None
        self._pruned = 0.0

    def step(self) -> int:
        """One pass; returns how many changes it flushed."""
        with self.db.reading() as s:
            if self.mark is None:
                top = s.scalar(select(func.max(AuthChange.id))) or 0
                rows: list[tuple[int, str]] = []
            else:
                rows = [(r.id, r.address) for r in s.execute(
                    select(AuthChange.id, AuthChange.address)
                    .where(AuthChange.id > self.mark).order_by(AuthChange.id).limit(5000))]
        if self.mark is None:
            if flush(self.conf):
                self.mark = top
            return 0
        if rows and flush(self.conf, [a for _, a in rows]):
            self.mark = rows[-1][0]
        self._prune()
        return len(rows)

    def _prune(self) -> None:
        now = time.monotonic()
        if now - self._pruned < 3600:
            return
        self._pruned = now
        with self.db.transaction() as s:
            s.execute(delete(AuthChange).where(AuthChange.at < utcnow() - KEEP))

    def run(self, every: float = 0.25) -> None:
        while True:
            try:
                self.step()
            except Exception as exc:  # the next pass tries again
                log.error("auth cache drain: %s", exc)
            time.sleep(every)
