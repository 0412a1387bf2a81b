"""A tenant's shared calendars in the vault, on a real stack: filled with zenmail's own tools
(the only writers of a shared calendar), read by the tenant's users over CalDAV (HTTPS to
the Radicale daemon), snapshotted with the tenant, deleted, restored byte for byte; exported
and imported into a fresh stack, where the tenant's users read them over CalDAV again.
"""

from __future__ import annotations

import json
import re
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import caldav
import pytest

from tests.e2e.conftest import MailStack, _start
from tests.e2e.test_dav import answer_of, client, url
from tests.e2e.test_vault import zenmail
from tests.unit.test_api_fixtures import Server
from zenmail.dav import local, storage
from zenmail.directory import admins, auditlog, domains, tenants
from zenmail.vault import snapshot as snapshots

# A recurring meeting with one moved occurrence, in a time zone, and a plain booking: what
# a room's calendar holds. Non-ASCII and a folded line, so "byte for byte" means something.
ROOM = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bookings//EN\r\n"
        "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\n"
        "DTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\n"
        "TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
        "BEGIN:VEVENT\r\nUID:weekly@{t}\r\nDTSTAMP:20261101T090000Z\r\n"
        "DTSTART;TZID=Europe/Berlin:20261207T100000\r\nRRULE:FREQ=WEEKLY\r\n"
        "SUMMARY:Wöchentliche Runde im Raum Süd\\, mit allen Teams und einer sehr langen "
        "Beschreibung\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:weekly@{t}\r\nRECURRENCE-ID;TZID=Europe/Berlin:20261214T100000"
        "\r\nDTSTAMP:20261101T090000Z\r\nDTSTART;TZID=Europe/Berlin:20261214T140000\r\n"
        "SUMMARY:moved\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:board@{t}\r\nDTSTAMP:20261101T090000Z\r\n"
        "DTSTART:20261203T100000Z\r\nDTEND:20261203T120000Z\r\nSUMMARY:Board meeting\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n")
HOLIDAY = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bookings//EN\r\nBEGIN:VEVENT\r\n"
           "UID:xmas@{t}\r\nDTSTAMP:20261101T090000Z\r\nDTSTART;VALUE=DATE:20261225\r\n"
           "SUMMARY:Christmas\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


@pytest.fixture(scope="module")
def vstack() -> Iterator[MailStack]:
    import os

    if os.geteuid() != 0:
        pytest.skip("the mail stack starts Postfix and Dovecot, which needs root")
    yield from _start("")


def company(st: MailStack, tenant: str, tmp: Path) -> str:
    """A tenant with one employee and two shared calendars filled by `zenmail dav shared
    import`; returns the employee's address."""
    tenants.add(st.ctx, tenant, "10G")
    domains.add(st.ctx, tenant, f"{tenant}.test")
    user = st.account("ann", domain=f"{tenant}.test")
    for name, title, text in (("room-1", "Raum Süd", ROOM), ("holidays", "Holidays", HOLIDAY)):
        zenmail(st, "dav", "shared", "add", tenant, name, "--display-name", title)
        f = tmp / f"{tenant}-{name}.ics"
        f.write_text(text.format(t=f"{tenant}.test"), encoding="utf-8")
        zenmail(st, "dav", "shared", "import", tenant, name, str(f))
    return user


def over_caldav(st: MailStack, user: str, tenant: str, name: str
                ) -> tuple[str, dict[str, str]]:
    """What `user` sees of a shared calendar over CalDAV: its display name, and the raw
    iCalendar text of each event (GET over HTTPS) by UID."""
    cal = caldav.Calendar(client=client(st, user),
                          url=url(st).rstrip("/") + f"/_shared/{tenant}/{name}/")
    texts = {}
    for ev in cal.events():
        path = "/" + str(ev.url).split("/", 3)[3]
        status, body = answer_of(st, "GET", path, user)
        assert status == 200, (path, status, body)
        uid = re.search(r"^UID:(.*?)\r?$", body, re.MULTILINE)
        assert uid, body
        texts[uid.group(1)] = body
    return str(cal.get_display_name()), texts


