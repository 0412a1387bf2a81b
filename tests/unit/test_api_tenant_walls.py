"""Tenants are walls: a tenant administrator of B, aimed at tenant A, gets 403 or 404 from
every endpoint of the app, sees only B in every list, and leaves the directory untouched.

The walk is driven by the app's own route table and OpenAPI document, so an endpoint added
later is walked too; one whose parameters or body the walk cannot aim at A fails the test
until it is taught how (PATH_VALUES, QUERY_VALUES, BODIES below).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.unit.test_api_fixtures import (  # noqa: F401  (fixtures are found by name)
    PASSWORD,
    Server,
    all_routes,
    lock_out,
    make_client_fixture,
    seed_tenant,
    server_fixture,
)
from zenmail.db import Database
from zenmail.devtools.redisserver import RedisServer
from zenmail.directory import (
    accounts,
    admins,
    aliases,
    apppasswords,
    auditlog,
    domains,
    quota,
    tenants,
)
from zenmail.directory.context import Ctx
from zenmail.directory.models import Account, AppPassword, Tenant
from zenmail.migration import projects, runs
from zenmail.migration.models import MigrationRun
from zenmail.migration.secrets import SecretBox

# Every name of tenant A, and of the global administrator, contains one of these.
FOREIGN_NAMES = ("tenant-a", "a.test", "ops.test")


def a_names(a: dict[str, Any]) -> list[str]:
    """Every name of tenant A (and of the global administrator) that B could learn."""
    return [a[k] for k in ("tenant", "alice", "bob", "alias", "catch_all", "admin",
                           "global_admin", "forward", "hop")]


def leaked(text: str, typed: list[str], a: dict[str, Any]) -> list[str]:
    """A's names in an answer that the caller did not type itself: an error message may
    echo what was asked ("no account 'alice@a.test'"), never reveal more of A (the hop of
    a loop, the owner of a domain)."""
    return [n for n in a_names(a) if n in text and not any(n in t for t in typed)]


def typed_in(*values: Any) -> list[str]:
    """The strings of a request: path, query values, and every string in a JSON body."""
    out: list[str] = []
    for v in values:
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, dict):
            out += typed_in(*v.values())
        elif isinstance(v, list):
            out += typed_in(*v)
    return out

# Values that aim a path parameter at tenant A's objects (several where the kind differs).
PATH_VALUES: dict[str, Callable[[dict[str, Any]], list[Any]]] = {
    "tenant": lambda a: [a["tenant"]],
    "domain": lambda a: [a["domain"]],
    "address": lambda a: [a["alice"], a["bob"]],
    "alias": lambda a: [a["alias"], a["catch_all"]],
    "token_id": lambda a: [a["token_id"], a["global_token_id"]],
    "admin": lambda a: [a["admin"], a["global_admin"]],
    "client": lambda a: ["203.0.113.7"],  # unlocking an address: global administrators only
    "project": lambda a: [a["project"]],
    "run_id": lambda a: [a["run_id"]],  # under A's project (and under B's, by the walk)
    # An app password name that A's accounts hold and B's do not (revoking B's own "phone"
    # through /me would be B's right, not a breach).
    "name": lambda a: [a["app_password"]],
    "token": lambda a: [a["device_link"], "zmdl_made-up"],
    # No Postfix here: an id that is not held answers like one of A's (held mail of A is
    # walked end to end in tests/e2e/test_filtering.py).
    "quarantine_id": lambda a: ["ABCDEF12345"],
}

# Query parameters that name something: aimed at A. Others must be listed as harmless.
QUERY_VALUES: dict[str, Callable[[dict[str, Any]], str]] = {
    "tenant": lambda a: a["tenant"],
    "domain": lambda a: a["domain"],
    "target": lambda a: a["alice"],
    "client": lambda a: "203.0.113.7",
    "from": lambda a: a["alice"],  # trace: mail of A's addresses
    "to": lambda a: a["bob"],
    "account": lambda a: a["alice"],
}
# trace: a B admin sees only B's mail; search words and dates within an account the path
# already names (vault); the day an eco report counts from.
HARMLESS_QUERY = {"limit", "message_id", "since", "folder", "subject", "sender", "until",
                  "as_of"}
# Employees' own endpoints: HTTP Basic with their mail password, no name of anything in the
# request. An administrator's token opens none of them (401); B's employee aimed at A's
# restore ids is walked below; the mail they list is walked on a real stack
# (tests/e2e/test_vault.py).
SELF_SERVICE = "/api/v1/me/"


def BODIES(a: dict[str, Any], b: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Hostile request bodies per schema: each tries to create in, change or read A."""
    return {
        "TenantCreate": [{"name": "tenant-c", "pool": "1G"},
                         {"name": a["tenant"], "pool": "1G"}],
        "PoolSet": [{"pool": "1T"}, {"pool": "1M"}],
        "MaxAccountsSet": [{"max_accounts": 0}, {"max_accounts": None}],
        "DomainCreate": [{"tenant": a["tenant"], "name": "new-a.test"},
                         {"tenant": b["tenant"], "name": a["domain"]},
                         {"tenant": b["tenant"], "name": "x." + a["domain"]},
                         {"tenant": b["tenant"], "name": "\u0430." + a["domain"][2:]}],
        "AccountCreate": [
            {"address": "mallory@a.test", "password": PASSWORD},
            {"address": "mallory@a.test", "password": PASSWORD, "tenant": b["tenant"]},
            {"address": "mallory@b.test", "password": PASSWORD, "tenant": a["tenant"]},
        ],
        "AccountsImport": [
            {"accounts": [{"address": "mallory@a.test", "password": PASSWORD}]},
            {"accounts": [{"address": "mallory@b.test", "password": PASSWORD}],
             "tenant": a["tenant"]},
            {"accounts": [{"address": "mallory@b.test", "password": PASSWORD},
                          {"address": "mallory@a.test", "password": PASSWORD}]},
        ],
        "QuotaSet": [{"quota": "1M"}, {"quota": "9G"}],
        "PasswordSet": [{"password": "mallory was here!"}],
        "NameSet": [{"display_name": "Mallory"}, {"display_name": ""}],
        "QuotaMove": [
            {"from": a["alice"], "to": a["bob"], "size": "1M"},
            {"from": a["alice"], "to": b["alice"], "size": "1G"},
            {"from": b["alice"], "to": a["alice"], "size": "1M"},
        ],
        "AliasCreate": [
            {"address": "evil@a.test", "targets": [b["alice"]]},
            {"address": a["alias"], "targets": [b["alice"]]},
            {"address": a["catch_all"], "targets": [b["alice"]]},
            # B's own alias, into A's forward whose hop leads back to B: a loop, refused
            # without naming the hop.
            {"address": a["loops_back"], "targets": [a["forward"]]},
        ],
        "AliasTargetsSet": [{"targets": [b["alice"]]}, {"targets": [a["alice"]]}],
        "AdminCreate": [{"name": "mallory@b.test", "tenant": a["tenant"]},
                        {"name": "mallory@b.test"}],
        "EcoPolicySet": [{"archive_after": "1m", "trash_after": "1d", "reduce_images": True},
                         {"archive_after": "off"}],
        "TokenCreate": [{"admin": a["admin"], "name": "stolen"},
                        {"admin": a["global_admin"], "name": "escalated"}],
        # Into A's accounts: not found. Through /me (as B's alice): B's alice holds "phone"
        # already, so it is refused as a duplicate and the directory stays as it was.
        "AppPasswordCreate": [{"name": "phone"}],
        "AppPasswordPolicy": [{"required": True}, {"required": False}],
        "DeviceLinkCreate": [{"expires": "1h"}],
        "AccountCheck": [{"password": PASSWORD}],
        "SnapshotCreate": [{"tenant": a["tenant"]}, {"account": a["alice"]}, {"all": True}],
        "VaultRestore": [{"restore_id": "deadbeef-0"}, {"snapshot": "deadbeef"},
                         {"snapshot": "deadbeef", "folder": "INBOX", "to_folder": "X"},
                         {"snapshot": "deadbeef", "into": b["alice"]}],
        "MeRestore": [{"id": "deadbeef-0"}],
        "SharedRestore": [{"snapshot": "deadbeef"}, {"snapshot": "deadbeef",
                                                     "calendar": "room-1"}],
        "MigrationRunStart": [{"round": "presync"}, {"round": "final",
                                                     "account": a["alice"]},
                              {"round": "verify", "account": b["alice"]}],
    }


