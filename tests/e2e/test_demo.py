"""`zenmail demo` as a newcomer runs it: a subprocess, then a real IMAP login, then Ctrl-C."""

from __future__ import annotations

import imaplib
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.e2e.conftest import wait_for
from zenmail.config import Settings
from zenmail.stack import manager
from zenmail.stack.ports import STANDARD, free_ports, write_port_overrides

pytestmark = pytest.mark.e2e

def test_demo_runs_until_interrupted_and_users_can_log_in() -> None:
    if os.geteuid() != 0:
        pytest.skip("the demo starts Postfix and Dovecot, which needs root")
    state = Path(tempfile.mkdtemp(prefix="zenmail-e2e-demo-", dir="/tmp"))
    os.chmod(state, 0o755)
    ports = dict(zip(STANDARD, free_ports(len(STANDARD)), strict=True))
    write_port_overrides(state, ports)
    (state / "zenmail.toml").write_text("argon2_memory_kib = 1024\nargon2_time_cost = 1\n")
    log = state / "demo.out"
    with open(log, "wb") as out:
        demo = subprocess.Popen([sys.executable, "-m", "zenmail", "--state", str(state), "demo"],
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: b"Ctrl-C stops everything" in log.read_bytes() or demo.poll() is not None,
                 "the demo to print how to connect", timeout=120)
        text = log.read_text()
        assert demo.poll() is None, text
        assert f"port {ports['imap']} (STARTTLS)" in text
        password = re.search(r"alice@acme\.test\s+(\S+)", text)
        assert password, text
        tls = ssl.create_default_context(cafile=str(state / "tls" / "cert.pem"))
        m = imaplib.IMAP4("127.0.0.1", ports["imap"])
        m.starttls(tls)
        m.login("alice@acme.test", password.group(1))
        # Alice got the budget draft, the Wi-Fi notice and Bob's reply.
        n = wait_for(lambda: (lambda c: c if c >= 3 else None)(
            int(m.select("INBOX", readonly=True)[1][0])), "the demo mail to arrive")
        assert n == 3
        m.logout()
        if "Token" in text:
            assert re.search(r"Token\s+zm_\d+_\S+", text)
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=60) == 0
        assert "stopped" in log.read_text()
        assert not manager.status(Settings(state_dir=state)).running
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        manager.down(Settings(state_dir=state))
        shutil.rmtree(state, ignore_errors=True)
