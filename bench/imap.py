"""IMAP under load: logins on new connections, and work on persistent ones.

Starts a private stack (Postfix, Dovecot, Redis, the login policy; SQLite directory, free
loopback ports), creates accounts whose passwords are hashed as zenmail hashes people's
passwords (Argon2id, 19 MiB, 2 passes), and for each number of clients C (default 10 and 50)
runs, for --seconds each:

  logins        C clients, each in a loop: connect, LOGIN, LOGOUT (a new connection every
                time, as phones and mail programs reconnect) -> logins/s, four ways:
                - Argon2id, auth cache off: every login pays the hash (zenmail before)
                - Argon2id, auth cache on: the Lua passdb verifies, Dovecot remembers a
                  success as a SHA-1 digest, so a repeated login skips Argon2id (zenmail)
                - app passwords ({SSHA256}, cache on): what devices use (zenmail)
                - SHA512-CRYPT, cache off: the same stack with a fast crypt(3) hash
                  imported as the main password (the obvious alternative)
  append        C clients logged in once, each APPENDing ~4 KB messages to its own mailbox
  fetch         the same clients FETCHing whole messages (BODY.PEEK[]) at random
  expunge       the same clients flagging one message \\Deleted and EXPUNGEing it

Each login phase also reads the server side's CPU time from /proc (Dovecot's master with
its reaped children, its living children, the login policy process): CPU ms per login does
not depend on what else the machine runs, unlike the rates, and 2 CPUs / (CPU per login) is
what the server side could do on an idle 2-CPU machine (the clients' own CPU aside).

Each client logs in as its own account, again and again, so with the cache on only its
first login pays Argon2id (done untimed before each phase), as for a device reconnecting
all day; a change of password, state or app password flushes the account's entry and the
next login pays again. Same Dovecot, same SQL lookup, same login policy in every login
phase: the difference is the hash and the cache.

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
from pathlib import Path

from zenmail.config import DevicesSettings, Settings
from zenmail.db import Database
from zenmail.devtools.stackdir import new_state
from zenmail.directory import accounts, apppasswords, domains, tenants
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


_TICK = os.sysconf("SC_CLK_TCK")


def _times(pid: int, with_children: bool) -> float:
    """CPU seconds of a process (user + system; with its reaped children's if asked)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if with_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / _TICK


def server_cpu(roots: list[int]) -> float:
    """CPU seconds used so far by the login path's server side: Dovecot's master (with every
    child it reaped: imap-login, imap, auth, auth-worker), its living children, and the
    login policy process. A delta of two readings is what a phase cost, whatever else the
    machine was running meanwhile (rates alone are at the mercy of other load)."""
    master, *others = roots
    total = _times(master, True) + sum(_times(pid, False) for pid in others)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == master:
                total += _times(int(entry.name), False)
    return total


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
        secrets: list[str] = []
        for i in range(most):
            accounts.add(ctx, f"user{i}@{DOMAIN}", password_hash=argon, quota="10G")
            accounts.add(ctx, f"fast{i}@{DOMAIN}", password_hash=fast, quota="10G")
            secrets.append(apppasswords.add(ctx, f"user{i}@{DOMAIN}", "bench").secret)
        cached = settings.model_copy(update={"devices": DevicesSettings(auth_cache_ttl=3600)})
        uncached = settings.model_copy(update={"devices": DevicesSettings(auth_cache_ttl=0)})
        manager.up(uncached, with_api=False, supervise=False)
        plan = Stack(settings).plan
        host, port = plan.connect_host(), plan["imap"]
        print(f"stack up ({settings.state_dir}); Argon2id m={memory} KiB t={passes}; "
              f"{os.cpu_count()} CPUs")

        def login(prefix: str, app: bool = False) -> Callable[[int], None]:
            def step(i: int) -> None:
                m = imaplib.IMAP4(host, port, timeout=30)
                try:
                    m.login(f"{prefix}{i}@{DOMAIN}", secrets[i] if app else PASSWORD)
                finally:
                    m.logout()
            return step

        phases = {False: (("logins, Argon2id, no cache (before)", "user", False),
                          ("logins, SHA512-CRYPT, no cache (alt.)", "fast", False)),
                  True: (("logins, Argon2id, auth cache (zenmail)", "user", False),
                         ("logins, app passwords (zenmail)", "user", True))}
        stack = Stack(settings)
        rows: list[tuple[str, int, float, int, float]] = []
        for c in counts:
            for cache in (False, True):
                # Reconfigured in place (`up` reloads Dovecot); the cache starts empty.
                manager.up(cached if cache else uncached, with_api=False, supervise=False)
                roots = [stack.services["dovecot"].pid() or 0,
                         stack.services["authpolicy"].pid() or 0]
                for name, prefix, app in phases[cache]:
                    for i in range(c):  # untimed: each device's first login fills the cache
                        login(prefix, app)(i)
                    before = server_cpu(roots)
                    n, errs = run_for(args.seconds, c, login(prefix, app))
                    spent = server_cpu(roots) - before
                    rows.append((name, c, n / args.seconds, errs, spent / max(n, 1)))
            rows += [(*r, 0.0) for r in work_phases(host, port, c, args.seconds)]
        print()
        print(f"IMAP benchmark: {args.seconds:.0f} s per phase, SQLite directory, load "
              f"average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(f"  {'phase':<40} {'clients':>7} {'per second':>11} {'errors':>7} "
              f"{'server CPU ms/login':>20} {'=> logins/s on 2 idle CPUs':>27}")
        for name, c, rate, errs, cpu in rows:
            extra = (f" {cpu * 1000:>20.1f} {2 / cpu:>27.0f}" if cpu else "")
            print(f"  {name:<40} {c:>7} {rate:>11.1f} {errs:>7}{extra}")
        return 0
    finally:
        manager.down(settings)
        db.dispose()
        shutil.rmtree(settings.state_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
