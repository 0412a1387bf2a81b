"""Operating the stack: CLI commands, idempotent `up`, side-by-side stacks, clear errors,
lazy_expunge — against real daemons."""

from __future__ import annotations

import imaplib
import json
import os
import shutil
import signal
import smtplib
import socket
import ssl
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.e2e.conftest import HASHER, PASSWORD, MailStack, wait_for
from zenmail.cli import cli
from zenmail.cli.app import App
from zenmail.config import Settings
from zenmail.db import Database
from zenmail.devtools.stackdir import new_state
from zenmail.directory import accounts, domains, tenants
from zenmail.directory.context import Actor, Ctx
from zenmail.errors import SchemaOutdated, StackError
from zenmail.stack import manager, proc
from zenmail.stack.registry import Stack
from zenmail.stack.supervisor import SupervisorProcess, read_events

pytestmark = pytest.mark.e2e


def test_cli_status_json_and_idempotent_up(stack: MailStack) -> None:
    before = manager.status(stack.settings)
    runner = CliRunner()
    result = runner.invoke(cli, ["up", "--no-api"], obj=App(stack.settings))
    assert result.exit_code == 0, result.output
    assert "healthy" in result.output
    result = runner.invoke(cli, ["status", "--json"], obj=App(stack.settings))
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["healthy"] is True
    assert data["endpoints"]["smtp"] == f"127.0.0.1:{stack.ports['smtp']}"
    after = {s["name"]: s["pid"] for s in data["services"]}
    # `up` on a running stack reloads the daemons in place instead of restarting them.
    assert after["dovecot"] == before.service("dovecot").pid
    assert after["postfix"] == before.service("postfix").pid


def test_deleted_mail_is_kept_by_lazy_expunge(stack: MailStack) -> None:
    user = stack.account("keeper")
    msg = stack.message("partner@example.org", user, "keep me recoverable")
    with stack.smtp() as c:
        c.sendmail("partner@example.org", [user], msg)
    stack.wait_messages(user, 1)
    m = stack.imap(user, PASSWORD)
    m.select("INBOX")
    m.store("1", "+FLAGS", "(\\Deleted)")
    m.expunge()
    m.logout()
    assert stack.messages(user) == []
    [kept] = stack.messages(user, "Expunged")
    assert kept.endswith(msg)


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)  # one backend is enough here
def test_second_stack_side_by_side_on_ipv4_and_ipv6_with_its_own_mail_store(
        stack: MailStack) -> None:
    store = Path(tempfile.mkdtemp(prefix="zenmail-e2e-store-", dir="/tmp"))
    os.chmod(store, 0o755)
    second = new_state("zenmail-e2e-2-", listen={"addresses": ["127.0.0.1", "::1"]},
                       mail={"store": str(store / "mail")})
    state, ports = second.state_dir, Stack(second).plan
    db = Database(second.db_url)
    db.migrate()
    ctx = Ctx(db, Actor("test:e2e"), HASHER)
    tenants.add(ctx, "globex", "1G")
    domains.add(ctx, "globex", "globex.test")
    accounts.add(ctx, "hank@globex.test", password=PASSWORD, quota="100M")
    try:
        # A port held by someone else: a clear error naming it, and nothing left running.
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", ports["imap"]))
            holder.listen()
            with pytest.raises(StackError, match=f"port {ports['imap']} \\(imap\\)"):
                manager.up(second, with_api=False)
        assert not manager.status(second).running
        st = manager.up(second, with_api=False)
        assert st.healthy
        assert st.service("dovecot").pid != manager.status(stack.settings).service(
            "dovecot").pid
        # Mail in over IPv6, read over IPv4 and IPv6; it lands in the configured store.
        with smtplib.SMTP("::1", ports["smtp"], timeout=30) as c:
            c.sendmail("partner@example.org", ["hank@globex.test"],
                       b"Subject: over IPv6\r\n\r\nHello.\r\n")
        tls = ssl.create_default_context(cafile=str(state / "tls" / "cert.pem"))
        for host in ("127.0.0.1", "::1"):
            def arrived(host: str = host) -> bool:
                m = imaplib.IMAP4(host, ports["imap"], timeout=30)
                m.starttls(tls)
                m.login("hank@globex.test", PASSWORD)
                n = int(m.select("INBOX", readonly=True)[1][0])
                m.logout()
                return n == 1
            wait_for(arrived, f"the message in hank's INBOX, read over {host}")
        assert list((store / "mail" / "globex.test" / "hank").glob("Maildir/new/*"))
        manager.down(second)
        assert not manager.status(second).running
        assert manager.status(stack.settings).healthy
    finally:
        manager.down(second)
        db.dispose()
        shutil.rmtree(state, ignore_errors=True)
        shutil.rmtree(store, ignore_errors=True)


def test_up_never_migrates_and_refuses_a_database_without_the_schema() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root, like the stack")
    fresh = new_state("zenmail-e2e-noschema-")
    try:
        with pytest.raises(SchemaOutdated, match="zenmail db upgrade"):
            manager.up(fresh, with_api=False)
        db = Database(fresh.db_url)
        assert db.schema_state().current is None  # checked, not migrated
        db.dispose()
        assert not manager.status(fresh).running
    finally:
        manager.down(fresh)
        shutil.rmtree(fresh.state_dir, ignore_errors=True)


def test_state_dir_the_daemons_cannot_enter_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root, like the stack")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o700)
    with pytest.raises(StackError, match="cannot be entered"):
        manager.up(Settings(state_dir=locked / "state"), with_api=False)


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)  # backoff is database-blind
def test_supervisor_backs_off_while_a_restart_fails(stack: MailStack) -> None:
    dovecot = stack.daemon("dovecot")
    supervisor = SupervisorProcess(Stack(stack.settings)).pid()
    old = dovecot.pid()
    assert supervisor and old
    seen = len(read_events(stack.state))
    os.kill(supervisor, signal.SIGSTOP)
    holder = socket.socket()
    try:
        os.kill(old, signal.SIGKILL)
        # Dovecot's workers close their listeners once the master is gone; then squat its
        # IMAP port so every restart fails.
        wait_for(lambda: not proc.tcp_open("127.0.0.1", stack.ports["imap"]),
                 "dovecot's IMAP port to close")
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", stack.ports["imap"]))
        holder.listen()
    finally:
        os.kill(supervisor, signal.SIGCONT)

    def failures() -> list[dict]:
        return [e for e in read_events(stack.state)[seen:]
                if e["service"] == "dovecot" and e["event"] == "restart_failed"]

    wait_for(lambda: len(failures()) >= 3, "three failed restarts")
    holder.close()
    assert [f["retry_in_s"] for f in failures()[:3]] == [1.0, 2.0, 4.0]
    assert "Address already in use" in failures()[0]["error"]
    new = wait_for(dovecot.pid, "dovecot to come back once the port is free")
    assert new != old
    wait_for(lambda: manager.status(stack.settings).healthy, "the stack to be healthy again")
