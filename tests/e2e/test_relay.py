"""Mail to the outside world through a relay host (smarthost) with login and TLS.

The smarthost is a second zenmail stack, as a provider's would be: its submission port
(STARTTLS, then AUTH) with an account that is the relay login. It hosts `example.org`, the
"outside world" of these tests, so what it relays for us lands in one of its mailboxes,
readable over IMAP. It may send as any acme.test address through a catch-all, as a
provider lets a customer send as its own domain.
"""

from __future__ import annotations

import os
import re
import shutil
import ssl
import stat
import subprocess
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import HASHER, PASSWORD, MailStack, wait_for
from zenmail.config import Settings
from zenmail.db import Database
from zenmail.devtools.stackdir import new_state
from zenmail.directory import accounts, aliases, domains, tenants
from zenmail.directory.context import Actor, Ctx
from zenmail.stack import manager
from zenmail.stack.daemons.postfix import Postfix
from zenmail.stack.registry import Stack

pytestmark = [pytest.mark.e2e,
              # One backend is enough: what is tested is Postfix's side, not the directory.
              pytest.mark.parametrize("stack", ["sqlite"], indirect=True)]

RELAY_LOGIN = "relay@acme.test"


@pytest.fixture(scope="module")
def smarthost() -> Iterator[MailStack]:
    if os.geteuid() != 0:
        pytest.skip("the mail stack starts Postfix and Dovecot, which needs root")
    # Its own name: a Postfix that meets its own name in the greeting refuses to deliver
    # ("mail loops back to myself").
    settings = new_state("zenmail-e2e-smarthost-", hostname="smtp.provider.test")
    db = Database(settings.db_url)
    db.migrate()
    ctx = Ctx(db, Actor("test:e2e"), HASHER)
    tenants.add(ctx, "provider", "10G")
    for name in ("acme.test", "example.org"):
        domains.add(ctx, "provider", name)
    accounts.add(ctx, RELAY_LOGIN, password=PASSWORD, quota="100M")
    aliases.add(ctx, "@acme.test", [RELAY_LOGIN])  # the login may send as any acme.test
    try:
        manager.up(settings, with_api=False)
        tls = ssl.create_default_context(cafile=str(settings.state_dir / "tls" / "cert.pem"))
        yield MailStack(settings, db, ctx, Stack(settings).plan.ports(), tls)
    finally:
        manager.down(settings)
        db.dispose()
        shutil.rmtree(settings.state_dir, ignore_errors=True)


def through(smarthost: MailStack, stack: MailStack, **relay: object) -> Settings:
    """`stack`'s settings with the smarthost as its relay host. `localhost`: a name its
    self-signed certificate carries, so `verify` checks it against that certificate."""
    values = {"relay.host": "localhost", "relay.port": smarthost.ports["submission"],
              "relay.username": RELAY_LOGIN, "relay.password": PASSWORD,
              "relay.ca_file": str(smarthost.state / "tls" / "cert.pem")}
    values.update({f"relay.{k}": v for k, v in relay.items()})
    return stack.settings.with_values(values)


def postfix_of(stack: MailStack) -> Postfix:
    postfix = stack.daemon("postfix")
    assert isinstance(postfix, Postfix)
    return postfix


