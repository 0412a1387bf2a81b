"""Calendars and contacts through the real stack: the `caldav` client against Radicale,
logging in with directory accounts (issue 13, item 1)."""

from __future__ import annotations

import base64
import http.client
import os
import signal
import ssl
import uuid
from collections.abc import Iterator
from urllib.parse import unquote

import caldav
import pytest
from caldav.lib.error import AuthorizationError, DAVError, NotFoundError

from tests.e2e.conftest import PASSWORD, MailStack, wait_for
from zenmail.dav import local, shared, storage
from zenmail.directory import accounts, domains, tenants
from zenmail.stack.supervisor import read_events

OTHER = "globex.test"


@pytest.fixture(scope="module")
def dav(stack: MailStack) -> Iterator[MailStack]:
    """The shared stack with a second tenant, whose users must see nothing of acme's."""
    tenants.add(stack.ctx, "globex", "10G")
    domains.add(stack.ctx, "globex", OTHER)
    yield stack


def url(stack: MailStack) -> str:
    return f"https://127.0.0.1:{stack.ports['dav']}/"


def client(stack: MailStack, user: str, password: str = PASSWORD) -> caldav.DAVClient:
    return caldav.DAVClient(url(stack), username=user, password=password,
                            ssl_verify_cert=str(stack.state / "tls" / "cert.pem"))


def event(uid: str, summary: str) -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//zenmail tests//EN\r\n"
            f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261201T090000Z\r\n"
            "DTSTART:20261202T100000Z\r\nDTEND:20261202T110000Z\r\n"
            f"SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def vcard(uid: str, name: str) -> str:
    return (f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:{name};;;;\r\n"
            "EMAIL:someone@example.com\r\nEND:VCARD\r\n")


def answer_of(stack: MailStack, method: str, path: str, user: str,
              password: str = PASSWORD, source: str = "127.0.0.1") -> tuple[int, str]:
    """The HTTP status and body of one request with Basic credentials (no retries)."""
    ctx = ssl.create_default_context(cafile=str(stack.state / "tls" / "cert.pem"))
    conn = http.client.HTTPSConnection("127.0.0.1", stack.ports["dav"], context=ctx,
                                       timeout=30, source_address=(source, 0))
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    conn.request(method, path, headers={"Authorization": f"Basic {token}", "Depth": "1"})
    resp = conn.getresponse()
    body = resp.read().decode(errors="replace")
    conn.close()
    return resp.status, body


def status_of(stack: MailStack, method: str, path: str, user: str,
              password: str = PASSWORD, source: str = "127.0.0.1") -> int:
    return answer_of(stack, method, path, user, password, source)[0]


def test_a_fresh_account_has_a_calendar_and_an_address_book(dav: MailStack) -> None:
    alice = dav.account("alice")
    principal = client(dav, alice).principal()
    calendars = principal.calendars()
    assert [c.get_display_name() for c in calendars] == ["Calendar"]
    assert unquote(str(calendars[0].url)).endswith(f"/{alice}/calendar/")
    # The address book is a CardDAV collection beside it: PROPFIND it as a client would.
    resp = client(dav, alice).propfind(f"{url(dav)}{alice}/contacts/", depth=0)
    assert resp.status == 207
    assert "addressbook" in str(resp.raw)


def test_events_are_created_listed_and_deleted(dav: MailStack) -> None:
    alice = dav.account("alice")
    cal = client(dav, alice).principal().calendars()[0]
    uid = f"{uuid.uuid4()}@acme.test"
    cal.save_event(event(uid, "Budget review"))
    listed = cal.events()
    assert [e.icalendar_component["uid"] for e in listed] == [uid]
    assert str(listed[0].icalendar_component["summary"]) == "Budget review"
    listed[0].delete()
    assert cal.events() == []


