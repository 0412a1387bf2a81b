"""Alert rules on a real database, both backends: an alert fires once while its condition
holds, is resolved once when it ends, and each change reaches a real webhook receiver."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from zenmail.config import Settings
from zenmail.db import Database
from zenmail.directory.context import Actor, Ctx
from zenmail.errors import PermissionDenied
from zenmail.stack.files import Layout
from zenmail.stack.supervisor import record
from zenmail.watch import alerts, history


@pytest.fixture(name="hook")
def hook_fixture() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A webhook receiver on loopback: (its URL, the JSON bodies it received)."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", received
    server.shutdown()


def _settings(tmp_path: Path, url: str, **alert_values: Any) -> Settings:
    s = Settings(state_dir=tmp_path)
    return s.with_values({"watch.webhook_url": url,
                          **{f"alerts.{k}": v for k, v in alert_values.items()}})


def test_a_failing_probe_fires_once_then_resolves(
        database: Database, tmp_path: Path, hook: tuple[str, list[dict[str, Any]]]) -> None:
    url, received = hook
    settings = _settings(tmp_path, url, probe_failures=3)
    t0 = datetime.now(UTC)

    def run(ok: bool) -> None:
        with database.transaction() as s:
            history.record(s, "roundtrip", ok, 0.1 if ok else None, "" if ok else "timed out")

    run(True)
    run(False)
    run(False)
    assert alerts.evaluate(settings, database, t0) == []  # two failures: not yet
    run(False)
    fired = alerts.evaluate(settings, database, t0 + timedelta(seconds=10))
    assert [(a.key, a.state) for a in fired] == [("probe_failing:roundtrip", "firing")]
    for n in range(5):  # still failing, evaluated again and again: nothing new is sent
        run(False)
        assert alerts.evaluate(settings, database, t0 + timedelta(minutes=n + 1)) == []
    run(True)
    resolved = alerts.evaluate(settings, database, t0 + timedelta(minutes=10))
    assert [(a.key, a.state) for a in resolved] == [("probe_failing:roundtrip", "resolved")]
    assert [(n["key"], n["state"]) for n in received] == [
        ("probe_failing:roundtrip", "firing"), ("probe_failing:roundtrip", "resolved")]
    assert "failed 3 times in a row" in received[0]["summary"]

    listed = alerts.listing(Ctx(database, Actor("test")))
    assert [(a.key, a.state) for a in listed] == [("probe_failing:roundtrip", "resolved")]
    with pytest.raises(PermissionDenied):
        alerts.listing(Ctx(database, Actor("it@b.test", tenant_id=1)))


def test_thresholds_come_from_the_settings_file(
        database: Database, tmp_path: Path, hook: tuple[str, list[dict[str, Any]]]) -> None:
    url, received = hook
    # Every volume has less than 100 % free and more than 0 %: the rule holds at one
    # threshold and not at the other.
    assert not alerts.evaluate(_settings(tmp_path, url, disk_free_percent=0), database)
    fired = alerts.evaluate(_settings(tmp_path, url, disk_free_percent=100), database)
    assert {a.key for a in fired} == {"disk_free:mail", "disk_free:state"}
    assert all(n["state"] == "firing" for n in received)


def test_too_many_restarts_fire_once(
        database: Database, tmp_path: Path, hook: tuple[str, list[dict[str, Any]]]) -> None:
    url, received = hook
    settings = _settings(tmp_path, url, restarts=3)
    layout = Layout.of(tmp_path)
    for _ in range(3):  # what the supervisor records at each restart
        record(layout, None, {"service": "dovecot", "event": "restarted", "pid": 1})
    assert alerts.evaluate(settings, database) == []  # 3 is not more than 3
    record(layout, None, {"service": "dovecot", "event": "restarted", "pid": 1})
    fired = alerts.evaluate(settings, database)
    assert [(a.key, a.state) for a in fired] == [("restarts:dovecot", "firing")]
    assert "restarted 4 times in 10 minutes" in fired[0].summary
    assert alerts.evaluate(settings, database) == []
    assert [n["key"] for n in received] == ["restarts:dovecot"]
