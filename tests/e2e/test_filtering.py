"""The filtered path end to end: real rspamd (a milter on a unix socket), real clamd with a
signature database the test writes, real Redis, a DNS server on loopback; mail sent with
smtplib, read back with imaplib. One stack for the module (SQLite: the filter does not read
the directory's backend)."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import smtplib
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import dkim
import pytest

from tests.e2e.conftest import DOMAIN, MailStack, _start, wait_for
from zenmail.devtools.filtering import (
    EICAR,
    GTUBE,
    GTUBE_JUNK,
    DnsServer,
    eicar_zip,
    write_signatures,
)
from zenmail.directory import accounts
from zenmail.stack.manager import status

OUTSIDE = "news@outside.example"


@pytest.fixture(scope="module")
def dns() -> Iterator[DnsServer]:
    server = DnsServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def fstack(dns: DnsServer) -> Iterator[MailStack]:
    if os.geteuid() != 0:
        pytest.skip("the mail stack needs root")
    sigs = Path(tempfile.mkdtemp(prefix="zenmail-clamdb-", dir="/tmp"))
    write_signatures(sigs)
    try:
        yield from _start("", filter={"enabled": True, "clamav_db": str(sigs),
                                      "nameservers": [dns.address], "dnsbl": False,
                                      "test_patterns": True})
    finally:
        shutil.rmtree(sigs, ignore_errors=True)


def _mail(sender: str, to: str, subject: str, body: str | bytes,
          attachment: tuple[str, bytes, str] | None = None) -> bytes:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = sender, to, subject
    m["Date"] = "Fri, 27 Nov 2026 10:00:00 +0000"
    m["Message-ID"] = f"<{os.urandom(6).hex()}@outside.example>"
    m.set_content(body.decode() if isinstance(body, bytes) else body)
    if attachment:
        name, data, ctype = attachment
        maintype, subtype = ctype.split("/")
        m.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return m.as_bytes()


def _refusal(stack: MailStack, to: str, raw: bytes) -> tuple[int, str]:
    c = stack.smtp()
    try:
        c.sendmail(OUTSIDE, [to], raw)
    except smtplib.SMTPDataError as exc:
        return exc.smtp_code, exc.smtp_error.decode()
    finally:
        c.quit()
    return 250, ""


def test_filter_daemons_run_on_private_sockets(fstack: MailStack) -> None:
    st = status(fstack.settings)
    assert st.service("rspamd").healthy and st.service("clamav").healthy
    # Nothing on rspamd's stock TCP ports: its workers listen on unix sockets of the stack.
    assert not st.service("rspamd").endpoints
    sockets = sorted(p.name for p in (fstack.state / "run" / "rspamd").glob("*.sock"))
    assert sockets == ["controller.sock", "milter.sock"]
    main_cf = (fstack.state / "postfix" / "etc" / "main.cf").read_text()
    assert f"smtpd_milters = unix:{fstack.state.resolve()}/run/rspamd/milter.sock" in main_cf


def test_gtube_is_refused_at_smtp_time(fstack: MailStack) -> None:
    bob = fstack.account("bob")
    code, text = _refusal(fstack, bob, _mail(OUTSIDE, bob, "offer", GTUBE))
    assert code == 554 and text.startswith("5.7.1") and "Gtube" in text, (code, text)
    ok = fstack.account("ok")
    assert _refusal(fstack, ok, _mail(OUTSIDE, ok, "lunch", "Lunch tomorrow at noon?"))[0] == 250
    got = fstack.wait_messages(ok, 1)
    assert b"X-Spamd-Result:" in got[0] and b"X-Spam: Yes" not in got[0]
    assert fstack.messages(bob) == []


def test_spam_gets_headers_and_goes_to_junk(fstack: MailStack) -> None:
    carol = fstack.account("carol")
    assert _refusal(fstack, carol, _mail(OUTSIDE, carol, "cheap", GTUBE_JUNK))[0] == 250
    junk = fstack.wait_messages(carol, 1, mailbox="Junk")
    assert b"X-Spam: Yes" in junk[0]
    assert fstack.messages(carol) == []  # not in the inbox


@pytest.mark.parametrize("how", ["plain", "zipped"])
def test_eicar_is_refused(fstack: MailStack, how: str) -> None:
    dave = fstack.account("dave")
    part = (("invoice.com", EICAR, "application/octet-stream") if how == "plain"
            else ("invoice.zip", eicar_zip(), "application/zip"))
    code, text = _refusal(fstack, dave, _mail(OUTSIDE, dave, "invoice", "See attached.",
                                              attachment=part))
    assert code == 554 and "virus" in text and "Eicar-Test-Signature" in text, (code, text)
    assert fstack.messages(dave) == []


def test_submission_is_scanned_too(fstack: MailStack) -> None:
    erin, frank = fstack.account("erin"), fstack.account("frank")
    c = fstack.submission(erin)
    try:
        with pytest.raises(smtplib.SMTPDataError) as exc:
            c.sendmail(erin, [frank], _mail(erin, frank, "fwd", "See attached.",
                                            attachment=("x.zip", eicar_zip(),
                                                        "application/zip")))
        assert exc.value.smtp_code == 554
    finally:
        c.quit()
    assert fstack.messages(frank) == []
    assert DOMAIN in frank


# ---------------------------------------------------------------- DKIM and `zenmail dns`

def _zenmail(stack: MailStack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "zenmail", "--state", str(stack.state),
                           *args], capture_output=True, text=True, timeout=60)


def test_outbound_mail_is_dkim_signed_with_the_published_key(fstack: MailStack,
                                                             dns: DnsServer) -> None:
    erin, frank, gina = (fstack.account(n) for n in ("erin", "frank", "gina"))
    c = fstack.submission(erin)
    try:
        c.sendmail(erin, [frank], _mail(erin, frank, "quarterly figures", "Attached soon."))
    finally:
        c.quit()
    signed = fstack.wait_messages(frank, 1)[0]
    assert b"DKIM-Signature:" in signed
    out = _zenmail(fstack, "dns", DOMAIN, "--json")
    assert out.returncode == 0, out.stderr
    published = {(r["name"], r["type"]): r["value"] for r in json.loads(out.stdout)["records"]}
    assert {(f"{DOMAIN}.", "MX"), (f"{DOMAIN}.", "TXT"), (f"_dmarc.{DOMAIN}.", "TXT"),
            (f"_mta-sts.{DOMAIN}.", "TXT"), (f"_smtp._tls.{DOMAIN}.", "TXT"),
            (f"_submission._tcp.{DOMAIN}.", "SRV")} <= set(published)
    (dkim_name, _), = [k for k in published if "._domainkey." in k[0]]

    def txt(name: bytes, timeout: int = 5) -> bytes | None:
        return published[(dkim_name, "TXT")].encode() if name.decode() == dkim_name else None

    # Only the part Dovecot added on delivery precedes the signed headers.
    assert dkim.verify(signed, dnsfunc=txt)
    assert not dkim.verify(signed.replace(b"quarterly figures", b"quarterly fixtures"),
                           dnsfunc=txt)
    # rspamd checks it too on the way in, through the DNS server on loopback.
    dns.add(dkim_name, "TXT", published[(dkim_name, "TXT")])
    c = fstack.smtp(source="127.0.0.2")
    try:
        c.sendmail("relay@outside.example", [gina], signed)
    finally:
        c.quit()
    got = fstack.wait_messages(gina, 1)[0]
    assert re.search(rb"Authentication-Results:[^\n]*(\n\s[^\n]*)*dkim=pass", got), got.decode()


# ---------------------------------------------------------------- phishing and quarantine

def _held(stack: MailStack, *args: str) -> list[dict[str, object]]:
    out = _zenmail(stack, "quarantine", "list", "--json", *args)
    assert out.returncode == 0, out.stderr
    return list(json.loads(out.stdout))


def _send_outside(stack: MailStack, to: str, raw: bytes, sender: str = OUTSIDE) -> None:
    c = stack.smtp(source="127.0.0.2")
    try:
        c.sendmail(sender, [to], raw)
    finally:
        c.quit()


def _held_for(stack: MailStack, rcpt: str) -> dict[str, object]:
    found = wait_for(lambda: [h for h in _held(stack) if rcpt in h["recipients"]],
                     f"a held message to {rcpt}")
    return found[0]  # type: ignore[index,no-any-return]


def test_ceo_impersonation_is_held_and_released(fstack: MailStack) -> None:
    accounts.add(fstack.ctx, f"ceo@{DOMAIN}", password="x-" + os.urandom(8).hex(),
                 quota="10M", display_name="Carla Boss")
    rspamd = fstack.daemon("rspamd")
    rspamd.refresh()  # what its chore does every few seconds
    probe = _mail('"Carla Boss" <carla.boss@freemail.example>', f"ceo@{DOMAIN}", "x", "x")
    wait_for(lambda: "ZM_IMPERSONATION" in rspamd.check_message(  # type: ignore[attr-defined]
        probe, Rcpt=f"ceo@{DOMAIN}", IP="192.0.2.1")["symbols"], "rspamd to read the map")
    hank = fstack.account("hank")
    _send_outside(fstack, hank, _mail('"Carla Boss" <carla.boss@freemail.example>', hank,
                                      "urgent wire transfer", "Please pay this today."))
    held = _held_for(fstack, hank)
    assert any(str(r).startswith("ZM_IMPERSONATION") for r in held["reasons"])  # type: ignore[attr-defined]
    assert fstack.messages(hank) == []
    out = _zenmail(fstack, "quarantine", "release", str(held["id"]))
    assert out.returncode == 0, out.stderr
    assert b"urgent wire transfer" in fstack.wait_messages(hank, 1)[0]
    assert all(h["id"] != held["id"] for h in _held(fstack))


def test_lookalike_sender_is_held_and_deleted(fstack: MailStack) -> None:
    ivy = fstack.account("ivy")
    _send_outside(fstack, ivy, _mail("billing@acrne.test", ivy, "invoice", "Pay today."),
                  sender="billing@acrne.test")
    held = _held_for(fstack, ivy)
    assert any("ZM_LOOKALIKE_DOMAIN" in str(r) and "acrne.test" in str(r)
               for r in held["reasons"])  # type: ignore[attr-defined]
    out = _zenmail(fstack, "quarantine", "delete", str(held["id"]))
    assert out.returncode == 0, out.stderr
    assert all(h["id"] != held["id"] for h in _held(fstack))
    assert fstack.messages(ivy) == []
    bad = _zenmail(fstack, "quarantine", "delete", str(held["id"]))
    assert bad.returncode == 2 and "no held message" in bad.stderr


def test_link_mismatch_is_caught(fstack: MailStack) -> None:
    jo = fstack.account("jo")
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "service@bank.example", jo, "verify your account"
    m["Date"], m["Message-ID"] = "Fri, 27 Nov 2026 10:00:00 +0000", "<lm1@bank.example>"
    m.set_content("Verify at https://www.bank.example/login")
    m.add_alternative('<p>Verify at <a href="http://login.bank-verify.example/x">'
                      "https://www.bank.example/login</a></p>", subtype="html")
    _send_outside(fstack, jo, m.as_bytes(), sender="service@bank.example")
    held = _held_for(fstack, jo)
    assert any("ZM_LINK_MISMATCH" in str(r) for r in held["reasons"])  # type: ignore[attr-defined]


def _macro_docx() -> bytes:
    """A Word document with a VBA project, as Word saves one (vbaProject.bin inside)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        z.writestr("word/document.xml", "<w:document/>")
        z.writestr("word/vbaProject.bin", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504)
    return buf.getvalue()


@pytest.mark.parametrize("name, data, ctype, symbol", [
    ("report.docx", _macro_docx(), "application/vnd.openxmlformats-officedocument."
     "wordprocessingml.document", "ZM_MACRO_DOCUMENT"),
    ("invoice.pdf.exe", b"MZ" + b"\0" * 200, "application/octet-stream",
     "ZM_RISKY_ATTACHMENT"),
])
def test_risky_attachments_are_held(fstack: MailStack, name: str, data: bytes, ctype: str,
                                    symbol: str) -> None:
    kim = fstack.account("kim")
    _send_outside(fstack, kim, _mail(OUTSIDE, kim, "documents", "See attached.",
                                     attachment=(name, data, ctype)))
    held = _held_for(fstack, kim)
    assert any(symbol in str(r) and name in str(r) for r in held["reasons"]), held  # type: ignore[attr-defined]
