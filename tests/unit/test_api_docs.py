"""docs/api.md documents every operation the app serves, and nothing it does not."""

from __future__ import annotations

import re
from pathlib import Path

from tests.unit.test_api_fixtures import all_routes
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
