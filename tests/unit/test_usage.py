"""Usage beside quotas in the directory's views, read from the table Dovecot writes.

Dovecot's writes are played here with the very statement its dict-sql runs
(`lookups.USAGE_UPSERT`, checked against the real Dovecot in tests/e2e/test_usage.py).
"""

from __future__ import annotations

from sqlalchemy import event

from tests.unit.test_lookups import dovecot_writes_usage
from zenmail.directory import accounts, bulk, domains, quota, tenants

HASH = "{ARGON2ID}$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
MiB = 1024**2


def seed(ctx, name: str, domain: str, n: int) -> list[str]:
    tenants.add(ctx, name, "50G")
    domains.add(ctx, name, domain)
    made = [f"user{i}@{domain}" for i in range(n)]
    bulk.add_many(ctx, [bulk.NewAccount(a, "100M", password_hash=HASH) for a in made])
    return made


def test_usage_shown_beside_quota_and_pool(ctx) -> None:
    a, b, quiet = seed(ctx, "acme", "acme.test", 3)
    [other] = seed(ctx, "globex", "globex.test", 1)
    dovecot_writes_usage(ctx, a, 30 * MiB, 300)
    dovecot_writes_usage(ctx, b, 12 * MiB, 20)
    dovecot_writes_usage(ctx, other, 99 * MiB, 1)  # another tenant's: never added to acme's
    dovecot_writes_usage(ctx, "gone@acme.test", 5 * MiB, 1)  # no such account: ignored

    assert accounts.show(ctx, a).used_bytes == 30 * MiB
    assert accounts.show(ctx, quiet).used_bytes is None  # not measured, not a made-up 0
    assert {x.address: x.used_bytes for x in accounts.list_all(ctx, tenant="acme")} == {
        a: 30 * MiB, b: 12 * MiB, quiet: None}
    pool = quota.pool(ctx, "acme")
    assert (pool.allocated_bytes, pool.used_bytes) == (300 * MiB, 42 * MiB)
    assert {x.address: x.used_bytes for x in pool.accounts}[b] == 12 * MiB
    assert tenants.show(ctx, "acme").used_bytes == 42 * MiB
    assert {t.name: t.used_bytes for t in tenants.list_all(ctx)} == {
        "acme": 42 * MiB, "globex": 99 * MiB}
    # Use cases that return an account view carry its usage too.
    assert quota.set_quota(ctx, a, "200M").used_bytes == 30 * MiB

    accounts.remove(ctx, b)  # its figures go with it
    assert tenants.show(ctx, "acme").used_bytes == 30 * MiB
    accounts.add(ctx, b, password_hash=HASH, quota="100M")
    assert accounts.show(ctx, b).used_bytes is None


def test_reading_usage_costs_the_same_for_ten_accounts_as_for_two_hundred(ctx) -> None:
    """No query per account: the listing and the pool read usage in a fixed number of
    statements, however large the tenant (a 1,000-account tenant must stay cheap)."""
    small = seed(ctx, "small", "small.test", 10)
    large = seed(ctx, "large", "large.test", 200)
    for address in small + large:
        dovecot_writes_usage(ctx, address, MiB, 1)

    def statements(read) -> int:
        count = 0

        def counted(*_args) -> None:
            nonlocal count
            count += 1

        event.listen(ctx.db.engine, "before_cursor_execute", counted)
        try:
            read()
        finally:
            event.remove(ctx.db.engine, "before_cursor_execute", counted)
        return count

    for read in (lambda t: accounts.list_all(ctx, tenant=t), lambda t: quota.pool(ctx, t),
                 lambda t: tenants.show(ctx, t)):
        assert statements(lambda r=read: r("small")) == statements(lambda r=read: r("large"))
    assert quota.pool(ctx, "large").used_bytes == 200 * MiB


def test_the_sweep_records_dovecots_figures_and_writes_only_changes(ctx) -> None:
    from zenmail.directory import usage

    a, b = seed(ctx, "acme", "acme.test", 2)
    dovecot_writes_usage(ctx, a, 5 * MiB, 5)
    with ctx.db.transaction() as s:  # a as it is, b measured for the first time
        assert usage.record(s, {a: (5 * MiB, 5), b: (MiB, 1)}) == 1
    with ctx.db.transaction() as s:  # a corrected (quota_clone's copies out of order)
        assert usage.record(s, {a: (6 * MiB, 6), b: (MiB, 1)}) == 1
    with ctx.db.transaction() as s:
        assert usage.record(s, {a: (6 * MiB, 6), b: (MiB, 1)}) == 0
    assert tenants.show(ctx, "acme").used_bytes == 7 * MiB
