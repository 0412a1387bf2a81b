"""Eco-design on the real stack (docs/eco.md): compressed mail reads back byte for byte
over IMAP, mail stored before compression is compressed safely while mail keeps arriving.

One SQLite stack for the module: the mail store is the same files on either backend.
"""

from __future__ import annotations

import hashlib
import imaplib
import json
import os
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import DOMAIN, MailStack, _start, wait_for
from tests.unit.cli_fixtures import invoke_in
from zenmail.eco import compress, maildir

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack() -> Iterator[MailStack]:
    if os.geteuid() != 0:
        pytest.skip("the mail stack starts Postfix and Dovecot, which needs root")
    yield from _start("")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def messy(n: int, rng: random.Random) -> bytes:
    """A message with what breaks naive storage: folded and 8-bit headers, long lines,
    trailing blanks and tabs, a lone dot, a `From ` line, HTML, a binary attachment, and
    no final line break."""
    blob = rng.randbytes(3000 + n * 100)
    import base64
    b64 = base64.encodebytes(blob).replace(b"\n", b"\r\n")
    return (b"From: =?utf-8?q?Ren=C3=A9e?= <renee@example.org>\r\n"
            b"To: <someone@" + DOMAIN.encode() + b">\r\n"
            b"Subject: messy " + str(n).encode() + b"\r\n\t folded \xc3\xa9t\xc3\xa9\r\n"
            b"Message-ID: <messy-" + str(n).encode() + b"@example.org>\r\n"
            b"Date: Fri, 27 Nov 2026 10:00:00 +0000\r\n"
            b"MIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
            b"preamble  \t\r\n--b1\r\n"
            b"Content-Type: text/html; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n\r\n"
            b"<p>caf\xc3\xa9 \xe2\x82\xac  </p>\t\r\n.\r\nFrom here on\r\n"
            + b"x" * 900 + b"\r\n" + (b"<td>row</td>" * 50 + b"\r\n") * 20 +
            b"--b1\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + b64 +
            b"--b1--\r\nepilogue without a final break")


def fetch_all(stack: MailStack, user: str, mailbox: str = "INBOX"
              ) -> dict[int, tuple[bytes, str]]:
    """uid -> (message, flags) of a mailbox over IMAP."""
    m = stack.imap(user)
    try:
        m.select(mailbox, readonly=True)
        _, data = m.uid("SEARCH", "ALL")
        out: dict[int, tuple[bytes, str]] = {}
        for uid in data[0].split():
            _, parts = m.uid("FETCH", uid, "(FLAGS BODY.PEEK[])")
            head, body = next(p for p in parts if isinstance(p, tuple))
            flags = head.decode().split("FLAGS (", 1)[1].split(")", 1)[0]
            out[int(uid)] = (body, flags)
        return out
    finally:
        m.logout()


def append(stack: MailStack, user: str, messages: list[bytes], mailbox: str = "INBOX",
           flags: str = "", date: str | None = None) -> None:
    m = stack.imap(user)
    try:
        for msg in messages:
            typ, resp = m.append(mailbox, flags or None,
                                 imaplib.Time2Internaldate(time.time()) if date is None
                                 else date, msg)
            assert typ == "OK", resp
    finally:
        m.logout()


def maildir_of(stack: MailStack, user: str) -> Path:
    return maildir.account_maildir(stack.settings.mail_store, user)


