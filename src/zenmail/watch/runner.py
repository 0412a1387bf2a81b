"""The watch runner: `python -m zenmail.watch.runner --state DIR`, a supervised process of the
stack (zenmail.stack.daemons.watch).

- every `[watch] probe_every_s` (60 s) a round of every probe, in a thread of its own, its
  results stored as history (`run_round`, also what `zenmail probe run` does);
- every `[watch] health_every_s` (10 s) the alert rules, with their notifications;
- and a guard: if the supervisor died (its pid file is left with a dead pid: an intended
  stop removes the file), it is started again. The supervisor restarts this runner in turn,
  so either one brings the other back; where systemd runs, `zenmail install-service` makes
  it the last line.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path

from zenmail.config import Settings
from zenmail.db import Database
from zenmail.errors import ZenmailError
from zenmail.stack import proc
from zenmail.stack.files import Layout
from zenmail.stack.manager import running_settings
from zenmail.stack.registry import Stack
from zenmail.stack.supervisor import SupervisorProcess, record
from zenmail.watch import alerts, history
from zenmail.watch.probes import PROBES, Outcome, Target

TICK = 0.5


def run_round(settings: Settings, db: Database) -> list[Outcome]:
    """One run of every probe, in turn (they share the probe mailbox), stored as history."""
    target = Target.of(settings)
    outcomes = [probe(target).run() for probe in PROBES]
    with db.transaction() as s:
        for o in outcomes:
            history.record(s, o.probe, o.ok, o.latency_s, o.error)
        history.prune(s)
    return outcomes


def guard_supervisor(settings: Settings) -> bool:
    """Start the supervisor again if it died; True if it had to."""
    layout = Layout.of(settings.state_dir)
    pidfile = layout.pidfile(SupervisorProcess.name)
    stale = proc.read_pid(pidfile)
    if stale is None or proc.alive(stale, SupervisorProcess.module):
        return False  # running, or stopped on purpose (down/up remove the file)
    started = Layout.of(settings.state_dir).started
    names = json.loads(started.read_text()) if started.exists() else None
    supervisor = SupervisorProcess(Stack(settings, names))
    record(layout, settings, {"service": "supervisor", "event": "died"})
    pid = supervisor.start()
    record(layout, settings, {"service": "supervisor", "event": "restarted", "pid": pid})
    return True


class Runner:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(settings.db_url)
        self.stopping = False
        self.next_round = time.monotonic() + 5.0  # let the stack settle after `up`
        self.next_rules = time.monotonic()
        self.round: threading.Thread | None = None

    def tick(self) -> None:
        now = time.monotonic()
        if now >= self.next_round and (self.round is None or not self.round.is_alive()):
            self.next_round = now + self.settings.watch.probe_every_s
            self.round = threading.Thread(target=self._round, name="probes", daemon=True)
            self.round.start()
        if now >= self.next_rules:
            self.next_rules = now + self.settings.watch.health_every_s
            try:
                guard_supervisor(self.settings)
            except ZenmailError as exc:
                print(f"watch: the supervisor could not be restarted: {exc}", file=sys.stderr,
                      flush=True)
            try:
                alerts.evaluate(self.settings, self.db)
            except Exception as exc:  # the next evaluation tries again
                print(f"watch: alert rules failed: {exc}", file=sys.stderr, flush=True)

    def _round(self) -> None:
        try:
            for o in run_round(self.settings, self.db):
                if not o.ok:
                    print(f"watch: probe {o.probe} failed: {o.error}", flush=True)
        except Exception as exc:
            print(f"watch: probe round failed: {exc}", file=sys.stderr, flush=True)

    def run(self) -> None:
        def stop(_sig: int, _frame: object) -> None:
            self.stopping = True
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        while not self.stopping:
            self.tick()
            time.sleep(TICK)
        self.db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description="zenmail watch runner")
    parser.add_argument("--state", required=True)
    args = parser.parse_args()
    settings = running_settings(Settings(state_dir=Path(args.state)))
    print(f"watch: probes every {settings.watch.probe_every_s:.0f} s in {args.state}", flush=True)
    Runner(settings).run()
    print("watch: stopped", flush=True)


if __name__ == "__main__":
    main()
