"""The API keeps the promises of its OpenAPI document: a schema-driven fuzzer (schemathesis)
sends generated requests, valid and invalid, to every operation and checks each answer
against the document — status codes, headers, bodies — and that none is a server error.

Every check but one: "a schema-valid request is accepted" cannot hold for a directory,
whose names, addresses, sizes and pools have meaning no JSON Schema can carry (`"x"` is a
string, but no address); the service answers those with 422 and a message saying what is
wrong. The limits that can be written down (password length, quota, account limit) are in
the document, from the constants the service uses.

Bounded: a fixed number of examples per operation, in-process (ASGI), on SQLite only (the
backends are compared by every other API test), so it runs as one ordinary test."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import positive_data_acceptance
from schemathesis.core.failures import Failure, FailureGroup

from tests.conftest import FAST_HASHER
from tests.unit.test_api_fixtures import (  # noqa: F401  (fixtures are found by name)
    make_client_fixture,
    root_fixture,
    seed_tenant,
    server_fixture,
    token_for,
)
from zenmail.config import Settings
from zenmail.db import Database
from zenmail.directory.context import Actor, Ctx
from zenmail.directory.passwords import MIN_PASSWORD_LENGTH
from zenmail.directory.rules import MIN_QUOTA
from zenmail.directory.tenants import MAX_ACCOUNTS_LIMIT
from zenmail.web.app import create_app

EXAMPLES = 20  # per operation and generation mode


@pytest.fixture(scope="module")
def contract(tmp_path_factory: pytest.TempPathFactory,
             sqlite_template: Path) -> Iterator[tuple[schemathesis.BaseSchema, str]]:
    path = tmp_path_factory.mktemp("contract") / "directory.db"
    shutil.copyfile(sqlite_template, path)
    db = Database(f"sqlite:///{path}")
    ctx = Ctx(db, Actor("test:contract"), FAST_HASHER)
    seed_tenant(ctx, "acme", "acme.test")
    token = token_for(ctx, "root@ops.test")
    # The fuzzer sends many invalid tokens on purpose; the brake on them (429) has its own
    # test (test_api_throttle.py), so it is lifted here as in the tenant-walls walk.
    settings = Settings.model_validate({"state_dir": path.parent / "state",
                                        "lockout": {"api_token_failures": 1_000_000}})
    app = create_app(settings, db, FAST_HASHER)
    yield schemathesis.openapi.from_asgi("/api/v1/openapi.json", app), token
    db.dispose()


def _fuzz(operation: schemathesis.APIOperation, mode: schemathesis.GenerationMode,
          token: str) -> list[str]:
    """Failures of `EXAMPLES` generated calls of one operation (empty: it kept its word)."""
    failures: list[str] = []

    # The token is given to the generator, not added to each call: a negative case may then
    # still drop or garble other headers, and the checks know what was really sent.
    @given(case=operation.as_strategy(generation_mode=mode,
                                      headers={"Authorization": f"Bearer {token}"}))
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck), phases=[Phase.generate])
    def call(case: schemathesis.Case) -> None:
        try:
            case.call_and_validate(excluded_checks=[positive_data_acceptance])
        except (Failure, FailureGroup) as exc:  # a broken promise, as schemathesis says it
            failures.append(f"{operation.label} ({mode.value}): {exc}")

    try:
        call()
    except Unsatisfiable:
        # Nothing to make invalid (no parameters, no body): there is no negative case.
        assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label
    return failures


def test_every_answer_keeps_the_documents_promises(
        contract: tuple[schemathesis.BaseSchema, str]) -> None:
    schema, token = contract
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20  # not vacuous
    failures = [f for op in operations for mode in schemathesis.GenerationMode
                for f in _fuzz(op, mode, token)]
    assert not failures, "\n\n".join(dict.fromkeys(failures))


def _spec(contract: tuple[schemathesis.BaseSchema, str]) -> dict[str, Any]:
    return contract[0].raw_schema


def test_the_document_states_the_limits_the_service_enforces(
        contract: tuple[schemathesis.BaseSchema, str]) -> None:
    schemas = _spec(contract)["components"]["schemas"]

    def integer_of(prop: dict[str, Any]) -> dict[str, Any]:
        return next(x for x in prop["anyOf"] if x.get("type") == "integer")

    def string_of(prop: dict[str, Any]) -> dict[str, Any]:
        return next(x for x in prop.get("anyOf", [prop]) if x.get("type") == "string")

    for name in ("AccountCreate", "AccountImportRow", "PasswordSet"):
        assert string_of(schemas[name]["properties"]["password"])["minLength"] == \
            MIN_PASSWORD_LENGTH, name
    for name in ("AccountCreate", "AccountImportRow", "QuotaSet"):
        assert integer_of(schemas[name]["properties"]["quota"])["minimum"] == MIN_QUOTA, name
    for name in ("TenantCreate", "MaxAccountsSet"):
        assert integer_of(schemas[name]["properties"]["max_accounts"])["maximum"] == \
            MAX_ACCOUNTS_LIMIT, name


def test_405_names_every_method_the_path_has(root: httpx.Client) -> None:
    client = root
    checked = 0
    for path, ops in root.get("/api/v1/openapi.json").json()["paths"].items():
        url = re.sub(r"{(\w+)}", lambda m: "2" if m.group(1) == "token_id" else "x@acme.test",
                     path)
        documented = {m.upper() for m in ops}
        for method in sorted({"GET", "POST", "PUT", "DELETE", "PATCH"} - documented):
            r = client.request(method, url)
            assert r.status_code == 405, (method, url, r.text)
            assert r.json()["error"] == "method_not_allowed"
            allow = {m.strip() for m in r.headers["allow"].split(",")}
            assert allow == documented, (method, url, r.headers["allow"])
            checked += 1
    assert checked >= 60


@pytest.mark.parametrize("body", [b'{"name": "\xff\xfe", "pool": "1G"}', b"\x80\x81\x82",
                                  b'{"name": "caf\xe9", "pool": "1G"}'])
def test_a_body_that_is_not_utf8_is_422_invalid_input(root: httpx.Client, body: bytes) -> None:
    client = root
    for method, url in (("POST", "/api/v1/tenants"), ("POST", "/api/v1/aliases"),
                        ("PUT", "/api/v1/accounts/alice@acme.test/password")):
        r = client.request(method, url, content=body,
                           headers={"Content-Type": "application/json"})
        assert r.status_code == 422, (url, r.text)
        assert r.json()["error"] == "invalid_input"
        assert "not UTF-8" in r.json()["message"]
