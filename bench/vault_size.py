"""Why the vault stores more than tar + zstd, and what it would take to store less: the
evidence for issue 10's "stored bytes <= tar+zstd" target, every figure from one run.

Writes --messages generated messages into --accounts Maildirs (bench/vault.py's corpus: the
same size mix, 5 % exact copies across mailboxes; no daemons are started, restic is driven
directly with the flags zenmail uses) and measures, on that one store:

  1 maildir     restic backup of the Maildir files, as zenmail does (one blob per message:
                restic compresses each message on its own), --compression auto and max
  2 tar+zstd    `tar | zstd -3 -T0` (the target), `zstd -19 --long=27` for reference, and
                each message `zstd -3` on its own (the floor of message-by-message)
  3 streams     restic over one tar stream per Maildir folder (`restic backup --stdin`, one
                snapshot per folder, members sorted by name so new mail lands at the end):
                restic's content-defined chunks (~1 MiB) are compressed whole, so messages
                share context; and one tar stream of the whole store, for comparison
  4 costs of 3  a second snapshot with no change (every folder streamed again: restic reads
                --stdin in full each time), one after +1 % new mail (bytes added, time),
                both beside layout 1's; and single-message restore: `restic dump` of the
                message file (layout 1) against `restic cat blob` of the chunk(s) that hold
                the message inside its folder's stream (layout 3; where it starts is known
                from writing the stream and from restic's index, as a catalogue would keep)
                — median and p95 of --samples messages, each checked by SHA-256
  5 dictionary  a zstd dictionary trained on the tenant's mail (`zstd --train`), each
                message compressed on its own with it: the floor of "compress before restic,
                restic's compression off", which keeps one file per message
  corpus        how repetitive the generated mail is: per-message against stream
                compression on the text messages and on those with attachments

Prints a table and a verdict computed from the figures. The machine's load is printed
with them (`uptime`), since the times depend on it.

    sudo .venv/bin/python bench/vault_size.py                    # 100,000 messages
    sudo .venv/bin/python bench/vault_size.py --messages 20000 --no-19
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).parent))

from vault import DOMAIN, median_p95, prepare_dirs, write_messages  # noqa: E402

MB = 1e6
T = TypeVar("T")
Row = tuple[str, float | None, int | None, str]  # what, seconds, bytes, note


def sh(cmd: str) -> str:
    return subprocess.run(cmd, shell=True, check=True, capture_output=True,
                          text=True).stdout


def tree_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def timed(fn: Callable[..., T], *args: Any, **kw: Any) -> tuple[float, T]:
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    return time.perf_counter() - t0, out


class Repo:
    """A restic repository (format 2) of its own, driven with zenmail's backup flags."""

    def __init__(self, root: Path, name: str, compression: str) -> None:
        self.path = root / name
        self.compression = compression
        key = root / "restic.key"
        if not key.exists():
            key.write_text("bench-only-password\n")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
        self.env.update(RESTIC_REPOSITORY=str(self.path), RESTIC_PASSWORD_FILE=str(key),
                        RESTIC_CACHE_DIR=str(root / f"{name}-cache"))
        self.run(["init", "--repository-version", "2"])

    def run(self, args: list[str], stdin: bytes | None = None, cwd: Path | None = None,
            ) -> bytes:
        done = subprocess.run(["restic", "--compression", self.compression, *args],
                              env=self.env, cwd=cwd, input=stdin, capture_output=True)
        if done.returncode != 0:
            raise RuntimeError(f"restic {args[0]} failed: {done.stderr.decode()[-500:]}")
        return done.stdout

    def backup(self, cwd: Path, paths: list[str], parent: str | None = None) -> str:
        extra = ["--parent", parent] if parent else []
        out = self.run(["backup", "--json", "--ignore-ctime", "--host", "zenmail", *extra,
                        *paths], cwd=cwd)
        return _summary(out)

    def backup_stream(self, name: str, through: list[str] | None = None) -> StdinBackup:
        return StdinBackup(["restic", "--compression", self.compression, "backup", "--json",
                            "--host", "zenmail", "--stdin", "--stdin-filename", name],
                           self.env, through)

    def stored(self) -> int:
        return tree_bytes(self.path)

    def blobs(self) -> dict[str, tuple[int, int]]:
        """Every data blob: id -> (plain length, stored length), from restic's index."""
        found: dict[str, tuple[int, int]] = {}
        for idx in self.run(["list", "index"]).decode().split():
            for pack in json.loads(self.run(["cat", "index", idx]))["packs"]:
                for b in pack["blobs"]:
                    if b["type"] == "data":
                        stored = int(b["length"])
                        # an uncompressed blob: its length counts restic's 32-byte seal
                        found[b["id"]] = (int(b.get("uncompressed_length") or stored - 32),
                                          stored)
        return found

    def content(self, snapshot: str) -> list[str]:
        """The blob ids of the one file a --stdin snapshot holds."""
        tree = json.loads(self.run(["cat", "snapshot", snapshot]))["tree"]
        while True:  # a name with slashes is stored under directories of those names
            [node] = json.loads(self.run(["cat", "blob", tree]))["nodes"]
            if node["type"] == "file":
                return list(node["content"])
            tree = node["subtree"]


