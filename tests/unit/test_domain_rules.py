"""Which domains a tenant may hold (issue 8, items 2 and 4): not the platform's own names,
not special-use names, not a parent or subdomain of another tenant's domain, not the same
domain in another spelling, not a look-alike of another tenant's. And alias loops through
another tenant's aliases are refused without naming them (item 3)."""

from __future__ import annotations

import pytest

from tests.unit.cli_fixtures import Invoke, zenmail_fixture  # noqa: F401  (a fixture)
from zenmail.directory import accounts, admins, aliases, domains, tenants
from zenmail.directory.context import Actor, Ctx, Platform
from zenmail.errors import Conflict, InvalidInput, NotFound

PW = "correct horse battery"


@pytest.fixture
def two(ctx: Ctx) -> tuple[Ctx, Ctx]:
    """Tenants acme (acme.test, münchen.test) and beta, each as its own administrator."""
    for name in ("acme", "beta"):
        tenants.add(ctx, name, "1G")
        admins.add(ctx, f"it@{name}.admins", name)
    domains.add(ctx, "acme", "acme.test")
    domains.add(ctx, "acme", "münchen.test")
    domains.add(ctx, "beta", "beta.test")

    def as_admin(name: str) -> Ctx:
        [me] = [a for a in admins.list_all(ctx) if a.name == f"it@{name}.admins"]
        return Ctx(ctx.db, Actor(f"test:{me.name}", tenant_id=_tenant_id(ctx, name)),
                   ctx.hasher)
    return as_admin("acme"), as_admin("beta")


def _tenant_id(ctx: Ctx, name: str) -> int:
    from zenmail.directory.models import Tenant
    with ctx.reading() as s:
        return ctx.find(s, Tenant, name).id


def held(ctx: Ctx) -> list[str]:
    return [d.name for d in domains.list_all(ctx)]


# ---------------------------------------------------------------- reserved names (item 2)

@pytest.mark.parametrize("name", ["mail.zenmail.test", "MAIL.zenmail.test.", "zenmail.test",
                                  "x.mail.zenmail.test"])
def test_the_platforms_host_name_its_parents_and_below_are_no_tenants(ctx: Ctx,
                                                                     name: str) -> None:
    tenants.add(ctx, "acme", "1G")
    with pytest.raises(Conflict, match="this platform's own host name 'mail.zenmail.test'"):
        domains.add(ctx, "acme", name)
    # So nobody can hold the address the platform's quota warnings come from.
    with pytest.raises(NotFound, match="no domain"):
        accounts.add(ctx, "postmaster@mail.zenmail.test", password=PW)
    assert held(ctx) == []
    domains.add(ctx, "acme", "other.zenmail-like.test")  # a sibling name is fine


def test_the_host_name_comes_from_the_settings(ctx: Ctx) -> None:
    tenants.add(ctx, "acme", "1G")
    ours = Ctx(ctx.db, ctx.actor, ctx.hasher, Platform(("mx1.hosting.example",)))
    for name in ("hosting.example", "mx1.hosting.example"):
        with pytest.raises(Conflict, match="'mx1.hosting.example'"):
            domains.add(ours, "acme", name)
    domains.add(ours, "acme", "www.hosting.example")  # a sibling of the host, not a parent
    assert held(ctx) == ["www.hosting.example"]


@pytest.mark.parametrize("name", ["localhost.localdomain", "mail.localdomain", "x.localhost",
                                  "printer.local", "x.home.arpa", "10.in-addr.arpa",
                                  "secret.onion", "x.invalid", "corp.internal", "x.alt"])
def test_special_use_names_are_refused(ctx: Ctx, name: str) -> None:
    tenants.add(ctx, "acme", "1G")
    with pytest.raises(InvalidInput, match="is a special-use name"):
        domains.add(ctx, "acme", name)
    assert held(ctx) == []


def test_test_and_example_names_stay_usable(ctx: Ctx) -> None:
    tenants.add(ctx, "acme", "1G")
    for name in ("acme.test", "acme.example", "example.org", "bücher.example"):
        domains.add(ctx, "acme", name)
    assert len(held(ctx)) == 4


def test_parents_and_subdomains_of_another_tenants_domain(two: tuple[Ctx, Ctx],
                                                          ctx: Ctx) -> None:
    acme, beta = two
    for name in ("sales.acme.test", "a.b.acme.test", "xn--mnchen-3ya.münchen.test"):
        with pytest.raises(Conflict) as err:
            domains.add(beta, "beta", name)
        assert "parent or a subdomain of a domain another tenant holds" in str(err.value)
        assert "acme" not in str(err.value).replace(name, "")  # nothing of acme is named
    domains.add(ctx, "acme", "deep.sub.acme.test")
    with pytest.raises(Conflict, match="parent or a subdomain"):
        domains.add(beta, "beta", "sub.acme.test")  # the parent of acme's subdomain
    # A tenant's own tree is its own: acme may add names under and above its domains.
    domains.add(acme, "acme", "sales.acme.test")
    assert "sales.acme.test" in held(ctx) and "beta.test" in held(ctx)


