"""IMAP under load: logins on new connections, and work on persistent ones.

Starts a private stack (Postfix, Dovecot, Redis, the login policy; SQLite directory, free
loopback ports), creates accounts whose passwords are hashed as zenmail hashes people's
passwords (Argon2id, 19 MiB, 2 passes), and for each number of clients C (default 10 and 50)
runs, for --seconds each:

  logins        C clients, each in a loop: connect, LOGIN, LOGOUT (a new connection every
                time, as phones and mail programs reconnect) -> logins/s
  append        C clients logged in once, each APPENDing ~4 KB messages to its own mailbox
  fetch         the same clients FETCHing whole messages (BODY.PEEK[]) at random
  expunge       the same clients flagging one message \\Deleted and EXPUNGEing it

and, in the same run, the obvious alternative for the login path: the same logins against
accounts whose hashes are {SHA512-CRYPT} (5,000 rounds) — same Dovecot, same SQL lookup, same
policy, so the difference is what the password hash costs. (A hash that fast is what Dovecot's
own examples use; zenmail keeps Argon2id for people's passwords.)

    sudo .venv/bin/python bench/imap.py                 # C = 10 and 50, 15 s per phase
    sudo .venv/bin/python bench/imap.py -c 10 --seconds 5
"""

from __future__ import annotations

import argparse
import imaplib
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from zenmail.config import Settings
from zenmail.db import Database
from zenmail.devtools.stackdir import new_state
from zenmail.directory import accounts, domains, tenants
from zenmail.directory.context import Actor, Ctx
from zenmail.directory.passwords import Hasher
from zenmail.stack import manager
from zenmail.stack.registry import Stack

PASSWORD = "bench-password-123"
DOMAIN = "imapbench.test"
MESSAGE = (b"From: <sender@example.org>\r\nTo: <user@imapbench.test>\r\n"
           b"Subject: imap bench\r\nMessage-ID: <imap-bench@example.org>\r\n"
           b"Date: Fri, 27 Nov 2026 10:00:00 +0000\r\n\r\n" + b"lorem ipsum dolor " * 230)


def run_for(seconds: float, clients: int, step: Callable[[int], None]) -> tuple[int, int]:
    """Call `step(client)` in `clients` threads for `seconds`; (operations done, errors)."""
    done = [0] * clients
    errors = [0] * clients
    deadline = time.monotonic() + seconds

    def worker(i: int) -> None:
        while time.monotonic() < deadline:
            try:
                step(i)
                done[i] += 1
            except (OSError, imaplib.IMAP4.error):
                errors[i] += 1
                time.sleep(0.05)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    return sum(done), sum(errors)


def work_phases(host: str, port: int, clients: int,
                seconds: float) -> list[tuple[str, int, float, int]]:
    """APPEND, FETCH and EXPUNGE rates of `clients` persistent sessions, one mailbox each."""
    sessions = []
    for i in range(clients):
        m = imaplib.IMAP4(host, port, timeout=60)
        m.login(f"user{i}@{DOMAIN}", PASSWORD)
        m.select("INBOX")
        sessions.append(m)
    rng = random.Random(7)

    def append(i: int) -> None:
        sessions[i].append("INBOX", None, None, MESSAGE)

    def fetch(i: int) -> None:
        m = sessions[i]
        total = int(m.select("INBOX")[1][0] or 0)
        m.fetch(str(rng.randint(1, max(total, 1))), "(BODY.PEEK[])")

    def expunge(i: int) -> None:
        m = sessions[i]
        m.store("1", "+FLAGS", "(\\Deleted)")
        m.expunge()

    rows = []
    for name, step in (("append", append), ("fetch", fetch), ("expunge", expunge)):
        n, errs = run_for(seconds, clients, step)
        rows.append((name, clients, n / seconds, errs))
    for m in sessions:
        m.logout()
    return rows


def sha512_crypt(password: str) -> str:
    out = subprocess.run(["doveadm", "pw", "-s", "SHA512-CRYPT", "-p", password],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-c", "--clients", default="10,50", help="client counts, comma-separated")
    ap.add_argument("--seconds", type=float, default=15.0, help="length of each phase")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/imap.py starts Postfix and Dovecot: run it as root", file=sys.stderr)
        return 2
    counts = [int(c) for c in args.clients.split(",")]
    most = max(counts)
    settings = new_state("zenmail-bench-imap-")
    db = Database(settings.db_url)
    try:
        db.migrate()
        # The production cost, the defaults of the settings: what people's passwords get.
        memory = Settings.model_fields["argon2_memory_kib"].default
        passes = Settings.model_fields["argon2_time_cost"].default
        people = Hasher(memory, passes)
        ctx = Ctx(db, Actor("bench"), people)
        tenants.add(ctx, "bench", "1T", max_accounts=None)
        domains.add(ctx, "bench", DOMAIN)
        argon = people.hash(PASSWORD)
        fast = sha512_crypt(PASSWORD)
        for i in range(most):
            accounts.add(ctx, f"user{i}@{DOMAIN}", password_hash=argon, quota="10G")
            accounts.add(ctx, f"fast{i}@{DOMAIN}", password_hash=fast, quota="10G")
        manager.up(settings, with_api=False, supervise=False)
        plan = Stack(settings).plan
        host, port = plan.connect_host(), plan["imap"]
        print(f"stack up ({settings.state_dir}); Argon2id m={memory} KiB t={passes}; "
              f"{os.cpu_count()} CPUs")

        def login(prefix: str) -> Callable[[int], None]:
            def step(i: int) -> None:
                m = imaplib.IMAP4(host, port, timeout=30)
                try:
                    m.login(f"{prefix}{i}@{DOMAIN}", PASSWORD)
                finally:
                    m.logout()
            return step

        rows: list[tuple[str, int, float, int]] = []
        for c in counts:
            for name, prefix in (("logins, Argon2id (zenmail)", "user"),
                                 ("logins, SHA512-CRYPT (alternative)", "fast")):
                n, errs = run_for(args.seconds, c, login(prefix))
                rows.append((name, c, n / args.seconds, errs))
            rows += work_phases(host, port, c, args.seconds)
        print()
        print(f"IMAP benchmark: {args.seconds:.0f} s per phase, SQLite directory")
        print(f"  {'phase':<36} {'clients':>7} {'per second':>11} {'errors':>7}")
        for name, c, rate, errs in rows:
            print(f"  {name:<36} {c:>7} {rate:>11.1f} {errs:>7}")
        return 0
    finally:
        manager.down(settings)
        db.dispose()
        shutil.rmtree(settings.state_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
