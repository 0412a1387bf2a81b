"""The vault on a real stack: messy mail in, snapshot, expunge, restore — byte-identical by
SHA-256 over IMAP, with flags and INTERNALDATE; twice is once; short quota restores nothing;
a snapshot killed midway leaves the earlier ones and `vault verify` clean.

The `zenmail` command runs as a subprocess, as an administrator would run it.
"""

from __future__ import annotations

import base64
import ctypes
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import DOMAIN, PASSWORD, MailStack, _start, wait_for
from tests.unit.cli_fixtures import Outcome, invoke_in
from tests.unit.test_api_fixtures import Server
from zenmail.directory import accounts, admins, aliases, domains, tenants
from zenmail.stack.ports import free_ports
from zenmail.vault import snapshot as snapshots
from zenmail.vault.restic import Restic

MESSY: list[tuple[str, bytes, str]] = [
    # (folder, raw, flags)
    ("INBOX", "From: Jürgen Müller <jm@köln.example>\r\nTo: x@acme.test\r\n"
     "Subject: Grüße aus Köln\r\nDate: Mon, 02 Mar 2026 10:00:00 +0100\r\n"
     "Message-ID: <k1@koeln.example>\r\n\r\nSchöne Grüße\r\n".encode(),
     r"\Seen \Flagged $Important"),
    ("INBOX", b"From: nobody@example.org\r\nSubject: no message id\r\n\r\nno id here\r\n",
     r"\Answered"),
    ("INBOX", b"From: dupe@example.org\r\nSubject: twin\r\nMessage-ID: <twin@x>\r\n\r\n"
     b"same bytes\r\n", r"\Seen"),
    ("INBOX", b"From: dupe@example.org\r\nSubject: twin\r\nMessage-ID: <twin@x>\r\n\r\n"
     b"same bytes\r\n", r"\Seen"),
    ("INBOX", b"From: lf@example.org\nSubject: bare line feeds\n\nline one\nline two\n", ""),
    ("Projects/2026", b"From: big@example.org\r\nSubject: the big attachment\r\n"
     b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\n"
     b"Content-Type: text/plain\r\n\r\nsee attached\r\n--XX\r\nContent-Type: "
     b"application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
     + b"\r\n".join(base64.b64encode(os.urandom(57)) for _ in range(40_000))
     + b"\r\n--XX--\r\n", r"\Seen"),
]
DATES = ['"02-Mar-2026 10:00:00 +0100"', '"15-Jan-2025 08:30:00 +0000"',
         '"01-Feb-2026 12:00:00 +0000"', '"01-Feb-2026 12:00:00 +0000"',
         '"20-Oct-2024 23:59:59 -0700"', '"11-Nov-2026 11:11:11 +0000"']


@pytest.fixture(scope="module")
def vstack() -> Iterator[MailStack]:
    if os.geteuid() != 0:
        pytest.skip("the mail stack starts Postfix and Dovecot, which needs root")
    yield from _start("")


def zenmail(st: MailStack, *args: str, ok: bool = True, env: dict[str, str] | None = None
            ) -> Outcome:
    """The command line in-process, through its real error boundary (a subprocess would
    cost a Python start-up per call; the killed snapshot below is a real one)."""
    done = invoke_in(st.state, *args, env=env)
    if ok:
        assert done.code == 0, f"zenmail {' '.join(args)}: {done.stderr}"
    return done


def fill(st: MailStack, user: str) -> None:
    m = st.imap(user)
    try:
        m.create('"Projects/2026"')
        for (folder, raw, flags), date in zip(MESSY, DATES, strict=True):
            typ, data = m.append(f'"{folder}"', f"({flags})" if flags else None, date, raw)
            assert typ == "OK", data
    finally:
        m.logout()


def state_of(st: MailStack, user: str, folder: str) -> list[tuple[str, frozenset[str], str]]:
    """(SHA-256 of BODY[] over IMAP, flags without \\Recent, INTERNALDATE) per message."""
    m = st.imap(user)
    try:
        typ, _ = m.select(f'"{folder}"', readonly=True)
        if typ != "OK":
            return []
        _, data = m.uid("SEARCH", "ALL")
        out = []
        for uid in data[0].split():
            _, parts = m.uid("FETCH", uid, "(FLAGS INTERNALDATE BODY.PEEK[])")
            head = next(p for p in parts if isinstance(p, tuple))
            meta = head[0].decode()
            flags = re.search(r"FLAGS \(([^)]*)\)", meta)
            when = re.search(r'INTERNALDATE "([^"]+)"', meta)
            assert flags and when, meta
            out.append((hashlib.sha256(head[1]).hexdigest(),
                        frozenset(flags.group(1).split()) - {"\\Recent"}, when.group(1)))
        return sorted(out)
    finally:
        m.logout()