def test_new_mail_is_stored_compressed_and_reads_back_byte_identical(stack: MailStack
                                                                      ) -> None:
    user = stack.account("zlib")
    rng = random.Random(14)
    originals = [messy(n, rng) for n in range(5)]
    append(stack, user, originals)
    # Delivered mail too (LMTP): the stored copy carries Dovecot's and Postfix's headers.
    with stack.smtp() as c:
        c.sendmail("renee@example.org", [user], originals[0])
    got = wait_for(lambda: (lambda ms: ms if len(ms) == 6 else None)(fetch_all(stack, user)),
                   "6 messages")
    bodies = [b for b, _ in got.values()]  # type: ignore[attr-defined]
    assert [sha(b) for b in bodies[:5]] == [sha(o) for o in originals]
    assert bodies[5].endswith(originals[0] + b"\r\n")  # SMTP ends the data with one

    files = list(maildir.walk(maildir_of(stack, user)))
    inbox = [f for f in files if f.folder == "INBOX"]
    assert len(inbox) == 6
    for f in inbox:
        assert f.compression == "zstd", f.path
        assert f.disk < f.size  # the file is smaller than the message it holds
        assert maildir.read(f.path)  # and our reader decodes it
    # The name keeps the message's own virtual size (W=, what IMAP reports), not the file's.
    vsizes = {int(maildir.parse_name(f.path.name)[1]["W"]) for f in inbox}
    assert {len(o) for o in originals} <= vsizes


def decompress_in_place(directory: Path) -> int:
    """Make a folder look like mail stored before compression: same names, plain files."""
    n = 0
    for f in maildir.messages("x", directory):
        if f.compression:
            plain = f.path.parent.parent / "tmp" / "plain.tmp"
            plain.write_bytes(maildir.read(f.path))
            st = f.path.stat()
            os.chown(plain, st.st_uid, st.st_gid)
            os.utime(plain, ns=(st.st_atime_ns, st.st_mtime_ns))
            assert compress.exchange(plain, f.path)
            plain.unlink()
            n += 1
    return n


def test_compress_existing_mail_while_mail_arrives(stack: MailStack) -> None:
    user = stack.account("legacy")
    rng = random.Random(7)
    append(stack, user, [messy(n, rng) for n in range(40)])
    home = maildir_of(stack, user)
    m = stack.imap(user)
    m.select("INBOX")  # a client saw the folder: Dovecot moved its mail from new/ to cur/
    m.logout()
    before = fetch_all(stack, user)
    assert decompress_in_place(home) == 40
    assert all(f.compression is None for f in maildir.walk(home))
    assert fetch_all(stack, user) == before  # plain files read the same

    stop = threading.Event()
    delivered: list[int] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            n = 100
            while not stop.is_set() and n < 115:
                with stack.smtp() as c:
                    c.sendmail("renee@example.org", [user], messy(n, rng))
                delivered.append(n)
                n += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    toggled = sorted(before)[:10]
    flagged: dict[int, bool] = {}

    def flag() -> None:  # flag changes rename files under the compressor's feet
        try:
            m = stack.imap(user)
            m.select("INBOX")
            i = 0
            while not stop.is_set():
                uid, on = toggled[i % len(toggled)], (i // len(toggled)) % 2 == 0
                m.uid("STORE", str(uid), "+FLAGS" if on else "-FLAGS", "(\\Flagged)")
                flagged[uid] = on
                i += 1
            m.logout()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=deliver), threading.Thread(target=flag)]
    for t in threads:
        t.start()
    try:
        first = invoke_in(stack.state, "eco", "compress", "--account", user, "--json")
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert not errors, errors
    assert first.code == 0, first.stderr
    report = json.loads(first.stdout)
    # The 30 messages nobody touched are compressed; a renamed one waits for the next run.
    assert 30 <= report["files"] <= 40 + len(delivered)
    assert report["bytes_after"] < report["bytes_before"] / 2
    # A second run takes what changed under the first; then nothing is left plain.
    second = invoke_in(stack.state, "eco", "compress", "--account", user, "--json")
    assert second.code == 0, second.stderr
    assert all(f.compression == "zstd" for f in maildir.walk(home) if f.folder == "INBOX")

    after = fetch_all(stack, user)
    assert len(after) == 40 + len(delivered)  # nothing lost, nothing doubled
    for uid, (body, _flags) in before.items():
        assert sha(after[uid][0]) == sha(body), uid
    ids = [b.split(b"Message-ID: ", 1)[1].split(b"\r\n", 1)[0] for b, _ in after.values()]
    assert len(set(ids)) == len(ids)
    for uid, on in flagged.items():  # every flag change survived the swaps
        assert ("\\Flagged" in after[uid][1]) == on, uid
    assert not list((home / "tmp").iterdir())  # no stray temporary file


