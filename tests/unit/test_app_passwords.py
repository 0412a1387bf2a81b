"""App passwords in the directory, the API (administrators and /me) and the CLI: made and
shown once, stored hashed, listed, revoked, checked like Dovecot checks them."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import select

from tests.unit.cli_fixtures import Invoke, zenmail_fixture  # noqa: F401
from tests.unit.test_api_fixtures import (  # noqa: F401  (fixtures are found by name)
    PASSWORD,
    make_client_fixture,
    root_fixture,
    seed_tenant,
    server_fixture,
)
from zenmail.directory import accounts, apppasswords
from zenmail.directory.context import Actor, Ctx
from zenmail.directory.models import AppPassword, AuthChange
from zenmail.errors import Conflict, InvalidInput, NotFound


def test_secret_is_random_long_and_stored_only_as_a_salted_hash(ctx: Ctx) -> None:
    seed_tenant(ctx, "acme", "acme.test")
    one = apppasswords.add(ctx, "alice@acme.test", "iPhone")
    two = apppasswords.add(ctx, "alice@acme.test", "iPad")
    assert one.secret != two.secret
    symbols = one.secret.replace("-", "")
    assert len(symbols) == 28 and set(symbols) <= set(apppasswords.ALPHABET)
    with ctx.db.reading() as s:
        stored = list(s.scalars(select(AppPassword.password_hash)))
    assert all(h.startswith("{SSHA256}") for h in stored)
    assert not any(one.secret in h or two.secret in h for h in stored)
    assert apppasswords.verify_secret(stored[0], one.secret)
    assert not apppasswords.verify_secret(stored[0], two.secret)
    # Same secret, different salt: never the same hash twice.
    assert apppasswords.hash_secret("x" * 20) != apppasswords.hash_secret("x" * 20)


def test_check_mirrors_dovecot(ctx: Ctx) -> None:
    seed_tenant(ctx, "acme", "acme.test")
    secret = apppasswords.add(ctx, "alice@acme.test", "phone").secret
    assert apppasswords.check(ctx, "alice@acme.test", secret) == "app:phone"
    assert apppasswords.check(ctx, "ALICE@acme.test", PASSWORD) == "main"
    assert apppasswords.check(ctx, "bob@acme.test", secret) is None
    apppasswords.set_required(ctx, "acme", True)
    assert apppasswords.check(ctx, "alice@acme.test", PASSWORD) is None
    assert apppasswords.check(ctx, "alice@acme.test", secret) == "app:phone"
    apppasswords.revoke(ctx, "alice@acme.test", "phone")
    assert apppasswords.check(ctx, "alice@acme.test", secret) is None


def test_names_duplicates_and_revocation(ctx: Ctx) -> None:
    seed_tenant(ctx, "acme", "acme.test")
    apppasswords.add(ctx, "alice@acme.test", " iPhone ")
    with pytest.raises(Conflict, match="already has an app password named 'iPhone'"):
        apppasswords.add(ctx, "alice@acme.test", "iPhone")
    with pytest.raises(InvalidInput, match="needs a name"):
        apppasswords.add(ctx, "alice@acme.test", "  ")
    with pytest.raises(InvalidInput, match="control character"):
        apppasswords.add(ctx, "alice@acme.test", "a\x07b")
    with pytest.raises(NotFound, match="no app password named 'iPad'"):
        apppasswords.revoke(ctx, "alice@acme.test", "iPad")
    gone = apppasswords.revoke(ctx, "alice@acme.test", "iPhone")
    assert gone.revoked
    apppasswords.add(ctx, "alice@acme.test", "iPhone")  # the name is free again
    listed = apppasswords.list_for(ctx, "alice@acme.test")
    assert [(r.name, r.revoked) for r in listed] == [("iPhone", True), ("iPhone", False)]


def test_every_credential_change_is_recorded_and_announced(ctx: Ctx) -> None:
    seed_tenant(ctx, "acme", "acme.test")  # new accounts and aliases: recorded too
    with ctx.db.reading() as s:
        seeded = len(list(s.scalars(select(AuthChange.address))))
    assert seeded == 4  # alice, bob, sales@, and everyone for the catch-all
    told: list[list[str]] = []
    watched = Ctx(ctx.db, ctx.actor, ctx.hasher, on_auth_change=told.append)
    apppasswords.add(watched, "alice@acme.test", "phone")
    apppasswords.revoke(watched, "alice@acme.test", "phone")
    accounts.set_password(watched, "bob@acme.test", "another long password")
    accounts.set_enabled(watched, "bob@acme.test", False)
    apppasswords.set_required(watched, "acme", True)
    accounts.remove(watched, "bob@acme.test")
    assert told == [["alice@acme.test"], ["alice@acme.test"], ["bob@acme.test"],
                    ["bob@acme.test"], ["alice@acme.test", "bob@acme.test"],
                    ["bob@acme.test"]]
    with ctx.db.reading() as s:
        assert len(list(s.scalars(select(AuthChange.address)))) == seeded + 7
    # A unit that fails announces nothing.
    with pytest.raises(NotFound):
        apppasswords.revoke(watched, "alice@acme.test", "phone")
    assert len(told) == 6


def test_tenant_walls_in_the_service(ctx: Ctx) -> None:
    a = seed_tenant(ctx, "tenant-a", "a.test")
    seed_tenant(ctx, "tenant-b", "b.test")
    apppasswords.add(ctx, a["alice"], "phone")
    b_admin = Ctx(ctx.db, Actor("b", tenant_id=tenants_id(ctx, "tenant-b")), ctx.hasher)
    for call in (lambda: apppasswords.list_for(b_admin, a["alice"]),
                 lambda: apppasswords.add(b_admin, a["alice"], "x"),
                 lambda: apppasswords.revoke(b_admin, a["alice"], "phone"),
                 lambda: apppasswords.set_required(b_admin, "tenant-a", True)):
        with pytest.raises(NotFound):
            call()


def tenants_id(ctx: Ctx, name: str) -> int:
    from zenmail.directory.models import Tenant
    with ctx.db.reading() as s:
        return int(s.scalars(select(Tenant.id).where(Tenant.name == name)).one())


def test_api_admin_and_self_service(ctx: Ctx, root: httpx.Client,
                                    make_client) -> None:  # type: ignore[no-untyped-def]
    seed_tenant(ctx, "acme", "acme.test")
    r = root.post("/api/v1/accounts/alice@acme.test/app-passwords", json={"name": "iPhone"})
    assert r.status_code == 201, r.text
    secret = r.json()["secret"]
    assert r.json()["app_password"]["name"] == "iPhone"
    listed = root.get("/api/v1/accounts/alice@acme.test/app-passwords").json()
    assert [x["name"] for x in listed] == ["iPhone"] and "secret" not in listed[0]

    me = make_client(None)
    own = ("alice@acme.test", PASSWORD)
    r = me.post("/api/v1/me/app-passwords", json={"name": "laptop"}, auth=own)
    assert r.status_code == 201, r.text
    assert [x["name"] for x in me.get("/api/v1/me/app-passwords", auth=own).json()] == [
        "iPhone", "laptop"]
    # An app password is not the person: it cannot make or list more.
    r = me.get("/api/v1/me/app-passwords", auth=("alice@acme.test", secret))
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
    assert me.get("/api/v1/me/app-passwords").status_code == 401
    r = me.delete("/api/v1/me/app-passwords/laptop", auth=own)
    assert r.status_code == 200 and r.json()["revoked_at"]

    r = root.put("/api/v1/tenants/acme/app-password-policy", json={"required": True})
    assert r.json() == {"required": True}
    assert root.get("/api/v1/tenants/acme/app-password-policy").json() == {"required": True}
    r = root.delete("/api/v1/accounts/alice@acme.test/app-passwords/iPhone")
    assert r.status_code == 200
    assert root.delete("/api/v1/accounts/alice@acme.test/app-passwords/iPhone"
                       ).status_code == 404


@pytest.mark.parametrize("scheme", ["SHA512-CRYPT", "BLF-CRYPT"])
def test_a_person_imported_with_another_hash_is_known_to_the_api_as_to_dovecot(
        ctx: Ctx, make_client: Callable[[str | None], httpx.Client], scheme: str) -> None:
    """A migrated account keeps its old system's hash; IMAP, SMTP and CalDAV accept it, so
    the self-service API and the device check must too."""
    seed_tenant(ctx, "acme", "acme.test")
    # The password on standard input (twice, as doveadm asks), never on a command line.
    hashed = subprocess.run(["doveadm", "pw", "-s", scheme], input=f"{PASSWORD}\n" * 2,
                            check=True, capture_output=True, text=True).stdout.strip()
    accounts.add(ctx, "carol@acme.test", password_hash=hashed, quota="1G")
    assert apppasswords.check(ctx, "carol@acme.test", PASSWORD) == "main"
    assert apppasswords.check(ctx, "carol@acme.test", PASSWORD + "x") is None
    assert apppasswords.self_actor(ctx, "carol@acme.test", PASSWORD) is not None
    me = make_client(None)
    r = me.post("/api/v1/me/app-passwords", json={"name": "laptop"},
                auth=("carol@acme.test", PASSWORD))
    assert r.status_code == 201, r.text
    assert apppasswords.check(ctx, "carol@acme.test", r.json()["secret"]) == "app:laptop"
    assert me.get("/api/v1/me/app-passwords", auth=("carol@acme.test", PASSWORD + "x")
                  ).status_code == 401


def test_cli(zenmail: Invoke, ctx: Ctx) -> None:
    seed_tenant(ctx, "acme", "acme.test")
    out = zenmail("app-password", "add", "alice@acme.test", "--name", "iPhone")
    assert out.code == 0, out.stderr
    secret = next(line.strip() for line in out.stdout.splitlines()
                  if line.strip().count("-") == 6)
    assert apppasswords.check(ctx, "alice@acme.test", secret) == "app:iPhone"
    assert secret not in zenmail("app-password", "list", "alice@acme.test").stdout
    listed = json.loads(zenmail("app-password", "list", "alice@acme.test", "--json").stdout)
    assert [(x["name"], x["revoked_at"]) for x in listed] == [("iPhone", None)]
    out = zenmail("app-password", "revoke", "alice@acme.test", "iPad")
    assert out.code == 2 and "no app password named 'iPad'" in out.stderr
    assert zenmail("app-password", "revoke", "alice@acme.test", "iPhone").code == 0
    assert apppasswords.check(ctx, "alice@acme.test", secret) is None
    out = zenmail("app-password", "policy", "acme", "--required")
    assert out.code == 0 and "required" in out.stdout
    assert apppasswords.required(ctx, "acme")


def test_the_flush_finds_the_stacks_dovecot(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from zenmail.config import Settings
    from zenmail.security import authcache
    from zenmail.stack.registry import Stack
    dovecot = Stack(Settings(state_dir=tmp_path)).services["dovecot"]
    assert dovecot.conf == authcache.dovecot_conf(tmp_path)  # type: ignore[attr-defined]