def snapshot(ctx: Ctx, database: Database) -> dict[str, Any]:
    """The whole directory as a global administrator sees it, password hashes included."""
    with database.transaction() as s:
        hashes = dict(s.execute(select(Account.address, Account.password_hash)).all())
        devices = sorted(s.execute(select(AppPassword.account_id, AppPassword.name,
                                          AppPassword.password_hash, AppPassword.revoked_at,
                                          Tenant.app_passwords_required)
                                   .join(Account, Account.id == AppPassword.account_id)
                                   .join(Tenant, Tenant.id == Account.tenant_id)).all(),
                         key=str)
    # What B's alice does for herself through /me (a profile: a new app password of hers,
    # audited as `self:…`) is hers to do; everything else must stay as it was.
    devices = [d for d in devices if not str(d[1]).startswith("Apple profile")]
    return {
        "app_passwords": devices,
        "tenants": [t.to_dict() for t in tenants.list_all(ctx)],
        "pools": [quota.pool(ctx, t.name).to_dict() for t in tenants.list_all(ctx)],
        "domains": [d.to_dict() for d in domains.list_all(ctx)],
        "accounts": [x.to_dict() for x in accounts.list_all(ctx)],
        "hashes": hashes,
        "aliases": [x.to_dict() for x in aliases.list_all(ctx)],
        "admins": [x.to_dict() for x in admins.list_all(ctx)],
        "tokens": [x.to_dict() for x in admins.list_tokens(ctx)],
        "migrations": [p.to_dict() for p in projects.list_all(ctx)],
        "migration_runs": [r.to_dict() for p in projects.list_all(ctx)
                           for r in runs.list_runs(ctx, p.name)],
        "audit": [x.to_dict() for x in auditlog.entries(ctx, limit=10000)
                  if not x.actor.startswith("self:")],
    }