def test_compress_keeps_a_copy_made_by_hard_link_one_file(stack: MailStack) -> None:
    """IMAP COPY makes Dovecot link the message file into the other folder: compressing
    must leave one compressed file under both names, not a compressed file each."""
    user = stack.account("copies")
    msg = messy(50, random.Random(50))
    append(stack, user, [msg])
    home = maildir_of(stack, user)
    m = stack.imap(user)
    try:
        m.select("INBOX")
        decompress_in_place(home)  # as if stored before compression
        assert m.create("Kept")[0] == "OK" and m.copy("1", "Kept")[0] == "OK"
    finally:
        m.logout()
    files = list(maildir.walk(home))
    assert [f.folder for f in files] == ["INBOX", "Kept"]
    assert files[0].inode == files[1].inode and files[0].compression is None  # one file
    done = compress.compress_account(stack.settings.mail_store, user, "zstd", 3)
    assert done.files == 2
    after = list(maildir.walk(home))
    assert [f.folder for f in after] == ["INBOX", "Kept"]
    assert after[0].inode == after[1].inode and after[0].path.stat().st_nlink == 2
    assert after[0].compression == "zstd" and after[0].disk < len(msg) / 2
    for folder in ("INBOX", "Kept"):  # both read back byte for byte
        assert [sha(b) for b, _ in fetch_all(stack, user, folder).values()] == [sha(msg)]


