"""docs/api.md documents every operation the app serves, and nothing it does not."""

from __future__ import annotations

import re
from pathlib import Path

from tests.unit.test_api_fixtures import (  # noqa: F401  (fixtures are found by name)
    Server,
    all_routes,
    server_fixture,
)
from zenmail.config import Settings
from zenmail.web.app import create_app

API_MD = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def test_api_md_lists_exactly_the_served_operations(tmp_path: Path) -> None:
    app = create_app(Settings(state_dir=tmp_path))
    served = {(m, p) for m, p, _ in all_routes(app) if p.startswith("/api/v1/")}
    documented = set(re.findall(r"`(GET|POST|PUT|PATCH|DELETE) (/api/v1/[^`?\s]*)",
                                API_MD.read_text()))
    assert served == documented, ("undocumented", served - documented,
                                  "documented but not served", documented - served)


def test_operation_ids_are_unique_handler_names(tmp_path: Path) -> None:
    spec = create_app(Settings(state_dir=tmp_path)).openapi()
    ids = [op["operationId"] for ops in spec["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids)) and "create_tenant" in ids and "move_quota" in ids


def test_interactive_docs_need_no_internet(server: Server) -> None:
    """/api/docs loads Swagger UI from the app itself, never from a CDN."""
    with server.client() as client:
        page = client.get("/api/docs")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', page.text)
        assert len(assets) == 2 and all(a.startswith("/api/docs/assets/") for a in assets)
        assert "http://" not in page.text.replace(server.url, "") and "https://" not in page.text
        for asset in assets:
            r = client.get(asset)
            assert r.status_code == 200 and len(r.content) > 10_000
        assert "/api/v1/openapi.json" in page.text
