"""Operating the stack: CLI commands, idempotent `up`, side-by-side stacks, clear errors,
lazy_expunge — against real daemons."""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from tests.e2e.conftest import PASSWORD, MailStack
from zenmail.config import Settings
from zenmail.errors import StackError
from zenmail.stack import manager
from zenmail.stack.commands import register
from zenmail.stack.ports import STANDARD, free_ports, write_port_overrides

pytestmark = pytest.mark.e2e


class _Obj:
    """What the zenmail CLI puts in ctx.obj: something with settings()."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def settings(self) -> Settings:
        return self._settings


def _cli() -> click.Group:
    group = click.Group("zenmail")
    register(group)
    return group


def test_cli_status_json_and_idempotent_up(stack: MailStack) -> None:
    before = manager.status(stack.settings)
    runner = CliRunner()
    result = runner.invoke(_cli(), ["up", "--no-api"], obj=_Obj(stack.settings))
    assert result.exit_code == 0, result.output
    assert "healthy" in result.output
    result = runner.invoke(_cli(), ["status", "--json"], obj=_Obj(stack.settings))
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


def test_second_stack_side_by_side_and_busy_port_error(stack: MailStack) -> None:
    if stack.settings.database_url:
        pytest.skip("one side-by-side run (on SQLite) is enough")
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
