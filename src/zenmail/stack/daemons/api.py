"""The REST API as a supervised process of the stack.

Started from its import path, `python -m zenmail.web --settings STATE/run/settings.json
--host H --port P`, so the stack never imports the web application: the API runs with the
settings `up` saved (environment overrides given to `up` included).
"""

from __future__ import annotations

import http.client
from typing import ClassVar

from zenmail.stack.base import PythonService
from zenmail.stack.ports import Port

HEALTH_PATH = "/api/v1/health"  # 200 once the app is up and its database reachable


class Api(PythonService):
    name = "api"
    module = "zenmail.web"
    ports = (Port("http", 8080, "api"),)
    optional = True
    start_timeout: ClassVar[float] = 30.0  # imports FastAPI and pydantic: seconds when cold

    def args(self) -> list[str]:
        return ["--settings", str(self.layout.settings_snapshot),
                "--host", self.plan.api_host, "--port", str(self.plan["http"])]

    def healthy(self) -> bool:
        if self.pid() is None:
            return False
        try:
            conn = http.client.HTTPConnection(self.plan.api_host, self.plan["http"], timeout=3)
            conn.request("GET", HEALTH_PATH)
            ok = conn.getresponse().status == 200
            conn.close()
            return ok
        except OSError:
            return False
