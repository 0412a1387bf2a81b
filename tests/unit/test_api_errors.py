"""Every failure answers with the right status and {"error", "message"} that says what to do."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.exc import DataError

from tests.unit.test_api_fixtures import (  # noqa: F401  (fixtures are found by name)
    PASSWORD,
    Server,
    error_of,
    make_client_fixture,
    root_fixture,
    seed_tenant,
    server_fixture,
)
from zenmail.db import Database
from zenmail.directory import tenants
from zenmail.directory.context import Ctx


@pytest.fixture
def acme(ctx: Ctx) -> dict[str, str]:
    return seed_tenant(ctx, "acme", "acme.test")


def test_unknown_names_are_404_naming_them(root: httpx.Client, acme: dict[str, str]) -> None:
    cases = [("GET", "/api/v1/tenants/nosuch", "nosuch"),
             ("GET", "/api/v1/accounts/ghost@acme.test", "ghost@acme.test"),
             ("DELETE", "/api/v1/domains/nosuch.test", "nosuch.test"),
             ("DELETE", "/api/v1/aliases/nope@acme.test", "nope@acme.test"),
             ("DELETE", "/api/v1/tokens/999999", "999999")]
    for method, path, name in cases:
        status, code, message = error_of(root.request(method, path))
        assert (status, code) == (404, "not_found"), (path, message)
        assert name in message, message
    status, _, message = error_of(root.get("/api/v1/accounts", params={"tenant": "nosuch"}))
    assert status == 404 and "nosuch" in message


def test_duplicates_and_rule_breaks_are_409(root: httpx.Client, acme: dict[str, str]) -> None:
    status, code, message = error_of(root.post("/api/v1/tenants",
                                               json={"name": "acme", "pool": "1G"}))
    assert (status, code) == (409, "conflict") and "already exists" in message
    status, code, message = error_of(root.post("/api/v1/accounts", json={
        "address": acme["alice"], "password": PASSWORD}))
    assert (status, code) == (409, "conflict") and acme["alice"] in message
    status, code, message = error_of(root.delete("/api/v1/tenants/acme"))
    assert (status, code) == (409, "conflict") and "remove them first" in message
    status, code, message = error_of(root.post("/api/v1/aliases", json={
        "address": "loop1@acme.test", "targets": ["loop1@acme.test"]}))
    assert status == 409 and "itself" in message


def test_quota_over_the_pool_is_409_saying_by_how_much(root: httpx.Client,
                                                       acme: dict[str, str]) -> None:
    # The pool is 10G with 3G allocated.
    status, code, message = error_of(root.put(f"/api/v1/accounts/{acme['bob']}/quota",
                                              json={"quota": "9G"}))
    assert (status, code) == (409, "quota_exceeded")
    assert "short by 1 GiB" in message and "set-pool" in message
    status, code, message = error_of(root.put("/api/v1/tenants/acme/pool", json={"pool": "2G"}))
    assert status == 409 and "1 GiB" in message  # 3G allocated: 1G too small
    assert root.get("/api/v1/accounts/" + acme["bob"]).json()["quota_bytes"] == 1024**3


@pytest.mark.parametrize(("pool", "words"), [
    ("2Gb", "lowercase 'b'"),
    ("1,5G", "comma"),
    ("-1G", "negative"),
    ("lots", "not understood"),
])
def test_malformed_sizes_are_422_from_the_size_parser(root: httpx.Client, pool: str,
                                                      words: str) -> None:
    status, code, message = error_of(root.post("/api/v1/tenants",
                                               json={"name": "t1", "pool": pool}))
    assert (status, code) == (422, "invalid_input") and words in message, message
    assert root.get("/api/v1/tenants").json() == []


def test_values_beyond_what_the_database_stores_are_422(root: httpx.Client) -> None:
    for body, words in [({"name": "t1", "pool": "100000000P"}, "8 EiB"),
                        ({"name": "t1", "pool": 2**64}, "8 EiB"),
                        ({"name": "t1", "pool": "1G", "max_accounts": 2**40},
                         "max_accounts: Input should be less than or equal to")]:
        status, code, message = error_of(root.post("/api/v1/tenants", json=body))
        assert (status, code) == (422, "invalid_input") and words in message, message
    assert root.get("/api/v1/tenants").json() == []


@pytest.mark.parametrize("pool", [True, 1.5, None, ["1G"]])
def test_sizes_of_the_wrong_json_type_are_422(root: httpx.Client, pool: object) -> None:
    status, code, message = error_of(root.post("/api/v1/tenants",
                                               json={"name": "t1", "pool": pool}))
    assert (status, code) == (422, "invalid_input")
    assert message.startswith("invalid request: pool:") and '"2G"' in message, message


def test_request_shape_errors_name_the_field(root: httpx.Client) -> None:
    r = root.post("/api/v1/tenants", json={"name": "t1", "poool": "1G"})
    status, code, message = error_of(r)
    assert (status, code) == (422, "invalid_input")
    assert "pool: Field required" in message and "poool" in message
    assert {d["field"] for d in r.json()["details"]} == {"pool", "poool"}

    status, _, message = error_of(root.post("/api/v1/tenants", content=b"{nope",
                                            headers={"content-type": "application/json"}))
    assert status == 422 and "not valid JSON" in message
    status, _, message = error_of(root.post("/api/v1/tenants", content=b'{"name": "t1"}',
                                            headers={"content-type": "text/plain"}))
    assert status == 422 and "Content-Type: application/json" in message
    status, _, message = error_of(root.post("/api/v1/tenants", json=["t1", "1G"]))
    assert status == 422 and "must be a JSON object" in message
    status, _, message = error_of(root.get("/api/v1/audit", params={"limit": 0}))
    assert status == 422 and "query parameter limit" in message
    status, _, message = error_of(root.delete("/api/v1/tokens/abc"))
    assert status == 422 and "token_id" in message


def test_invalid_values_are_422_from_the_service(root: httpx.Client,
                                                 acme: dict[str, str]) -> None:
    status, code, message = error_of(root.post("/api/v1/accounts", json={
        "address": "carol@acme.test", "password": "short"}))
    assert (status, code) == (422, "invalid_input") and "at least 12" in message
    status, _, message = error_of(root.post("/api/v1/accounts", json={
        "address": "not an address", "password": PASSWORD}))
    assert status == 422 and "not a valid mail address" in message
    status, _, message = error_of(root.post("/api/v1/tenants",
                                            json={"name": "-bad-", "pool": "1G"}))
    assert status == 422 and "acme-corp" in message
    assert [a["address"] for a in root.get("/api/v1/accounts").json()] == [acme["alice"],
                                                                          acme["bob"]]


def test_global_only_operations_are_403_for_a_tenant_admin(
        make_client: Callable[[str | None], httpx.Client], acme: dict[str, str]) -> None:
    admin = make_client(acme["token"])
    for method, path, body in [("POST", "/api/v1/tenants", {"name": "x", "pool": "1G"}),
                               ("PUT", "/api/v1/tenants/acme/pool", {"pool": "100G"}),
                               ("PUT", "/api/v1/tenants/acme/max-accounts",
                                {"max_accounts": None}),
                               ("DELETE", "/api/v1/tenants/acme", None),
                               ("POST", "/api/v1/admins", {"name": "boss@acme.test"})]:
        status, code, message = error_of(admin.request(method, path, json=body))
        assert (status, code) == (403, "forbidden"), (path, message)
        assert "global administrator" in message
    assert admin.get("/api/v1/tenants/acme").json()["pool_bytes"] == 10 * 1024**3


def test_unknown_endpoint_and_method(root: httpx.Client) -> None:
    status, code, message = error_of(root.get("/api/v1/nothing-here"))
    assert (status, code) == (404, "not_found") and "/api/docs" in message
    r = root.patch("/api/v1/tenants")
    status, code, _ = error_of(r)
    assert (status, code) == (405, "method_not_allowed") and "GET" in r.headers["allow"]


def test_oversized_bodies_are_refused_before_authentication(
        make_client: Callable[[str | None], httpx.Client], root: httpx.Client) -> None:
    huge = {"address": "x@acme.test", "targets": [f"t{i}@elsewhere.example"
                                                  for i in range(100_000)]}
    for client in (make_client(None), root):
        status, code, message = error_of(client.post("/api/v1/aliases", json=huge))
        assert (status, code) == (413, "too_large") and "split" in message

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked, counted on arrival
        yield b'{"address": "x@acme.test", "targets": ['
        for _ in range(64):
            yield b'"t@elsewhere.example", ' * 1024
        yield b'"t@elsewhere.example"]}'

    r = root.post("/api/v1/aliases", content=chunks(),
                  headers={"content-type": "application/json"})
    assert "content-length" not in r.request.headers
    assert error_of(r)[:2] == (413, "too_large")
    assert root.get("/api/v1/aliases").json() == []


def test_unexpected_failures_are_500_without_internals(
        root: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_ctx: Ctx) -> None:
        raise RuntimeError("secret internal detail at /srv/zenmail/x.py")

    monkeypatch.setattr(tenants, "list_all", broken)
    status, code, message = error_of(root.get("/api/v1/tenants"))
    assert (status, code) == (500, "internal_error") and "server log" in message
    assert "secret" not in message


def test_a_database_range_error_is_422_not_500(root: httpx.Client,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # The net under the request models' and services' own checks (see errors._data_error).
    def too_long(_ctx: Ctx) -> None:
        raise DataError("INSERT …", {}, Exception("value too long for type character varying"))

    monkeypatch.setattr(tenants, "list_all", too_long)
    status, code, message = error_of(root.get("/api/v1/tenants"))
    assert (status, code) == (422, "invalid_input") and "out of range" in message
    assert "varying" not in message


def test_health_reports_a_database_without_schema(tmp_path: Path) -> None:
    empty = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    srv = Server(empty, tmp_path / "state").start()
    try:
        status, code, message = error_of(httpx.get(srv.url + "/api/v1/health"))
        assert (status, code) == (503, "stack_error") and "zenmail init" in message
    finally:
        srv.stop()
        empty.dispose()


def test_health_reports_an_unreachable_database(tmp_path: Path) -> None:
    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    gone = Database("postgresql+psycopg://zenmail:hunter2hunter2@127.0.0.1:1/zenmail")
    srv = Server(gone, tmp_path / "state").start()
    try:
        r = httpx.get(srv.url + "/api/v1/health", timeout=30)
        status, code, message = error_of(r)
        assert (status, code) == (503, "stack_error") and "[database] url" in message
        assert "hunter2" not in r.text
        status, code, _ = error_of(httpx.get(srv.url + "/api/v1/tenants", timeout=30,
                                             headers={"Authorization": "Bearer zm_1_x"}))
        assert (status, code) == (503, "stack_error")
    finally:
        srv.stop()
        gone.dispose()