def test_contacts_are_created_listed_and_deleted(dav: MailStack) -> None:
    alice = dav.account("alice")
    c = client(dav, alice)
    book = f"{url(dav)}{alice}/contacts/"
    uid = str(uuid.uuid4())
    put = c.put(f"{book}{uid}.vcf", vcard(uid, "Grace Hopper"),
                {"Content-Type": "text/vcard; charset=utf-8"})
    assert put.status == 201
    listing = c.propfind(book, depth=1)
    assert f"{uid}.vcf" in str(listing.raw)
    got = c.request(f"{book}{uid}.vcf")
    assert got.status == 200 and "FN:Grace Hopper" in got.raw
    assert c.delete(f"{book}{uid}.vcf").status in (200, 204)
    assert c.request(f"{book}{uid}.vcf").status == 404


def test_another_tenant_cannot_read_or_write(dav: MailStack) -> None:
    alice = dav.account("alice")
    cal = client(dav, alice).principal().calendars()[0]
    cal.save_event(event(f"{uuid.uuid4()}@acme.test", "Secret merger"))
    mallory = dav.account("mallory", domain=OTHER)
    for path in (f"/{alice}/", f"/{alice}/calendar/", f"/{alice}/contacts/"):
        assert status_of(dav, "PROPFIND", path, mallory) in (403, 404)
        assert status_of(dav, "GET", path, mallory) in (403, 404)
    assert status_of(dav, "DELETE", f"/{alice}/calendar/", mallory) in (403, 404)
    stranger = caldav.Calendar(client=client(dav, mallory), url=f"{url(dav)}{alice}/calendar/")
    with pytest.raises((AuthorizationError, NotFoundError, DAVError)):
        stranger.events()
    # Listing the root shows nobody else's principal.
    status, body = answer_of(dav, "PROPFIND", "/", mallory)
    assert status == 207 and alice not in unquote(body) and "acme" not in unquote(body)
    # Nor does a colleague of the same tenant see alice's own calendar.
    bob = dav.account("bob")
    assert status_of(dav, "PROPFIND", f"/{alice}/calendar/", bob) in (403, 404)
    assert len(cal.events()) == 1


def test_wrong_password_disabled_and_removed_accounts_are_refused(dav: MailStack) -> None:
    alice = dav.account("alice")
    assert status_of(dav, "PROPFIND", f"/{alice}/", alice) == 207
    assert status_of(dav, "PROPFIND", f"/{alice}/", alice, "wrong-password-123") == 401
    accounts.set_enabled(dav.ctx, alice, False)
    assert status_of(dav, "PROPFIND", f"/{alice}/", alice) == 401
    accounts.set_enabled(dav.ctx, alice, True)
    assert status_of(dav, "PROPFIND", f"/{alice}/", alice) == 207
    accounts.set_password(dav.ctx, alice, "another-long-password")
    assert status_of(dav, "PROPFIND", f"/{alice}/", alice) == 401   # the remembered one too
    assert status_of(dav, "PROPFIND", f"/{alice}/", alice, "another-long-password") == 207


@pytest.mark.parametrize("scheme", ["SHA512-CRYPT", "BLF-CRYPT"])
def test_accounts_imported_with_another_hash_log_in(dav: MailStack, scheme: str) -> None:
    import subprocess

    # The password on standard input (twice, as doveadm asks), never on a command line.
    hashed = subprocess.run(["doveadm", "pw", "-s", scheme], input=f"{PASSWORD}\n" * 2,
                            check=True, capture_output=True, text=True).stdout.strip()
    address = f"imported-{scheme.lower()}-{uuid.uuid4().hex[:6]}@acme.test"
    accounts.add(dav.ctx, address, password_hash=hashed, quota="100M")
    assert status_of(dav, "PROPFIND", f"/{address}/", address) == 207
    assert status_of(dav, "PROPFIND", f"/{address}/", address, "not-the-password") == 401


