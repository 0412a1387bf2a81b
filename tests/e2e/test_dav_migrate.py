"""Calendars and contacts in and out: `zenmail migrate-dav account` from a second, private
Radicale (another server, HTTP with its own logins), and `zenmail dav export/import` as
.ics/.vcf files (issue 13, items 5 and 6)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import caldav
import pytest

from tests.e2e.conftest import PASSWORD, MailStack, wait_for
from zenmail.dav import migrate
from zenmail.dav.client import DavClient, HttpTransport
from zenmail.stack.ports import free_ports

OLD_USER, OLD_PASSWORD = "alice.old", "old-server-secret"


@dataclass
class OldServer:
    url: str
    folder: Path

    def client(self) -> DavClient:
        return DavClient(HttpTransport(self.url, OLD_USER, OLD_PASSWORD))


def _event(uid: str, summary: str, extra: str = "") -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//old server//EN\r\n"
            "BEGIN:VTIMEZONE\r\nTZID:Europe/Paris\r\nBEGIN:STANDARD\r\n"
            "DTSTART:19701025T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\n"
            "END:STANDARD\r\nEND:VTIMEZONE\r\n"
            f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261101T090000Z\r\n"
            "DTSTART;TZID=Europe/Paris:20261203T100000\r\n"
            f"DTEND;TZID=Europe/Paris:20261203T110000\r\nSUMMARY:{summary}\r\n{extra}"
            "END:VEVENT\r\nEND:VCALENDAR\r\n")


def _vcard(uid: str, name: str) -> str:
    return (f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:{name};;;;\r\n"
            f"EMAIL:{name.lower().replace(' ', '.')}@partner.example\r\nEND:VCARD\r\n")


@pytest.fixture(scope="module")
def old_server() -> Iterator[OldServer]:
    """Another CalDAV/CardDAV server: Radicale on its own port, plain HTTP, htpasswd logins,
    with two calendars (one with a recurring event and its exception) and an address book."""
    folder = Path(tempfile.mkdtemp(prefix="zenmail-old-dav-"))
    [port] = free_ports(1)
    (folder / "users").write_text(f"{OLD_USER}:{OLD_PASSWORD}\n")
    (folder / "config").write_text(
        f"[server]\nhosts = 127.0.0.1:{port}\n[auth]\ntype = htpasswd\n"
        f"htpasswd_filename = {folder / 'users'}\nhtpasswd_encryption = plain\ndelay = 0\n"
        f"[rights]\ntype = owner_only\n[storage]\nfilesystem_folder = {folder / 'data'}\n"
        "[web]\ntype = none\n")
    log = open(folder / "log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "radicale", "--config",
                             str(folder / "config")], stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL)
    server = OldServer(f"http://127.0.0.1:{port}/", folder)
    try:
        def up() -> bool:
            try:
                return server.client().t.request("GET", "/.well-known/caldav").status > 0
            except Exception:
                return False
        wait_for(up, "the old DAV server to answer")
        c = server.client()
        home = f"/{OLD_USER}/"
        assert c.t.request("PROPFIND", home, b"", {"Depth": "0"}).status == 207
        assert c.make_collection(home + "personal/", "calendar", "Personal",
                                 {"color": "#ff0000ff", "description": "mine"}) == 201
        assert c.make_collection(home + "work/", "calendar", "Work") == 201
        assert c.make_collection(home + "contacts/", "addressbook", "Contacts") == 201
        for n in range(25):
            assert c.put(f"{home}personal/ev{n}.ics", _event(f"ev{n}@old", f"Event {n}"),
                         "calendar") == 201
        recurring = _event("weekly@old", "Weekly", "RRULE:FREQ=WEEKLY;COUNT=10\r\n").replace(
            "END:VCALENDAR", "BEGIN:VEVENT\r\nUID:weekly@old\r\nDTSTAMP:20261101T090000Z\r\n"
            "RECURRENCE-ID;TZID=Europe/Paris:20261210T100000\r\n"
            "DTSTART;TZID=Europe/Paris:20261210T140000\r\n"
            "DTEND;TZID=Europe/Paris:20261210T150000\r\nSUMMARY:Weekly (moved)\r\n"
            "END:VEVENT\r\nEND:VCALENDAR")
        assert c.put(f"{home}work/weekly.ics", recurring, "calendar") == 201
        for n in range(4):
            assert c.put(f"{home}work/w{n}.ics", _event(f"w{n}@old", f"Work {n}"),
                         "calendar") == 201
        for n in range(15):
            assert c.put(f"{home}contacts/c{n}.vcf", _vcard(f"c{n}@old", f"Person {n}"),
                         "addressbook") == 201
        yield server
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


def zenmail(stack: MailStack, *args: str, stdin: str | None = None
            ) -> subprocess.CompletedProcess[str]:
    """The real command line, in a process of its own, on the stack's state directory."""
    return subprocess.run([sys.executable, "-m", "zenmail", "--state", str(stack.state),
                           *args], input=stdin, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "ZENMAIL_DEBUG": "1"})


