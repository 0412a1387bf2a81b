"""`zenmail install-service` writes a systemd unit that systemd's own checker accepts and
that follows the supervisor of this state directory."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.unit.cli_fixtures import invoke_in
from zenmail.stack.files import Layout


def test_install_service_writes_a_unit_systemd_accepts(tmp_path: Path) -> None:
    target = tmp_path / "units" / "zenmail.service"
    r = invoke_in(tmp_path / "state", "install-service", "--path", str(target))
    assert r.code == 0, r.stderr
    assert "systemctl daemon-reload" in r.stdout
    text = target.read_text()
    state = Path(text.split("--state ", 1)[1].split()[0])
    assert f"PIDFile={Layout.of(state).pidfile('supervisor')}" in text
    assert "Restart=always" in text and "KillMode=process" in text
    assert " up\n" in text and " down\n" in text
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    check = subprocess.run(["systemd-analyze", "verify", str(target)], capture_output=True,
                           text=True, timeout=60)
    problems = [line for line in (check.stdout + check.stderr).splitlines()
                if str(target) in line]
    assert not problems, problems
