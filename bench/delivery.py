"""Delivery throughput of the zenmail stack, beside the obvious alternative.

Starts a private stack (Postfix + Dovecot on SQLite, free loopback ports, a temporary state
directory), then:

  zenmail path   N messages (~20 KB) over SMTP to the MX listener on C parallel
                 connections, to one mailbox: Postfix (maps on the directory, quota-status
                 policy at RCPT, queue) -> LMTP -> Dovecot.
                 accepted/s = N / time until the last 250 after DATA;
                 delivered/s = N / time until IMAP STATUS shows all N in the mailbox.
  alternative    the same N messages straight to Dovecot's LMTP on C connections, to a
                 second mailbox: no Postfix, no policy, no queue (what the MTA costs).

It prints stack RSS (all Postfix and Dovecot processes) idle and the peak under load, then
stops the stack and removes the state directory. It stops by itself: --timeout (default
900 s) caps the whole run and reports what was done so far.

    sudo .venv/bin/python bench/delivery.py            # N=5000
    sudo .venv/bin/python bench/delivery.py -n 1000 -c 4
    sudo .venv/bin/python bench/delivery.py --postgresql   # directory on PostgreSQL
"""

from __future__ import annotations

import argparse
import imaplib
import os
import random
import shutil
import smtplib
import sys
import threading
import time
from collections.abc import Callable

from zenmail.db import Database
from zenmail.devtools.stackdir import new_state
from zenmail.directory import accounts, domains, tenants
from zenmail.directory.context import Actor, Ctx
from zenmail.directory.passwords import Hasher
from zenmail.stack import manager, proc
from zenmail.stack.registry import Stack

PASSWORD = "bench-password-123"
DOMAIN = "bench.test"
WORDS = ("invoice meeting project budget review customer order shipment quarter report "
         "schedule contract renewal support ticket update release planning forecast team "
         "office travel approval draft figures partner offer").split()


def make_message(i: int, to: str, size: int, rng: random.Random) -> bytes:
    lines, total = [], 0
    while total < size:
        line = " ".join(rng.choice(WORDS) for _ in range(11))
        lines.append(line)
        total += len(line) + 2
    body = "\r\n".join(lines)
    return (f"From: <sender@example.org>\r\nTo: <{to}>\r\nSubject: bench message {i}\r\n"
            f"Message-ID: <bench-{i}-{os.getpid()}@example.org>\r\n"
            "Date: Fri, 27 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=us-ascii\r\n\r\n{body}\r\n").encode()


def bench_mailboxes(db: Database, *locals_: str) -> list[str]:
    """The bench's directory: tenant "bench", DOMAIN, and one account per local part."""
    db.migrate()
    ctx = Ctx(db, Actor("bench"), Hasher(1024, 1))
    tenants.add(ctx, "bench", "200G")
    domains.add(ctx, "bench", DOMAIN)
    boxes = [f"{local}@{DOMAIN}" for local in locals_]
    for a in boxes:
        accounts.add(ctx, a, password=PASSWORD, quota="50G")
    return boxes


def twin_batches(n: int, size: int, first: str, second: str,
                 make: Callable[[int, str, int, random.Random], bytes]
                 ) -> tuple[list[bytes], list[bytes]]:
    """n messages to `first`, and the same bytes addressed to `second` (seed 42)."""
    rng = random.Random(42)
    print(f"generating {n} messages of ~{size // 1000} KB ...")
    batch = [make(i, first, size, rng) for i in range(n)]
    return batch, [m.replace(first.encode(), second.encode(), 1) for m in batch]


class RssSampler(threading.Thread):
    """Peak resident memory of the stack's processes while the load runs."""

    def __init__(self, masters: Callable[[], list[int]]) -> None:
        super().__init__(daemon=True)
        self.masters, self.stop_flag = masters, threading.Event()
        self.peak, self.peak_pss = 0, 0

    def run(self) -> None:
        while not self.stop_flag.is_set():
            rss, pss = stack_memory(self.masters())
            self.peak, self.peak_pss = max(self.peak, rss), max(self.peak_pss, pss)
            self.stop_flag.wait(0.25)


def stack_memory(masters: list[int]) -> tuple[int, int]:
    """(RSS sum, PSS sum) of every Postfix and Dovecot process."""
    pids = [p for m in masters for p in (m, *proc.children(m))]
    return proc.rss_bytes(pids), proc.pss_bytes(pids)


def mailbox_count(port: int, user: str) -> int:
    m = imaplib.IMAP4("127.0.0.1", port, timeout=30)
    try:
        m.login(user, PASSWORD)
        _, data = m.status("INBOX", "(MESSAGES)")
        return int(data[0].decode().rsplit("MESSAGES", 1)[1].strip(" ()"))
    finally:
        m.logout()