def photo_message(n: int, kib: int = 300) -> bytes:
    """A message with a large (incompressible) JPEG-named attachment."""
    import base64
    blob = random.Random(n).randbytes(kib * 1024)
    b64 = base64.encodebytes(blob).replace(b"\n", b"\r\n")
    return (b"From: <photos@example.org>\r\nSubject: photo " + str(n).encode() + b"\r\n"
            b"Message-ID: <photo-" + str(n).encode() + b"@example.org>\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"p\"\r\n\r\n"
            b"--p\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
            b"--p\r\nContent-Type: image/jpeg; name=\"holiday.jpg\"\r\n"
            b"Content-Disposition: attachment; filename=\"holiday.jpg\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + b64 + b"--p--\r\n")


OLD = '"01-Jan-2024 10:00:00 +0000"'


def test_analyze_sorts_live_dormant_trash_junk_and_finds_duplicates(stack: MailStack) -> None:
    one, two = stack.account("analyze"), stack.account("analyze")
    rng = random.Random(3)
    live, old = messy(1, rng), messy(2, rng)
    append(stack, one, [live])
    append(stack, one, [old], date=OLD)
    # Dovecot stamps the file's access time with the APPEND: make it two years untouched.
    stamp = time.mktime((2024, 1, 1, 10, 0, 0, 0, 0, 0))
    for f in maildir.walk(maildir_of(stack, one)):
        if f.received < time.time() - 365 * 86400:
            os.utime(f.path, (stamp, stamp))
    append(stack, one, [messy(3, rng)], mailbox="Trash")
    append(stack, one, [messy(4, rng)], mailbox="Junk")
    append(stack, one, [photo_message(1)])
    append(stack, two, [photo_message(1)])  # the same message in another mailbox
    earlier = time.time() - 100 * 86400  # a month of its own (no other test's mail)
    spring = messy(5, rng)
    append(stack, two, [spring], date=imaplib.Time2Internaldate(earlier))
    r = invoke_in(stack.state, "eco", "analyze", "--tenant", "acme", "--json")
    assert r.code == 0, r.stderr
    report = json.loads(r.stdout)
    rows = {x["account"]: x for x in report["accounts"]}
    a = rows[one]
    assert a["messages"] == 5 and rows[two]["messages"] == 2
    assert a["dormant_bytes"] == len(old)  # received 2024, never read since
    assert a["live_bytes"] == len(live) + len(photo_message(1))
    assert a["trash_bytes"] > 10000 and a["junk_bytes"] > 10000 and a["archive_bytes"] == 0
    assert a["bytes"] == (a["live_bytes"] + a["dormant_bytes"] + a["trash_bytes"]
                          + a["junk_bytes"])
    assert a["disk_bytes"] < a["bytes"]  # stored compressed
    dup = [d for d in report["duplicates"] if d["message_id"] == "<photo-1@example.org>"]
    assert dup and dup[0]["copies"] == 2 and sorted(dup[0]["where"]) == sorted(
        [f"{one}/INBOX", f"{two}/INBOX"])
    top = report["largest_attachments"][0]
    assert top["filename"] == "holiday.jpg" and abs(top["bytes"] - 300 * 1024) < 8000
    assert any(m["month"] == "2024-01" for m in report["growth"]) is False  # > 12 months ago
    # Growth: what each month brought, by the date each message was received.
    month = time.strftime("%Y-%m", time.gmtime(earlier))
    assert [(m["messages"], m["bytes"]) for m in report["growth"] if m["month"] == month] == [
        (1, len(spring))]
    now = time.strftime("%Y-%m", time.gmtime())
    this_month = [m for m in report["growth"] if m["month"] == now]
    assert this_month and this_month[0]["messages"] >= 5
    # One account only, and in words.
    r = invoke_in(stack.state, "eco", "analyze", "--account", two)
    assert r.code == 0 and two in r.stdout and one not in r.stdout, r.stdout


def photo(seed: int, size: tuple[int, int] = (2400, 1800)) -> bytes:
    """A photo-like JPEG (gradients and grain), the size of a phone picture's."""
    import io

    from PIL import Image
    w, h = size
    grain = Image.effect_noise((w, h), 30 + seed)
    r = Image.linear_gradient("L").resize((w, h))
    b = Image.radial_gradient("L").resize((w, h))
    img = Image.merge("RGB", (r, grain, b))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=92)
    return out.getvalue()