@pytest.fixture
def two_tenants(ctx: Ctx, redis_server: RedisServer) -> tuple[dict[str, Any], dict[str, Any]]:
    a = seed_tenant(ctx, "tenant-a", "a.test")
    b = seed_tenant(ctx, "tenant-b", "b.test")
    # Each tenant has a locked-out account, so lockout listings have something to hide.
    lock_out(redis_server.endpoint, a["alice"], b["alice"])
    a["token_id"] = next(t.id for t in admins.list_tokens(ctx) if t.admin == a["admin"])
    # A global administrator's token: a tenant admin must not reach it either (escalation).
    a["global_admin"] = "root@ops.test"
    admins.add(ctx, a["global_admin"])
    a["global_token_id"] = admins.create_token(ctx, a["global_admin"]).info.id
    # A forwards to an address of B through an alias chain: fw -> hop -> loop@b.test.
    a["forward"], a["hop"], a["loops_back"] = "fw@a.test", "hop@a.test", "loop@b.test"
    # Devices on both sides; /me is walked as B's alice, with her own password.
    a["app_password"] = "a-phone"
    apppasswords.add(ctx, a["alice"], a["app_password"])
    apppasswords.add(ctx, a["alice"], "phone")
    apppasswords.add(ctx, b["alice"], "phone")
    # A's setup link: redeeming it is public (the link is the secret), so the walk only
    # checks that B cannot make links for A and that made-up tokens find nothing. The real
    # token is never walked: it would work, for anyone holding it, by design.
    a["device_link"] = "zmdl_" + "x" * 43
    aliases.add(ctx, a["hop"], [a["loops_back"]])
    aliases.add(ctx, a["forward"], [a["hop"]])
    # Each tenant has a migration project, so migration listings have something to hide.
    box = SecretBox(Path(tempfile.mkdtemp()) / "migration.key")
    for t, name in ((a, "a-move"), (b, "b-move")):
        projects.add(ctx, name, "source,source_tls,target,password\n"
                     f"imap://old@old.{t['domain']}:143,none,{t['alice']},pw\n", box)
        t["project"] = name
        # A finished round each, so the runs' endpoints have something to hide.
        with ctx.unit() as s:
            project = projects.find(ctx, s, name)
            run = MigrationRun(tenant_id=project.tenant_id, project_id=project.id,
                               round="presync", status="done", attempts=1, verdict="zero loss",
                               requested_by="test", pilot=False, sync_deletions=False)
            s.add(run)
            s.flush()
            t["run_id"] = run.id
    return a, b