def send_parallel(connect: Callable[[], smtplib.SMTP], messages: list[bytes], to: str,
                  conns: int, deadline: float) -> tuple[int, float]:
    """Send every message on `conns` connections; (accepted, seconds)."""
    accepted = [0] * conns
    errors: list[str] = []

    def worker(k: int) -> None:
        try:
            c = connect()
            try:
                for msg in messages[k::conns]:
                    if time.monotonic() > deadline:
                        return
                    c.sendmail("sender@example.org", [to], msg)
                    accepted[k] += 1
            finally:
                c.quit()
        except (smtplib.SMTPException, OSError) as exc:
            errors.append(f"connection {k}: {exc}")

    start = time.monotonic()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        print("  errors: " + "; ".join(errors[:3]), file=sys.stderr)
    return sum(accepted), time.monotonic() - start


def wait_delivered(port: int, user: str, n: int, deadline: float) -> int:
    count = 0
    while time.monotonic() < deadline:
        count = mailbox_count(port, user)
        if count >= n:
            break
        time.sleep(0.2)
    return count


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("-n", "--messages", type=int, default=5000)
    ap.add_argument("-s", "--size", type=int, default=20_000, help="approximate message bytes")
    ap.add_argument("-c", "--connections", type=int, default=4)
    ap.add_argument("--database-url", default="", help="default: SQLite in the state dir")
    ap.add_argument("--postgresql", action="store_true",
                    help="start a private PostgreSQL server for the directory")
    ap.add_argument("--timeout", type=float, default=900.0, help="cap on the whole run (s)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/delivery.py starts Postfix and Dovecot: run it as root", file=sys.stderr)
        return 2
    deadline = time.monotonic() + args.timeout
    pg = None
    if args.postgresql:
        from zenmail.devtools.pgserver import PgServer

        pg = PgServer().start()
        args.database_url = pg.create_database()
    settings = new_state("zenmail-bench-", database_url=args.database_url)
    state = settings.state_dir
    db = Database(settings.db_url)
    try:
        via_postfix, via_lmtp = bench_mailboxes(db, "inbox", "lmtp")
        t0 = time.monotonic()
        manager.up(settings, with_api=False, supervise=False)
        print(f"stack up in {time.monotonic() - t0:.1f} s ({state})")
        stack = Stack(settings)
        p = stack.plan
        dovecot, postfix = stack.services["dovecot"], stack.services["postfix"]

        def masters() -> list[int]:
            return [x for x in (dovecot.pid(), postfix.pid()) if x]

        time.sleep(1.0)
        idle, idle_pss = stack_memory(masters())
        n = args.messages
        batch_a, batch_b = twin_batches(n, args.size, via_postfix, via_lmtp, make_message)

        sampler = RssSampler(masters)
        sampler.start()
        start = time.monotonic()
        accepted, send_s = send_parallel(
            lambda: smtplib.SMTP("127.0.0.1", p["smtp"], timeout=60), batch_a, via_postfix,
            args.connections, deadline)
        delivered = wait_delivered(p["imap"], via_postfix, accepted, deadline)
        deliver_s = time.monotonic() - start

        start = time.monotonic()
        lmtp_ok, lmtp_s = send_parallel(
            lambda: smtplib.LMTP("127.0.0.1", p["lmtp"], timeout=60), batch_b, via_lmtp,
            args.connections, deadline)
        lmtp_seen = wait_delivered(p["imap"], via_lmtp, lmtp_ok, deadline)
        lmtp_total_s = time.monotonic() - start
        sampler.stop_flag.set()
        sampler.join()

        mib = 1024 * 1024
        print()
        print(f"delivery benchmark: {n} messages of ~{args.size // 1000} KB, "
              f"{args.connections} connections, {os.cpu_count()} CPUs, "
              f"{'PostgreSQL' if args.database_url else 'SQLite'} directory")
        print(f"  {'path':<38} {'accepted/s':>11} {'delivered/s':>12} {'delivered':>10}")
        print(f"  {'zenmail: SMTP -> Postfix -> LMTP':<38} {accepted / send_s:>11.0f} "
              f"{delivered / deliver_s:>12.0f} {delivered:>5}/{n}")
        print(f"  {'alternative: straight to Dovecot LMTP':<38} {'-':>11} "
              f"{lmtp_seen / lmtp_total_s:>12.0f} {lmtp_seen:>5}/{n}")
        print(f"  stack RSS (sum over processes): idle {idle / mib:.0f} MiB, peak under load "
              f"{sampler.peak / mib:.0f} MiB")
        print(f"  stack PSS (shared pages counted once): idle {idle_pss / mib:.0f} MiB, peak "
              f"under load {sampler.peak_pss / mib:.0f} MiB")
        if time.monotonic() > deadline:
            print(f"  (stopped by --timeout {args.timeout:.0f} s: figures cover what was done)")
        return 0 if delivered == n and lmtp_seen == n else 1
    finally:
        manager.down(settings)
        db.dispose()
        shutil.rmtree(state, ignore_errors=True)
        if pg is not None:
            pg.stop()


if __name__ == "__main__":
    sys.exit(main())