def with_photo(n: int, jpeg: bytes) -> bytes:
    import base64
    b64 = base64.encodebytes(jpeg).replace(b"\n", b"\r\n")
    return (b"From: <photos@example.org>\r\nSubject: holiday " + str(n).encode() + b"\r\n"
            b"Message-ID: <holiday-" + str(n).encode() + b"@example.org>\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"p\"\r\n\r\n"
            b"--p\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nLook at this!  \r\n"
            b"--p\r\nContent-Type: image/jpeg; name=\"beach.jpg\"\r\n"
            b"Content-Disposition: attachment; filename=\"beach.jpg\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + b64 + b"--p--\r\n")


def snapshot_imap(stack: MailStack, user: str) -> dict[str, tuple[str, str, str, str]]:
    """Message-ID -> (folder, flags, internal date, SHA-256 of the message), every folder."""
    m = stack.imap(user)
    out: dict[str, tuple[str, str, str, str]] = {}
    try:
        _, folders = m.list()
        for line in folders:
            name = line.decode().rsplit(' "/" ', 1)[1].strip('"')
            if m.select(f'"{name}"', readonly=True)[0] != "OK":
                continue
            _, data = m.uid("SEARCH", "ALL")
            for uid in data[0].split():
                _, parts = m.uid("FETCH", uid, "(FLAGS INTERNALDATE BODY.PEEK[])")
                head, body = next(p for p in parts if isinstance(p, tuple))
                h = head.decode()
                flags = " ".join(sorted(set(h.split("FLAGS (", 1)[1].split(")", 1)[0].split())
                                        - {"\\Recent"}))  # \Recent: per session
                date = h.split('INTERNALDATE "', 1)[1].split('"', 1)[0]
                mid = body.split(b"Message-ID: ", 1)[1].split(b"\r\n", 1)[0].decode()
                out[mid] = (name, flags, date, sha(body))
    finally:
        m.logout()
    return out


@pytest.fixture(scope="module")
def eco_tenant(stack: MailStack) -> str:
    from zenmail.directory import domains, tenants
    tenants.add(stack.ctx, "ecot", "10G")
    domains.add(stack.ctx, "ecot", "eco.test")
    tenants.add(stack.ctx, "plain", "10G")
    domains.add(stack.ctx, "plain", "plain.test")
    return "ecot"


def test_archiving_moves_exactly_the_old_mail_with_flags_and_dates(
        stack: MailStack, eco_tenant: str) -> None:
    from datetime import date, timedelta

    from zenmail.eco.run import apply_policies
    from zenmail.stack.daemons.dovecot import Dovecot
    from zenmail.vault import originals
    from zenmail.vault import service as vault
    from zenmail.vault.snapshot import vault_lock

    user = stack.account("arch", domain="eco.test")
    rng = random.Random(11)
    old = [messy(200 + i, rng) for i in range(3)]
    new = [messy(210 + i, rng) for i in range(2)]
    append(stack, user, old[:2], flags="(\\Seen \\Flagged $Label1)", date=OLD)
    append(stack, user, old[2:], date='"15-Mar-2025 08:30:00 +0100"')
    append(stack, user, new, flags="(\\Seen)")
    append(stack, user, [messy(220, rng)], mailbox="Sent", flags="(\\Seen)", date=OLD)
    append(stack, user, [messy(221, rng)], mailbox="Drafts", flags="(\\Draft)", date=OLD)
    append(stack, user, [messy(222, rng)], mailbox="Trash", date=OLD)
    append(stack, user, [messy(223, rng)], mailbox="Junk")
    before = snapshot_imap(stack, user)
    assert len(before) == 9

    r = invoke_in(stack.state, "eco", "policy", "set", eco_tenant, "--archive-after", "12m",
                  "--trash-after", "30d", "--json")
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout)["archive_after_months"] == 12

    dry = invoke_in(stack.state, "eco", "apply", "--tenant", eco_tenant, "--dry-run",
                    "--json")
    assert dry.code == 0, dry.stderr
    plan = json.loads(dry.stdout)
    assert plan["archived_messages"] == 4 and plan["expunged_messages"] == 0  # Trash: today
    assert snapshot_imap(stack, user) == before  # a dry run changes nothing

    done = invoke_in(stack.state, "eco", "apply", "--tenant", eco_tenant, "--json")
    assert done.code == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["archived_messages"] == 4
    assert {(x["folder"], x["target"], x["messages"]) for x in result["actions"]} == {
        ("INBOX", "Archive/INBOX", 3), ("Sent", "Archive/Sent", 1)}
    after = snapshot_imap(stack, user)
    moved = {mid for mid in before if after[mid][0] != before[mid][0]}
    ids = {mid for mid, v in before.items()
           if v[0] in ("INBOX", "Sent") and v[2].split()[0].endswith(("2024", "2025"))}
    assert moved == ids and len(ids) == 4  # exactly the old mail of working folders
    for mid in moved:
        folder, flags, when, digest = after[mid]
        assert folder == "Archive/" + before[mid][0]
        assert (flags, when, digest) == before[mid][1:]  # flags, date and bytes kept
    assert "$Label1 \\Flagged \\Seen" in {after[mid][1] for mid in moved}
    # The archive is an ordinary folder: searchable over IMAP, announced as \Archive.
    m = stack.imap(user)
    try:
        m.select('"Archive/INBOX"', readonly=True)
        _, hits = m.search(None, "SUBJECT", '"messy 201"')
        assert len(hits[0].split()) == 1
        _, listing = m.list()
        assert b'(\\HasChildren \\Archive) "/" Archive' in listing
        m.select('"Expunged"', readonly=True)
        _, nothing = m.search(None, "ALL")
        assert nothing[0] == b""  # a move is no deletion: nothing went to Expunged
    finally:
        m.logout()

    # 40 days on: what lay in Trash and Junk for 30 days goes; the rest stays. The vault
    # first takes a snapshot that holds it (none held the account yet).
    dovecot = stack.daemon("dovecot")
    assert isinstance(dovecot, Dovecot)
    with vault_lock(stack.settings, "a snapshot of the test"):  # no snapshot possible now
        held_back = apply_policies(stack.settings, stack.ctx, dovecot.doveadm, eco_tenant,
                                   today=date.today() + timedelta(days=40),
                                   keep=originals.keeper(stack.ctx, stack.settings))
    assert held_back.expunged_messages == 0
    assert sorted(why.split(": ")[1].split()[0] for why in held_back.refused
                  if why.startswith(user)) == ["Junk", "Trash"]
    assert snapshot_imap(stack, user) == after  # nothing was expunged
    later = apply_policies(stack.settings, stack.ctx, dovecot.doveadm, eco_tenant,
                           today=date.today() + timedelta(days=40),
                           keep=originals.keeper(stack.ctx, stack.settings))
    assert later.expunged_messages == 2 and later.archived_messages == 0
    assert later.refused == []
    final = snapshot_imap(stack, user)
    gone = {mid for mid in before if final[mid][0] != after[mid][0]}
    assert {final[mid][0] for mid in gone} == {"Expunged"}  # restorable for 30 days
    assert {after[mid][0] for mid in gone} == {"Trash", "Junk"}
    (taken,) = [x.split(": ")[1] for x in later.snapshots_taken if x.startswith(user)]
    assert {x.snapshot for x in later.actions if x.account == user} == {taken}
    held = {e.sha256: e.folder for e in vault.find(stack.ctx, stack.settings, user)
            if e.snapshot.startswith(taken)}
    # Each expunged message is in that snapshot, in the folder it was expunged from (the
    # catalogue hashes the message as Dovecot stores it: LF line ends).
    stored = [sha(body.replace(b"\r\n", b"\n"))
              for body, _ in fetch_all(stack, user, "Expunged").values()]
    assert len(stored) == 2 and sorted(held.get(h, "") for h in stored) == ["Junk", "Trash"]


