"""The filtered path end to end: real rspamd (a milter on a unix socket), real clamd with a
signature database the test writes, real Redis, a DNS server on loopback; mail sent with
smtplib, read back with imaplib. One stack for the module (SQLite: the filter does not read
the directory's backend)."""

from __future__ import annotations

import os
import shutil
import smtplib
import tempfile
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.e2e.conftest import DOMAIN, MailStack, _start
from zenmail.devtools.filtering import (
    EICAR,
    GTUBE,
    GTUBE_JUNK,
    DnsServer,
    eicar_zip,
    write_signatures,
)
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
