"""The rendered configuration, checked by the daemons' own parsers."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from zenmail.config import load_settings
from zenmail.db import Database
from zenmail.devtools.filtering import write_signatures
from zenmail.devtools.stackdir import new_state
from zenmail.stack import generations
from zenmail.stack.manager import prepare
from zenmail.stack.registry import Stack

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("plan", ["dev", "standard"])
def test_rendered_configuration_passes_the_daemons_checks(plan: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("rendering sets owners for the postfix and mail users: needs root")
    settings = new_state("zenmail-e2e-render-").with_values({"ports.plan": plan})
    state = settings.state_dir
    # Every daemon of the registry renders and passes its checker, the filters included.
    write_signatures(state / "clamav-db")
    settings = settings.with_values({"filter.enabled": True,
                                     "filter.clamav_db": str(state / "clamav-db")})
    try:
        db = Database(settings.db_url)
        db.migrate()
        db.dispose()
        stack = Stack(settings)
        prepare(settings, stack)
        staged = {s.name: s.stage() for s in stack.start_order()}  # each runs its checker
        assert all(staged[n] for n in ("dovecot", "postfix", "redis", "clamav", "rspamd"))
        main_cf = (staged["postfix"].directory / "main.cf").read_text()
        assert "smtpd_sender_login_maps = sqlite:" in main_cf
        assert f"lmtp:unix:{state.resolve()}/run/dovecot/lmtp" in main_cf
        master_cf = (staged["postfix"].directory / "master.cf").read_text()
        smtp = stack.plan["submission"]
        assert (f"\n{smtp} inet" if plan == "standard" else f"\n127.0.0.1:{smtp} inet") \
            in master_cf
        assert "{{" not in main_cf + master_cf
        assert (state / "tls" / "key.pem").stat().st_mode & 0o077 == 0
        # Once live, the same settings render the same generation: nothing to reload.
        generations.activate(staged["dovecot"])
        again = stack.services["dovecot"].stage()
        assert again is not None and not again.changed
    finally:
        shutil.rmtree(state, ignore_errors=True)


@pytest.mark.parametrize("plan,relay,expected", [
    # Standard plan, no relay: each domain's MX from DNS, opportunistic TLS.
    ("standard", {}, {"relayhost": "", "defer_transports": "",
                      "smtp_dns_support_level": "enabled", "smtp_tls_security_level": "may"}),
    # Dev plan, no relay: no DNS, and mail to other domains waits in the queue.
    ("dev", {}, {"relayhost": "", "defer_transports": "smtp",
                 "smtp_dns_support_level": "disabled", "smtp_sasl_auth_enable": "no"}),
    # A relay host, in either plan: everything through it, TLS verified, with the login.
    ("standard", {"relay.host": "smtp.provider.example", "relay.username": "acme",
                  "relay.password": "s3cret:with colon"},
     {"relayhost": "[smtp.provider.example]:587", "defer_transports": "",
      "smtp_tls_security_level": "secure", "smtp_sasl_auth_enable": "yes",
      "smtp_tls_CAfile": "/etc/ssl/certs/ca-certificates.crt"}),
    ("dev", {"relay.host": "2001:db8::25", "relay.port": 2525, "relay.tls": "encrypt"},
     {"relayhost": "[ipv6:2001:db8::25]:2525", "defer_transports": "",
      "smtp_tls_security_level": "encrypt", "smtp_sasl_auth_enable": "no"}),
])
def test_mail_to_other_domains_per_plan_and_relay(plan: str, relay: dict[str, object],
                                                  expected: dict[str, str]) -> None:
    if os.geteuid() != 0:
        pytest.skip("rendering sets owners for the postfix user: needs root")
    state = new_state("zenmail-e2e-render-").state_dir
    try:
        settings = load_settings(state).with_values({"ports.plan": plan, **relay})
        postfix = Stack(settings).services["postfix"]
        staged = generations.stage(postfix.conf_dir, postfix.render)
        out = subprocess.run(["postconf", "-c", str(staged.directory), "-h", *expected],
                             check=True, capture_output=True, text=True).stdout.splitlines()
        assert dict(zip(expected, out, strict=True)) == expected
        passwd = staged.directory / "relay_passwd"
        if relay.get("relay.username"):
            assert passwd.read_text() == (f"{expected['relayhost']} acme:s3cret:with colon\n")
            assert passwd.stat().st_mode & 0o077 == 0
        else:
            assert not passwd.exists()
    finally:
        shutil.rmtree(state, ignore_errors=True)