def dav_client(stack: MailStack, user: str) -> caldav.DAVClient:
    return caldav.DAVClient(f"https://127.0.0.1:{stack.ports['dav']}/", username=user,
                            password=PASSWORD,
                            ssl_verify_cert=str(stack.state / "tls" / "cert.pem"))


def calendars(stack: MailStack, user: str) -> dict[str, set[str]]:
    """Calendar name -> UIDs of its events, as the account sees them through CalDAV."""
    out = {}
    for cal in dav_client(stack, user).principal().calendars():
        name = str(cal.url).rstrip("/").rpartition("/")[2]
        out[name] = {str(e.icalendar_component["uid"]) for e in cal.events()}
    return out


def contacts(stack: MailStack, user: str, book: str = "contacts") -> set[str]:
    c = dav_client(stack, user)
    raw = c.propfind(f"https://127.0.0.1:{stack.ports['dav']}/{user}/{book}/", depth=1).raw
    return {part.split("</")[0] for part in str(raw).split(f"/{book}/")[1:]
            if part.split("</")[0].endswith(".vcf")}


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_migrate_dav_copies_everything_and_a_rerun_copies_nothing(
        stack: MailStack, old_server: OldServer) -> None:
    alice = stack.account("alice")
    args = ["migrate-dav", "account", alice, "--source", old_server.url, "--source-user",
            OLD_USER, "--source-password-stdin"]
    r = zenmail(stack, "--json", *args, stdin=OLD_PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["verdict"] == "complete" and report["missing"] == 0
    assert (report["items"], report["copied"], report["unchanged"]) == (45, 45, 0)
    targets = {c["target"].rpartition("/")[2]: c for c in report["collections"]}
    assert set(targets) == {"personal", "work", "contacts"}  # two calendars: names kept
    seen = calendars(stack, alice)
    assert seen["personal"] == {f"ev{n}@old" for n in range(25)}
    assert seen["work"] == {"weekly@old", *(f"w{n}@old" for n in range(4))}
    assert seen["calendar"] == set()  # the default calendar is still there, untouched
    assert len(contacts(stack, alice)) == 15
    # The moved occurrence travelled with its series.
    [weekly] = [e for cal in dav_client(stack, alice).principal().calendars()
                for e in cal.events() if "weekly@old" in e.data]
    assert "RECURRENCE-ID" in weekly.data and "Weekly (moved)" in weekly.data

    again = zenmail(stack, "--json", *args, stdin=OLD_PASSWORD + "\n")
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)
    assert (second["copied"], second["unchanged"], second["verdict"]) == (0, 45, "complete")

    # A change at the source and a new event: the next run copies exactly those two.
    c = old_server.client()
    assert c.put(f"/{OLD_USER}/personal/ev3.ics", _event("ev3@old", "Event 3 moved"),
                 "calendar") in (201, 204)
    assert c.put(f"/{OLD_USER}/personal/new.ics", _event("new@old", "New"), "calendar") == 201
    third = json.loads(zenmail(stack, "--json", *args, stdin=OLD_PASSWORD + "\n").stdout)
    assert (third["copied"], third["unchanged"]) == (2, 44)
    assert "new@old" in calendars(stack, alice)["personal"]


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_an_interrupted_migration_resumes_without_copying_twice(
        stack: MailStack, old_server: OldServer) -> None:
    bob = stack.account("bob")

    class Stop(Exception):
        pass

    def stop_after_ten(collection: str, done: int, total: int) -> None:
        if done == 10:
            raise Stop

    transport = HttpTransport(old_server.url, OLD_USER, OLD_PASSWORD)
    with pytest.raises(Stop):
        migrate.migrate_account(stack.ctx, stack.settings, bob, transport, old_server.url,
                                progress=stop_after_ten)
    resumed = migrate.migrate_account(stack.ctx, stack.settings, bob, transport,
                                      old_server.url)
    total = sum(c.items for c in resumed.collections)
    assert resumed.verdict == "complete"
    assert resumed.copied == total - 10
    assert sum(c.unchanged for c in resumed.collections) == 10


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_wrong_source_password_is_one_clear_line(stack: MailStack,
                                                 old_server: OldServer) -> None:
    alice = stack.account("alice")
    r = zenmail(stack, "migrate-dav", "account", alice, "--source", old_server.url,
                "--source-user", OLD_USER, "--source-password-stdin", stdin="wrong\n")
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "refused the login" in r.stderr
    assert OLD_PASSWORD not in r.stderr + r.stdout


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_export_and_import_as_ics_and_vcf(stack: MailStack, tmp_path: Path) -> None:
    alice, bob = stack.account("alice"), stack.account("bob")
    cal = dav_client(stack, alice).principal().calendars()[0]
    uids = [f"{uuid.uuid4()}@acme.test" for _ in range(3)]
    for n, uid in enumerate(uids):
        cal.save_event(_event(uid, f"Exported {n}"))
    book = f"https://127.0.0.1:{stack.ports['dav']}/{alice}/contacts/"
    for n in range(2):
        dav_client(stack, alice).put(f"{book}p{n}.vcf", _vcard(f"p{n}@acme", f"Pat {n}"),
                                     {"Content-Type": "text/vcard"})
    out = tmp_path / "export"
    r = zenmail(stack, "--json", "dav", "export", alice, "--out", str(out))
    assert r.returncode == 0, r.stderr
    files = {Path(f["path"]).name: f for f in json.loads(r.stdout)}
    assert files["calendar.ics"]["items"] == 3 and files["contacts.vcf"]["items"] == 2
    ics = (out / alice / "calendar.ics").read_text()
    assert ics.startswith("BEGIN:VCALENDAR") and all(uid in ics for uid in uids)
    assert (out / alice / "contacts.vcf").read_text().count("BEGIN:VCARD") == 2

    for _ in range(2):  # twice: the second import changes nothing
        r = zenmail(stack, "dav", "import", bob, str(out / alice / "calendar.ics"),
                    str(out / alice / "contacts.vcf"))
        assert r.returncode == 0, r.stderr
        assert calendars(stack, bob)["calendar"] == set(uids)
        assert len(contacts(stack, bob)) == 2

    # The tenant's export holds every account's files and the shared calendars.
    assert zenmail(stack, "dav", "shared", "add", "acme", "room-x").returncode == 0
    r = zenmail(stack, "dav", "shared", "import", "acme", "room-x",
                str(out / alice / "calendar.ics"))
    assert r.returncode == 0, r.stderr
    whole = tmp_path / "tenant"
    r = zenmail(stack, "--json", "dav", "export", "--tenant", "acme", "--out", str(whole))
    assert r.returncode == 0, r.stderr
    assert (whole / "_shared" / "room-x.ics").read_text().count("BEGIN:VEVENT") == 3
    assert (whole / bob / "calendar.ics").exists()



