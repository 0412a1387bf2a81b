"""Internationalised domains: stored as Postfix and Dovecot look them up (A-labels), accepted
in both spellings, shown to people in Unicode."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from alembic import command
from sqlalchemy import select, text

from tests.conftest import FAST_HASHER
from zenmail.db import Database
from zenmail.directory import accounts, admins, aliases, auditlog, bulk, domains, quota, tenants
from zenmail.directory.context import Actor, Ctx
from zenmail.directory.models import Account, Alias, AliasTarget, Domain
from zenmail.errors import Conflict, InvalidInput, StackError

PW = "correct horse battery"
UNICODE, ASCII = "bücher.example", "xn--bcher-kva.example"


@pytest.fixture
def buecher(ctx: Ctx) -> Ctx:
    tenants.add(ctx, "buecher", "1G")
    domains.add(ctx, "buecher", "Bücher.Example")
    return ctx


def stored(ctx: Ctx, column: Any) -> list[str]:
    with ctx.db.reading() as s:
        return sorted(s.scalars(select(column)).all())


def test_a_unicode_domain_is_stored_as_the_daemons_look_it_up(buecher: Ctx) -> None:
    [d] = domains.list_all(buecher)
    assert (d.name, d.name_unicode) == (ASCII, UNICODE)
    assert stored(buecher, Domain.name) == [ASCII]
    with pytest.raises(Conflict, match=f"domain '{UNICODE}' already belongs to tenant"):
        domains.add(buecher, "buecher", ASCII.upper())
    assert tenants.show(buecher, "buecher").domains_unicode == [UNICODE]


def test_accounts_accept_both_spellings_and_show_unicode(buecher: Ctx) -> None:
    a = accounts.add(buecher, f"Anna@{UNICODE}", password=PW, quota="10M")
    assert (a.address, a.address_unicode) == (f"anna@{ASCII}", f"anna@{UNICODE}")
    assert stored(buecher, Account.address) == [f"anna@{ASCII}"]
    assert accounts.show(buecher, f"anna@{ASCII}") == accounts.show(buecher, "ANNA@BÜCHER.example")
    with pytest.raises(Conflict, match=f"account 'anna@{UNICODE}' already exists"):
        accounts.add(buecher, f"anna@{ASCII}", password=PW, quota="10M")
    accounts.add(buecher, f"ben@{ASCII}", password=PW, quota="10M")
    pool = quota.move(buecher, f"anna@{UNICODE}", f"ben@{ASCII}", "5M")
    assert {p.address_unicode: p.quota_bytes for p in pool.accounts} == {
        f"anna@{UNICODE}": 5 * 1024**2, f"ben@{UNICODE}": 15 * 1024**2}
    assert [x.address for x in accounts.list_all(buecher, domain=UNICODE)] == [
        f"anna@{ASCII}", f"ben@{ASCII}"]
    accounts.remove(buecher, f"ben@{UNICODE}")
    accounts.set_enabled(buecher, f"anna@{ASCII}", False)
    assert stored(buecher, Account.address) == [f"anna@{ASCII}"]


def test_aliases_and_catch_all_in_either_spelling(buecher: Ctx) -> None:
    accounts.add(buecher, f"anna@{ASCII}", password=PW, quota="10M")
    a = aliases.add(buecher, f"info@{UNICODE}", [f"anna@{UNICODE}", "x@例え.テスト"])
    assert a.targets == [f"anna@{ASCII}", "x@xn--r8jz45g.xn--zckzah"]
    assert a.targets_unicode == [f"anna@{UNICODE}", "x@例え.テスト"]
    c = aliases.add(buecher, f"@{ASCII}", [f"anna@{ASCII}"])
    assert (c.address, c.address_unicode, c.catch_all) == (f"@{ASCII}", f"@{UNICODE}", True)
    assert stored(buecher, Alias.address) == [f"@{ASCII}", f"info@{ASCII}"]
    assert f"anna@{UNICODE}" not in stored(buecher, AliasTarget.target)
    left = aliases.remove(buecher, f"info@{ASCII}", "x@xn--r8jz45g.xn--zckzah")
    assert left is not None and left.targets_unicode == [f"anna@{UNICODE}"]
    assert aliases.remove(buecher, f"@{UNICODE}") is None
    assert [x.address for x in aliases.list_all(buecher, domain=ASCII)] == [f"info@{ASCII}"]


def test_import_and_administrators_take_unicode_too(buecher: Ctx) -> None:
    rows = [bulk.NewAccount(f"u{i}@{UNICODE}", "1M", password=PW) for i in range(3)]
    assert bulk.add_many(buecher, rows, tenant="buecher") == 3
    assert stored(buecher, Account.address) == [f"u{i}@{ASCII}" for i in range(3)]
    admin = admins.add(buecher, f"boss@{UNICODE}", tenant="buecher")
    assert (admin.name, admin.name_unicode) == (f"boss@{ASCII}", f"boss@{UNICODE}")
    assert admins.create_token(buecher, f"boss@{ASCII}").info.admin == f"boss@{ASCII}"


@pytest.mark.parametrize(("address", "words"), [
    (f"jürgen@{UNICODE}", "non-ASCII characters before the @"),
    ("anna@xn--garbage.example", "not a valid mail address"),
    ("anna@bü\u0000cher.example", "not a valid mail address"),
])
def test_what_could_never_receive_mail_is_refused(buecher: Ctx, address: str,
                                                  words: str) -> None:
    with pytest.raises(InvalidInput, match=words):
        accounts.add(buecher, address, password=PW, quota="1M")
    assert accounts.list_all(buecher) == []


@pytest.mark.parametrize(("name", "words"), [
    ("xn--garbage.example", "not a valid domain name"),
    ("bü\u0000cher.example", "not a valid internationalised domain name"),
])
def test_invalid_internationalised_domains_are_refused(buecher: Ctx, name: str,
                                                       words: str) -> None:
    with pytest.raises(InvalidInput, match=words):
        domains.add(buecher, "buecher", name)


# ---------------------------------------------------------------- migration 0003

@pytest.fixture
def at_0002(db_url: str) -> Iterator[Database]:
    db = Database(db_url)
    command.upgrade(db._alembic(), "0002")
    yield db
    db.dispose()


def _seed_unicode(db: Database, *, also_ascii_domain: bool = False) -> None:
    """Rows as the code of revision 0002 wrote them for bücher.example."""
    now = "2026-11-30 10:00:00+00:00"
    with db.transaction() as s:
        s.execute(text("INSERT INTO tenants (id, name, pool_bytes, created_at, updated_at) "
                       "VALUES (1, 'b', 1073741824, :now, :now)"), {"now": now})
        s.execute(text("INSERT INTO domains (id, name, tenant_id, created_at) "
                       "VALUES (1, :d, 1, :now)"), {"d": UNICODE, "now": now})
        if also_ascii_domain:
            s.execute(text("INSERT INTO domains (id, name, tenant_id, created_at) "
                           "VALUES (2, :d, 1, :now)"), {"d": ASCII, "now": now})
        s.execute(text("INSERT INTO accounts (id, tenant_id, domain_id, address, display_name, "
                       "password_hash, quota_bytes, enabled, created_at, updated_at) VALUES "
                       "(1, 1, 1, :a, '', '{ARGON2ID}x', 1048576, true, :now, :now)"),
                  {"a": f"anna@{UNICODE}", "now": now})
        s.execute(text("INSERT INTO aliases (id, tenant_id, domain_id, address, created_at) "
                       "VALUES (1, 1, 1, :a, :now)"), {"a": f"@{UNICODE}", "now": now})
        s.execute(text("INSERT INTO alias_targets (alias_id, target) VALUES (1, :t), (1, :u)"),
                  {"t": f"anna@{UNICODE}", "u": f"anna@{ASCII}"})


def test_migration_converts_stored_unicode_names(at_0002: Database) -> None:
    _seed_unicode(at_0002)
    at_0002.migrate()
    with at_0002.reading() as s:
        assert s.scalars(select(Domain.name)).all() == [ASCII]
        assert s.scalars(select(Account.address)).all() == [f"anna@{ASCII}"]
        assert s.scalars(select(Alias.address)).all() == [f"@{ASCII}"]
        # The two spellings of one target became one target.
        assert s.scalars(select(AliasTarget.target)).all() == [f"anna@{ASCII}"]
    migrated = Ctx(at_0002, Actor("test:root"), FAST_HASHER)
    assert accounts.show(migrated, f"anna@{UNICODE}").address == f"anna@{ASCII}"
    renames = [e for e in auditlog.entries(migrated) if e.actor == "migration:0003"]
    assert {(e.action, json.dumps(e.before, ensure_ascii=False)) for e in renames} == {
        ("domains.rename", f'{{"name": "{UNICODE}"}}'),
        ("accounts.rename", f'{{"address": "anna@{UNICODE}"}}'),
        ("aliases.rename", f'{{"address": "@{UNICODE}"}}')}


def test_migration_stops_on_two_spellings_of_one_name(at_0002: Database) -> None:
    _seed_unicode(at_0002, also_ascii_domain=True)
    with pytest.raises(StackError, match=f"'{UNICODE}' would become '{ASCII}', which is "
                                         "already there"):
        at_0002.migrate()
    assert at_0002.schema_state().current == "0002"
    with at_0002.reading() as s:
        assert sorted(s.scalars(select(Domain.name)).all()) == sorted([UNICODE, ASCII])