def expunge(st: MailStack, user: str, folder: str, sha: str) -> int:
    """Expunge every message of `folder` whose BODY[] has this SHA-256; how many."""
    m = st.imap(user)
    try:
        m.select(f'"{folder}"')
        _, data = m.uid("SEARCH", "ALL")
        gone = 0
        for uid in data[0].split():
            _, parts = m.uid("FETCH", uid, "(BODY.PEEK[])")
            raw = next(p for p in parts if isinstance(p, tuple))[1]
            if hashlib.sha256(raw).hexdigest() == sha:
                m.uid("STORE", uid, "+FLAGS.SILENT", r"(\Deleted)")
                gone += 1
        m.expunge()
        return gone
    finally:
        m.logout()


def test_snapshot_expunge_restore_message_folder_account(vstack: MailStack) -> None:
    st = vstack
    user = st.account("messy")
    fill(st, user)
    inbox, projects = state_of(st, user, "INBOX"), state_of(st, user, "Projects/2026")
    assert len(inbox) == 5 and len(projects) == 1

    snap = json.loads(zenmail(st, "snapshot", "--account", user, "--json").stdout)
    assert snap["messages"] >= 6
    listed = json.loads(zenmail(st, "snapshot", "list", "--account", user, "--json").stdout)
    assert snap["id"] in [s["id"] for s in listed]

    # One message: the 8-bit one with a keyword, gone, then back byte for byte.
    koeln = next(r for r in inbox if "$Important" in r[1])
    assert expunge(st, user, "INBOX", koeln[0]) == 1
    found = json.loads(zenmail(st, "restore", "find", user, "--subject", "Grüße",
                               "--json").stdout)
    assert len(found) == 1 and found[0]["folder"] == "INBOX"
    assert found[0]["from"] == "Jürgen Müller <jm@köln.example>"
    zenmail(st, "restore", "message", user, found[0]["restore_id"])
    assert state_of(st, user, "INBOX") == inbox
    # Twice is once.
    again = json.loads(zenmail(st, "restore", "message", user, found[0]["restore_id"],
                               "--json").stdout)
    assert again == {**again, "restored": 0, "skipped": 1}
    assert state_of(st, user, "INBOX") == inbox

    # The bare-LF one and the big attachment into a folder of their own.
    for subject in ("bare line feeds", "big attachment"):
        [row] = json.loads(zenmail(st, "restore", "find", user, "--subject", subject,
                                   "--json").stdout)
        zenmail(st, "restore", "message", user, row["restore_id"], "--to-folder", "Restored")
    restored = state_of(st, user, "Restored")
    wanted = sorted([next(r for r in inbox if r[0] == hashlib.sha256(
        MESSY[4][1].replace(b"\n", b"\r\n")).hexdigest()), projects[0]])
    assert restored == wanted

    # A folder: both twins gone, the folder restored: both back, nothing else doubled.
    twin = hashlib.sha256(MESSY[2][1]).hexdigest()
    assert expunge(st, user, "INBOX", twin) == 2
    zenmail(st, "restore", "folder", user, "INBOX", "--snapshot", snap["short_id"])
    assert state_of(st, user, "INBOX") == inbox

    # A whole account into another one: every folder, flag and date.
    other = st.account("other")
    zenmail(st, "restore", "account", user, "--snapshot", snap["id"], "--into", other)
    assert state_of(st, other, "INBOX") == inbox
    assert state_of(st, other, "Projects/2026") == projects
    zenmail(st, "restore", "account", user, "--snapshot", snap["id"], "--into", other)
    assert state_of(st, other, "INBOX") == inbox  # twice is once, twins included


def test_short_quota_restores_and_imports_nothing(vstack: MailStack, tmp_path: Path) -> None:
    st = vstack
    user = st.account("roomy")
    fill(st, user)
    snap = json.loads(zenmail(st, "snapshot", "--account", user, "--json").stdout)
    tight = st.account("tight", quota="1M")  # the attachment alone is 2.3 MB
    done = zenmail(st, "restore", "account", user, "--snapshot", snap["id"], "--into", tight,
                   ok=False)
    assert done.code == 2
    assert "quota" in done.stderr and "nothing was restored" in done.stderr
    assert state_of(st, tight, "INBOX") == []
    assert state_of(st, tight, "Projects/2026") == []
    # An mbox from elsewhere too big for the account: said, and nothing imported.
    mbox = tmp_path / "big.mbox"
    mbox.write_bytes(b"From a@b Mon Mar  2 10:00:00 2026\nSubject: small\n\nhi\n\n"
                     b"From c@d Tue Mar  3 10:00:00 2026\nSubject: big\n\n"
                     + b"\n".join(base64.b64encode(os.urandom(57)) for _ in range(20_000))
                     + b"\n")
    done = zenmail(st, "import", str(mbox), "--account", tight, ok=False)
    assert done.code == 2
    assert "quota" in done.stderr and "nothing was imported" in done.stderr
    assert state_of(st, tight, "INBOX") == []


