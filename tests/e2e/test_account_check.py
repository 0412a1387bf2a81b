"""`zenmail account check`: the paths a device uses, tried for real against the stack, and
what fails said in plain words."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import PASSWORD, MailStack
from tests.unit.cli_fixtures import invoke_in
from zenmail.config import Settings
from zenmail.devices import check
from zenmail.directory import apppasswords, domains, tenants
from zenmail.stack.ports import free_ports
from zenmail.stack.registry import DAEMONS


def closed_port() -> int:
    # Nothing listens there, and the other test worker is never handed it either.
    return free_ports(1)[0]


def no_dav(settings: Settings) -> Settings:
    """The stack's settings with the CalDAV URL on a port where nothing listens (a DAV
    daemon of another test stack may hold the dev plan's default port)."""
    return settings.model_copy(update={"devices": settings.devices.model_copy(
        update={"dav_url": f"http://127.0.0.1:{closed_port()}/"})})


def test_an_app_password_passes_every_path(stack: MailStack) -> None:
    alice = stack.account("alice")
    secret = apppasswords.add(stack.ctx, alice, "iPhone").secret
    report = check.run(stack.ctx, no_dav(stack.settings), alice, secret)
    assert report.ok, report
    assert report.credential == "app password 'iPhone'"
    assert [(s.name, s.ok) for s in report.steps] == [
        ("directory", True), ("imap", True), ("submission", True), ("caldav", None)]
    assert "no CalDAV server" in report.steps[-1].detail


def test_a_wrong_password_is_named_with_what_to_do(stack: MailStack) -> None:
    bob = stack.account("bob")
    report = check.run(stack.ctx, no_dav(stack.settings), bob, "not the password at all")
    assert not report.ok and report.credential == "unknown"
    steps = {s.name: s for s in report.steps}
    assert steps["directory"].ok is False and "matches nothing" in steps["directory"].detail
    assert steps["imap"].ok is False and "AUTHENTICATIONFAILED" in steps["imap"].detail
    assert "app-password add" in steps["imap"].advice
    assert steps["submission"].ok is False and "535" in steps["submission"].detail


def test_a_tenant_that_requires_app_passwords_is_named(stack: MailStack) -> None:
    tenants.add(stack.ctx, "strict2", "1G")
    domains.add(stack.ctx, "strict2", "strict2.test")
    carol = stack.account("carol", domain="strict2.test")
    apppasswords.set_required(stack.ctx, "strict2", True)
    report = check.run(stack.ctx, no_dav(stack.settings), carol, PASSWORD)
    assert not report.ok and report.credential == "main password"
    steps = {s.name: s for s in report.steps}
    assert "requires app passwords" in steps["imap"].advice
    assert steps["imap"].ok is False


def test_a_stopped_service_is_named(stack: MailStack) -> None:
    dave = stack.account("dave")
    pins = dict(stack.settings.ports.pins, imaps=closed_port())
    elsewhere = no_dav(stack.settings).model_copy(update={
        "ports": stack.settings.ports.model_copy(update={"pins": pins})})
    report = check.run(stack.ctx, elsewhere, dave, PASSWORD)
    imap = next(s for s in report.steps if s.name == "imap")
    assert imap.ok is False and "nothing answers" in imap.detail
    assert "zenmail up" in imap.advice
    assert next(s for s in report.steps if s.name == "submission").ok is True


def test_the_command_reads_the_credential_from_stdin(stack: MailStack) -> None:
    erin = stack.account("erin")
    out = invoke_in(stack.state, "account", "check", erin, "--json", stdin=PASSWORD + "\n",
                    env={"ZENMAIL_DEVICES_DAV_URL": f"http://127.0.0.1:{closed_port()}/"})
    assert out.code == 0, out.stdout + out.stderr
    report = json.loads(out.stdout)
    assert report["ok"] and report["credential"] == "main password"
    assert PASSWORD not in out.stdout
    out = invoke_in(stack.state, "account", "check", erin, stdin="wrong wrong wrong\n",
                    env={"ZENMAIL_DEVICES_DAV_URL": f"http://127.0.0.1:{closed_port()}/"})
    assert out.code == 1
    assert "FAIL  imap" in out.stdout and "->" in out.stdout


def test_caldav_is_tried_with_the_same_credential(stack: MailStack) -> None:
    """With a DAV daemon in the stack (Radicale), the self-test logs in there too."""
    if not any(d.name == "radicale" for d in DAEMONS):
        pytest.skip("no DAV daemon in this stack's registry")
    fred = stack.account("fred")
    secret = apppasswords.add(stack.ctx, fred, "iPad").secret
    report = check.run(stack.ctx, stack.settings, fred, secret)
    caldav = next(s for s in report.steps if s.name == "caldav")
    assert caldav.ok is True, caldav
    assert report.ok
    # Calendars follow the same credentials: a revoked app password is refused there at its
    # next request, and a tenant that requires app passwords refuses the main password.
    apppasswords.revoke(stack.ctx, fred, "iPad")
    steps = {s.name: s for s in check.run(stack.ctx, stack.settings, fred, secret).steps}
    assert steps["caldav"].ok is False and "401" in steps["caldav"].detail
    tenants.add(stack.ctx, "strict3", "1G")
    domains.add(stack.ctx, "strict3", "strict3.test")
    gus = stack.account("gus", domain="strict3.test")
    other = apppasswords.add(stack.ctx, gus, "phone").secret
    apppasswords.set_required(stack.ctx, "strict3", True)
    steps = {s.name: s for s in check.run(stack.ctx, stack.settings, gus, PASSWORD).steps}
    assert steps["caldav"].ok is False
    steps = {s.name: s for s in check.run(stack.ctx, stack.settings, gus, other).steps}
    assert steps["caldav"].ok is True
