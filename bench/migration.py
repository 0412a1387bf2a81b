"""Migration throughput: a local Dovecot (the "old provider") into zenmail, beside the
obvious alternative, in the same run.

Starts a private zenmail stack (SQLite) and a second private Dovecot as the source, fills
the source with N messages (default 20,000; ~25 KB on average, a realistic mix) over 10
folders and 4 accounts (filling is not timed), then:

  zenmail        the migration engine, the 4 accounts at once (as `migrate run` does with
                 concurrency 4): batched FETCH from the source, MULTIAPPEND through
                 Dovecot's own IMAP process at the target, state in the directory database.
                 Then the verification (every target message read back and hashed), and a
                 re-run with nothing changed.
  naive          sequential imaplib, one message at a time: UID FETCH (FLAGS INTERNALDATE
                 BODY.PEEK[]) at the source, then APPEND at zenmail over IMAP as the user,
                 into 4 fresh accounts (what a hand-written script does).

Both copies are checked the same way: every source message's SHA-256 is at the target.
It prints messages/s and MB/s, the re-run time and the peak memory of this process (the
engine and its state) plus the largest Dovecot IMAP process at the target.

    sudo .venv/bin/python bench/migration.py                 # 20,000 messages
    sudo .venv/bin/python bench/migration.py --messages 4000 # quicker
"""

from __future__ import annotations

import argparse
import hashlib
import imaplib
import os
import resource
import shutil
import sys
import threading
import time
from collections import Counter

from imapclient import IMAPClient

from zenmail.db import Database
from zenmail.devtools import mailgen
from zenmail.devtools.sourceimap import SourceImap
from zenmail.devtools.stackdir import new_state
from zenmail.directory import accounts, domains, tenants
from zenmail.directory.context import Actor, Ctx
from zenmail.directory.passwords import Hasher
from zenmail.migration.engine import Copier, Options, RunResult
from zenmail.migration.service import job_for
from zenmail.migration.source import SourceSpec
from zenmail.migration.target import Target
from zenmail.migration.verify import verify
from zenmail.stack import manager, proc
from zenmail.stack.registry import Stack

PASSWORD = "bench-password-123"
SRC_PASSWORD = "source-password"
DOMAIN = "bench.test"
FOLDERS = ["INBOX", "Sent", "Drafts", "Archive/2019", "Archive/2020", "Archive/2021",
           "Projects/Alpha", "Projects/Beta", "Kunden/Müller", "Reports"]
ACCOUNTS = 4


def source_hashes(src: SourceImap, user: str) -> Counter[tuple[str, str]]:
    """(folder, sha256) of every message, as a multiset."""
    c = IMAPClient("127.0.0.1", src.imap_port, ssl=False)
    c.login(user, SRC_PASSWORD)
    out: Counter[tuple[str, str]] = Counter()
    for _, _, name in c.list_folders():
        c.select_folder(name, readonly=True)
        uids = c.search("ALL")
        for i in range(0, len(uids), 500):
            for d in c.fetch(uids[i:i + 500], [b"BODY.PEEK[]"]).values():
                out[(name, hashlib.sha256(d[b"BODY[]"]).hexdigest())] += 1
    c.logout()
    return out


def target_hashes(port: int, user: str) -> Counter[tuple[str, str]]:
    c = IMAPClient("127.0.0.1", port, ssl=False)
    c.login(user, PASSWORD)
    out: Counter[tuple[str, str]] = Counter()
    for _, _, name in c.list_folders():
        c.select_folder(name, readonly=True)
        uids = c.search("ALL")
        for i in range(0, len(uids), 500):
            for d in c.fetch(uids[i:i + 500], [b"BODY.PEEK[]"]).values():
                out[(name, hashlib.sha256(d[b"BODY[]"]).hexdigest())] += 1
    c.logout()
    return out


def naive_copy(src: SourceImap, user: str, port: int, target: str) -> tuple[int, int]:
    """One message at a time: FETCH, then APPEND. Returns (messages, bytes)."""
    s = imaplib.IMAP4("127.0.0.1", src.imap_port)
    s.login(user, SRC_PASSWORD)
    t = imaplib.IMAP4("127.0.0.1", port)
    t.login(target, PASSWORD)
    n = size = 0
    _, listing = s.list()
    for line in listing:
        assert isinstance(line, bytes)
        name = line.rsplit(b' "/" ', 1)[1].decode()
        s.select(name, readonly=True)
        if name != "INBOX":
            t.create(name)
        _, data = s.uid("SEARCH", "ALL")
        for uid in data[0].split():
            _, parts = s.uid("FETCH", uid, "(FLAGS INTERNALDATE BODY.PEEK[])")
            head, raw = next(p for p in parts if isinstance(p, tuple))
            flags = imaplib.ParseFlags(head)
            flags_text = "(" + " ".join(f.decode() for f in flags
                                        if f != b"\\Recent") + ")"
            date = imaplib.Internaldate2tuple(head)
            t.append(name, flags_text, date, raw)
            n += 1
            size += len(raw)
    s.logout()
    t.logout()
    return n, size


