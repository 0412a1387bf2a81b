"""One scoped lookup: every kind of name resolves through `Ctx.find`, behind the tenant wall."""

from __future__ import annotations

import pytest

from zenmail.directory import accounts, admins, aliases, domains, tenants
from zenmail.directory.context import Actor, Ctx
from zenmail.directory.models import Account, Admin, Alias, ApiToken, Domain, Tenant
from zenmail.directory.views import NewToken
from zenmail.errors import Conflict, InvalidInput, NotFound

PW = "correct horse battery"


@pytest.fixture
def two(ctx: Ctx) -> dict[str, NewToken]:
    """Tenants acme and globex, each with a domain, an account, an alias and an admin."""
    ids: dict[str, NewToken] = {}
    for name in ("acme", "globex"):
        tenants.add(ctx, name, "1G")
        domains.add(ctx, name, f"{name}.test")
        accounts.add(ctx, f"alice@{name}.test", password=PW, quota="1M")
        aliases.add(ctx, f"sales@{name}.test", [f"alice@{name}.test"])
        admins.add(ctx, f"boss@{name}.test", tenant=name)
        ids[name] = admins.create_token(ctx, f"boss@{name}.test")
    admins.add(ctx, "root@ops.test")
    ids["root"] = admins.create_token(ctx, "root@ops.test")
    return ids


def as_token(ctx: Ctx, token: str) -> Ctx:
    actor = admins.authenticate(ctx, token)
    assert actor is not None
    return Ctx(ctx.db, actor, ctx.hasher)


# (model, a name in globex written differently, as stored, a name that exists nowhere)
KINDS = [
    (Tenant, " GLOBEX ", "globex", "initech"),
    (Domain, "Globex.Test.", "globex.test", "initech.test"),
    (Account, " Alice@GLOBEX.test", "alice@globex.test", "ghost@globex.test"),
    (Alias, "SALES@globex.test", "sales@globex.test", "nobody@globex.test"),
    (Admin, "Boss@Globex.Test", "boss@globex.test", "nobody@acme.test"),
]


@pytest.mark.parametrize(("model", "foreign", "stored", "missing"), KINDS)
def test_outside_the_tenant_looks_exactly_like_missing(ctx: Ctx, two: dict[str, NewToken],
                                                      model: type, foreign: str, stored: str,
                                                      missing: str) -> None:
    acme = as_token(ctx, two["acme"].token)
    with ctx.reading() as s:
        assert ctx.find(s, model, foreign) is not None  # any spelling finds it globally
    with acme.reading() as s:
        with pytest.raises(NotFound) as hidden:
            acme.find(s, model, foreign)
        with pytest.raises(NotFound) as absent:
            acme.find(s, model, missing)
        assert acme.get(s, model, foreign) is None
    # The same sentence, only the name differs: nothing tells the two cases apart.
    assert stored in str(hidden.value)
    assert str(hidden.value).replace(stored, "NAME") == str(absent.value).replace(missing, "NAME")


def test_tokens_and_global_administrators_are_behind_the_wall(ctx: Ctx,
                                                              two: dict[str, NewToken]) -> None:
    acme = as_token(ctx, two["acme"].token)
    globex_token = two["globex"].info.id
    root_token = two["root"].info.id
    with acme.reading() as s:
        with pytest.raises(NotFound, match=f"no token {globex_token};"):
            acme.find(s, ApiToken, globex_token)
        with pytest.raises(NotFound, match=f"no token {root_token};"):
            acme.find(s, ApiToken, root_token)
        with pytest.raises(NotFound, match="no administrator 'root@ops.test'"):
            acme.find(s, Admin, "root@ops.test")
        with pytest.raises(InvalidInput, match="not a number"):
            acme.find(s, ApiToken, "abc")


def test_a_lock_inside_a_unit_finds_the_same_row(ctx: Ctx, two: dict[str, NewToken]) -> None:
    with ctx.unit() as s:
        locked = ctx.find(s, Tenant, "acme", lock=True)
        assert locked is ctx.find(s, Tenant, "ACME")


def test_the_actor_knows_its_administrator_by_id(ctx: Ctx, two: dict[str, NewToken]) -> None:
    boss = as_token(ctx, two["acme"].token)
    with ctx.reading() as s:
        admin_id = ctx.find(s, Admin, "boss@acme.test").id
    assert boss.actor.admin_id == admin_id and boss.actor.name == "api:boss@acme.test"
    with pytest.raises(Conflict, match="cannot remove themselves"):
        admins.remove(boss, "boss@acme.test")
    # Being "me" is the id, not the name: an actor merely named like the admin may remove it.
    lookalike = Ctx(ctx.db, Actor("api:boss@acme.test"), ctx.hasher)
    admins.remove(lookalike, "boss@acme.test")
    assert "boss@acme.test" not in [a.name for a in admins.list_all(ctx)]