def test_shared_calendars_are_snapshotted_and_restored_byte_for_byte(
        vstack: MailStack, tmp_path: Path) -> None:
    st = vstack
    user = company(st, "umbrella", tmp_path)
    room = over_caldav(st, user, "umbrella", "room-1")
    holidays = over_caldav(st, user, "umbrella", "holidays")
    assert room[0] == "Raum Süd" and sorted(room[1]) == ["board@umbrella.test",
                                                         "weekly@umbrella.test"]
    assert "moved" in room[1]["weekly@umbrella.test"]  # the exception stays with its series
    assert holidays[0] == "Holidays" and list(holidays[1]) == ["xmas@umbrella.test"]

    # Unchanged accounts are taken from the earlier snapshot (holders.json); the shared
    # calendars are stored again in every tenant snapshot, so the second one restores them
    # alone. (Past the 2 s in which a fresh fingerprint is not trusted, so ann is reused.)
    time.sleep(snapshots.RACY_SECONDS + 0.5)
    first = json.loads(zenmail(st, "snapshot", "--tenant", "umbrella", "--json").stdout)
    second = json.loads(zenmail(st, "snapshot", "--tenant", "umbrella", "--json").stdout)
    index = snapshots.open_index(st.settings)
    try:
        assert index.holders(second["id"]) == {user: first["id"]}
    finally:
        index.close()

    # One event deleted (by zenmail's tools: users only read a shared calendar), one added.
    gone = "/_shared/umbrella/room-1/board@umbrella.test.ics"
    assert answer_of(st, "GET", gone, user)[0] == 200
    assert local.client(st.settings).delete(gone) in (200, 204)
    assert answer_of(st, "GET", gone, user)[0] == 404
    late = tmp_path / "late.ics"
    late.write_text(HOLIDAY.format(t="umbrella.test").replace("xmas@", "late@"))
    zenmail(st, "dav", "shared", "import", "umbrella", "room-1", str(late))

    done = json.loads(zenmail(st, "restore", "shared", "umbrella", "--snapshot",
                              second["id"][:8], "--calendar", "room-1", "--json").stdout)
    # Only the missing event is written; the one there as it was is left alone.
    assert done == {"tenant": "umbrella", "calendars": ["room-1"], "created": [], "items": 1,
                    "unchanged": 1}
    name, texts = over_caldav(st, user, "umbrella", "room-1")
    assert name == room[0]
    assert {u: t for u, t in texts.items() if u != "late@umbrella.test"} == room[1]
    assert "late@umbrella.test" in texts  # what came after the snapshot stays

    # Both calendars removed altogether: they come back, with their names and events.
    for cal in ("room-1", "holidays"):
        zenmail(st, "dav", "shared", "remove", "umbrella", cal)
    assert not (storage.shared_dir(st.settings, "umbrella") / "room-1").exists()
    made = []
    for _ in range(2):  # twice is once: nothing to write the second time, no duplicate
        done = json.loads(zenmail(st, "restore", "shared", "umbrella", "--snapshot",
                                  first["id"], "--json").stdout)
        assert sorted(done["calendars"]) == ["holidays", "room-1"]
        assert over_caldav(st, user, "umbrella", "room-1") == room
        assert over_caldav(st, user, "umbrella", "holidays") == holidays
        made.append((sorted(done["created"]), done["items"], done["unchanged"]))
    assert made == [(["holidays", "room-1"], 3, 0), ([], 0, 3)]
    restores = [e for e in auditlog.entries(st.ctx, "umbrella", limit=1000)
                if e.action == "vault.restore_shared"]
    assert [e.target for e in restores] == ["umbrella", "umbrella", "umbrella/room-1"]
    assert restores[-1].after and restores[-1].after["snapshot"] == second["id"]

    # A snapshot of everything holds every tenant's; through the API, the tenant's own
    # administrator restores one calendar, another tenant's administrator finds nothing.
    everything = json.loads(zenmail(st, "snapshot", "--all", "--json").stdout)
    zenmail(st, "dav", "shared", "remove", "umbrella", "holidays")
    for name, tenant in (("boss@umbrella.test", "umbrella"), ("boss@acme.test", "acme")):
        admins.add(st.ctx, name, tenant)
    server = Server(st.db, st.state).start()
    try:
        aim = {"snapshot": everything["id"], "calendar": "holidays"}
        path = "/api/v1/tenants/umbrella/vault/restore-shared"
        with server.client(admins.create_token(st.ctx, "boss@acme.test").token) as intruder:
            r = intruder.post(path, json=aim)
            assert r.status_code == 404 and r.json()["error"] == "not_found", r.text
        assert not (storage.shared_dir(st.settings, "umbrella") / "holidays").exists()
        with server.client(admins.create_token(st.ctx, "boss@umbrella.test").token) as own:
            r = own.post(path, json=aim)
            assert r.status_code == 200, r.text
            assert r.json() == {"tenant": "umbrella", "calendars": ["holidays"],
                                "created": ["holidays"], "items": 1, "unchanged": 0}
    finally:
        server.stop()
    assert over_caldav(st, user, "umbrella", "holidays") == holidays

    # An account snapshot does not carry them, and says so; nor does a calendar the
    # snapshot lacks come from nowhere.
    only_ann = json.loads(zenmail(st, "snapshot", "--account", user, "--json").stdout)
    r = zenmail(st, "restore", "shared", "umbrella", "--snapshot", only_ann["id"], ok=False)
    assert r.code == 2 and "holds no shared calendars" in r.stderr
    r = zenmail(st, "restore", "shared", "umbrella", "--snapshot", first["id"],
                "--calendar", "room-9", ok=False)
    assert r.code == 2 and "holidays, room-1" in r.stderr
    assert "clean" in zenmail(st, "vault", "verify").stdout


