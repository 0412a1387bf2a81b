"""The REST API and console as a supervised process of the stack.

`python -m zenmail.stack.api --state DIR` serves `zenmail.web.app:create_app(settings)` with
uvicorn, using the settings `up` saved in STATE/run/settings.json (so environment overrides
given to `up` hold for the API too).
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import sys
from pathlib import Path

from zenmail.config import Settings
from zenmail.stack.files import Layout
from zenmail.stack.service import Service, spawn_detached


def available() -> bool:
    """The web app is written separately; the stack runs without it until it exists."""
    try:
        return importlib.util.find_spec("zenmail.web.app") is not None
    except ModuleNotFoundError:
        return False


def load_snapshot(state_dir: Path) -> Settings:
    return Settings.model_validate_json(Layout.of(state_dir).settings_snapshot.read_text())


HEALTH_PATH = "/api/v1/health"  # 200 once the app is up and its database reachable


class Api(Service):
    name = "api"
    process_name = "zenmail.stack.api"

    @property
    def logfile(self) -> Path:
        return self.layout.log / "api.log"

    def pidfile(self) -> Path:
        return self.layout.pidfile("api")

    def render(self) -> None:
        pass  # configured by the settings snapshot

    def _launch(self) -> None:
        pid = spawn_detached([sys.executable, "-m", "zenmail.stack.api", "--state",
                              str(self.layout.state)], self.logfile)
        self.pidfile().write_text(f"{pid}\n")

    def healthy(self) -> bool:
        if self.pid() is None:
            return False
        try:
            conn = http.client.HTTPConnection(self.ports.http_host, self.ports.http, timeout=3)
            conn.request("GET", HEALTH_PATH)
            ok = conn.getresponse().status == 200
            conn.close()
            return ok
        except OSError:
            return False

    def endpoints(self) -> dict[str, str]:
        return {"http": self.ports.endpoints()["http"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state", required=True, type=Path)
    args = parser.parse_args()
    settings = load_snapshot(args.state)
    import uvicorn

    from zenmail.stack.ports import plan
    from zenmail.web.app import create_app  # type: ignore[import-not-found]

    p = plan(settings)
    uvicorn.run(create_app(settings), host=p.http_host, port=p.http, log_level="warning")


if __name__ == "__main__":
    main()
