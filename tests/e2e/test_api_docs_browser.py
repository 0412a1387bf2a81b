"""/api/docs as a person sees it: rendered by a real browser (Debian's headless Chromium).

A check of the HTTP status cannot see what went wrong before: the page loaded, and the
bundled Swagger UI 4 then showed "Unable to render this definition" for the OpenAPI 3.1
document FastAPI publishes. Here the browser runs the page's JavaScript, fetches the document
and renders it, with every host but 127.0.0.1 unresolvable, so what renders needed no internet.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.unit.test_api_fixtures import Server
from zenmail.db import Database

pytestmark = pytest.mark.e2e

CHROMIUM = "chromium"  # Debian's package (scripts/install-system.sh); never a downloaded build


def rendered_dom(url: str, profile: Path) -> str:
    """The DOM of `url` once its scripts have run (virtual time: no fixed sleep)."""
    binary = shutil.which(CHROMIUM)
    if binary is None:
        pytest.fail("chromium is not installed; run scripts/install-system.sh as root")
    done = subprocess.run(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         f"--user-data-dir={profile}", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
         "--virtual-time-budget=20000", "--dump-dom", url],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_swagger_ui_renders_every_operation(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'directory.db'}")  # the docs read no data
    server = Server(database, tmp_path / "state").start()
    try:
        spec = server.app.openapi()
        dom = rendered_dom(f"{server.url}/api/docs", tmp_path / "profile")
    finally:
        server.stop()
        database.dispose()
    assert spec["openapi"].startswith("3.1")  # what Swagger UI 4 could not display
    assert "Unable to render" not in dom
    assert "zenmail API" in dom
    shown = re.findall(r'class="opblock-summary-path" data-path="([^"]+)"', dom)
    assert "/api/v1/tenants" in shown
    operations = [path for path, ops in spec["paths"].items() for _ in ops]
    assert sorted(shown) == sorted(operations)
