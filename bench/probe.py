"""The end-to-end probe: how long a round trip takes, and what the probes cost.

Starts a private stack (SQLite directory, free loopback ports) and runs, one after another:

  zenmail    N round-trip probes as the watch runs them: submission (STARTTLS, AUTH) ->
             Postfix -> LMTP -> Dovecot -> the probe mailbox, waited for with IMAP IDLE
             (and a look every 50 ms), read and deleted -> p50/p95/p99 latency
  IDLE only  the obvious alternative: wait for IDLE's notice alone (what a mail program
             sees; Dovecot batches those notices for 0.5 s)
  polling    the other one: NOOP + SEARCH every 10 ms, no IDLE
  caldav     N CalDAV probes (PUT an event into the probe account's calendar through
             Radicale, GET it, DELETE it) -> p50/p95/p99 latency
  cost       R rounds of every probe (round trip, MX path, IMAP login, CalDAV) -> CPU
             seconds of this process plus Postfix's, Dovecot's and Radicale's process trees
             per round, and per hour at one round a minute (the default
             `[watch] probe_every_s`)

    sudo .venv/bin/python bench/probe.py            # N = 200, R = 20
    sudo .venv/bin/python bench/probe.py -n 50 -r 5
"""

from __future__ import annotations

import argparse
import os
import shutil
import smtplib
import statistics
import sys
import time
from pathlib import Path

from zenmail.db import Database
from zenmail.devtools.stackdir import new_state
from zenmail.stack import manager, proc
from zenmail.stack.registry import Stack
from zenmail.watch.probes import PROBES, Target
from zenmail.watch.probes.base import Mailbox, ProbeFailed, token
from zenmail.watch.probes.caldav import CalDav
from zenmail.watch.probes.roundtrip import RoundTrip

TICKS = os.sysconf("SC_CLK_TCK")


class PollingMailbox(Mailbox):
    """The alternative: no IDLE; NOOP and SEARCH until the message is there."""

    def wait_for(self, tok: str, deadline: float) -> None:
        self._done()
        while True:
            self.client.noop()
            uids = list(self.client.search(["HEADER", "X-Zenmail-Probe", tok]))
            if uids:
                self.client.fetch(uids, ["BODY.PEEK[]"])
                self.client.delete_messages(uids)
                self.client.expunge()
                return
            if time.monotonic() > deadline:
                raise ProbeFailed("timed out")
            time.sleep(0.01)


def round_trip(t: Target, box: Mailbox) -> float:
    try:
        tok = token()
        start = time.monotonic()
        with smtplib.SMTP(t.host, t.submission_port, timeout=t.timeout) as smtp:
            smtp.starttls(context=t.tls())
            smtp.login(t.address, t.password)
            smtp.sendmail(t.address, [t.address], t.message(tok, "bench"))
        box.wait_for(tok, start + t.timeout)
        return time.monotonic() - start
    finally:
        box.close()


def idle_only(t: Target) -> Mailbox:
    box = Mailbox(t)
    box.recheck = 5.0  # IDLE's notice comes first
    return box


def tree_cpu(pids: list[int]) -> float:
    """CPU seconds of these processes and all their descendants, those that exited and were
    reaped included (a parent's cutime/cstime holds them)."""
    total = 0
    for root in pids:
        for pid in [root, *proc.children(root)]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / TICKS


def self_cpu() -> float:
    t = os.times()
    return t.user + t.system


def percentiles(xs: list[float]) -> str:
    q = statistics.quantiles(xs, n=100, method="inclusive")
    return (f"p50 {statistics.median(xs) * 1000:6.0f} ms   p95 {q[94] * 1000:6.0f} ms   "
            f"p99 {q[98] * 1000:6.0f} ms   max {max(xs) * 1000:6.0f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=200, help="round trips per way of waiting")
    ap.add_argument("-r", type=int, default=20, help="full rounds for the cost")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the stack starts Postfix and Dovecot")
    settings = new_state(prefix="zenmail-bench-probe-")
    Database(settings.db_url).migrate()
    manager.up(settings, with_api=False)
    try:
        t = Target.of(settings)
        stack = Stack(settings)
        daemons = [p for p in (stack.services["postfix"].pid(),
                               stack.services["dovecot"].pid(),
                               stack.services["radicale"].pid()) if p]
        for _ in range(5):  # warm up: processes spawned, indexes made
            RoundTrip(t).measure()

        print(f"round trip, submission -> mailbox, {args.n} times each:")
        for label, fn in (("zenmail (IDLE+50ms)", lambda: RoundTrip(t).measure()),
                          ("IDLE only", lambda: round_trip(t, idle_only(t))),
                          ("polling 10 ms", lambda: round_trip(t, PollingMailbox(t)))):
            cpu0, d0 = self_cpu(), tree_cpu(daemons)
            xs = [fn() for _ in range(args.n)]
            cpu = self_cpu() - cpu0 + tree_cpu(daemons) - d0
            print(f"  {label:<20} {percentiles(xs)}   CPU {cpu / args.n * 1000:5.1f} ms/probe")

        CalDav(t).measure()  # warm up: the principal and its calendar made at first login
        cpu0, d0 = self_cpu(), tree_cpu(daemons)
        xs = [CalDav(t).measure() for _ in range(args.n)]
        cpu = self_cpu() - cpu0 + tree_cpu(daemons) - d0
        print(f"caldav, PUT + GET + DELETE, {args.n} times:")
        print(f"  {'zenmail':<20} {percentiles(xs)}   CPU {cpu / args.n * 1000:5.1f} ms/probe")

        cpu0, d0 = self_cpu(), tree_cpu(daemons)
        wall0 = time.monotonic()
        for _ in range(args.r):
            for probe in PROBES:
                o = probe(t).run()
                if not o.ok:
                    print(f"  {o.probe} failed: {o.error}")
        wall = time.monotonic() - wall0
        cpu = self_cpu() - cpu0 + tree_cpu(daemons) - d0
        per_round = cpu / args.r
        print(f"cost of a full round ({', '.join(p.name for p in PROBES)}), {args.r} rounds:")
        print(f"  {per_round * 1000:.0f} ms CPU and {wall / args.r * 1000:.0f} ms wall per round"
              f" -> {per_round * 60:.1f} CPU seconds per hour at one round a minute"
              f" ({per_round * 60 / 36:.2f} % of one core)")
    finally:
        manager.down(settings)
        shutil.rmtree(settings.state_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
