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

import httpx
import pytest

from tests.e2e.conftest import wait_for
from zenmail.config import Settings
from zenmail.devtools.stackdir import new_state
from zenmail.stack import manager
from zenmail.stack.registry import port_plan

pytestmark = pytest.mark.e2e

def test_demo_runs_until_interrupted_and_users_can_log_in() -> None:
    if os.geteuid() != 0:
        pytest.skip("the demo starts Postfix and Dovecot, which needs root")
    settings = new_state("zenmail-e2e-demo-")
    state, ports = settings.state_dir, port_plan(settings)
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
        token = re.search(r"Token\s+(zm_\d+_\S+)", text)
        assert token, text
        api = f"http://127.0.0.1:{ports['http']}/api/v1"
        r = httpx.get(f"{api}/tenants", headers={"Authorization": f"Bearer {token.group(1)}"})
        assert r.status_code == 200 and [t["name"] for t in r.json()] == ["acme"], r.text
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
