"""The supervisor runs each daemon's chore (Dovecot's usage sweep) on time, one at a time,
only while the daemon runs, and survives a chore that fails."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from zenmail.config import Settings
from zenmail.errors import StackError
from zenmail.stack import supervisor
from zenmail.stack.daemons.dovecot import parse_usage
from zenmail.stack.supervisor import Supervisor, _Watch


class Chorer:
    name = "fake"
    chore_every = 60.0

    def __init__(self, fail: bool = False) -> None:
        self.running: int | None = 4242
        self.runs = 0
        self.fail = fail
        self.release = threading.Event()

    def pid(self) -> int | None:
        return self.running

    def chore(self) -> None:
        self.runs += 1
        self.release.wait(5)
        if self.fail:
            raise StackError("doveadm said no")


def supervised(tmp_path: Path, svc: Chorer) -> Supervisor:
    sup = Supervisor(Settings(state_dir=tmp_path), [])
    sup.watches = [_Watch(svc)]  # type: ignore[arg-type]
    return sup


def settle(sup: Supervisor) -> None:
    for w in sup.watches:
        if w.chore is not None:
            w.chore.join(5)


def test_chores_run_after_the_delay_then_every_period(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervisor, "CHORE_DELAY", 0.0)
    svc = Chorer()
    sup = supervised(tmp_path, svc)
    now = time.monotonic()
    sup._chores(now)
    sup._chores(now + 61)  # due again, but the first run has not finished: not started twice
    svc.release.set()
    settle(sup)
    assert svc.runs == 1
    sup._chores(now + 62)  # the run it skipped
    settle(sup)
    assert svc.runs == 2
    sup._chores(now + 100)  # before its next period
    settle(sup)
    assert svc.runs == 2
    svc.running = None  # a dead daemon gets no chore (the supervisor restarts it first)
    sup._chores(now + 200)
    settle(sup)
    assert svc.runs == 2


def test_a_failing_chore_is_logged_and_tried_again(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(supervisor, "CHORE_DELAY", 0.0)
    svc = Chorer(fail=True)
    svc.release.set()
    sup = supervised(tmp_path, svc)
    now = time.monotonic()
    sup._chores(now)
    settle(sup)
    assert "fake chore failed: doveadm said no" in capsys.readouterr().err
    sup._chores(now + 61)
    settle(sup)
    assert svc.runs == 2


def test_parse_usage_reads_dovecots_columns_by_name() -> None:
    table = ("Username\tmessages\tvsize\n"
             "alice@acme.test\t3\t150000\n"
             "bob@acme.test\t0\t0\n")
    assert parse_usage(table) == {"alice@acme.test": (150000, 3), "bob@acme.test": (0, 0)}
    assert parse_usage("username\tvsize\tmessages\nc@acme.test\t10\t1\n") == {
        "c@acme.test": (10, 1)}
    assert parse_usage("") == {}
    with pytest.raises(StackError, match="unexpected header"):
        parse_usage("Username\tmessages\n")
    with pytest.raises(StackError, match="unexpected line"):
        parse_usage("Username\tmessages\tvsize\nalice@acme.test\tthree\t1\n")