def test_shared_calendar_is_readable_within_the_tenant_only(dav: MailStack,
                                                            tmp_path: object) -> None:
    name = f"room-{uuid.uuid4().hex[:6]}"
    room = shared.add(dav.ctx, dav.settings, "acme", name, "Room 1")
    assert room.path == f"/_shared/acme/{name}/"
    assert name in [c.name for c in shared.list_calendars(dav.ctx, dav.settings, "acme")]
    # zenmail's tools fill it (here through the local storage client, as `dav import` does).
    uid = f"{uuid.uuid4()}@acme.test"
    assert local.client(dav.settings).put(f"{room.path}{uid}.ics", event(uid, "Booked"),
                                          "calendar") == 201
    alice = dav.account("alice")
    seen = caldav.Calendar(client=client(dav, alice), url=url(dav).rstrip("/") + room.path)
    assert [e.icalendar_component["uid"] for e in seen.events()] == [uid]
    # Read only, even for the tenant's accounts.
    assert status_of(dav, "DELETE", f"{room.path}{uid}.ics", alice) == 403
    mallory = dav.account("mallory", domain=OTHER)
    assert status_of(dav, "PROPFIND", room.path, mallory) in (403, 404)
    assert status_of(dav, "GET", f"{room.path}{uid}.ics", mallory) in (403, 404)
    assert status_of(dav, "PROPFIND", "/_shared/acme/", mallory) in (403, 404)


def test_well_known_paths_redirect(dav: MailStack) -> None:
    ctx = ssl.create_default_context(cafile=str(dav.state / "tls" / "cert.pem"))
    for path in ("/.well-known/caldav", "/.well-known/carddav"):
        conn = http.client.HTTPSConnection("127.0.0.1", dav.ports["dav"], context=ctx,
                                           timeout=30)
        conn.request("GET", path)
        resp = conn.getresponse()
        assert resp.status in (301, 302, 303, 307, 308)
        assert resp.getheader("Location", "").endswith("/")
        conn.close()


def test_removed_account_loses_its_dav_data(dav: MailStack) -> None:
    alice = dav.account("alice")
    client(dav, alice).principal().calendars()[0].save_event(
        event(f"{uuid.uuid4()}@acme.test", "Farewell"))
    assert storage.principal_dir(dav.settings, alice).is_dir()
    accounts.remove(dav.ctx, alice)
    gone = dav.daemon("radicale").sweep_removed()  # type: ignore[attr-defined]
    assert alice in gone
    assert not storage.principal_dir(dav.settings, alice).exists()
    # Re-created with the same address, the account starts empty.
    accounts.add(dav.ctx, alice, password=PASSWORD, quota="100M")
    assert client(dav, alice).principal().calendars()[0].events() == []


def test_calendars_turn_read_only_when_mail_and_dav_data_reach_the_quota(
        dav: MailStack) -> None:
    from zenmail.dav import usage

    small = dav.account("small", quota="1M")
    heavy = event(f"{uuid.uuid4()}@acme.test", "Big agenda").replace(
        "SUMMARY:", "DESCRIPTION:" + "x" * 1_200_000 + "\r\nSUMMARY:")
    # Written by zenmail's own tools (an import), before the account's first login.
    uid = heavy.split("UID:")[1].split("\r\n")[0]
    assert local.client(dav.settings, small).put(f"/{small}/calendar/{uid}.ics", heavy,
                                                 "calendar") == 201
    [row] = [u for u in usage.of_accounts(dav.ctx, dav.settings, "acme")
             if u.address == small]
    assert row.dav_bytes > 1_200_000 and row.read_only
    cal = client(dav, small).principal().calendars()[0]
    assert len(cal.events()) == 1          # reading still works
    with pytest.raises(DAVError):
        cal.save_event(event(f"{uuid.uuid4()}@acme.test", "One more"))
    assert len(cal.events()) == 1
    # An account with room writes as before.
    roomy = dav.account("roomy")
    assert not [u for u in usage.of_accounts(dav.ctx, dav.settings) if u.address == roomy][0] \
        .read_only
    client(dav, roomy).principal().calendars()[0].save_event(
        event(f"{uuid.uuid4()}@acme.test", "Fits"))


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_radicale_is_supervised(dav: MailStack) -> None:
    radicale = dav.daemon("radicale")
    pid = radicale.pid()
    assert pid is not None
    seen = len(read_events(dav.state))
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: (lambda p: p if p and p != pid else None)(radicale.pid()),
             "the supervisor to start Radicale again")
    wait_for(radicale.healthy, "Radicale to answer again")
    wait_for(lambda: ("radicale", "restarted") in [
        (e["service"], e["event"]) for e in read_events(dav.state)[seen:]],
        "the restart in the event log")
    alice = dav.account("alice")
    assert client(dav, alice).principal().calendars()