def test_image_reduction_only_on_archived_mail_of_tenants_that_opted_in(
        stack: MailStack, eco_tenant: str) -> None:
    import io
    from email import message_from_bytes

    from PIL import Image

    from zenmail.vault import retention
    from zenmail.vault import service as vault
    from zenmail.vault.snapshot import vault_lock

    jpeg = photo(1)
    reduced_user = stack.account("img", domain="eco.test")
    plain_user = stack.account("img", domain="plain.test")
    old_msg, live_msg = with_photo(1, jpeg), with_photo(2, jpeg)
    append(stack, reduced_user, [old_msg], flags="(\\Seen $Holiday)", date=OLD)
    append(stack, reduced_user, [live_msg])
    append(stack, plain_user, [with_photo(3, jpeg)], date=OLD)
    for tenant, extra in ((eco_tenant, ["--reduce-images"]), ("plain", [])):
        r = invoke_in(stack.state, "eco", "policy", "set", tenant, "--archive-after", "12m",
                      *extra)
        assert r.code == 0, r.stderr
    before = {**snapshot_imap(stack, reduced_user), **snapshot_imap(stack, plain_user)}

    # The vault cannot take a snapshot now (another one holds its lock): no image is
    # reduced, the result says why, and archiving goes on.
    with vault_lock(stack.settings, "a snapshot of the test"):
        r = invoke_in(stack.state, "eco", "apply", "--json")
    assert r.code == 0, r.stderr
    busy = json.loads(r.stdout)
    assert busy["images_reduced"] == 0 and busy["archived_messages"] == 2
    assert [why for why in busy["refused"] if reduced_user in why and "vault is busy" in why]
    held_back = snapshot_imap(stack, reduced_user)["<holiday-1@example.org>"]
    assert held_back == ("Archive/INBOX",) + before["<holiday-1@example.org>"][1:]

    r = invoke_in(stack.state, "eco", "apply", "--json")
    assert r.code == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["images_reduced"] == 1 and result["image_bytes_saved"] > len(jpeg) // 2
    assert result["refused"] == []
    (original,) = result["originals"]
    assert (original["account"], original["folder"]) == (reduced_user, "Archive/INBOX")
    assert original["restore_id"].startswith(original["snapshot"] + "-")

    after = {**snapshot_imap(stack, reduced_user), **snapshot_imap(stack, plain_user)}
    # Live mail, and the archive of a tenant that did not opt in: untouched, byte for byte.
    assert after["<holiday-2@example.org>"] == before["<holiday-2@example.org>"]
    folder, flags, date, digest = after["<holiday-3@example.org>"]
    assert folder == "Archive/INBOX" and digest == before["<holiday-3@example.org>"][3]
    # The archived photo of the tenant that opted in: smaller, marked, the rest intact.
    folder, flags, date, digest = after["<holiday-1@example.org>"]
    assert (folder, flags, date) == ("Archive/INBOX",) + before["<holiday-1@example.org>"][1:3]
    got = fetch_all(stack, reduced_user, "Archive/INBOX")
    new = next(b for b, _ in got.values() if b"holiday-1@" in b)
    assert len(new) < len(old_msg) / 2
    head, _, body = new.partition(b"\r\n\r\n")
    marks = [line for line in head.split(b"\r\n") if line.startswith(b"X-Zenmail-Eco-Reduced")]
    assert len(marks) == 1 and b"beach.jpg 2400x1800" in marks[0]
    assert b"-> 1600x1200" in marks[0]
    assert marks[0].endswith(f"; original in vault snapshot {original['snapshot']}, restore "
                             f"id {original['restore_id']}".encode())
    # Every other header as it was; the mark comes last.
    assert head.removesuffix(b"\r\n" + marks[0]) == old_msg.partition(b"\r\n\r\n")[0]
    old_parts = old_msg.split(b"--p")
    new_parts = new.split(b"--p")
    assert len(new_parts) == len(old_parts) and new_parts[1] == old_parts[1]  # the text
    assert new_parts[2].split(b"\r\n\r\n")[0] == old_parts[2].split(b"\r\n\r\n")[0]
    image = message_from_bytes(new).get_payload()[1].get_payload(decode=True)
    img = Image.open(io.BytesIO(image))
    assert img.format == "JPEG" and img.size == (1600, 1200)
    # Run again: nothing more to reduce (the header says it was done).
    again = invoke_in(stack.state, "eco", "apply", "--tenant", eco_tenant, "--json")
    assert json.loads(again.stdout)["images_reduced"] == 0

    # No later snapshot holds the original: the retention keeps its snapshot for good,
    # however little it keeps of the rest.
    def taken() -> str:
        scope = vault.scope(stack.ctx, account=reduced_user)
        return vault.take(stack.ctx, stack.settings, scope).short

    older, newer = taken(), taken()
    retention.apply(stack.settings.with_values(
        {"vault.keep_hourly": 1, "vault.keep_daily": 0, "vault.keep_monthly": 0}))
    left = {r.short for r in vault.list_snapshots(stack.ctx, stack.settings,
                                                  account=reduced_user)}
    assert original["snapshot"] in left and newer in left and older not in left

    # The original comes back from the vault byte for byte, with its flags and date.
    r = invoke_in(stack.state, "restore", "message", reduced_user, original["restore_id"])
    assert r.code == 0, r.stderr
    m = stack.imap(reduced_user)
    try:
        m.select('"Archive/INBOX"', readonly=True)
        _, data = m.uid("SEARCH", "HEADER", "Message-ID", "holiday-1@example.org")
        copies = {}
        for uid in data[0].split():
            _, parts = m.uid("FETCH", uid, "(FLAGS INTERNALDATE BODY.PEEK[])")
            head_, body_ = next(p for p in parts if isinstance(p, tuple))
            h = head_.decode()
            flags_ = " ".join(sorted(set(h.split("FLAGS (", 1)[1].split(")", 1)[0].split())
                                     - {"\\Recent"}))
            copies[sha(body_)] = (flags_, h.split('INTERNALDATE "', 1)[1].split('"', 1)[0])
    finally:
        m.logout()
    assert set(copies) == {sha(old_msg), sha(new)}  # the original beside the reduced one
    assert copies[sha(old_msg)] == before["<holiday-1@example.org>"][1:3]