def _schema_name(operation: dict[str, Any]) -> str | None:
    body = operation.get("requestBody")
    if body is None:
        return None
    ref = body["content"]["application/json"]["schema"]["$ref"]
    return str(ref.rsplit("/", 1)[-1])


def _requests(path: str, operation: dict[str, Any], a: dict[str, Any],
              b: dict[str, Any]) -> list[tuple[str, dict[str, str], Any, bool]]:
    """(url, query, json body, aimed at A?) for every way the walk calls one operation."""
    path_params = re.findall(r"{(\w+)}", path)
    for name in path_params:
        assert name in PATH_VALUES, f"{path}: teach the walk a tenant-A value for {{{name}}}"
    urls = [path]
    for name in path_params:
        urls = [u.replace(f"{{{name}}}", str(v)) for u in urls for v in PATH_VALUES[name](a)]

    queries: list[dict[str, str]] = [{}]
    for p in operation.get("parameters", []):
        if p["in"] != "query":
            continue
        if p["name"] in HARMLESS_QUERY:
            continue
        assert p["name"] in QUERY_VALUES, f"{path}: teach the walk the query {p['name']!r}"
        queries.append({p["name"]: QUERY_VALUES[p["name"]](a)})

    schema = _schema_name(operation)
    bodies: list[Any] = [None]
    if schema is not None:
        assert schema in BODIES(a, b), f"{path}: teach the walk hostile bodies of {schema}"
        bodies = BODIES(a, b)[schema]

    return [(url, query, body, bool(path_params or query or body is not None))
            for url in urls for query in queries for body in bodies]