def _summary(out: bytes) -> str:
    for line in out.decode().splitlines():
        if '"summary"' in line:
            return str(json.loads(line)["snapshot_id"])
    raise RuntimeError("restic printed no summary")


class StdinBackup:
    """A `restic backup --stdin` waiting for its stream on `.stdin`. Its output goes to
    files: a pipe nobody reads while the stream is written could fill up and stall it."""

    def __init__(self, cmd: list[str], env: dict[str, str],
                 through: list[str] | None = None) -> None:
        self.out, self.err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        self.p = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=self.out,
                                  stderr=self.err)
        assert self.p.stdin is not None
        self.stdin = self.p.stdin
        self.filter: subprocess.Popen[bytes] | None = None
        if through:  # the stream passes through this command on its way to restic
            self.filter = subprocess.Popen(through, stdin=subprocess.PIPE, stdout=self.stdin)
            self.stdin.close()
            assert self.filter.stdin is not None
            self.stdin = self.filter.stdin

    def finish(self) -> str:
        """Close the stream, wait for restic; the new snapshot's id."""
        self.stdin.close()
        if self.filter and self.filter.wait() != 0:
            raise RuntimeError(f"{self.filter.args!r} failed")
        self.p.wait()
        self.out.seek(0)
        self.err.seek(0)
        out, err = self.out.read(), self.err.read()
        self.out.close()
        self.err.close()
        if self.p.returncode != 0:
            raise RuntimeError(f"restic backup --stdin failed: {err.decode()[-500:]}")
        return _summary(out)


# ------------------------------------------------------------------ the per-folder streams

@dataclass
class Member:
    folder: str
    offset: int  # where the message's bytes start in its folder's tar stream
    size: int


