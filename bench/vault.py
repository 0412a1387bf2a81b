"""The vault on a large mail store: snapshots with restic, single-message restore, and, in
the same run, tar + zstd of the same Maildirs as the obvious alternative.

Starts a private stack (Dovecot for the restores; SQLite directory), creates --accounts
accounts and writes --messages generated messages straight into their Maildirs (as Dovecot
lays them out: cur/ files with flags, dovecot-uidlist, random INTERNALDATEs over two years):
a realistic size mix — 70 % short text (1-8 KB), 25 % longer text or small attachments
(10-60 KB), 5 % attachments (100-400 KB, incompressible, as PDFs and photos are) — with 5 %
of the messages exact copies of one in another mailbox (mail to several colleagues). Then:

  full          first snapshot of everything: messages/s, MB/s, bytes stored in the repository
  no change     the same again (target: <= 5 % of the full snapshot's time)
  +1 %          after 1 % new mail spread over the accounts
  restore       find (by subject) + restore of one message into a "Restored" folder, for
                --samples random messages: median and p95 latency of the two together and
                of each (service.find, service.restore_message, with the restore's
                phases: lookup, checks, read, import, audit), Python start-up excluded
  tar+zstd      `tar -c | zstd -3 -T0` of the same store: time and size (target: restic's
                stored bytes <= tar+zstd's), and each message compressed on its own (the
                floor of a store that compresses message by message, as restic does):
                where the target is missed, by how much and why
  --compression max: restic's strongest zstd ([vault] compression)

    sudo .venv/bin/python bench/vault.py                      # 100,000 messages
    sudo .venv/bin/python bench/vault.py --messages 10000
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import shutil
import statistics
import subprocess
import time
from pathlib import Path

from zenmail.config import Settings
from zenmail.db import Database
from zenmail.devtools.stackdir import new_state
from zenmail.directory import bulk, domains, tenants
from zenmail.directory.context import Actor, Ctx
from zenmail.directory.passwords import Hasher
from zenmail.stack import manager
from zenmail.stack.files import gid, uid
from zenmail.vault import service
from zenmail.vault import snapshot as snapshots
from zenmail.vault.restic import Restic

DOMAIN = "vaultbench.test"
WORDS = ("the quarterly report meeting invoice project budget please review attached "
         "thanks regards tomorrow schedule customer order delivery contract update team "
         "draft final approval question answer call office week month price offer "
         "shipment account payment reminder agenda notes minutes follow up").split()


def _vocabulary() -> tuple[list[str], list[float]]:
    """Real text draws on a large vocabulary with a few very common words (Zipf's law);
    a handful of words repeated would compress far better than any real mail."""
    rng = random.Random(7)
    letters = "etaoinshrdlcumwfgypbvkjxqz"
    weights = [1 / (i + 1) ** 0.8 for i in range(26)]
    made = {"".join(rng.choices(letters, weights, k=rng.randint(2, 11)))
            for _ in range(30_000)}
    vocab = WORDS + sorted(made)
    return vocab, list(itertools.accumulate(1 / (rank + 1) for rank in range(len(vocab))))


VOCAB, ZIPF = _vocabulary()


def text(rng: random.Random, size: int) -> bytes:
    out, n = [], 0
    while n < size:
        line = " ".join(rng.choices(VOCAB, cum_weights=ZIPF, k=rng.randint(6, 14)))
        out.append(line)
        n += len(line) + 1
    return "\n".join(out).encode()[:size]


def message(rng: random.Random, i: int) -> bytes:
    head = (f"From: Sender {i % 977} <s{i % 977}@partner{i % 31}.example>\n"
            f"To: someone@{DOMAIN}\nSubject: {rng.choice(WORDS)} {rng.choice(WORDS)} #{i}\n"
            f"Date: Mon, 02 Mar 2026 10:00:00 +0000\nMessage-ID: <{i}.{rng.random()}@b>\n"
            "MIME-Version: 1.0\n").encode()
    roll = rng.random()
    if roll < 0.70:
        return head + b"Content-Type: text/plain\n\n" + text(rng, rng.randint(1000, 8000))
    if roll < 0.95:
        return head + b"Content-Type: text/plain\n\n" + text(rng, rng.randint(10_000, 60_000))
    blob = os.urandom(rng.randint(75_000, 300_000))
    import base64
    b64 = base64.encodebytes(blob)
    return (head + b"Content-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: "
            b"text/plain\n\n" + text(rng, 2000) + b"\n--B\nContent-Type: application/pdf\n"
            b"Content-Transfer-Encoding: base64\n\n" + b64 + b"--B--\n")


def write_messages(store: Path, users: list[str], count: int, rng: random.Random,
                   start: int) -> int:
    """`count` messages spread over `users`' INBOXes; returns the bytes written."""
    mu, mg = uid("mail"), gid("mail")
    written, made = 0, []
    now = time.time()
    for i in range(start, start + count):
        user = users[i % len(users)]
        if made and rng.random() < 0.05:
            raw = made[rng.randrange(len(made))]  # the same mail in another mailbox
        else:
            raw = message(rng, i)
            if len(made) < 2000:
                made.append(raw)
        local = user.partition("@")[0]
        cur = store / DOMAIN / local / "Maildir" / "cur"
        vsize = len(raw) + raw.count(b"\n")
        flags = rng.choice(['S', 'S', 'RS', 'FS', ''])
        name = f"{int(now)}.M{i}P1.bench,S={len(raw)},W={vsize}:2,{flags}"
        path = cur / name
        path.write_bytes(raw)
        when = now - rng.uniform(0, 2 * 365 * 86400)
        os.utime(path, (when, when))
        os.chown(path, mu, mg)
        written += len(raw)
    return written


def prepare_dirs(store: Path, users: list[str]) -> None:
    mu, mg = uid("mail"), gid("mail")
    for user in users:
        md = store / DOMAIN / user.partition("@")[0] / "Maildir"
        for sub in ("cur", "new", "tmp"):
            (md / sub).mkdir(parents=True, exist_ok=True)
        for d in (md.parent.parent, md.parent, md, md / "cur", md / "new", md / "tmp"):
            os.chown(d, mu, mg)


def snap(label: str, ctx: Ctx, settings: Settings) -> tuple[float, dict[str, float]]:
    """One snapshot of everything, timed, with its phases."""
    phases: dict[str, float] = {}
    t0 = time.perf_counter()
    scope = service.scope(ctx, everything=True)
    row = snapshots.take(settings, scope, timings=phases)
    dt = time.perf_counter() - t0
    parts = ", ".join(f"{k} {v:.1f} s" for k, v in phases.items())
    print(f"  {label}: {dt:.1f} s ({parts}); snapshot {row.short}", flush=True)
    return dt, phases


def median_p95(xs: list[float]) -> tuple[float, float]:
    """Median and 95th percentile (nearest rank) of latencies."""
    lat = sorted(xs)
    return statistics.median(lat), lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))]