def test_wrong_dav_passwords_count_towards_the_lockouts(dav: MailStack) -> None:
    """10 different wrong passwords for one account from one address lock that account out
    there ([lockout] pair_failures), DAV as IMAP: the right password is refused from that
    address, and still works from another."""
    alice = dav.account("alice")
    guesser = "127.0.0.3"
    for n in range(10):
        assert status_of(dav, "PROPFIND", f"/{alice}/", alice, f"guess-{n}-{uuid.uuid4()}",
                         source=guesser) == 401
    assert status_of(dav, "PROPFIND", f"/{alice}/", alice, source=guesser) == 401
    assert status_of(dav, "PROPFIND", f"/{alice}/", alice) == 207
    # Locked out for IMAP too, from that address: one counter for every protocol.
    with pytest.raises(Exception, match="locked|AUTHENTICATIONFAILED|failed"):
        dav.imap(alice, source=guesser)


def test_app_passwords_log_in_to_caldav_and_stop_when_revoked(dav: MailStack) -> None:
    from zenmail.directory import apppasswords

    alice = dav.account("alice")
    phone = apppasswords.add(dav.ctx, alice, "iPhone").secret
    laptop = apppasswords.add(dav.ctx, alice, "Laptop").secret
    cal = client(dav, alice, phone).principal().calendars()[0]
    cal.save_event(event(f"{uuid.uuid4()}@acme.test", "From the phone"))
    assert len(client(dav, alice, laptop).principal().calendars()[0].events()) == 1
    assert status_of(dav, "PROPFIND", f"/{alice}/", alice) == 207  # the main one too
    [used] = [p for p in apppasswords.list_for(dav.ctx, alice) if p.name == "iPhone"]
    assert used.last_used_at is not None

    apppasswords.revoke(dav.ctx, alice, "iPhone")
    # Remembered a moment ago, refused at the very next request; the other device goes on.
    assert status_of(dav, "PROPFIND", f"/{alice}/", alice, phone) == 401
    assert status_of(dav, "PROPFIND", f"/{alice}/", alice, laptop) == 207

    apppasswords.set_required(dav.ctx, "acme", True)
    try:
        assert status_of(dav, "PROPFIND", f"/{alice}/", alice) == 401
        assert status_of(dav, "PROPFIND", f"/{alice}/", alice, laptop) == 207
    finally:
        apppasswords.set_required(dav.ctx, "acme", False)
    assert status_of(dav, "PROPFIND", f"/{alice}/", alice) == 207


def test_account_check_logs_in_to_the_real_caldav(dav: MailStack) -> None:
    from zenmail.devices import check

    alice = dav.account("alice")
    report = check.run(dav.ctx, dav.settings, alice, PASSWORD)
    assert [(s.name, s.ok) for s in report.steps][-1] == ("caldav", True), report.steps
    wrong = check.run(dav.ctx, dav.settings, alice, "not the password at all")
    assert ("caldav", False) in [(s.name, s.ok) for s in wrong.steps]