@contextmanager
def init_role() -> Iterator[None]:
    """This process as the reaper of the orphans its children leave (PR_SET_CHILD_SUBREAPER),
    as init is on a real host. Here PID 1 leaves them as zombies for a long while (zenmail
    clears a zombie restic's lock too: test_a_crashed_restics_lock_does_not_stop_…; this
    test is about the snapshots and the repository, as on a real host)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    try:
        yield
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


def test_killed_snapshot_leaves_earlier_ones_and_verify_clean(vstack: MailStack) -> None:
    st = vstack
    user = st.account("heavy")
    fill(st, user)
    first = json.loads(zenmail(st, "snapshot", "--account", user, "--json").stdout)
    m = st.imap(user)
    for _ in range(12):  # incompressible, so restic is busy long enough to be killed
        m.append("INBOX", None, None, b"Subject: noise\r\n\r\n"
                 + base64.b64encode(os.urandom(1_000_000)))
    m.logout()
    with init_role():
        p = subprocess.Popen([sys.executable, "-m", "zenmail", "--state", str(st.state),
                              "snapshot", "--all"], start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def restic_pids() -> list[int]:
            out = subprocess.run(["pgrep", "-s", str(p.pid), "-x", "restic"],
                                 capture_output=True, text=True)
            return [int(x) for x in out.stdout.split()]

        wait_for(lambda: restic_pids() or p.poll() is not None,
                 "restic to start the snapshot")
        killed = restic_pids()
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        for pid in {*killed, *restic_pids()}:  # orphaned by the kill: ours to reap
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
    listed = json.loads(zenmail(st, "snapshot", "list", "--json").stdout)
    assert first["id"] in [s["id"] for s in listed]
    verify = zenmail(st, "vault", "verify")
    assert "clean" in verify.stdout
    # And the vault goes on: the next snapshot holds the new mail.
    after = json.loads(zenmail(st, "snapshot", "--account", user, "--json").stdout)
    assert after["messages"] == first["messages"] + 12
    found = json.loads(zenmail(st, "restore", "find", user, "--subject", "noise",
                               "--json").stdout)
    assert len(found) == 12 and {f["snapshot"] for f in found} == {after["short_id"]}


def _crashed_restic(st: MailStack) -> subprocess.Popen[bytes]:
    """A restic that took its repository lock, then died by SIGKILL (a reboot, the OOM
    killer): left unreaped, as a zombie, as under a PID 1 that reaps nothing."""
    restic = Restic(st.settings)
    locks = Path(restic.location) / "locks"
    before = set(os.listdir(locks))
    p = subprocess.Popen(["restic", "backup", "--stdin", "--stdin-filename", "crash",
                          "--host", "zenmail"], env=restic.env(), stdin=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: set(os.listdir(locks)) - before, "the crashing restic's lock")
    p.kill()
    return p


def test_a_crashed_restics_lock_does_not_stop_retention_or_snapshots(vstack: MailStack
                                                                     ) -> None:
    """restic keeps the lock of a restic that died; its exclusive commands (forget, prune)
    then refuse until someone runs `restic unlock`, and that keeps a lock whose process is a
    zombie. zenmail clears the locks of dead restics and goes on."""
    st = vstack
    user = st.account("crashed")

    def changed_then_snapshot(n: int) -> str:
        m = st.imap(user)
        m.append("INBOX", None, None, f"Subject: change {n}\r\n\r\nbody\r\n".encode())
        m.logout()
        return str(json.loads(zenmail(st, "snapshot", "--account", user, "--json").stdout)["id"])

    ids = [changed_then_snapshot(n) for n in range(2)]
    env = {"ZENMAIL_VAULT_KEEP_HOURLY": "1", "ZENMAIL_VAULT_KEEP_DAILY": "0",
           "ZENMAIL_VAULT_KEEP_MONTHLY": "0"}
    zombie = _crashed_restic(st)
    try:
        assert json.loads(zenmail(st, "vault", "prune", "--json", env=env).stdout)["removed"] >= 1
    finally:
        zombie.wait()  # reaped now: its lock (if still there) is merely stale
    dead = _crashed_restic(st)
    dead.wait()
    third = changed_then_snapshot(2)
    zenmail(st, "vault", "prune", "--json", env=env)
    listed = [s["id"] for s in json.loads(zenmail(st, "snapshot", "list", "--account", user,
                                                  "--json").stdout)]
    assert ids[0] not in listed and listed[-1] == third
    assert not os.listdir(Path(Restic(st.settings).location) / "locks")


def test_delivery_during_snapshot_is_in_it_or_the_next(vstack: MailStack) -> None:
    st = vstack
    user = st.account("busy")
    p = subprocess.Popen([sys.executable, "-m", "zenmail", "--state", str(st.state),
                          "snapshot", "--all", "--json"], stdout=subprocess.PIPE, text=True)
    sent = []
    with st.smtp() as c:
        for i in range(30):
            subject = f"during {i}"
            c.sendmail("x@example.org", [user], st.message("x@example.org", user, subject))
            sent.append(subject)
    assert p.wait(timeout=600) == 0
    st.wait_messages(user, 30)
    zenmail(st, "snapshot", "--account", user)
    found = json.loads(zenmail(st, "restore", "find", user, "--json").stdout)
    assert Counter(f["subject"] for f in found) == Counter(sent)


def test_wrong_restore_id_and_other_tenant(vstack: MailStack) -> None:
    st = vstack
    user = st.account("plain")
    done = zenmail(st, "restore", "message", user, "deadbeef-0", ok=False)
    assert done.code == 2 and "restore find" in done.stderr
    done = zenmail(st, "restore", "find", f"nobody@{DOMAIN}", ok=False)
    assert done.code == 2 and "no account" in done.stderr


def test_retention_prunes_but_never_a_message_of_a_kept_snapshot(vstack: MailStack) -> None:
    st = vstack
    user = st.account("kept")
    m = st.imap(user)
    ids = []
    for i in range(3):
        m.append("INBOX", r"(\Seen)", None, f"Subject: generation {i}\r\n\r\n".encode()
                 + base64.b64encode(os.urandom(200_000)))
        ids.append(json.loads(zenmail(st, "snapshot", "--account", user, "--json").stdout))
    m.logout()
    before = state_of(st, user, "INBOX")
    env = {"ZENMAIL_VAULT_KEEP_HOURLY": "1", "ZENMAIL_VAULT_KEEP_DAILY": "0",
           "ZENMAIL_VAULT_KEEP_MONTHLY": "0"}
    done = zenmail(st, "vault", "prune", "--json", env=env)
    assert json.loads(done.stdout)["removed"] >= 2
    listed = [s["id"] for s in json.loads(zenmail(st, "snapshot", "list", "--account", user,
                                                  "--json").stdout)]
    assert listed == [ids[-1]["id"]]
    # Everything the kept snapshot holds comes back, byte for byte, after the prune.
    assert len(json.loads(zenmail(st, "restore", "find", user, "--json").stdout)) == 3
    zenmail(st, "restore", "account", user, "--snapshot", ids[-1]["id"], "--into",
            other := st.account("heir"))
    assert state_of(st, other, "INBOX") == before
    assert "clean" in zenmail(st, "vault", "verify").stdout


def test_snapshots_within_one_second_keep_their_order(vstack: MailStack) -> None:
    """restic records a snapshot's time in whole seconds and orders by it; snapshots taken
    within one second must still be told apart, or retention keeps an arbitrary one."""
    st = vstack
    user = st.account("quick")
    taken = [json.loads(zenmail(st, "snapshot", "--account", user, "--json").stdout)
             for _ in range(3)]
    times = [s["time"] for s in taken]
    assert times == sorted(set(times)), times
    restic_times = {s["short_id"]: s["time"] for s in Restic(st.settings).snapshots()}
    assert [restic_times[s["id"][:8]] for s in taken] == sorted(
        restic_times[s["id"][:8]] for s in taken)
    env = {"ZENMAIL_VAULT_KEEP_HOURLY": "1", "ZENMAIL_VAULT_KEEP_DAILY": "0",
           "ZENMAIL_VAULT_KEEP_MONTHLY": "0"}
    zenmail(st, "vault", "prune", "--json", env=env)
    listed = [s["id"] for s in json.loads(zenmail(st, "snapshot", "list", "--account", user,
                                                  "--json").stdout)]
    assert listed[-1] == taken[-1]["id"]


def test_an_unchanged_account_is_taken_from_the_earlier_snapshot(vstack: MailStack) -> None:
    """A snapshot stores again only the accounts that changed; the others come from the
    snapshot that holds them, for restores, retention (that one is kept) and erasure."""
    st = vstack
    tenants.add(st.ctx, "umbrella", "10G")
    domains.add(st.ctx, "umbrella", "umbrella.test")
    calm = st.account("calm", domain="umbrella.test")
    busy = st.account("busy", domain="umbrella.test")
    fill(st, calm)
    with st.smtp() as c:
        c.sendmail("x@example.org", [busy], st.message("x@example.org", busy, "first"))
    st.wait_messages(busy, 1)
    # Past the "racy clean" window, so calm's Maildir can be trusted as unchanged.
    time.sleep(snapshots.RACY_SECONDS + 1)
    first = json.loads(zenmail(st, "snapshot", "--tenant", "umbrella", "--json").stdout)
    with st.smtp() as c:
        c.sendmail("x@example.org", [busy], st.message("x@example.org", busy, "second"))
    st.wait_messages(busy, 2)
    second = json.loads(zenmail(st, "snapshot", "--tenant", "umbrella", "--json").stdout)
    assert second["messages"] == first["messages"] + 1

    restic = Restic(st.settings)
    home = f"/{calm.partition('@')[0]}/Maildir/"
    assert not any(home in p for p in restic.ls(second["id"]))
    assert any(home in p for p in restic.ls(first["id"]))
    calm_before = state_of(st, calm, "INBOX")
    sha = calm_before[0][0]
    assert expunge(st, calm, "INBOX", sha) >= 1
    zenmail(st, "restore", "folder", calm, "INBOX", "--snapshot", second["id"])
    assert state_of(st, calm, "INBOX") == calm_before

    # Keep one snapshot per scope: the second is kept, and the first with it (it holds
    # calm's mail); every message of the kept snapshot still comes back.
    env = {"ZENMAIL_VAULT_KEEP_HOURLY": "1", "ZENMAIL_VAULT_KEEP_DAILY": "0",
           "ZENMAIL_VAULT_KEEP_MONTHLY": "0"}
    zenmail(st, "vault", "prune", "--json", env=env)
    listed = {s["id"] for s in json.loads(zenmail(st, "snapshot", "list", "--tenant",
                                                  "umbrella", "--json").stdout)}
    assert {first["id"], second["id"]} <= listed
    zenmail(st, "restore", "account", calm, "--snapshot", second["id"], "--into",
            heir := st.account("calmheir", domain="umbrella.test"))
    assert state_of(st, heir, "INBOX") == calm_before
    assert state_of(st, heir, "Projects/2026") == state_of(st, calm, "Projects/2026")

    # Erasing busy rebuilds both snapshots; the rebuilt second still finds calm's mail.
    zenmail(st, "vault", "erase", busy, "--yes")
    rebuilt = json.loads(zenmail(st, "snapshot", "list", "--tenant", "umbrella",
                                 "--json").stdout)
    assert second["id"] not in {s["id"] for s in rebuilt}
    latest = max(rebuilt, key=lambda s: s["time"])
    other = st.account("calmheir2", domain="umbrella.test")
    zenmail(st, "restore", "account", calm, "--snapshot", latest["id"], "--into", other)
    assert state_of(st, other, "INBOX") == calm_before
    assert "clean" in zenmail(st, "vault", "verify").stdout


def test_a_tenants_own_retention_prunes_its_snapshots_only(vstack: MailStack) -> None:
    """`vault retention T --hourly 1 …` keeps one hourly snapshot of T; other tenants keep
    the default (here: also the 3 latest); every message of T's kept snapshot still comes
    back after the prune."""
    st = vstack
    tenants.add(st.ctx, "hooli", "10G")
    domains.add(st.ctx, "hooli", "hooli.test")
    user = st.account("gavin", domain="hooli.test")
    set_to = json.loads(zenmail(st, "vault", "retention", "hooli", "--hourly", "1",
                                "--daily", "0", "--monthly", "0", "--last", "0",
                                "--json").stdout)
    assert set_to == [{"tenant": "hooli", "keep_hourly": 1, "keep_daily": 0,
                       "keep_monthly": 0, "keep_last": 0, "own": True}]
    assert zenmail(st, "vault", "retention", "hooli", "--hourly", "0", ok=False).code == 2
    elsewhere = st.account("richard")
    m, o = st.imap(user), st.imap(elsewhere)
    ours, theirs = [], []
    for i in range(3):
        for box, sink, scope in ((m, ours, ["--tenant", "hooli"]),
                                 (o, theirs, ["--account", elsewhere])):
            box.append("INBOX", r"(\Seen)", None, f"Subject: take {i}\r\n\r\n".encode()
                       + base64.b64encode(os.urandom(50_000)))
            sink.append(json.loads(zenmail(st, "snapshot", *scope, "--json").stdout)["id"])
    m.logout()
    o.logout()
    before = state_of(st, user, "INBOX")
    # The default for everyone else: also the 3 latest (all three of richard's).
    zenmail(st, "vault", "prune", env={"ZENMAIL_VAULT_KEEP_LAST": "3"})
    listed = [s["id"] for s in json.loads(zenmail(st, "snapshot", "list", "--tenant",
                                                  "hooli", "--json").stdout)]
    assert listed == [ours[-1]]
    kept = [s["id"] for s in json.loads(zenmail(st, "snapshot", "list", "--account",
                                                elsewhere, "--json").stdout)]
    assert set(theirs) <= set(kept)  # all three
    zenmail(st, "restore", "account", user, "--snapshot", ours[-1], "--into",
            heir := st.account("heir", domain="hooli.test"))
    assert state_of(st, heir, "INBOX") == before
    assert "clean" in zenmail(st, "vault", "verify").stdout


def test_the_scheduled_run_snapshots_everything(vstack: MailStack) -> None:
    from zenmail.vault import scheduler

    st = vstack
    user = st.account("scheduled")
    with st.smtp() as c:
        c.sendmail("x@example.org", [user], st.message("x@example.org", user, "on schedule"))
    st.wait_messages(user, 1)
    assert st.daemon("vault").pid() is not None  # the schedule runs with the stack
    said = scheduler.run_once(st.settings)
    assert "one per tenant" in said
    listed = json.loads(zenmail(st, "snapshot", "list", "--account", user, "--json").stdout)
    assert listed[-1]["scope"].startswith("tenant:")
    found = json.loads(zenmail(st, "restore", "find", user, "--json").stdout)
    assert [f["subject"] for f in found] == ["on schedule"]


DAV_EVENT = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
             "UID:kickoff@globex.test\r\nDTSTAMP:20261101T090000Z\r\n"
             "DTSTART:20261203T100000Z\r\nSUMMARY:Kick-off\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
DAV_CARD = ("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:pat@globex.test\r\nFN:Pat Lee\r\n"
            "N:Lee;Pat;;;\r\nEND:VCARD\r\n")


def test_export_tenant_then_import_into_a_fresh_stack(vstack: MailStack, tmp_path: Path
                                                       ) -> None:
    st = vstack
    tenants.add(st.ctx, "globex", "10G")
    domains.add(st.ctx, "globex", "globex.test")
    one, two = st.account("ann", domain="globex.test"), st.account("ben", domain="globex.test")
    fill(st, one)
    with st.smtp() as c:
        c.sendmail("x@example.org", [two], st.message("x@example.org", two, "for ben"))
    st.wait_messages(two, 1)
    aliases.add(st.ctx, "team@globex.test", [one, two])
    # Calendars and contacts travel too: ann's own, and the tenant's shared calendar.
    from zenmail.dav import local, shared

    ann_dav = local.client(st.settings, one)
    assert ann_dav.put(f"/{one}/calendar/kickoff.ics", DAV_EVENT, "calendar") == 201
    assert ann_dav.put(f"/{one}/contacts/pat.vcf", DAV_CARD, "addressbook") == 201
    room = shared.add(st.ctx, st.settings, "globex", "room-1", "Room 1")
    assert local.client(st.settings).put(f"{room.path}kickoff.ics", DAV_EVENT,
                                         "calendar") == 201
    folders = ["INBOX", "Projects/2026"]
    before = {(u, f): state_of(st, u, f) for u in (one, two) for f in folders}

    out = tmp_path / "globex.tar.gz"
    zenmail(st, "export", "--tenant", "globex", "--out", str(out), "--mbox")
    with tarfile.open(out) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("zenmail-export/manifest.json").read())  # type: ignore[union-attr]
        for name, meta in manifest["files"].items():
            if name != "manifest.json":
                data = tar.extractfile(f"zenmail-export/{name}").read()  # type: ignore[union-attr]
                assert hashlib.sha256(data).hexdigest() == meta["sha256"], name
    assert f"zenmail-export/mbox/{one}/INBOX.mbox" in names
    assert any(n.startswith(f"zenmail-export/mail/{one}/Maildir/.Projects.2026/cur/")
               for n in names)
    assert manifest["accounts"] == 2

    fresh = _start("")
    st2 = next(fresh)
    try:
        done = json.loads(zenmail(st2, "import", str(out), "--json").stdout)
        assert sorted(done["accounts"]) == sorted([one, two]) and done["aliases"] == 1
        # Same password (the old hash), every message, flag, date and folder.
        after = {(u, f): state_of(st2, u, f) for u in (one, two) for f in folders}
        assert after == before
        assert [(a.address, a.targets) for a in aliases.list_all(st2.ctx, "globex")] == [
            ("team@globex.test", sorted([one, two]))]
        assert done["dav_items"] == 3
        from zenmail.dav import local as local2

        back = local2.client(st2.settings, one)
        assert "kickoff@globex.test" in back.t.request("GET", f"/{one}/calendar/").text()
        assert "Pat Lee" in back.t.request("GET", f"/{one}/contacts/").text()
        assert "kickoff@globex.test" in local2.client(st2.settings).t.request(
            "GET", "/_shared/globex/room-1/").text()
        # A plain mbox from elsewhere, into one account.
        mbox = tmp_path / "old.mbox"
        mbox.write_bytes(b"From a@b Mon Mar  2 10:00:00 2026\nSubject: old one\n\nbody\n"
                         b">From here\n\nFrom c@d Tue Mar  3 10:00:00 2026\n"
                         b"Subject: old two\n\nbody two\n")
        zenmail(st2, "import", str(mbox), "--account", two)
        subjects = [m.split(b"Subject: ")[1].split(b"\r\n")[0] for m in st2.messages(two)]
        assert sorted(subjects) == [b"for ben", b"old one", b"old two"]
    finally:
        fresh.close()


def test_erasure_removes_a_person_from_every_snapshot(vstack: MailStack) -> None:
    st = vstack
    tenants.add(st.ctx, "initech", "10G")
    domains.add(st.ctx, "initech", "initech.test")
    victim = st.account("victim", domain="initech.test")
    keeper = st.account("keeper", domain="initech.test")
    fill(st, victim)
    with st.smtp() as c:
        c.sendmail("x@example.org", [keeper], st.message("x@example.org", keeper, "stays"))
    st.wait_messages(keeper, 1)
    both = json.loads(zenmail(st, "snapshot", "--tenant", "initech", "--json").stdout)
    zenmail(st, "snapshot", "--account", victim)

    done = json.loads(zenmail(st, "vault", "erase", victim, "--yes", "--json").stdout)
    assert done["rewritten"] == 1 and done["forgotten"] == 1 and done["messages"] == 12

    restic = Restic(st.settings)
    local = victim.partition("@")[0]
    for snap in restic.snapshots():
        assert not any(f"/{local}/" in p for p in restic.ls(snap["id"])), snap["id"]
        catalogue = restic.dump(snap["id"], "/zenmail/catalogue.jsonl").decode()
        directory = restic.dump(snap["id"], "/zenmail/directory.json").decode()
        assert victim not in catalogue and victim not in directory
    assert not (st.settings.mail_store / "initech.test" / local).exists()
    assert zenmail(st, "restore", "find", victim, ok=False).code == 2
    # The other person's mail is still there, in the rebuilt snapshot of the same time.
    [row] = json.loads(zenmail(st, "restore", "find", keeper, "--json").stdout)
    rebuilt = json.loads(zenmail(st, "snapshot", "list", "--tenant", "initech",
                                 "--json").stdout)
    assert [s["id"] for s in rebuilt] != [both["id"]] and len(rebuilt) == 1
    assert rebuilt[0]["time"][:19] == both["time"][:19]
    before = state_of(st, keeper, "INBOX")
    zenmail(st, "restore", "message", keeper, row["restore_id"], "--to-folder", "Back")
    assert state_of(st, keeper, "Back") == before
    erased = [e for e in json.loads(zenmail(st, "audit", "--tenant", "initech",
                                            "--json").stdout)
              if e["action"] == "vault.erase"]
    assert len(erased) == 1 and erased[0]["target"] == victim
    assert "clean" in zenmail(st, "vault", "verify").stdout



def test_employee_restores_own_deleted_mail_over_the_api(vstack: MailStack) -> None:
    st = vstack
    user, colleague = st.account("self"), st.account("colleague")
    m = st.imap(user)
    m.append("INBOX", r"(\Seen)", None, b"Subject: oops deleted\r\n\r\nstill in Expunged\r\n")
    m.append("INBOX", r"(\Flagged)", '"03-Mar-2025 09:00:00 +0000"',
             b"Subject: long gone\r\n\r\nonly in a snapshot\r\n")
    m.logout()
    inbox = state_of(st, user, "INBOX")
    zenmail(st, "snapshot", "--account", user)
    for row in inbox:
        expunge(st, user, "INBOX", row[0])
    # A snapshot leaves no second link behind, so Dovecot's lazy_expunge keeps what the user
    # deletes after it, as it always does.
    assert len(state_of(st, user, "Expunged")) == 2
    gone = next(r for r in inbox if "\\Flagged" in r[1])
    expunge(st, user, "Expunged", gone[0])  # emptied from Expunged too: only the vault has it

    admins.add(st.ctx, "ops@acme.test")
    token = admins.create_token(st.ctx, "ops@acme.test").token
    server = Server(st.db, st.state).start()
    try:
        me = httpx.Client(base_url=server.url, auth=(user, PASSWORD), timeout=60)
        listed = me.get("/api/v1/me/deleted").json()
        by_subject = {d["subject"]: d for d in listed}
        assert by_subject["oops deleted"]["source"] == "expunged"
        assert by_subject["long gone"]["source"] == "snapshot"
        for d in listed:
            r = me.post("/api/v1/me/restore", json={"id": d["id"]})
            assert r.status_code == 200 and r.json()["restored"] == 1, r.text
        assert state_of(st, user, "INBOX") == inbox
        assert me.get("/api/v1/me/snapshots").json()[0]["scope"] == f"account:{user}"
        # Nobody else's: a colleague cannot use the ids, an administrator's token opens no /me.
        other = httpx.Client(base_url=server.url, auth=(colleague, PASSWORD), timeout=60)
        r = other.post("/api/v1/me/restore", json={"id": by_subject["long gone"]["id"]})
        assert r.status_code == 404
        admin = server.client(token)
        assert admin.get("/api/v1/me/deleted").status_code == 401
        found = admin.get(f"/api/v1/accounts/{user}/vault/messages",
                          params={"subject": "long gone"}).json()
        assert [f["restore_id"] for f in found] == [by_subject["long gone"]["id"]]
        r = admin.post(f"/api/v1/accounts/{user}/vault/restore",
                       json={"restore_id": found[0]["restore_id"]})
        assert r.json() == {**r.json(), "restored": 0, "skipped": 1}  # twice is once
        for c in (me, other, admin):
            c.close()
    finally:
        server.stop()



def test_a_removed_account_comes_back_with_its_password_and_mail(vstack: MailStack) -> None:
    st = vstack
    user = st.account("leaver")
    alias = f"leaver-sales@{DOMAIN}"
    aliases.add(st.ctx, alias, [user])
    fill(st, user)
    from zenmail.dav import local, storage

    dav = local.client(st.settings, user)
    assert dav.put(f"/{user}/calendar/kickoff.ics", DAV_EVENT, "calendar") == 201
    assert dav.put(f"/{user}/contacts/pat.vcf", DAV_CARD, "addressbook") == 201
    before = {f: state_of(st, user, f) for f in ("INBOX", "Projects/2026")}
    snap = json.loads(zenmail(st, "snapshot", "--account", user, "--json").stdout)
    aliases.remove(st.ctx, alias)
    accounts.remove(st.ctx, user)
    shutil.rmtree(st.settings.mail_store / DOMAIN / user.partition("@")[0])
    shutil.rmtree(storage.principal_dir(st.settings, user), ignore_errors=True)
    done = json.loads(zenmail(st, "restore", "account", user, "--snapshot", snap["short_id"],
                             "--json").stdout)
    assert done["aliases"] == [alias] and done["dav_items"] == 2
    back = local.client(st.settings, user)
    assert "kickoff@globex.test" in back.t.request("GET", f"/{user}/calendar/").text()
    assert "Pat Lee" in back.t.request("GET", f"/{user}/contacts/").text()
    # state_of logs in with the old password: the snapshot's hash came back with the account.
    assert {f: state_of(st, user, f) for f in before} == before
    # ... and mail to its alias reaches it again.
    with st.smtp() as c:
        c.sendmail("x@example.org", [alias], st.message("x@example.org", alias, "via alias"))
    st.wait_messages(user, len(before["INBOX"]) + 1)


def test_a_damaged_repository_is_reported(vstack: MailStack) -> None:
    """Last of the local-repository tests: it damages the repository on purpose."""
    st = vstack
    user = st.account("damaged")
    m = st.imap(user)
    m.append("INBOX", None, None, b"Subject: payload\r\n\r\n"
             + base64.b64encode(os.urandom(3_000_000)))
    m.logout()
    zenmail(st, "snapshot", "--account", user)
    packs = sorted((st.state / "vault" / "data").rglob("*"), key=lambda p: p.stat().st_size)
    biggest = packs[-1]
    os.chmod(biggest, 0o600)
    with open(biggest, "r+b") as fh:
        fh.seek(biggest.stat().st_size // 2)
        fh.write(os.urandom(4096))
    done = zenmail(st, "vault", "verify", "--read-data-subset", "100%", ok=False)
    assert done.code == 1, done.stderr
    assert "DAMAGED" in done.stdout and "PROBLEM" in done.stdout
    # What is affected: the messages whose data lay in the damaged pack, by account, folder,
    # restore id and subject (the biggest pack holds this test's payload or earlier noise).
    assert re.search(r"snapshot \w{8}: \S+@acme\.test INBOX message \w{8}-\d+ "
                     r"\('(payload|noise)'\) lies in damaged pack", done.stdout), done.stdout


@pytest.fixture(scope="module")
def s3_stack(vstack: MailStack) -> Iterator[MailStack]:
    """The same stack, its vault in an S3 bucket of moto's standalone server (a real
    S3-protocol server on loopback): restic talks to it as to any S3."""
    port = free_ports(1)[0]
    server = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H",
                               "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    toml = vstack.state / "zenmail.toml"
    original = toml.read_text()
    try:
        wait_for(lambda: _listening(port), "moto's S3 server")
        toml.write_text(original + f'\n[vault]\nrepository = "s3:http://127.0.0.1:{port}/'
                        'zenmail-vault/prod"\ns3_access_key_id = "zenmail"\n'
                        's3_secret_access_key = "not-a-real-secret"\n')
        os.chmod(toml, 0o600)  # it holds a secret: zenmail refuses it readable by others
        yield vstack
    finally:
        toml.write_text(original)
        os.killpg(server.pid, signal.SIGTERM)
        server.wait()


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_s3_round_trip(s3_stack: MailStack) -> None:
    st = s3_stack
    user = st.account("cloud")
    fill(st, user)
    inbox = state_of(st, user, "INBOX")
    snap = json.loads(zenmail(st, "snapshot", "--account", user, "--json").stdout)
    assert not (st.state / "vault-s3").exists()
    koeln = next(r for r in inbox if "$Important" in r[1])
    assert expunge(st, user, "INBOX", koeln[0]) == 1
    [row] = json.loads(zenmail(st, "restore", "find", user, "--subject", "Köln",
                               "--json").stdout)
    assert row["snapshot"] == snap["short_id"]
    zenmail(st, "restore", "message", user, row["restore_id"])
    assert state_of(st, user, "INBOX") == inbox
    assert "clean" in zenmail(st, "vault", "verify", "--read-data-subset", "100%").stdout