def test_mail_to_the_outside_leaves_through_the_relay_host_with_login(
        stack: MailStack, smarthost: MailStack) -> None:
    settings = through(smarthost, stack)
    try:
        manager.up(settings, with_api=False)
        sender, outsider = stack.account("alice"), smarthost.account("someone",
                                                                      domain="example.org")
        msg = stack.message(sender, outsider, "to the outside world")
        with stack.submission(sender) as c:
            c.sendmail(sender, [outsider], msg)
        [got] = smarthost.wait_messages(outsider, 1)
        assert got.endswith(msg)
        # Relayed by the smarthost for its logged-in customer, over TLS.
        log = (smarthost.state / "log" / "postfix.log").read_text()
        assert re.search(r"/submission/smtpd\[\d+\]: \w+: client=localhost\[127\.0\.0\.1\], "
                         rf"sasl_method=(PLAIN|LOGIN), sasl_username={re.escape(RELAY_LOGIN)}",
                         log), log[-2000:]
        ours = (stack.state / "log" / "postfix.log").read_text()
        assert re.search(rf"to=<{re.escape(outsider)}>, relay=localhost\[127\.0\.0\.1\]:"
                         rf"{smarthost.ports['submission']}, .*status=sent", ours)
        # The password is in one file only root can read, not in main.cf.
        conf = postfix_of(stack).conf_dir
        st = (conf / "relay_passwd").stat()
        assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 0
        assert PASSWORD not in (conf / "main.cf").read_text()
    finally:
        manager.up(stack.settings, with_api=False)


def test_refused_relay_login_keeps_the_mail_queued_until_it_is_fixed(
        stack: MailStack, smarthost: MailStack) -> None:
    postfix = postfix_of(stack)
    try:
        manager.up(through(smarthost, stack, password="not-the-password"), with_api=False)
        sender, outsider = stack.account("bob"), smarthost.account("partner",
                                                                    domain="example.org")
        msg = stack.message(sender, outsider, "wait for the right password")
        with stack.submission(sender) as c:
            c.sendmail(sender, [outsider], msg)

        def deferred_for_auth() -> dict[str, object] | None:
            for entry in postfix.queue():
                if entry["queue_name"] != "deferred":  # still being tried: not settled yet
                    continue
                for r in entry["recipients"]:
                    if r["address"] == outsider and "authentication failed" in r.get(
                            "delay_reason", ""):
                        return dict(entry)
            return None

        entry = wait_for(deferred_for_auth, "the message deferred for the refused login")
        assert isinstance(entry, dict) and entry["queue_name"] == "deferred"
        assert smarthost.messages(outsider) == []
        # The right password, and the waiting mail goes out: deferred, never lost.
        manager.up(through(smarthost, stack), with_api=False)
        postfix.flush()
        [got] = smarthost.wait_messages(outsider, 1)
        assert got.endswith(msg)
        wait_for(lambda: all(r["address"] != outsider for e in postfix.queue()
                             for r in e["recipients"]), "the queue to let go of the message")
    finally:
        manager.up(stack.settings, with_api=False)


def test_an_unverifiable_relay_certificate_keeps_the_mail_queued(
        stack: MailStack, smarthost: MailStack) -> None:
    postfix = postfix_of(stack)
    smarthost_log = smarthost.state / "log" / "postfix.log"
    logins = smarthost_log.read_text().count(f"sasl_username={RELAY_LOGIN}")
    # `verify` against the system's authorities: the smarthost's self-signed certificate is
    # not among them, so the login is never sent to it.
    manager.up(through(smarthost, stack, ca_file=""), with_api=False)
    sender, outsider = stack.account("carol"), smarthost.account("wary", domain="example.org")
    try:
        with stack.submission(sender) as c:
            c.sendmail(sender, [outsider], stack.message(sender, outsider, "not verified"))

        def deferred_for_tls() -> bool:
            return any(r["address"] == outsider and "certificate" in r.get("delay_reason", "")
                       for e in postfix.queue() for r in e["recipients"])

        wait_for(deferred_for_tls, "the message deferred for the unverified certificate")
        assert smarthost.messages(outsider) == []
        assert smarthost_log.read_text().count(f"sasl_username={RELAY_LOGIN}") == logins
    finally:
        manager.up(stack.settings, with_api=False)
        for entry in postfix.queue():
            if any(r["address"] == outsider for r in entry["recipients"]):
                subprocess.run(["postsuper", "-c", str(postfix.conf_dir), "-d",
                                str(entry["queue_id"])], check=True, capture_output=True)
