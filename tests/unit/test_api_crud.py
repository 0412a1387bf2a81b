"""Round trips through the REST API on both database backends: what is written reads back."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from tests.conftest import FAST_HASHER
from tests.unit.test_api_fixtures import (  # noqa: F401  (fixtures are found by name)
    PASSWORD,
    make_client_fixture,
    root_fixture,
    seed_tenant,
    server_fixture,
)
from zenmail.db import Database
from zenmail.directory.context import Ctx
from zenmail.directory.models import Account

GiB = 1024**3
MiB = 1024**2


def stored_hash(database: Database, address: str) -> str:
    with database.transaction() as s:
        return s.scalars(select(Account.password_hash).where(Account.address == address)).one()


def test_tenant_lifecycle(root: httpx.Client) -> None:
    r = root.post("/api/v1/tenants", json={"name": "Acme", "pool": "2G", "max_accounts": 5})
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "acme"
    assert r.json()["pool_bytes"] == 2 * GiB
    assert r.json()["max_accounts"] == 5

    assert [t["name"] for t in root.get("/api/v1/tenants").json()] == ["acme"]
    shown = root.get("/api/v1/tenants/acme").json()
    assert shown["pool_bytes"] == 2 * GiB and shown["accounts"] == 0

    r = root.put("/api/v1/tenants/acme/pool", json={"pool": 3 * GiB})
    assert r.status_code == 200 and r.json()["pool_bytes"] == 3 * GiB
    r = root.put("/api/v1/tenants/acme/max-accounts", json={"max_accounts": None})
    assert r.status_code == 200 and r.json()["max_accounts"] is None
    pool = root.get("/api/v1/tenants/acme/pool").json()
    assert pool == {"tenant": "acme", "pool_bytes": 3 * GiB, "allocated_bytes": 0,
                    "free_bytes": 3 * GiB, "used_bytes": 0, "accounts": []}

    r = root.delete("/api/v1/tenants/acme")
    assert r.status_code == 204 and r.content == b""
    assert root.get("/api/v1/tenants/acme").status_code == 404


def test_domains_add_list_remove(root: httpx.Client) -> None:
    root.post("/api/v1/tenants", json={"name": "acme", "pool": "1G"}).raise_for_status()
    root.post("/api/v1/tenants", json={"name": "other", "pool": "1G"}).raise_for_status()
    r = root.post("/api/v1/domains", json={"tenant": "acme", "name": "Acme.Test."})
    assert r.status_code == 201 and r.json()["name"] == "acme.test"
    root.post("/api/v1/domains", json={"tenant": "other", "name": "other.test"})
    assert [d["name"] for d in root.get("/api/v1/domains").json()] == ["acme.test", "other.test"]
    assert [d["name"] for d in root.get("/api/v1/domains", params={"tenant": "acme"}).json()] \
        == ["acme.test"]
    assert root.get("/api/v1/tenants/acme").json()["domains"] == ["acme.test"]
    assert root.delete("/api/v1/domains/acme.test").status_code == 204
    assert root.get("/api/v1/domains", params={"tenant": "acme"}).json() == []


def test_account_lifecycle(root: httpx.Client, database: Database) -> None:
    root.post("/api/v1/tenants", json={"name": "acme", "pool": "4G"}).raise_for_status()
    root.post("/api/v1/domains", json={"tenant": "acme", "name": "acme.test"}).raise_for_status()
    r = root.post("/api/v1/accounts", json={"address": "Alice@acme.test", "password": PASSWORD,
                                            "quota": "1.5GiB", "display_name": "Alice A."})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["address"] == "alice@acme.test" and created["tenant"] == "acme"
    assert created["quota_bytes"] == 1536 * MiB and created["enabled"] is True
    assert FAST_HASHER.verify(stored_hash(database, "alice@acme.test"), PASSWORD)

    shown = root.get("/api/v1/accounts/alice@acme.test").json()
    assert shown["display_name"] == "Alice A." and shown["quota_bytes"] == 1536 * MiB

    r = root.put("/api/v1/accounts/alice@acme.test/quota", json={"quota": "500M"})
    assert r.status_code == 200 and r.json()["quota_bytes"] == 500 * MiB
    r = root.put("/api/v1/accounts/alice@acme.test/quota", json={"quota": 2 * GiB})
    assert r.json()["quota_bytes"] == 2 * GiB

    new_password = "another long passphrase"
    r = root.put("/api/v1/accounts/alice@acme.test/password", json={"password": new_password})
    assert r.status_code == 200
    stored = stored_hash(database, "alice@acme.test")
    assert FAST_HASHER.verify(stored, new_password) and not FAST_HASHER.verify(stored, PASSWORD)
    assert new_password not in r.text

    assert root.post("/api/v1/accounts/alice@acme.test/disable").json()["enabled"] is False
    assert root.get("/api/v1/accounts/alice@acme.test").json()["enabled"] is False
    assert root.post("/api/v1/accounts/alice@acme.test/enable").json()["enabled"] is True

    assert root.delete("/api/v1/accounts/alice@acme.test").status_code == 204
    assert root.get("/api/v1/accounts/alice@acme.test").status_code == 404
    assert root.get("/api/v1/tenants/acme/pool").json()["allocated_bytes"] == 0


def test_account_list_filters(ctx: Ctx, root: httpx.Client) -> None:
    seed_tenant(ctx, "acme", "acme.test")
    seed_tenant(ctx, "beta", "beta.test")
    every = [a["address"] for a in root.get("/api/v1/accounts").json()]
    assert every == ["alice@acme.test", "alice@beta.test", "bob@acme.test", "bob@beta.test"]
    by_tenant = root.get("/api/v1/accounts", params={"tenant": "beta"}).json()
    assert [a["address"] for a in by_tenant] == ["alice@beta.test", "bob@beta.test"]
    by_domain = root.get("/api/v1/accounts", params={"domain": "acme.test"}).json()
    assert [a["address"] for a in by_domain] == ["alice@acme.test", "bob@acme.test"]


def test_address_with_an_apostrophe_and_encoded_at(root: httpx.Client) -> None:
    # The path converter keeps an address whole, whatever its local part holds.
    root.post("/api/v1/tenants", json={"name": "acme", "pool": "4G"}).raise_for_status()
    root.post("/api/v1/domains", json={"tenant": "acme", "name": "acme.test"}).raise_for_status()
    r = root.post("/api/v1/accounts", json={"address": "team/ops@acme.test",
                                            "password": PASSWORD})
    # RFC 5322 allows "/", but Dovecot could not serve it: refused (issue 8, item 6).
    assert r.status_code == 422 and "contains '/'" in r.json()["message"], r.text
    address = "o'brien@acme.test"
    r = root.post("/api/v1/accounts", json={"address": address, "password": PASSWORD})
    assert r.status_code == 201, r.text
    assert root.get(f"/api/v1/accounts/{address}").json()["address"] == address
    r = root.put(f"/api/v1/accounts/{address}/quota", json={"quota": "2G"})
    assert r.status_code == 200 and r.json()["quota_bytes"] == 2 * GiB
    assert root.get("/api/v1/accounts/o%27brien%40acme.test").json()["address"] == address
    assert root.delete(f"/api/v1/accounts/{address}").status_code == 204
    assert root.get("/api/v1/accounts").json() == []


def test_quota_move(ctx: Ctx, root: httpx.Client) -> None:
    seed_tenant(ctx, "acme", "acme.test")
    r = root.post("/api/v1/quota/move",
                  json={"from": "alice@acme.test", "to": "bob@acme.test", "size": "512M"})
    assert r.status_code == 200, r.text
    pool = r.json()
    quotas = {a["address"]: a["quota_bytes"] for a in pool["accounts"]}
    assert quotas == {"alice@acme.test": 1536 * MiB, "bob@acme.test": 1536 * MiB}
    assert pool["allocated_bytes"] == 3 * GiB and pool["free_bytes"] == 7 * GiB
    assert root.get("/api/v1/accounts/bob@acme.test").json()["quota_bytes"] == 1536 * MiB


def test_alias_lifecycle_including_catch_all(ctx: Ctx, root: httpx.Client) -> None:
    seed_tenant(ctx, "acme", "acme.test")
    r = root.post("/api/v1/aliases", json={"address": "info@acme.test",
                                           "targets": ["alice@acme.test"]})
    assert r.status_code == 200, r.text
    assert r.json() == {"address": "info@acme.test", "address_unicode": "info@acme.test",
                        "tenant": "acme", "targets": ["alice@acme.test"],
                        "targets_unicode": ["alice@acme.test"], "catch_all": False}
    r = root.post("/api/v1/aliases", json={"address": "info@acme.test",
                                           "targets": ["bob@acme.test", "x@elsewhere.example"]})
    assert r.json()["targets"] == ["alice@acme.test", "bob@acme.test", "x@elsewhere.example"]
    listed = {a["address"]: a for a in root.get("/api/v1/aliases",
                                                params={"domain": "acme.test"}).json()}
    assert set(listed) == {"@acme.test", "info@acme.test", "sales@acme.test"}
    assert listed["@acme.test"]["catch_all"] is True

    r = root.delete("/api/v1/aliases/info@acme.test", params={"target": "bob@acme.test"})
    assert r.status_code == 200
    assert r.json()["alias"]["targets"] == ["alice@acme.test", "x@elsewhere.example"]
    assert root.delete("/api/v1/aliases/info@acme.test").json() == {"alias": None}

    # The catch-all's address starts with "@": raw and percent-encoded paths both reach it.
    r = root.delete("/api/v1/aliases/@acme.test", params={"target": "alice@acme.test"})
    assert r.status_code == 200 and r.json() == {"alias": None}
    root.post("/api/v1/aliases", json={"address": "@acme.test", "targets": ["bob@acme.test"]})
    assert root.delete("/api/v1/aliases/%40acme.test").json() == {"alias": None}
    remaining = [a["address"] for a in root.get("/api/v1/aliases").json()]
    assert remaining == ["sales@acme.test"]


def test_admins_and_tokens(root: httpx.Client, make_client) -> None:
    root.post("/api/v1/tenants", json={"name": "acme", "pool": "1G"}).raise_for_status()
    r = root.post("/api/v1/admins", json={"name": "IT@acme.test", "tenant": "acme"})
    assert r.status_code == 201 and r.json()["name"] == "it@acme.test"
    assert r.json()["tenant"] == "acme"
    listed = {a["name"]: a["tenant"] for a in root.get("/api/v1/admins").json()}
    assert listed == {"root@ops.test": None, "it@acme.test": "acme"}

    r = root.post("/api/v1/tokens", json={"admin": "it@acme.test", "name": "billing"})
    assert r.status_code == 201, r.text
    created = r.json()
    secret = created["token"]
    assert secret.startswith("zm_") and created["info"]["name"] == "billing"
    listed_tokens = root.get("/api/v1/tokens").json()
    assert created["info"] in listed_tokens
    assert secret not in root.get("/api/v1/tokens").text

    tenant_admin = make_client(secret)
    assert [t["name"] for t in tenant_admin.get("/api/v1/tenants").json()] == ["acme"]

    r = root.delete(f"/api/v1/tokens/{created['info']['id']}")
    assert r.status_code == 200 and r.json()["revoked"] is True
    assert tenant_admin.get("/api/v1/tenants").status_code == 401


def test_audit_records_api_changes(ctx: Ctx, root: httpx.Client) -> None:
    seed_tenant(ctx, "acme", "acme.test")
    root.put("/api/v1/accounts/bob@acme.test/quota", json={"quota": "2G"}).raise_for_status()
    entries = root.get("/api/v1/audit", params={"tenant": "acme", "limit": 1}).json()
    assert len(entries) == 1
    entry = entries[0]
    assert entry["action"] == "account.set_quota" and entry["target"] == "bob@acme.test"
    assert entry["actor"] == "api:root@ops.test" and entry["tenant"] == "acme"
    assert entry["before"] == {"quota_bytes": GiB} and entry["after"] == {"quota_bytes": 2 * GiB}
    assert len(root.get("/api/v1/audit", params={"limit": 3}).json()) == 3


def test_tenant_admin_manages_its_own_tenant(ctx: Ctx, make_client) -> None:
    a = seed_tenant(ctx, "acme", "acme.test")
    admin = make_client(a["token"])
    r = admin.post("/api/v1/accounts", json={"address": "carol@acme.test",
                                             "password": PASSWORD, "quota": "1G"})
    assert r.status_code == 201, r.text
    r = admin.post("/api/v1/quota/move", json={"from": "alice@acme.test",
                                               "to": "carol@acme.test", "size": "1G"})
    assert r.status_code == 200
    assert {x["address"]: x["quota_bytes"] for x in r.json()["accounts"]}["carol@acme.test"] \
        == 2 * GiB
    r = admin.post("/api/v1/admins", json={"name": "helpdesk@acme.test", "tenant": "acme"})
    assert r.status_code == 201
    assert root_actor_names(admin) == ["helpdesk@acme.test", "it@acme.test"]


def root_actor_names(client: httpx.Client) -> list[str]:
    return [a["name"] for a in client.get("/api/v1/admins").json()]


def test_account_import_all_or_none(root: httpx.Client) -> None:
    assert root.post("/api/v1/tenants", json={"name": "imp", "pool": "100M"}).status_code == 201
    assert root.post("/api/v1/domains", json={"tenant": "imp",
                                              "name": "imp.test"}).status_code == 201
    rows = [{"address": f"u{i}@imp.test", "password": PASSWORD, "quota": "20M"}
            for i in range(3)]
    r = root.post("/api/v1/accounts/import", json={"tenant": "imp", "accounts": rows})
    assert r.status_code == 201 and r.json() == {"created": 3}
    too_much = [{"address": f"v{i}@imp.test", "password": PASSWORD, "quota": "30M"}
                for i in range(2)]
    r = root.post("/api/v1/accounts/import", json={"accounts": too_much})
    assert r.status_code == 409 and "short by 20 MiB" in r.json()["message"]
    listed = root.get("/api/v1/accounts", params={"tenant": "imp"}).json()
    assert [a["address"] for a in listed] == ["u0@imp.test", "u1@imp.test", "u2@imp.test"]
    assert root.post("/api/v1/accounts/import", json={"accounts": []}).status_code == 422


def test_internationalised_names_both_spellings_in_and_out(root: httpx.Client) -> None:
    root.post("/api/v1/tenants", json={"name": "buecher", "pool": "1G"}).raise_for_status()
    r = root.post("/api/v1/domains", json={"tenant": "buecher", "name": "Bücher.example"})
    assert r.status_code == 201, r.text
    assert (r.json()["name"], r.json()["name_unicode"]) == ("xn--bcher-kva.example",
                                                            "bücher.example")
    r = root.post("/api/v1/accounts", json={"address": "anna@bücher.example",
                                            "password": PASSWORD})
    assert r.status_code == 201, r.text
    assert (r.json()["address"], r.json()["address_unicode"]) == (
        "anna@xn--bcher-kva.example", "anna@bücher.example")
    # Either spelling in a path reaches the same account.
    for path in ("anna@bücher.example", "anna@xn--bcher-kva.example"):
        assert root.get(f"/api/v1/accounts/{path}").json() == r.json()
    r = root.get("/api/v1/accounts/jürgen@bücher.example")
    assert r.status_code == 404 and "jürgen@bücher.example" in r.json()["message"]
    r = root.post("/api/v1/accounts", json={"address": "jürgen@bücher.example",
                                            "password": PASSWORD})
    assert r.status_code == 422 and "SMTPUTF8" in r.json()["message"]