@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_a_migration_project_copies_calendars_and_contacts_with_the_mail(
        stack: MailStack, old_server: OldServer, tmp_path: Path) -> None:
    """`zenmail migrate project add … --dav-url`: each account's calendars and contacts come
    with its mailbox, with the same login, into the project's report and verdict."""
    from zenmail.devtools import mailgen
    from zenmail.devtools.sourceimap import SourceImap
    from zenmail.migration.target import Target

    carol = stack.account("carol")
    with SourceImap.start() as source:
        source.add_user(OLD_USER, OLD_PASSWORD)  # the same login opens IMAP and DAV
        target = Target(source.pipe_command(OLD_USER), log=str(source.base / "exec.log"))
        try:
            mailgen.fill(target, mailgen.messy(big_attachment=0)[:5])
        finally:
            target.close()
        csv_file = tmp_path / "accounts.csv"
        csv_file.write_text("source,source_tls,target,password\n"
                            f"imap://{OLD_USER}@127.0.0.1:{source.imap_port},none,{carol},"
                            f"{OLD_PASSWORD}\n")
        r = zenmail(stack, "migrate", "project", "add", "withdav", str(csv_file),
                    "--dav-url", old_server.url)
        assert r.returncode == 0, r.stderr
        r = zenmail(stack, "migrate", "run", "withdav")
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"{carol}: zero loss" in r.stdout
        assert f"{carol}: calendars and contacts complete" in r.stdout
        doc = json.loads(zenmail(stack, "migrate", "report", "withdav", "--out",
                                 str(tmp_path / "report.html"), "--json").stdout)
        [account] = doc["accounts"]
        assert doc["verdict"] == "zero loss"
        assert account["dav"]["verdict"] == "complete" and account["dav"]["missing"] == 0
        assert account["dav"]["items"] == sum(c["items"] for c in account["dav"]["collections"])
        assert "personal" in calendars(stack, carol)
    assert OLD_PASSWORD not in r.stdout + r.stderr
