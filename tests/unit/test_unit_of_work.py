"""Use cases join an outer unit of work: all of it commits, or none of it does."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from zenmail.directory import accounts, aliases, domains, quota, tenants
from zenmail.directory.context import Actor, Ctx
from zenmail.directory.models import Account, AliasTarget, AuditEntry
from zenmail.errors import Conflict

PW = "correct horse battery"
MiB = 1024 ** 2


class Boom(Exception):
    """Stands for anything going wrong in an engine after its use cases ran."""


@pytest.fixture
def acme(ctx: Ctx) -> Ctx:
    tenants.add(ctx, "acme", "1G")
    domains.add(ctx, "acme", "acme.test")
    accounts.add(ctx, "alice@acme.test", password=PW, quota="100M")
    return ctx


def directory(ctx: Ctx) -> dict[str, object]:
    """What a global administrator sees, plus the audit trail's length."""
    with ctx.db.reading() as s:
        audited = s.scalar(select(func.count()).select_from(AuditEntry))
    return {"accounts": [a.to_dict() for a in accounts.list_all(ctx)],
            "aliases": [a.to_dict() for a in aliases.list_all(ctx)],
            "pool": quota.pool(ctx, "acme").to_dict(), "audited": audited}


def test_an_outer_unit_that_fails_leaves_the_directory_unchanged(acme: Ctx) -> None:
    before = directory(acme)
    with pytest.raises(Boom), acme.unit():
        accounts.add(acme, "bob@acme.test", password=PW, quota="200M")
        aliases.add(acme, "sales@acme.test", ["alice@acme.test", "bob@acme.test"])
        raise Boom
    assert directory(acme) == before


def test_a_joined_use_case_is_seen_by_the_next_one_and_committed_once(acme: Ctx) -> None:
    with acme.unit() as s:
        accounts.add(acme, "bob@acme.test", password=PW, quota="200M")
        # Visible to later use cases of the same unit: as an alias target in a local domain
        # (which must exist), to a quota move, and to a read joined to the unit.
        aliases.add(acme, "sales@acme.test", ["bob@acme.test"])
        quota.move(acme, "alice@acme.test", "bob@acme.test", "50M")
        assert accounts.show(acme, "bob@acme.test").quota_bytes == 250 * MiB
        assert s.scalar(select(func.count()).select_from(Account)) == 2
        # Nothing is committed yet: a unit of another context does not see it.
        other = Ctx(acme.db, Actor("test:other"), acme.hasher)
        assert [a.address for a in accounts.list_all(other)] == ["alice@acme.test"]
    assert {a.address: a.quota_bytes for a in quota.pool(acme, "acme").accounts} == {
        "alice@acme.test": 50 * MiB, "bob@acme.test": 250 * MiB}
    assert aliases.list_all(acme)[0].targets == ["bob@acme.test"]


def test_a_failed_use_case_inside_a_unit_leaves_nothing_half_written(acme: Ctx) -> None:
    aliases.add(acme, "team@acme.test", ["alice@acme.test"])
    with acme.unit():
        accounts.add(acme, "bob@acme.test", password=PW, quota="100M")
        aliases.add(acme, "sales@acme.test", ["team@acme.test"])
        # aliases.add writes the new target, then finds the loop and refuses; the engine
        # catches the error and carries on, and the refused target must not be committed.
        with pytest.raises(Conflict, match="alias loop"):
            aliases.add(acme, "team@acme.test", ["sales@acme.test"])
    listed = {a.address: a.targets for a in aliases.list_all(acme)}
    assert listed == {"sales@acme.test": ["team@acme.test"], "team@acme.test": ["alice@acme.test"]}
    assert [a.address for a in accounts.list_all(acme)] == ["alice@acme.test", "bob@acme.test"]
    with acme.db.reading() as s:
        assert s.scalar(select(func.count()).select_from(AliasTarget)) == 2


def test_a_quota_refusal_inside_a_unit_keeps_the_pool_whole(acme: Ctx) -> None:
    with acme.unit():
        accounts.add(acme, "bob@acme.test", password=PW, quota="900M")
        with pytest.raises(Conflict, match="short by"):
            accounts.add(acme, "carol@acme.test", password=PW, quota="100M")
    pool = quota.pool(acme, "acme")
    assert pool.allocated_bytes == 1000 * MiB <= pool.pool_bytes
    assert [a.address for a in pool.accounts] == ["alice@acme.test", "bob@acme.test"]


def test_writing_inside_a_read_only_unit_is_a_programming_error(acme: Ctx) -> None:
    with pytest.raises(RuntimeError, match="inside ctx.reading"), acme.reading():
        accounts.add(acme, "bob@acme.test", password=PW, quota="1M")
    assert [a.address for a in accounts.list_all(acme)] == ["alice@acme.test"]


def test_the_unit_closes_even_when_it_fails(acme: Ctx) -> None:
    with pytest.raises(Boom), acme.unit():
        raise Boom
    # A fresh unit opens (not joined to the failed one) and commits.
    accounts.add(acme, "bob@acme.test", password=PW, quota="1M")
    other = Ctx(acme.db, Actor("test:other"), acme.hasher)
    assert [a.address for a in accounts.list_all(other)] == ["alice@acme.test", "bob@acme.test"]