def test_co2_report_from_the_real_store_is_reproducible(stack: MailStack,
                                                        eco_tenant: str) -> None:
    user = stack.account("co2", domain="eco.test")
    append(stack, user, [messy(n, random.Random(n)) for n in range(300, 305)])
    first = invoke_in(stack.state, "eco", "report", "--tenant", eco_tenant, "--json")
    again = invoke_in(stack.state, "eco", "report", "--tenant", eco_tenant, "--json")
    assert first.code == 0, first.stderr
    assert first.stdout == again.stdout  # same store, same settings, same day: same grams
    (report,) = json.loads(first.stdout)
    assert report["as_of"] == time.strftime("%Y-%m-%d", time.gmtime())
    # Another day: the year's mail counts from it; the same day again gives the same.
    later = [invoke_in(stack.state, "eco", "report", "--tenant", eco_tenant, "--as-of",
                       "2030-01-01", "--json") for _ in range(2)]
    assert later[0].code == 0 and later[0].stdout == later[1].stdout, later[0].stderr
    (future,) = json.loads(later[0].stdout)
    assert future["as_of"] == "2030-01-01" and future["inputs"]["received_last_year"] == 0
    assert report["scope"] == f"tenant {eco_tenant}" and report["policy"]["source"] == "tenant"
    by = {s["name"]: s for s in report["scenarios"]}
    assert by["now"]["stored_bytes"] < by["raw Maildir"]["stored_bytes"]  # zstd at work
    assert by["raw Maildir"]["stored_bytes"] == report["inputs"]["message_bytes"]
    assert report["inputs"]["received_last_year"] >= 5
    one = invoke_in(stack.state, "eco", "report", "--account", user)
    assert one.code == 0 and f"account {user}" in one.stdout and "grid_g_per_kwh=251" in \
        one.stdout, one.stdout


def test_the_stacks_vault_process_applies_the_policies_once_a_day(stack: MailStack,
                                                                  eco_tenant: str) -> None:
    from zenmail.vault import scheduler

    user = stack.account("chore", domain="eco.test")
    append(stack, user, [messy(400, random.Random(4))], date=OLD)
    r = invoke_in(stack.state, "eco", "policy", "set", eco_tenant, "--archive-after", "12m")
    assert r.code == 0, r.stderr
    stamp = scheduler.eco_stamp(stack.settings)
    wait_for(lambda: stamp.exists() or None, "the vault process's first look at the policies")
    stamp.unlink()  # as if the last run were over a day ago
    assert scheduler.apply_eco(stack.settings) is True  # what the process runs when due
    assert stamp.exists()
    assert [v[0] for v in snapshot_imap(stack, user).values()] == ["Archive/INBOX"]
    assert scheduler.apply_eco(stack.settings) is False  # not again before apply_every_hours