# ---------------------------------------------------------------- one owner, look-alikes (4)

@pytest.mark.parametrize("spelling", ["xn--mnchen-3ya.test", "MÜNCHEN.test", "münchen.test.",
                                      "ｍüｎｃｈｅｎ.test", "münchen．test", "münchen。test"])
def test_one_domain_in_any_spelling_has_one_owner(two: tuple[Ctx, Ctx], spelling: str) -> None:
    _, beta = two
    with pytest.raises(Conflict, match="already belongs to another tenant"):
        domains.add(beta, "beta", spelling)


def test_fullwidth_is_mapped_to_the_one_name(two: tuple[Ctx, Ctx], ctx: Ctx) -> None:
    _, beta = two
    with pytest.raises(Conflict, match="already belongs to another tenant"):
        domains.add(beta, "beta", "ａｃｍｅ.test")
    d = domains.add(beta, "beta", "ｎｅｗ.test")  # UTS 46 maps it: stored as the ASCII name
    assert d.name == "new.test"
    assert held(ctx).count("acme.test") == 1


@pytest.mark.parametrize("name, words", [
    ("acm\u0435.test", r"mixes scripts \(Cyrillic and Latin\) in the label"),  # Cyrillic е
    ("\u0430cme.test", "mixes scripts"),                                      # Cyrillic а
    ("p\u0430ypal.test", "mixes scripts"),
    ("\u0430\u0441\u0435.test", "all look like the ASCII 'ace'"),             # all Cyrillic
    ("\u0430.beta.test", "all look like the ASCII 'a'"),
])
def test_look_alikes_are_refused(two: tuple[Ctx, Ctx], ctx: Ctx, name: str,
                                 words: str) -> None:
    _, beta = two
    before = held(ctx)
    with pytest.raises(Conflict, match=words):
        domains.add(beta, "beta", name)
    assert held(ctx) == before


def test_a_look_alike_of_another_tenants_domain(two: tuple[Ctx, Ctx], ctx: Ctx) -> None:
    acme, beta = two
    # Cyrillic under a Cyrillic top-level domain is ordinary Russian; its ASCII twin under
    # the same top-level domain is a look-alike of it.
    domains.add(acme, "acme", "\u0430\u0441\u0435.\u0440\u0444")
    with pytest.raises(Conflict, match="looks like a domain another tenant holds"):
        domains.add(beta, "beta", "ace.\u0440\u0444")
    domains.add(acme, "acme", "ace.\u0440\u0444")  # the same tenant may hold both
    assert "xn--80ak9a.xn--p1ai" in held(ctx)


def test_scripts_one_language_writes_together_are_fine(ctx: Ctx) -> None:
    tenants.add(ctx, "jp", "1G")
    for name in ("日本語ドメイン.test", "ｔｏｋｙｏ大学.test", "bücher.test", "한국abc.test"):
        domains.add(ctx, "jp", name)
    assert len(held(ctx)) == 4


# ---------------------------------------------------------------- the CLI and the API

def test_the_cli_refuses_the_configured_host_name(zenmail: Invoke) -> None:
    assert zenmail("tenant", "add", "acme", "--pool", "1G").code == 0
    r = zenmail("domain", "add", "acme", "zenmail.test")
    assert r.code == 2 and "this platform's own host name 'mail.zenmail.test'" in r.stderr
    r = zenmail("domain", "add", "acme", "localhost.localdomain")
    assert r.code == 2 and "special-use name" in r.stderr


# ---------------------------------------------------------------- alias loops (item 3)

def test_a_loop_through_another_tenant_names_none_of_it(two: tuple[Ctx, Ctx], ctx: Ctx) -> None:
    acme, beta = two
    aliases.add(acme, "hop@acme.test", ["info@beta.test"])
    aliases.add(acme, "fw@acme.test", ["hop@acme.test"])
    with pytest.raises(Conflict) as err:
        aliases.add(beta, "info@beta.test", ["fw@acme.test"])
    assert str(err.value) == ("alias 'info@beta.test' would create a loop through an address "
                              "outside your tenant; point it at an account instead")
    # The global administrator sees the whole loop, as before.
    with pytest.raises(Conflict, match="alias loop: info@beta.test -> fw@acme.test -> "
                                       "hop@acme.test -> info@beta.test"):
        aliases.add(ctx, "info@beta.test", ["fw@acme.test"])
    # Within one tenant the loop is named: everything in it is the caller's own.
    aliases.add(acme, "x@acme.test", ["fw@acme.test"])
    with pytest.raises(Conflict, match="alias loop: hop@acme.test -> x@acme.test"):
        aliases.add(acme, "hop@acme.test", ["x@acme.test"])