def _ms(seconds: list[float]) -> str:
    """Median and p95 of latencies, in milliseconds."""
    median, p95 = median_p95(seconds)
    return f"{median * 1000:7.0f} ms median, {p95 * 1000:.0f} ms p95"


def repo_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--messages", type=int, default=100_000)
    p.add_argument("--accounts", type=int, default=100)
    p.add_argument("--samples", type=int, default=20)
    p.add_argument("--compression", choices=("auto", "max", "off"), default="auto",
                   help="restic's compression ([vault] compression)")
    p.add_argument("--keep", action="store_true", help="leave the state directory")
    args = p.parse_args()
    rng = random.Random(42)

    settings = new_state(prefix="zenmail-bench-vault-")
    settings.vault.compression = args.compression
    state = settings.state_dir
    db = Database(settings.db_url)
    db.migrate()
    ctx = Ctx(db, Actor("bench"), Hasher(memory_kib=1024, time_cost=1))
    tenants.add(ctx, "bench", "100T")
    domains.add(ctx, "bench", DOMAIN)
    users = [f"u{i:04d}@{DOMAIN}" for i in range(args.accounts)]
    bulk.add_many(ctx, [bulk.NewAccount(u, "50G", "", "bench-password-1", None)
                        for u in users])
    try:
        manager.up(settings, with_api=False)
        store = settings.mail_store
        prepare_dirs(store, users)
        print(f"generating {args.messages:,} messages in {args.accounts} accounts ...",
              flush=True)
        t0 = time.perf_counter()
        size = write_messages(store, users, args.messages, rng, 0)
        print(f"  {size / 1e6:,.0f} MB in {time.perf_counter() - t0:.0f} s", flush=True)
        subprocess.run(["sync"], check=True)

        print(f"vault (restic 0.14, repository format 2, zstd, compression "
              f"{args.compression}):", flush=True)
        full, full_phases = snap("full snapshot", ctx, settings)
        stored = repo_bytes(state / "vault")
        same, same_phases = snap("no-change snapshot", ctx, settings)
        extra = max(1, args.messages // 100)
        size2 = write_messages(store, users, extra, rng, args.messages)
        more, _ = snap(f"snapshot after +1 % ({extra} messages)", ctx, settings)
        stored_after = repo_bytes(state / "vault")

        lat: dict[str, list[float]] = {"find": [], "restore": [], "total": []}
        phases: dict[str, list[float]] = {}
        sample_rows = rng.sample(range(args.messages), args.samples)
        for i in sample_rows:
            user = users[i % len(users)]
            t1 = time.perf_counter()
            found = service.find(ctx, settings, user, subject=f"#{i}")
            hit = next((e for e in found if e.subject.endswith(f"#{i}")), None)
            if hit is None:  # a copy of another message: no subject of its own
                continue
            t2 = time.perf_counter()
            laps: dict[str, float] = {}
            done = service.restore_message(ctx, settings, user, hit.restore_id(), "Restored",
                                           timings=laps)
            t3 = time.perf_counter()
            for k, v in laps.items():
                phases.setdefault(k, []).append(v)
            assert done.restored == 1, done
            lat["find"].append(t2 - t1)
            lat["restore"].append(t3 - t2)
            lat["total"].append(t3 - t1)

        print("tar + zstd -3 -T0 of the same store:", flush=True)
        out = state / "store.tar.zst"
        t1 = time.perf_counter()
        subprocess.run(f"tar -C {store} --exclude=.zenmail-vault -cf - {DOMAIN} | "
                       f"zstd -q -3 -T0 -o {out}", shell=True, check=True)
        tar_time = time.perf_counter() - t1
        tar_size = out.stat().st_size
        print(f"  {tar_time:.1f} s", flush=True)
        # Why restic stores more: it compresses each message on its own (a message is
        # smaller than restic's smallest chunk, so one blob), where tar+zstd compresses one
        # stream and reuses what messages share. `zstd -c` of many files writes one
        # independent frame per file: the floor of any per-message compression.
        each = int(subprocess.run(
            f"find {store / DOMAIN} -type f -path '*/cur/*' -print0 | "
            f"xargs -0 zstd -q -3 -c | wc -c", shell=True, check=True,
            capture_output=True, text=True).stdout)

        mb = size / 1e6
        print()
        print(f"messages {args.messages:,} ({mb:,.0f} MB) in {args.accounts} accounts")
        print(f"full snapshot      {full:7.1f} s  {args.messages / full:8,.0f} msg/s "
              f"{mb / full:6.1f} MB/s  stored {stored / 1e6:,.0f} MB "
              f"({stored / size * 100:.0f} % of the mail)")
        print(f"no-change snapshot {same:7.1f} s  = {same / full * 100:.1f} % of the full "
              f"time (target <= 5 %; "
              + ", ".join(f"{k} {v:.2f} s" for k, v in same_phases.items()) + ")")
        print(f"after +1 % mail    {more:7.1f} s  (+{size2 / 1e6:.1f} MB, repository "
              f"+{(stored_after - stored) / 1e6:.1f} MB)")
        if lat["total"]:
            print(f"find + restore one {_ms(lat['total'])} ({len(lat['total'])} messages)")
            print(f"  find             {_ms(lat['find'])}")
            print(f"  restore          {_ms(lat['restore'])} (median "
                  + ", ".join(f"{k} {statistics.median(v) * 1000:.0f}"
                              for k, v in phases.items()) + " ms)")
        print(f"tar + zstd         {tar_time:7.1f} s  size {tar_size / 1e6:,.0f} MB "
              f"-> restic stored {stored / tar_size * 100:.0f} % of tar+zstd "
              f"(target <= 100 %)")
        print(f"each message zstd -3 on its own: {each / 1e6:,.0f} MB = "
              f"{each / tar_size * 100:.0f} % of tar+zstd (what compressing message by "
              "message costs; restic's blobs are compressed so)")
        if stored > tar_size:
            print(f"-> target missed by {(stored - tar_size) / 1e6:,.1f} MB "
                  f"({(stored / tar_size - 1) * 100:.1f} %): compressing each message on its "
                  f"own accounts for {(each - tar_size) / 1e6:,.1f} MB of it, restic's "
                  f"trees, index, packs and zenmail's catalogue for the other "
                  f"{(stored - each) / 1e6:,.1f} MB")
        st = Restic(settings).stats()
        print(f"restic raw-data    {st.get('total_size', 0) / 1e6:,.0f} MB in "
              f"{st.get('total_blob_count', 0):,} blobs")
    finally:
        manager.down(settings)
        db.dispose()
        if not args.keep:
            shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
