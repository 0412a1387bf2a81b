"""Operating the stack: CLI commands, idempotent `up`, side-by-side stacks, clear errors,
lazy_expunge — against real daemons."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.e2e.conftest import PASSWORD, MailStack, wait_for
from zenmail.cli import cli
from zenmail.cli.app import App
from zenmail.config import Settings
from zenmail.errors import StackError
from zenmail.stack import manager, proc
from zenmail.stack.dovecot import Dovecot
from zenmail.stack.ports import STANDARD, free_ports, write_port_overrides
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
def test_second_stack_side_by_side_and_busy_port_error(stack: MailStack) -> None:
    state = Path(tempfile.mkdtemp(prefix="zenmail-e2e-2-", dir="/tmp"))
    os.chmod(state, 0o755)
    ports = dict(zip(STANDARD, free_ports(len(STANDARD)), strict=True))
    write_port_overrides(state, ports)
    second = Settings(state_dir=state)
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
        manager.down(second)
        assert not manager.status(second).running
        assert manager.status(stack.settings).healthy
    finally:
        manager.down(second)
        shutil.rmtree(state, ignore_errors=True)


def test_state_dir_the_daemons_cannot_enter_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root, like the stack")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o700)
    with pytest.raises(StackError, match="cannot be entered"):
        manager.up(Settings(state_dir=locked / "state"), with_api=False)


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)  # backoff is database-blind
def test_supervisor_backs_off_while_a_restart_fails(stack: MailStack) -> None:
    dovecot = Dovecot(stack.settings)
    supervisor = SupervisorProcess(stack.settings).pid()
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
