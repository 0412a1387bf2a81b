"""The supervisor: a small background process that keeps the stack's daemons alive.

`zenmail up` starts it as `python -m zenmail.stack.supervisor --state DIR --services ...`
(pid in STATE/run/supervisor.pid, output in STATE/log/supervisor.log). Twice a second it
checks each daemon's master process; a dead one is restarted with exponential backoff
(1 s, 2 s, 4 s … at most 60 s; back to 1 s after 5 minutes of good health). Every death,
restart and failed restart is appended to STATE/log/events.jsonl and to the directory's
audit log (actor `supervisor`). After a restart, the daemons that declared they react to it
are told (`after_restart_of`): Postfix flushes its queue when Dovecot is back, so mail that
waited meanwhile is delivered at once — Postfix kept it, nothing is lost.
A daemon with a `chore` (Dovecot: copying every mailbox's usage into the directory) has it
run CHORE_DELAY seconds after the supervisor starts and then every `chore_every` seconds,
in a thread, so a slow chore never delays a restart; a failed one is logged and retried at
its next time.
Beyond "the process is alive", every `[watch] health_every_s` seconds each daemon's
`health_check()` speaks its protocol (SMTP banner and EHLO, IMAP greeting and the probe
account's login, LMTP LHLO), in a thread; a daemon whose process lives but fails it
`[watch] hung_after` times in a row is hung (stopped with SIGSTOP, deadlocked): it is
recorded as `hung`, killed with its whole process tree (SIGKILL works on a stopped
process), and restarted like a dead one, with the same backoff.
`zenmail down` stops the supervisor first, so an intended stop is never "repaired".
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from zenmail.config import Settings
from zenmail.db import Database
from zenmail.directory.models import AuditEntry
from zenmail.errors import ZenmailError
from zenmail.stack import proc
from zenmail.stack.base import PythonService, Service
from zenmail.stack.files import Layout
from zenmail.stack.registry import Stack

MIN_BACKOFF = 1.0
MAX_BACKOFF = 60.0
HEALTHY_RESET = 300.0
TICK = 0.5
CHORE_DELAY = 10.0  # the stack settles first (up runs several reloads)


def record(layout: Layout, settings: Settings | None, event: dict[str, Any]) -> None:
    """Append one event to events.jsonl (always) and the audit log (when reachable)."""
    event = {"at": datetime.now(UTC).isoformat(timespec="milliseconds"), **event}
    layout.log.mkdir(parents=True, exist_ok=True)
    with open(layout.events, "a") as fh:
        fh.write(json.dumps(event, sort_keys=True) + "\n")
    if settings is None:
        return
    try:
        db = Database(settings.db_url)
        try:
            with db.transaction() as s:
                s.add(AuditEntry(actor="supervisor", tenant_id=None,
                                 action=f"stack.{event['event']}", target=event["service"],
                                 after=json.dumps(event, sort_keys=True)))
        finally:
            db.dispose()
    except Exception as exc:  # the JSON-lines record is the one that must not fail
        print(f"supervisor: audit log not written: {exc}", file=sys.stderr, flush=True)


def read_events(state_dir: Path) -> list[dict[str, Any]]:
    path = Layout.of(state_dir).events
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@dataclass
class _Watch:
    service: Service
    backoff: float = MIN_BACKOFF
    next_try: float = 0.0
    up_since: float = field(default_factory=time.monotonic)
    down: bool = False
    next_chore: float = field(default_factory=lambda: time.monotonic() + CHORE_DELAY)
    chore: threading.Thread | None = None
    next_health: float = field(default_factory=time.monotonic)
    health: threading.Thread | None = None
    failures: int = 0  # protocol health checks failed in a row, the process alive
    problem: str = ""


class Supervisor:
    def __init__(self, settings: Settings, names: list[str]) -> None:
        self.settings = settings
        self.layout = Layout.of(settings.state_dir)
        self.stack = Stack(settings, names)
        self.watches = [_Watch(svc) for svc in self.stack.start_order()]
        self.stopping = False

    def tick(self) -> None:
        now = time.monotonic()
        for w in self.watches:
            svc = w.service
            pid = svc.pid()
            if pid is not None and w.failures >= self.settings.watch.hung_after:
                self._kill_hung(w, pid)
                pid = None
            if pid is not None:
                if w.down:
                    w.down = False
                if now - w.up_since > HEALTHY_RESET:
                    w.backoff = MIN_BACKOFF
                continue
            if not w.down:
                # Backoff counts from the last restart: a daemon that dies again at once
                # waits, one that ran for a while is restarted immediately.
                w.down, w.next_try = True, max(w.next_try, now)
                record(self.layout, self.settings, {"service": svc.name, "event": "died"})
            if now < w.next_try or self.stopping:
                continue
            try:
                pid = svc.start()
            except ZenmailError as exc:
                record(self.layout, self.settings,
                       {"service": svc.name, "event": "restart_failed", "error": str(exc),
                        "retry_in_s": w.backoff})
                w.next_try = time.monotonic() + w.backoff
                w.backoff = min(w.backoff * 2, MAX_BACKOFF)
                continue
            w.down, w.up_since = False, time.monotonic()
            record(self.layout, self.settings,
                   {"service": svc.name, "event": "restarted", "pid": pid})
            w.next_try = time.monotonic() + w.backoff
            w.backoff = min(w.backoff * 2, MAX_BACKOFF)
            self._tell_peers(svc.name)
        self._chores(now)
        self._health(now)

    def _kill_hung(self, w: _Watch, pid: int) -> None:
        """A live process that fails its protocol checks: record it, kill its whole tree
        (children may hold the listening sockets a new instance needs), let `tick` restart."""
        record(self.layout, self.settings,
               {"service": w.service.name, "event": "hung", "pid": pid,
                "failed_checks": w.failures, "error": w.problem})
        for p in [pid, *proc.children(pid)]:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait_until(lambda: not proc.alive(pid), 10.0)
        w.failures, w.problem = 0, ""

    def _health(self, now: float) -> None:
        every = self.settings.watch.health_every_s
        for w in self.watches:
            if (now < w.next_health or self.stopping
                    or (w.health is not None and w.health.is_alive())):
                continue
            w.next_health = now + every
            w.health = threading.Thread(target=self._check, args=(w,),
                                        name=f"health-{w.service.name}", daemon=True)
            w.health.start()

    @staticmethod
    def _check(w: _Watch) -> None:
        if w.service.pid() is None:
            w.failures, w.problem = 0, ""  # dead, not hung: tick restarts it
            return
        try:
            problem = w.service.health_check()
        except Exception as exc:  # a check that breaks counts as a failed check
            problem = f"health check failed: {exc}"
        if problem is None:
            w.failures, w.problem = 0, ""
        else:
            w.failures, w.problem = w.failures + 1, problem

    def _chores(self, now: float) -> None:
        for w in self.watches:
            every = w.service.chore_every
            if (every is None or now < w.next_chore or self.stopping
                    or (w.chore is not None and w.chore.is_alive())
                    or w.service.pid() is None):
                continue
            w.next_chore = now + every
            w.chore = threading.Thread(target=self._run_chore, args=(w.service,),
                                       name=f"chore-{w.service.name}", daemon=True)
            w.chore.start()

    @staticmethod
    def _run_chore(svc: Service) -> None:
        try:
            svc.chore()
        except Exception as exc:  # the next run tries again; the supervisor carries on
            print(f"supervisor: {svc.name} chore failed: {exc}", file=sys.stderr, flush=True)

    def _tell_peers(self, restarted: str) -> None:
        for peer in self.stack.reacting_to(restarted):
            if peer.pid() is None:
                continue
            try:
                peer.on_peer_restarted(restarted)
            except ZenmailError as exc:
                print(f"supervisor: {peer.name} after {restarted} restarted: {exc}",
                      file=sys.stderr, flush=True)

    def run(self) -> None:
        def stop(_sig: int, _frame: object) -> None:
            self.stopping = True
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        while not self.stopping:
            self.tick()
            time.sleep(TICK)


class SupervisorProcess(PythonService):
    """The supervisor itself, as `up`, `down` and `status` see it. Not in the registry: it
    watches the registry's daemons and is started after and stopped before all of them."""

    name = "supervisor"
    module = "zenmail.stack.supervisor"
    start_timeout = 10.0

    def __init__(self, stack: Stack, supervised: list[str] | None = None) -> None:
        super().__init__(stack)
        self.supervised = supervised or list(stack.services)

    def args(self) -> list[str]:
        return [*super().args(), "--services", ",".join(self.supervised)]


def main() -> None:
    parser = argparse.ArgumentParser(description="zenmail stack supervisor")
    parser.add_argument("--state", required=True, type=Path)
    parser.add_argument("--services", default="dovecot,postfix")
    args = parser.parse_args()
    settings = Settings.model_validate_json(Layout.of(args.state).settings_snapshot.read_text())
    names = [n for n in args.services.split(",") if n]
    print(f"supervisor: watching {', '.join(names)} in {args.state}", flush=True)
    Supervisor(settings, names).run()
    print("supervisor: stopped", flush=True)


if __name__ == "__main__":
    main()