def test_export_then_import_carries_shared_calendars_users_read_over_caldav(
        vstack: MailStack, tmp_path: Path) -> None:
    st = vstack
    user = company(st, "wayne", tmp_path)
    room = over_caldav(st, user, "wayne", "room-1")
    holidays = over_caldav(st, user, "wayne", "holidays")
    out = tmp_path / "wayne.tar"
    zenmail(st, "export", "--tenant", "wayne", "--out", str(out))
    with tarfile.open(out) as tar:
        manifest = json.loads(tar.extractfile("zenmail-export/manifest.json").read())  # type: ignore[union-attr]
        for name in ("room-1", "holidays"):
            path = f"dav/_shared/wayne/{name}.ics"
            data = tar.extractfile(f"zenmail-export/{path}").read()  # type: ignore[union-attr]
            assert manifest["files"][path]["size"] == len(data)
            assert data.decode().startswith("BEGIN:VCALENDAR")  # an open format
    assert manifest["files"]["dav/_shared/wayne/room-1.ics"]["sha256"]

    fresh = _start("")
    st2 = next(fresh)
    try:
        done = json.loads(zenmail(st2, "import", str(out), "--json").stdout)
        assert done["accounts"] == [user] and done["dav_items"] == 3
        # The employee logs in with their old password and reads both calendars, with their
        # names and every event as they were.
        assert over_caldav(st2, user, "wayne", "room-1") == room
        assert over_caldav(st2, user, "wayne", "holidays") == holidays
        # Nobody of another tenant does.
        tenants.add(st2.ctx, "other", "1G")
        domains.add(st2.ctx, "other", "other.test")
        stranger = st2.account("mallory", domain="other.test")
        assert answer_of(st2, "PROPFIND", "/_shared/wayne/room-1/", stranger)[0] in (403, 404)
    finally:
        fresh.close()


def test_erasing_a_person_keeps_the_tenants_shared_calendars(vstack: MailStack,
                                                             tmp_path: Path) -> None:
    st = vstack
    leaver = company(st, "cyberdyne", tmp_path)
    stays = st.account("ben", domain="cyberdyne.test")
    room = over_caldav(st, stays, "cyberdyne", "room-1")
    zenmail(st, "snapshot", "--tenant", "cyberdyne")
    # The snapshot is rebuilt without the person: the tenant's calendars go along.
    done = json.loads(zenmail(st, "vault", "erase", leaver, "--yes", "--json").stdout)
    assert done["rewritten"] == 1
    [rebuilt] = json.loads(zenmail(st, "snapshot", "list", "--tenant", "cyberdyne",
                                   "--json").stdout)
    zenmail(st, "dav", "shared", "remove", "cyberdyne", "room-1")
    zenmail(st, "restore", "shared", "cyberdyne", "--snapshot", rebuilt["id"])
    assert over_caldav(st, stays, "cyberdyne", "room-1") == room
