"""The supervisor: a small background process that keeps the stack's daemons alive.

`zenmail up` starts it as `python -m zenmail.stack.supervisor --state DIR --services ...`
(pid in STATE/run/supervisor.pid, output in STATE/log/supervisor.log). Twice a second it
checks each daemon's master process; a dead one is restarted with exponential backoff
(1 s, 2 s, 4 s … at most 60 s; back to 1 s after 5 minutes of good health). Every death,
restart and failed restart is appended to STATE/log/events.jsonl and to the directory's
audit log (actor `supervisor`). After Dovecot comes back, Postfix's queue is flushed so mail
that waited while Dovecot was down is delivered at once — Postfix kept it, nothing is lost.
`zenmail down` stops the supervisor first, so an intended stop is never "repaired".
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from zenmail.config import Settings
from zenmail.errors import ZenmailError
from zenmail.stack.files import Layout
from zenmail.stack.service import Service, spawn_detached

MIN_BACKOFF = 1.0
MAX_BACKOFF = 60.0
HEALTHY_RESET = 300.0
TICK = 0.5


def record(layout: Layout, settings: Settings | None, event: dict[str, Any]) -> None:
    """Append one event to events.jsonl (always) and the audit log (when reachable)."""
    event = {"at": datetime.now(UTC).isoformat(timespec="milliseconds"), **event}
    layout.log.mkdir(parents=True, exist_ok=True)
    with open(layout.events, "a") as fh:
        fh.write(json.dumps(event, sort_keys=True) + "\n")
    if settings is None:
        return
    try:
        from zenmail.db import Database
        from zenmail.directory.models import AuditEntry

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


class Supervisor:
    def __init__(self, settings: Settings, names: list[str]) -> None:
        from zenmail.stack.manager import services_by_name

        self.settings = settings
        self.layout = Layout.of(settings.state_dir)
        available = services_by_name(settings)
        self.watches = [_Watch(available[n]) for n in names if n in available]
        self.stopping = False

    def tick(self) -> None:
        now = time.monotonic()
        for w in self.watches:
            svc = w.service
            if svc.pid() is not None:
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
            if svc.name == "dovecot":
                self._flush_postfix()

    def _flush_postfix(self) -> None:
        for w in self.watches:
            if w.service.name == "postfix" and w.service.pid() is not None:
                try:
                    w.service.flush()  # type: ignore[attr-defined]
                except ZenmailError as exc:
                    print(f"supervisor: {exc}", file=sys.stderr, flush=True)

    def run(self) -> None:
        def stop(_sig: int, _frame: object) -> None:
            self.stopping = True
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        while not self.stopping:
            self.tick()
            time.sleep(TICK)


class SupervisorProcess(Service):
    """The supervisor itself, as `up`, `down` and `status` see it."""

    name = "supervisor"
    process_name = "zenmail.stack.supervisor"
    start_timeout = 10.0
    supervised: list[str] = []

    @property
    def logfile(self) -> Path:
        return self.layout.log / "supervisor.log"

    def pidfile(self) -> Path:
        return self.layout.pidfile("supervisor")

    def render(self) -> None:
        pass

    def _launch(self) -> None:
        pid = spawn_detached([sys.executable, "-m", "zenmail.stack.supervisor", "--state",
                              str(self.layout.state), "--services", ",".join(self.supervised)],
                             self.logfile)
        self.pidfile().write_text(f"{pid}\n")

    def healthy(self) -> bool:
        return self.pid() is not None

    def endpoints(self) -> dict[str, str]:
        return {}

    def stop(self) -> None:
        super().stop()
        self.pidfile().unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="zenmail stack supervisor")
    parser.add_argument("--state", required=True, type=Path)
    parser.add_argument("--services", default="dovecot,postfix")
    args = parser.parse_args()
    from zenmail.stack.api import load_snapshot

    settings = load_snapshot(args.state)
    names = [n for n in args.services.split(",") if n]
    print(f"supervisor: watching {', '.join(names)} in {args.state}", flush=True)
    Supervisor(settings, names).run()
    print("supervisor: stopped", flush=True)


if __name__ == "__main__":
    main()