@dataclass
class Streams:
    """Layout 3: one tar stream per Maildir folder, each its own restic --stdin snapshot;
    with `zstd`, compressed by `zstd -3` on the way (restic's compression then off: the
    zstd output of an unchanged beginning is itself unchanged, so restic still finds it)."""
    repo: Repo
    zstd: bool = False
    snapshot: dict[str, str] = field(default_factory=dict)  # folder -> latest snapshot
    members: dict[str, Member] = field(default_factory=dict)  # message path -> place
    streamed: int = 0  # bytes of tar read by restic in the last round

    def back_up(self, store: Path, folders: list[Path]) -> None:
        self.streamed = 0
        for folder in folders:
            name = str(folder.relative_to(store)) + (".tar.zst" if self.zstd else ".tar")
            p = self.repo.backup_stream(name, ["zstd", "-q", "-3", "-c"] if self.zstd
                                        else None)
            # Members sorted by name: Maildir names start with the delivery time, so new
            # mail lands at the end of the stream and restic's chunks before it stay as
            # they were. Only the message files: the uidlist and keywords are small and
            # change; a real layout would store them beside the stream.
            with tarfile.open(fileobj=p.stdin, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                for f in sorted(_messages(folder), key=lambda f: f.name):
                    info = tar.gettarinfo(str(f), arcname=str(f.relative_to(folder)))
                    with open(f, "rb") as fh:
                        tar.addfile(info, fh)
                    data_end = tar.offset - (-info.size % 512)
                    self.members[str(f.relative_to(store))] = Member(
                        name, data_end - info.size, info.size)
                self.streamed += tar.offset
            self.snapshot[name] = p.finish()

    def read(self, path: str, blobs: dict[str, tuple[int, int]],
             contents: dict[str, list[str]]) -> tuple[float, bytes, int]:
        """One message's bytes from the repository: (seconds, bytes, restic calls). The
        chunk list and lengths are looked up before the clock starts (a catalogue would
        keep them); the time is the `restic cat blob` calls for the chunks it spans."""
        m = self.members[path]
        at, need = 0, []
        for blob in contents[m.folder]:
            length = blobs[blob][0]
            if at + length > m.offset and at < m.offset + m.size:
                need.append((at, blob))
            at += length
        t0 = time.perf_counter()
        raw = b"".join(self.repo.run(["cat", "blob", b]) for _, b in need)
        dt = time.perf_counter() - t0
        start = m.offset - need[0][0]
        return dt, raw[start:start + m.size], len(need)

    def read_compressed(self, path: str) -> tuple[float, bytes]:
        """One message from a zstd-compressed stream: one zstd frame per folder, so the
        folder's stream is read and decompressed up to the message (here: whole)."""
        m = self.members[path]
        t0 = time.perf_counter()
        packed = self.repo.run(["dump", self.snapshot[m.folder], "/" + m.folder])
        plain = subprocess.run(["zstd", "-q", "-d", "-c"], input=packed, check=True,
                               capture_output=True).stdout
        return time.perf_counter() - t0, plain[m.offset:m.offset + m.size]


def _messages(folder: Path) -> Iterator[Path]:
    for sub in ("cur", "new"):
        d = folder / sub
        if d.is_dir():
            yield from (f for f in d.iterdir() if f.is_file())


def _mark(folder: Path) -> tuple[int, int]:
    return (folder / "cur").stat().st_mtime_ns, (folder / "new").stat().st_mtime_ns


def maildir_folders(store: Path) -> list[Path]:
    """Every folder of every account: the Maildir itself (INBOX) and its .Sub folders."""
    found = []
    for md in sorted(store.glob("*/*/Maildir")):
        found.append(md)
        found += sorted(p for p in md.iterdir() if p.is_dir() and p.name.startswith("."))
    return found


# ------------------------------------------------------------------ zstd without restic

def zstd_each(listing: Path, extra: str = "", level: int = 3) -> int:
    """Bytes of every listed file compressed on its own (`zstd -c` of many files writes
    one independent frame per file); two zstd at a time, each on its share of files."""
    return int(sh(f"xargs -0 -a {listing} -n 500 -P 2 zstd -q -{level} {extra} -c | wc -c"))


def zstd_stream(listing: Path, level: str) -> int:
    """Bytes of the listed files concatenated into one zstd stream."""
    return int(sh(f"xargs -0 -a {listing} cat | zstd -q {level} -T0 -c | wc -c"))


def write_listing(path: Path, files: list[Path]) -> Path:
    path.write_bytes(b"".join(str(f).encode() + b"\0" for f in files))
    return path


def pct(a: float, b: float) -> str:
    return f"{a / b * 100:.0f} %" if b else "-"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--messages", type=int, default=100_000)
    p.add_argument("--accounts", type=int, default=100)
    p.add_argument("--samples", type=int, default=30)
    p.add_argument("--no-19", action="store_true",
                   help="skip zstd -19 (a few MB/s here: half an hour at 100k)")
    p.add_argument("--no-max", action="store_true", help="skip restic --compression max")
    p.add_argument("--keep", action="store_true", help="leave the work directory")
    args = p.parse_args()
    rng = random.Random(42)
    work = Path(tempfile.mkdtemp(prefix="zenmail-bench-vault-size-"))
    rows: list[Row] = []

    def row(r: Row) -> None:
        rows.append(r)
        print(f"  {r[0]}: {'' if r[1] is None else f'{r[1]:.2f} s'} "
              f"{'' if r[2] is None else f'{r[2] / MB:,.1f} MB'}", flush=True)

    try:
        store = work / "store"
        users = [f"u{i:04d}@{DOMAIN}" for i in range(args.accounts)]
        prepare_dirs(store, users)
        print(f"generating {args.messages:,} messages in {args.accounts} accounts ...",
              flush=True)
        size = write_messages(store, users, args.messages, rng, 0)
        subprocess.run(["sync"], check=True)
        files = sorted(f for folder in maildir_folders(store) for f in _messages(folder))
        print(f"  {size / MB:,.0f} MB, load: {sh('uptime').strip()}", flush=True)

        # -------------------------------------------------- 2: the target and the floors
        print("tar + zstd ...", flush=True)
        t, _ = timed(sh, f"tar -C {store} -cf - {DOMAIN} | zstd -q -3 -T0 -o {work}/s.zst")
        tar3 = (work / "s.zst").stat().st_size
        (work / "s.zst").unlink()
        row(("2 tar | zstd -3 -T0 (the target)", t, tar3, ""))
        if not args.no_19:
            t, _ = timed(sh, f"tar -C {store} -cf - {DOMAIN} | "
                             f"zstd -q -19 --long=27 -T0 -o {work}/s.zst")
            row(("2 tar | zstd -19 --long=27 -T0", t, (work / "s.zst").stat().st_size,
                         "reference"))
            (work / "s.zst").unlink()
        t, pieces = timed(sh, f"tar -C {store} --sort=name -cf - {DOMAIN} | split -b 1048576 "
                              f"--filter='zstd -q -3 -c' | wc -c")
        row(("2 tar cut in 1 MiB pieces, each zstd -3", t, int(pieces),
             "what restic's chunks would give with zstd -3"))
        listing = write_listing(work / "all.list", files)
        t, each = timed(zstd_each, listing)
        row(("2 each message zstd -3 alone", t, each, "floor of per-message"))

        # -------------------------------------------------- 5: a trained dictionary
        sample = rng.sample(files, min(len(files), 5000))
        dict_path = work / "tenant.dict"
        t, _ = timed(sh, f"xargs -0 -a {write_listing(work / 'train.list', sample)} "
                         f"zstd -q --train -o {dict_path}")
        t2, with_dict = timed(zstd_each, listing, f"-D {dict_path}")
        dict_size = dict_path.stat().st_size
        row(("5 each message zstd -3 + dictionary", t + t2,
                     with_dict + dict_size,
                     f"floor; dictionary {dict_size / 1e3:.0f} KB trained in {t:.1f} s"))
        if not args.no_19:
            t, with_dict = timed(zstd_each, listing, f"-D {dict_path}", 19)
            row(("5 each message zstd -19 + dictionary", t, with_dict + dict_size,
                 "floor; 2 processes"))

        # -------------------------------------------------- corpus: how repetitive
        classes: dict[str, list[Path]] = {"text": [], "attachment": []}
        for f in files:
            with open(f, "rb") as fh:
                head = fh.read(600)
            classes["attachment" if b"multipart/mixed" in head else "text"].append(f)
        corpus = {}
        for name, members in classes.items():
            lst = write_listing(work / f"{name}.list", members)
            raw = sum(f.stat().st_size for f in members)
            corpus[name] = (len(members), raw, zstd_each(lst), zstd_stream(lst, "-3"))

        # duplicates across mailboxes: what layout 1 stores once
        seen: dict[str, int] = {}
        dup_bytes = 0
        for f in files:
            digest = hashlib.sha256(f.read_bytes()).hexdigest()
            if digest in seen:
                dup_bytes += seen[digest]
            else:
                seen[digest] = f.stat().st_size

        # -------------------------------------------------- 1: the Maildir files
        folders = maildir_folders(store)
        layout1: dict[str, Repo] = {}
        first: dict[str, str] = {}
        for comp in ("auto",) + (() if args.no_max else ("max",)):
            print(f"restic over the Maildir files, compression {comp} ...", flush=True)
            repo = layout1[comp] = Repo(work, f"files-{comp}", comp)
            t, first[comp] = timed(repo.backup, store, [DOMAIN])
            row((f"1 restic Maildir files, {comp}", t, repo.stored(),
                         "zenmail's layout"))

        # -------------------------------------------------- 3: per-folder streams
        layout3: dict[str, Streams] = {}
        for comp in ("auto",) + (() if args.no_max else ("max",)):
            print(f"restic over one tar stream per folder ({len(folders)}), compression "
                  f"{comp} ...", flush=True)
            streams = layout3[comp] = Streams(Repo(work, f"streams-{comp}", comp))
            t, _ = timed(streams.back_up, store, folders)
            row((f"3 restic per-folder tar streams, {comp}", t,
                         streams.repo.stored(), f"{len(folders)} --stdin snapshots"))
        print("restic over per-folder tar | zstd -3 streams (restic compression off) ...",
              flush=True)
        s3z = Streams(Repo(work, "streams-zstd", "off"), zstd=True)
        t, _ = timed(s3z.back_up, store, folders)
        row(("3 per-folder tar | zstd -3 streams, restic off", t, s3z.repo.stored(),
             f"{len(folders)} --stdin snapshots"))
        print("restic over one tar stream of the whole store ...", flush=True)
        whole = Repo(work, "whole", "auto")
        t, _ = timed(sh, f"tar -C {store} --sort=name -cf - {DOMAIN} | RESTIC_REPOSITORY="
                         f"{whole.path} RESTIC_PASSWORD_FILE={work}/restic.key "
                         f"RESTIC_CACHE_DIR={work}/whole-cache restic backup -q --stdin "
                         f"--stdin-filename store.tar --host zenmail")
        row(("3 restic one tar stream of the store, auto", t, whole.stored(),
                     "1 --stdin snapshot"))

        # what the streams' chunks cost in dedup: plain bytes restic kept / bytes streamed
        s3 = layout3["auto"]
        blobs3 = s3.repo.blobs()
        kept_plain = sum(plain for plain, _ in blobs3.values())
        streamed_full = s3.streamed
        blobs1 = layout1["auto"].blobs()
        data1 = sum(stored for _, stored in blobs1.values())
        overhead1 = layout1["auto"].stored() - data1  # of the first snapshot alone

        # -------------------------------------------------- 4: no change, +1 %
        print("no-change snapshots ...", flush=True)
        before1, before3 = layout1["auto"].stored(), s3.repo.stored()
        t1n, _ = timed(layout1["auto"].backup, store, [DOMAIN], first["auto"])
        t3n, _ = timed(s3.back_up, store, folders)
        row(("4 no change: 1 Maildir files", t1n,
                     layout1["auto"].stored() - before1, "added"))
        row(("4 no change: 3 every folder streamed again", t3n,
                     s3.repo.stored() - before3,
                     f"added; {s3.streamed / MB:,.0f} MB read again"))
        extra = max(1, args.messages // 100)
        print(f"+1 % new mail ({extra} messages) ...", flush=True)
        # zenmail's fingerprints tell which folders changed: their cur/ or new/ times
        marks = {f: _mark(f) for f in folders}
        added = write_messages(store, users, extra, rng, args.messages)
        changed = [f for f in folders if _mark(f) != marks[f]]
        before1, before3 = layout1["auto"].stored(), s3.repo.stored()
        before3z = s3z.repo.stored()
        t1p, _ = timed(layout1["auto"].backup, store, [DOMAIN], first["auto"])
        t3p, _ = timed(s3.back_up, store, changed)
        t3zp, _ = timed(s3z.back_up, store, changed)
        row(("4 +1 %: 1 Maildir files", t1p, layout1["auto"].stored() - before1,
                     f"added for {added / MB:.1f} MB of new mail"))
        row(("4 +1 %: 3 changed folders streamed again", t3p,
                     s3.repo.stored() - before3,
                     f"added; {len(changed)} folders, {s3.streamed / MB:,.0f} MB read"))
        row(("4 +1 %: 3 tar | zstd streams again", t3zp, s3z.repo.stored() - before3z,
             "added"))

        # -------------------------------------------------- 4: single-message restore
        print(f"restoring {args.samples} single messages from each layout ...", flush=True)
        blobs3 = s3.repo.blobs()
        contents = {name: s3.repo.content(snap) for name, snap in s3.snapshot.items()}
        picks = rng.sample(files, args.samples)
        lat1, lat3, lat3z, spans = [], [], [], []
        for f in picks:
            rel = str(f.relative_to(store))
            want = f.read_bytes()
            t, got = timed(layout1["auto"].run, ["dump", first["auto"], "/" + rel], cwd=store)
            assert got == want, f"layout 1 gave other bytes for {rel}"
            lat1.append(t)
            t, got, n = s3.read(rel, blobs3, contents)
            assert got == want, f"layout 3 gave other bytes for {rel}"
            lat3.append(t)
            spans.append(n)
            t, got = s3z.read_compressed(rel)
            assert got == want, f"layout 3 with zstd gave other bytes for {rel}"
            lat3z.append(t)
        m1, p1 = median_p95(lat1)
        m3, p3 = median_p95(lat3)
        chunk = statistics.median(p for p, _ in blobs3.values())
        folder_mb = s3z.repo.stored() / len(folders) / MB
        m3z, p3z = median_p95(lat3z)
        row(("4 restore one: 1 restic dump", m1, None,
                     f"median; p95 {p1 * 1000:.0f} ms"))
        row(("4 restore one: 3 restic cat blob", m3, None,
                     f"median; p95 {p3 * 1000:.0f} ms; {statistics.mean(spans):.2f} "
                     f"chunks of median {chunk / MB:.2f} MB read per message"))
        row(("4 restore one: 3 zstd restic dump | zstd -d", m3z, None,
             f"median; p95 {p3z * 1000:.0f} ms; the folder's stream, "
             f"~{folder_mb:.1f} MB compressed"))
        load = sh("uptime").strip()

        # -------------------------------------------------- the table
        print()
        print(f"{args.messages:,} messages, {size / MB:,.0f} MB, {args.accounts} accounts, "
              f"{len(folders)} folders; {dup_bytes / MB:,.1f} MB are exact copies of "
              f"another message")
        print(f"load at the end: {load}")
        print(f"{'':48} {'time':>8} {'bytes':>10} {'vs target':>9}")
        for what, secs, nbytes, note in rows:
            tt = "" if secs is None else (f"{secs * 1000:.0f} ms" if secs < 1
                                          else f"{secs:.1f} s")
            bb = "" if nbytes is None else f"{nbytes / MB:,.1f} MB"
            vs = pct(nbytes, tar3) if nbytes is not None and not note.startswith("added") \
                else ""
            print(f"{what:48} {tt:>8} {bb:>10} {vs:>9}  {note}")
        print()
        print("corpus: per message zstd -3 against one stream, by kind")
        for name, (n, raw, each_b, stream_b) in corpus.items():
            print(f"  {name:10} {n:7,} messages {raw / MB:8,.1f} MB: each alone "
                  f"{each_b / raw * 100:5.1f} %, one stream {stream_b / raw * 100:5.1f} % "
                  f"-> per-message costs {(each_b / stream_b - 1) * 100:.0f} % more")
        print(f"restic's own bytes in layout 1 (trees, index, pack headers, seals) in its "
              f"first snapshot: {overhead1 / MB:,.1f} MB; its data blobs: "
              f"{data1 / MB:,.1f} MB for {size / MB:,.0f} MB of mail")
        print(f"dedup inside the per-folder tar streams: {streamed_full / MB:,.1f} MB "
              f"streamed, {kept_plain / MB:,.1f} MB of distinct chunks kept; the copies "
              f"across mailboxes are {dup_bytes / MB:,.1f} MB")
        print()
        print(verdict(dict((r[0], r) for r in rows), tar3, corpus, dup_bytes, size,
                      streamed_full - kept_plain, overhead1))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work directory kept: {work}")


def verdict(rows: dict[str, Row], tar3: int, corpus: dict[str, tuple[int, int, int, int]],
            dup: int, size: int, deduped: int, own: int) -> str:
    """One paragraph from the figures: where the gap comes from, which layout is smallest
    and what it costs against zenmail's."""
    def b(key: str) -> int:
        v = rows[key][2]
        assert v is not None
        return v

    def s(key: str) -> float:
        v = rows[key][1]
        assert v is not None
        return v

    def p(n: float) -> str:
        return f"{n / tar3 * 100:.0f} %"

    files, each = b("1 restic Maildir files, auto"), b("2 each message zstd -3 alone")
    pieces = b("2 tar cut in 1 MiB pieces, each zstd -3")
    whole = b("3 restic one tar stream of the store, auto")
    out = [f"Verdict: zenmail's layout stores {p(files)} of tar+zstd -3. Compressing each "
           f"message on its own with zstd -3 already gives {p(each)}, so "
           f"{(each - tar3) / max(files - tar3, 1) * 100:.0f} % of the gap is compressing "
           f"message by message and the rest restic 0.14's own compressor and metadata."]
    out.append(f"Streams alone do not close it: on restic-sized 1 MiB pieces of one tar "
               f"zstd -3 gives {p(pieces)}, restic's --compression auto {p(whole)} "
               f"(its Go zstd is weaker than zstd -3, most on base64 attachments).")
    restic_rows = sorted((b(k), k) for k in rows
                         if k[0] in "13" and rows[k][2] is not None)
    best, name = restic_rows[0]
    meets = [k for v, k in restic_rows if v <= tar3]
    out.append(f"The smallest layout through restic is '{name[2:]}' at {p(best)}"
               + (f"; {len(meets)} layout(s) meet the target." if meets
                  else "; none meets the target in this run."))
    add1 = b("4 +1 %: 1 Maildir files")
    add3 = b("4 +1 %: 3 changed folders streamed again")
    add3z = b("4 +1 %: 3 tar | zstd streams again")
    out.append(f"What streams cost: +1 % mail adds {add3 / MB:,.1f} MB (tar streams) and "
               f"{add3z / MB:,.1f} MB (zstd streams) against {add1 / MB:,.1f} MB for the "
               f"files (each changed folder stores again the chunk its new mail lands in, "
               f"and a folder smaller than a chunk whole); a snapshot that streams every "
               f"folder again takes {s('4 no change: 3 every folder streamed again'):.1f} s "
               f"against {s('4 no change: 1 Maildir files'):.1f} s for the files (zenmail "
               f"would have to skip unchanged folders by their fingerprints and keep one "
               f"restic snapshot per folder); one message comes back in "
               f"{s('4 restore one: 3 restic cat blob') * 1000:.0f} ms from its chunk and "
               f"{s('4 restore one: 3 zstd restic dump | zstd -d') * 1000:.0f} ms from a "
               f"zstd stream against {s('4 restore one: 1 restic dump') * 1000:.0f} ms "
               f"(restic's start-up dominates all three), if the catalogue keeps where "
               f"each message lies; and of {dup / MB:,.1f} MB of copies across mailboxes, "
               f"which the files store once, the streams found {max(deduped, 0) / MB:,.1f} MB.")
    dict_b = b("5 each message zstd -3 + dictionary")
    strong = rows.get("5 each message zstd -19 + dictionary", ("", None, None, ""))[2]
    low = min(dict_b, strong or dict_b)
    out.append(f"A dictionary trained on the tenant's mail (messages compressed before "
               f"restic, its compression off, one blob per message kept) brings the "
               f"per-message floor to {p(dict_b)} at zstd -3"
               + (f" and {p(strong)} at -19, which took "
                  f"{s('5 each message zstd -19 + dictionary'):.0f} s for the store "
                  f"on two cores"
                  if strong else "")
               + f"; with restic's own bytes as in layout 1 ({own / MB:,.1f} MB) that is "
               f"about {p(low + own)}: "
               f"{'within' if low + own <= tar3 else 'still above'} the target.")
    text, att = corpus["text"], corpus["attachment"]
    out.append(f"The corpus: its text messages compressed each alone take "
               f"{(text[2] / text[3] - 1) * 100:.0f} % more than as one stream; its words "
               f"are drawn independently from one Zipf vocabulary, so messages share the "
               f"vocabulary only — not the quoted replies, signatures, HTML templates and "
               f"long Received/DKIM headers that real mail shares and a stream would reuse "
               f"(no real mail here to measure) — and {att[1] / size * 100:.0f} % of its "
               f"bytes are base64 attachments of random bytes, which compress the same "
               f"either way (stream {att[3] / att[1] * 100:.0f} %, alone "
               f"{att[2] / att[1] * 100:.0f} %). So the gap is not an artefact of a too "
               f"repetitive corpus; real mail would more likely widen it than close it.")
    return " ".join(out)


if __name__ == "__main__":
    main()