def test_every_endpoint_refuses_another_tenants_admin(
        ctx: Ctx, database: Database, server: Server,
        make_client: Callable[[str | None], httpx.Client],
        two_tenants: tuple[dict[str, Any], dict[str, Any]]) -> None:
    a, b = two_tenants
    intruder = make_client(b["token"])
    before = snapshot(ctx, database)
    spec = intruder.get("/api/v1/openapi.json").json()

    # The OpenAPI document must describe every API route, or the walk below would miss one.
    served = all_routes(server.app)
    routed = {(m, p) for m, p, is_api in served if is_api}
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    assert routed == documented

    walked: set[tuple[str, str]] = set()
    denied = 0
    for path, ops in spec["paths"].items():
        for method, operation in ops.items():
            if path.startswith(SELF_SERVICE):
                r = intruder.request(method.upper(), path, json={"id": "deadbeef-0"})
                assert r.status_code == 401 and "Basic" in r.headers["WWW-Authenticate"], path
                walked.add((method.upper(), path))
                continue
            for url, query, body, aimed in _requests(path, operation, a, b):
                # /me is the account's own door (HTTP Basic): walked as B's alice.
                auth = ((b["alice"], PASSWORD) if path.startswith("/api/v1/me/")
                        else None)
                r = intruder.request(method.upper(), url, params=query, json=body,
                                     **({"auth": auth} if auth else {}))
                what = f"{method.upper()} {url} {query} {body} -> {r.status_code} {r.text}"
                if aimed:
                    # 409: a name unique on the whole platform that A holds, or a loop
                    # through A's aliases; refused all the same.
                    assert r.status_code in (403, 404, 409), what
                    assert r.json()["error"] in ("forbidden", "not_found", "conflict"), what
                    assert not leaked(r.text, typed_in(url, query, body), a), what
                    denied += 1
                else:
                    assert r.status_code == 200, what
                    assert not any(n in r.text for n in FOREIGN_NAMES), what
                walked.add((method.upper(), path))
    assert walked == documented
    # Not vacuous: the app has ~20 operations, most of them aimed at A in several ways.
    assert len(walked) >= 20 and denied >= 40

    # Routes outside the OpenAPI document (the document itself, the docs page) leak nothing.
    others = [p for m, p, is_api in served if not is_api]
    assert "/api/v1/openapi.json" in others
    for path in others:
        r = intruder.get(path)
        assert r.status_code == 200, path
        assert not any(n in r.text for n in FOREIGN_NAMES), path

    # B's employee, with their own password: their snapshots (none of A's), and A's
    # restore ids are unknown to them.
    employee = httpx.Client(base_url=intruder.base_url, auth=(b["alice"], PASSWORD))
    r = employee.get("/api/v1/me/snapshots")
    assert r.status_code == 200 and not any(n in r.text for n in FOREIGN_NAMES), r.text
    r = employee.post("/api/v1/me/restore", json={"id": "deadbeef-0"})
    assert r.status_code == 404 and not any(n in r.text for n in FOREIGN_NAMES), r.text
    assert httpx.get(f"{intruder.base_url}/api/v1/me/snapshots",
                     auth=(b["alice"], "wrong password")).status_code == 401
    employee.close()

    assert snapshot(ctx, database) == before


def test_tenant_admin_lists_only_its_own_tenant(
        make_client: Callable[[str | None], httpx.Client],
        two_tenants: tuple[dict[str, Any], dict[str, Any]]) -> None:
    _, b = two_tenants
    c = make_client(b["token"])
    assert [t["name"] for t in c.get("/api/v1/tenants").json()] == ["tenant-b"]
    assert [d["name"] for d in c.get("/api/v1/domains").json()] == ["b.test"]
    assert [x["address"] for x in c.get("/api/v1/accounts").json()] == [b["alice"], b["bob"]]
    assert [x["address"] for x in c.get("/api/v1/aliases").json()] == ["@b.test", b["alias"]]
    assert [x["name"] for x in c.get("/api/v1/admins").json()] == [b["admin"]]
    assert {x["admin"] for x in c.get("/api/v1/tokens").json()} == {b["admin"]}
    audit = c.get("/api/v1/audit", params={"limit": 10000}).json()
    assert audit and {e["tenant"] for e in audit} == {"tenant-b"}
    assert c.get("/api/v1/tenants/tenant-b/pool").json()["allocated_bytes"] == 3 * 1024**3


def test_global_admin_sees_both_tenants(
        ctx: Ctx, make_client: Callable[[str | None], httpx.Client],
        two_tenants: tuple[dict[str, Any], dict[str, Any]]) -> None:
    # The contrast that shows the walls come from the token's scope, not from the data.
    root = make_client(admins.create_token(ctx, "root@ops.test").token)
    assert [t["name"] for t in root.get("/api/v1/tenants").json()] == ["tenant-a", "tenant-b"]
    assert root.get("/api/v1/accounts/alice@a.test").status_code == 200
