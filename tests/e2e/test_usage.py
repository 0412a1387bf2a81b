"""Usage beside quotas: mail delivered by the real stack shows up as used bytes in the
directory — in the CLI and the API — without anyone asking Dovecot per account.

Dovecot's quota_clone plugin writes each mailbox's usage into `quota_usage` through its SQL
dict (on SQLite and on PostgreSQL: the stack fixture runs both), and the supervisor's sweep
corrects it from one doveadm call; the CLI and the API only read it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.e2e.conftest import MailStack, wait_for
from tests.unit.cli_fixtures import invoke_in
from tests.unit.test_api_fixtures import Server, token_for
from zenmail.directory import accounts, tenants
from zenmail.stack.daemons.dovecot import Dovecot

pytestmark = pytest.mark.e2e

BODY = ("u" * 76 + "\r\n") * 2000  # ~156 KB


def imap_used_kib(stack: MailStack, user: str) -> int:
    """What Dovecot itself reports over IMAP: GETQUOTAROOT's STORAGE usage, in KiB."""
    m = stack.imap(user)
    try:
        _, data = m.getquotaroot("INBOX")
    finally:
        m.logout()
    text = data[1][0].decode()  # '"User quota" (STORAGE used limit)'
    return int(text.rsplit("(STORAGE ", 1)[1].split()[0])


def used(stack: MailStack, user: str) -> int | None:
    return accounts.show(stack.ctx, user).used_bytes


def test_delivered_mail_grows_the_usage_shown_by_cli_and_api(stack: MailStack,
                                                              tmp_path: Path) -> None:
    user = stack.account("usage", quota="50M")
    quiet = stack.account("quiet")  # never gets mail: not measured, or 0 once swept
    tenant_before = tenants.show(stack.ctx, "acme").used_bytes
    assert used(stack, user) in (None, 0)  # (the supervisor's sweep may have run: 0)

    def deliver(n: int) -> int:
        with stack.smtp() as c:
            c.sendmail("partner@example.org", [user],
                       stack.message("partner@example.org", user, f"usage {n}", BODY))
        stack.wait_messages(user, n)
        return wait_for(lambda: (lambda u: u if u and u > (last or 0) else None)(
            used(stack, user)), f"usage of {user} after message {n}")  # type: ignore[return-value]

    last = None
    first = deliver(1)
    assert len(BODY) < first < len(BODY) + 4096  # the message and its headers
    assert abs(first / 1024 - imap_used_kib(stack, user)) < 1  # the figure Dovecot enforces
    last = first
    second = deliver(2)
    assert abs((second - first) - first) < 1024  # the same message again, doubled
    assert abs(second / 1024 - imap_used_kib(stack, user)) < 1
    assert tenants.show(stack.ctx, "acme").used_bytes == tenant_before + second
    assert used(stack, quiet) in (None, 0)

    # The CLI: JSON for scripts, "used" beside the quota and the pool for people.
    shown = invoke_in(stack.state, "--json", "account", "show", user)
    assert shown.code == 0, shown.stderr
    assert json.loads(shown.stdout)["used_bytes"] == second
    pool = invoke_in(stack.state, "--json", "quota", "show", "acme")
    assert pool.code == 0, pool.stderr
    rows = {a["address"]: a for a in json.loads(pool.stdout)["accounts"]}
    assert rows[user]["used_bytes"] == second and rows[quiet]["used_bytes"] in (None, 0)
    assert json.loads(pool.stdout)["used_bytes"] == tenant_before + second
    text = invoke_in(stack.state, "quota", "show", "acme").stdout
    assert "used" in text.splitlines()[0]

    # The API, served over HTTP from the same directory.
    server = Server(stack.db, tmp_path / "api").start()
    try:
        with server.client(token_for(stack.ctx, "ops@example.org")) as api:
            assert api.get(f"/api/v1/accounts/{user}").json()["used_bytes"] == second
            assert api.get("/api/v1/tenants/acme").json()["used_bytes"] == tenant_before + second
            listed = {a["address"]: a for a in api.get("/api/v1/accounts",
                                                        params={"tenant": "acme"}).json()}
            assert listed[user]["used_bytes"] == second
            assert api.get("/api/v1/tenants/acme/pool").json()["used_bytes"] == (
                tenant_before + second)
    finally:
        server.stop()


def test_the_sweep_puts_back_what_dovecot_counts(stack: MailStack) -> None:
    """What quota_clone left wrong (two deliveries' copies landing out of order) or never
    wrote (mail from before the upgrade) is corrected by the supervisor's periodic sweep."""
    stale, unseen = stack.account("stale"), stack.account("unseen")
    for user in (stale, unseen):
        with stack.smtp() as c:
            c.sendmail("partner@example.org", [user],
                       stack.message("partner@example.org", user, "sweep", BODY))
        stack.wait_messages(user, 1)
    wait_for(lambda: used(stack, stale) and used(stack, unseen), "usage copied")
    truth = used(stack, stale)
    with stack.db.transaction() as s:
        s.execute(text("UPDATE quota_usage SET bytes = 1, messages = 7 WHERE username = :u"),
                  {"u": stale})
        s.execute(text("DELETE FROM quota_usage WHERE username = :u"), {"u": unseen})
    assert (used(stack, stale), used(stack, unseen)) == (1, None)

    dovecot = stack.daemon("dovecot")
    assert isinstance(dovecot, Dovecot)
    assert dovecot.sweep_usage() >= 2
    assert used(stack, stale) == truth
    assert abs(used(stack, unseen) / 1024 - imap_used_kib(stack, unseen)) < 1  # type: ignore[operator]
    assert dovecot.sweep_usage() == 0  # nothing changed since: nothing written