def _cpu() -> float:
    """CPU seconds of this process and its reaped children (the target's IMAP sessions)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def imap_rss(settings: object) -> int:
    """The largest resident set among the target Dovecot's processes (bytes)."""
    pid = Stack(settings).services["dovecot"].pid()  # type: ignore[arg-type]
    pids = proc.children(pid) if pid else []
    return max((proc.rss_bytes([p]) for p in pids), default=0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--messages", type=int, default=20_000, help="in all (4 accounts)")
    ap.add_argument("--skip-naive", action="store_true")
    args = ap.parse_args()

    settings = new_state("zenmail-bench-")
    state = settings.state_dir
    db = Database(settings.db_url)
    db.migrate()
    ctx = Ctx(db, Actor("bench"), Hasher(1024, 1))
    tenants.add(ctx, "bench", "500G")
    domains.add(ctx, "bench", DOMAIN)
    src = SourceImap.start()
    try:
        manager.up(settings, with_api=False, supervise=False)
        conf = str(Stack(settings).services["dovecot"].conf)  # type: ignore[attr-defined]

        def command(address: str) -> list[str]:
            return ["doveadm", "-c", conf, "exec", "imap", "-u", address]

        per = args.messages // ACCOUNTS
        users = [f"user{i}@old.test" for i in range(ACCOUNTS)]
        t0 = time.monotonic()
        total_bytes = 0
        for i, user in enumerate(users):
            src.add_user(user, SRC_PASSWORD)
            msgs = mailgen.realistic(per, FOLDERS, seed=i)
            total_bytes += sum(len(m.raw) for m in msgs)
            t = Target(src.pipe_command(user))
            mailgen.fill(t, msgs)
            t.close()
        n = per * ACCOUNTS
        mb = total_bytes / 1e6
        print(f"source: {n} messages, {mb:.0f} MB ({total_bytes / n / 1000:.1f} KB avg) in "
              f"{len(FOLDERS)} folders x {ACCOUNTS} accounts (filled in "
              f"{time.monotonic() - t0:.1f} s)")

        targets = [f"mig{i}@{DOMAIN}" for i in range(ACCOUNTS)]
        jobs = []
        for user, address in zip(users, targets, strict=True):
            accounts.add(ctx, address, password=PASSWORD, quota="50G")
            spec = SourceSpec("127.0.0.1", src.imap_port, user, "none")
            jobs.append((spec, job_for(ctx, address, spec)))

        def run_all() -> tuple[float, list[RunResult]]:
            results: list[RunResult] = [RunResult()] * len(jobs)
            peak = [0]

            def one(k: int) -> None:
                spec, job_id = jobs[k]
                results[k] = Copier(db, job_id, spec, SRC_PASSWORD, command, Options()).run()

            def watch() -> None:
                while any(th.is_alive() for th in threads):
                    peak[0] = max(peak[0], imap_rss(settings))
                    time.sleep(0.5)

            threads = [threading.Thread(target=one, args=(k,)) for k in range(len(jobs))]
            start = time.monotonic()
            for th in threads:
                th.start()
            w = threading.Thread(target=watch)
            w.start()
            for th in threads:
                th.join()
            w.join()
            run_all.imap_peak = peak[0]  # type: ignore[attr-defined]
            return time.monotonic() - start, results

        cpu0 = _cpu()
        load0 = os.getloadavg()[0]
        secs, results = run_all()
        cpu = _cpu() - cpu0
        load1 = os.getloadavg()[0]
        errors = [r.error for r in results if r.error] + [f for r in results for f in r.failed]
        copied = sum(r.copied for r in results)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(f"zenmail   copy:   {copied} messages in {secs:.1f} s = {copied / secs:.0f} "
              f"msg/s, {mb / secs:.1f} MB/s  (errors: {len(errors)})")
        print(f"          CPU: {cpu:.1f} s for the engine and the target's Dovecot IMAP "
              f"processes = {cpu / copied * 1000:.2f} ms per message (load average "
              f"{load0:.1f} → {load1:.1f} on {os.cpu_count()} cores, shared)")
        print(f"          peak memory: this process {rss / 2**20:.0f} MiB, largest target "
              f"IMAP process {run_all.imap_peak / 2**20:.0f} MiB")  # type: ignore[attr-defined]

        start = time.monotonic()
        verdicts = [verify(db, job_id, spec, SRC_PASSWORD, command)["verdict"]
                    for spec, job_id in jobs]
        vsecs = time.monotonic() - start
        print(f"          verify: {vsecs:.1f} s ({n / vsecs:.0f} msg/s read back and "
              f"hashed at both ends' records): {set(verdicts)}")
        secs2, again = run_all()
        print(f"          no-change re-run: {secs2:.2f} s, copied "
              f"{sum(r.copied for r in again)}")
        same = all(source_hashes(src, u) == target_hashes(settings.ports.pins["imap"], a)
                   for u, a in zip(users, targets, strict=True))
        print(f"          independent check (SHA-256 multiset per folder): "
              f"{'identical' if same else 'DIFFERENT'}")

        if not args.skip_naive:
            start = time.monotonic()
            nn = nbytes = 0
            for i, user in enumerate(users):
                address = f"naive{i}@{DOMAIN}"
                accounts.add(ctx, address, password=PASSWORD, quota="50G")
                a, b = naive_copy(src, user, settings.ports.pins["imap"], address)
                nn += a
                nbytes += b
            nsecs = time.monotonic() - start
            load2 = os.getloadavg()[0]
            print(f"naive     copy:   {nn} messages in {nsecs:.1f} s = {nn / nsecs:.0f} "
                  f"msg/s, {nbytes / 1e6 / nsecs:.1f} MB/s (sequential imaplib "
                  f"FETCH+APPEND; load average {load2:.1f})")
            print(f"zenmail is {nsecs / secs:.1f}x faster")
        return 0 if set(verdicts) == {"zero loss"} and same and not errors else 1
    finally:
        manager.down(settings)
        src.stop()
        db.dispose()
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
