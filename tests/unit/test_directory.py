"""Directory use cases on SQLite and PostgreSQL: rules, clear errors, nothing half-written."""

import json

import pytest
from sqlalchemy import func, select

from zenmail.directory import accounts, admins, aliases, auditlog, domains, quota, tenants
from zenmail.directory.models import Account, Alias, AuditEntry
from zenmail.errors import Conflict, InvalidInput, NotFound, PermissionDenied, QuotaExceeded

PW = "correct horse battery"
GiB = 1024 ** 3
MiB = 1024 ** 2


@pytest.fixture
def acme(ctx):
    tenants.add(ctx, "acme", "10G", max_accounts=5)
    domains.add(ctx, "acme", "acme.test")
    accounts.add(ctx, "alice@acme.test", password=PW, quota="4G", display_name="Alice")
    accounts.add(ctx, "bob@acme.test", password=PW, quota="4G")
    return ctx


def count(db, model):
    with db.transaction() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_password_is_hashed_in_a_scheme_dovecot_verifies(acme):
    with acme.db.transaction() as s:
        stored = s.scalar(select(Account.password_hash).where(Account.address == "bob@acme.test"))
    assert stored.startswith("{ARGON2ID}$argon2id$")
    assert PW not in stored
    assert acme.hasher.verify(stored, PW)
    assert not acme.hasher.verify(stored, PW + "x")


def test_addresses_are_normalised(acme):
    a = accounts.add(acme, "  Carol@ACME.test ", password=PW, quota="1G")
    assert a.address == "carol@acme.test"
    assert accounts.show(acme, "CAROL@acme.test").address == "carol@acme.test"


@pytest.mark.parametrize("bad", ["not-an-address", "a@@acme.test", "a b@acme.test", "@acme.test"])
def test_invalid_address_refused(acme, bad):
    with pytest.raises(InvalidInput, match="not a valid mail address"):
        accounts.add(acme, bad, password=PW, quota="1G")


def test_duplicate_and_unknown(acme):
    with pytest.raises(Conflict, match="already exists"):
        accounts.add(acme, "bob@acme.test", password=PW, quota="1G")
    with pytest.raises(NotFound, match="no domain 'other.test'"):
        accounts.add(acme, "x@other.test", password=PW, quota="1G")
    with pytest.raises(NotFound, match="no tenant 'nobody'"):
        tenants.show(acme, "nobody")
    with pytest.raises(NotFound, match="no account"):
        quota.set_quota(acme, "ghost@acme.test", "1G")
    with pytest.raises(Conflict, match="already exists"):
        tenants.add(acme, "ACME", "1G")


def test_short_password_refused_and_nothing_written(acme):
    before = count(acme.db, Account)
    with pytest.raises(InvalidInput, match="at least 12"):
        accounts.add(acme, "carol@acme.test", password="short", quota="1G")
    assert count(acme.db, Account) == before


def test_address_in_domain_of_another_tenant(acme):
    tenants.add(acme, "globex", "5G")
    domains.add(acme, "globex", "globex.test")
    with pytest.raises(Conflict, match="belongs to another tenant"):
        accounts.add(acme, "x@globex.test", password=PW, quota="1G", tenant="acme")
    with pytest.raises(Conflict, match="already belongs to tenant 'acme'"):
        domains.add(acme, "globex", "acme.test")


def test_quota_over_pool_refused_with_the_shortfall(acme):
    with pytest.raises(QuotaExceeded) as err:
        accounts.add(acme, "carol@acme.test", password=PW, quota="3G")
    assert "2 GiB free" in str(err.value) and "short by 1 GiB" in str(err.value)
    with pytest.raises(QuotaExceeded):
        quota.set_quota(acme, "bob@acme.test", "6.5G")
    assert quota.pool(acme, "acme").allocated_bytes == 8 * GiB


def test_lowering_pool_below_allocation_says_by_how_much(acme):
    with pytest.raises(Conflict) as err:
        tenants.set_pool(acme, "acme", "7G")
    assert "1 GiB (1073741824 bytes) too small" in str(err.value)
    assert tenants.show(acme, "acme").pool_bytes == 10 * GiB
    assert tenants.set_pool(acme, "acme", "8G").pool_bytes == 8 * GiB


def test_move_quota_in_one_step(acme):
    p = quota.move(acme, "alice@acme.test", "bob@acme.test", "1.5G")
    shares = {a.address: a.quota_bytes for a in p.accounts}
    assert shares == {"alice@acme.test": int(2.5 * GiB), "bob@acme.test": int(5.5 * GiB)}
    assert p.allocated_bytes == 8 * GiB and p.free_bytes == 2 * GiB
    with pytest.raises(Conflict, match="can give at most"):
        quota.move(acme, "alice@acme.test", "bob@acme.test", "2.5G")
    with pytest.raises(InvalidInput, match="both source and target"):
        quota.move(acme, "bob@acme.test", "BOB@acme.test", "1M")


def test_quota_move_across_tenants_refused(acme):
    tenants.add(acme, "globex", "5G")
    domains.add(acme, "globex", "globex.test")
    accounts.add(acme, "g@globex.test", password=PW, quota="1G")
    with pytest.raises(Conflict, match="different tenants"):
        quota.move(acme, "alice@acme.test", "g@globex.test", "1G")


def test_zero_quota_is_refused_because_dovecot_reads_it_as_unlimited(acme):
    with pytest.raises(InvalidInput, match="minimum"):
        quota.set_quota(acme, "bob@acme.test", "0")


def test_max_accounts(acme):
    tenants.set_max_accounts(acme, "acme", 2)
    with pytest.raises(QuotaExceeded, match="limit of 2 accounts"):
        accounts.add(acme, "carol@acme.test", password=PW, quota="1M")
    with pytest.raises(Conflict, match="already has 2 accounts"):
        tenants.set_max_accounts(acme, "acme", 1)


def test_aliases_catch_all_and_loops(acme):
    a = aliases.add(acme, "sales@acme.test", ["alice@acme.test", "bob@acme.test",
                                               "partner@example.org"])
    assert a.targets == ["alice@acme.test", "bob@acme.test", "partner@example.org"]
    c = aliases.add(acme, "@acme.test", ["alice@acme.test"])
    assert c.catch_all
    aliases.add(acme, "team@acme.test", ["sales@acme.test"])
    before = count(acme.db, Alias)
    with pytest.raises(Conflict, match="alias loop: sales@acme.test -> team@acme.test -> "
                                       "sales@acme.test"):
        aliases.add(acme, "sales@acme.test", ["team@acme.test"])
    assert count(acme.db, Alias) == before
    listed = {a.address: a.targets for a in aliases.list_all(acme, domain="acme.test")}
    assert listed["sales@acme.test"] == ["alice@acme.test", "bob@acme.test",
                                         "partner@example.org"]
    assert listed["@acme.test"] == ["alice@acme.test"]
    with pytest.raises(Conflict, match="cannot point to itself"):
        aliases.add(acme, "x@acme.test", ["x@acme.test"])
    with pytest.raises(Conflict, match="is an account"):
        aliases.add(acme, "bob@acme.test", ["alice@acme.test"])


def test_alias_target_in_local_domain_must_exist(ctx):
    tenants.add(ctx, "acme", "1G")
    domains.add(ctx, "acme", "acme.test")
    with pytest.raises(NotFound, match="no such account or alias"):
        aliases.add(ctx, "info@acme.test", ["ghost@acme.test"])


def test_alias_remove_target_then_alias(acme):
    aliases.add(acme, "sales@acme.test", ["alice@acme.test", "bob@acme.test"])
    left = aliases.remove(acme, "sales@acme.test", "alice@acme.test")
    assert left is not None and left.targets == ["bob@acme.test"]
    assert aliases.remove(acme, "sales@acme.test", "bob@acme.test") is None
    assert aliases.list_all(acme) == []
    with pytest.raises(NotFound):
        aliases.remove(acme, "sales@acme.test")


def test_removing_things_in_use_is_refused(acme):
    with pytest.raises(Conflict, match="still has 2 accounts"):
        domains.remove(acme, "acme.test")
    with pytest.raises(Conflict, match="still has 1 domains, 2 accounts"):
        tenants.remove(acme, "acme")
    accounts.remove(acme, "alice@acme.test")
    accounts.remove(acme, "bob@acme.test")
    domains.remove(acme, "acme.test")
    tenants.remove(acme, "acme")
    assert tenants.list_all(acme) == []


def test_disable_and_enable(acme):
    assert accounts.set_enabled(acme, "bob@acme.test", False).enabled is False
    assert accounts.show(acme, "bob@acme.test").enabled is False
    assert accounts.set_enabled(acme, "bob@acme.test", True).enabled is True


def test_every_change_is_audited_with_before_and_after(acme):
    quota.set_quota(acme, "bob@acme.test", "3G")
    accounts.set_password(acme, "bob@acme.test", "another long passphrase")
    entries = auditlog.entries(acme, limit=100)
    actions = [e.action for e in entries]
    assert actions[:2] == ["account.set_password", "account.set_quota"]
    assert {"tenant.add", "domain.add", "account.add"} <= set(actions)
    q = entries[1]
    assert q.actor == "test:root" and q.tenant == "acme" and q.target == "bob@acme.test"
    assert q.before == {"quota_bytes": 4 * GiB} and q.after == {"quota_bytes": 3 * GiB}
    with acme.db.transaction() as s:
        blobs = [e.after or "" for e in s.scalars(select(AuditEntry))]
    assert not any("argon2" in b for b in blobs)
    assert entries[0].after == {"password": "changed"}
    assert json.loads(json.dumps(entries[0].to_dict()))["before"] is None


def test_tenant_admin_sees_only_its_tenant(acme):
    from zenmail.directory.context import Ctx

    tenants.add(acme, "globex", "5G")
    domains.add(acme, "globex", "globex.test")
    accounts.add(acme, "g@globex.test", password=PW, quota="1G")
    admins.add(acme, "boss@globex.test", tenant="globex")
    new = admins.create_token(acme, "boss@globex.test", "cli")
    actor = admins.authenticate(acme, new.token)
    assert actor is not None and actor.tenant_id is not None
    g = Ctx(acme.db, actor, acme.hasher)
    assert [t.name for t in tenants.list_all(g)] == ["globex"]
    assert [a.address for a in accounts.list_all(g)] == ["g@globex.test"]
    with pytest.raises(NotFound):
        accounts.show(g, "bob@acme.test")
    with pytest.raises(NotFound):
        quota.set_quota(g, "bob@acme.test", "1G")
    with pytest.raises(NotFound):
        domains.add(g, "acme", "evil.test")
    with pytest.raises(PermissionDenied):
        tenants.set_pool(g, "globex", "100G")
    with pytest.raises(PermissionDenied):
        admins.add(g, "root2@globex.test")
    assert all(e.tenant == "globex" for e in auditlog.entries(g, limit=1000))
    assert accounts.show(acme, "bob@acme.test").quota_bytes == 4 * GiB


def test_tokens_hashed_shown_once_and_revocable(acme):
    admins.add(acme, "ops@acme.test")
    new = admins.create_token(acme, "ops@acme.test", "ci")
    assert new.token.startswith("zm_")
    from zenmail.directory.models import ApiToken

    with acme.db.transaction() as s:
        stored = s.scalars(select(ApiToken.token_hash)).all()
    assert new.token.split("_", 2)[2] not in stored[0]
    assert admins.authenticate(acme, new.token).is_global
    assert admins.authenticate(acme, new.token + "x") is None
    assert admins.authenticate(acme, "zm_999_abc") is None
    assert admins.authenticate(acme, "garbage") is None
    admins.revoke_token(acme, new.info.id)
    assert admins.authenticate(acme, new.token) is None


def test_alias_to_another_tenant_does_not_reveal_its_addresses(acme):
    from zenmail.directory.context import Ctx

    tenants.add(acme, "globex", "5G")
    domains.add(acme, "globex", "globex.test")
    admins.add(acme, "boss@acme.test", tenant="acme")
    actor = admins.authenticate(acme, admins.create_token(acme, "boss@acme.test").token)
    a = Ctx(acme.db, actor, acme.hasher)
    # Same answer whether or not the address exists over there: treated as an outside address.
    assert aliases.add(a, "fwd@acme.test", ["nobody@globex.test"]).targets == [
        "nobody@globex.test"]


def test_max_accounts_out_of_range(ctx):
    with pytest.raises(InvalidInput, match="out of range"):
        tenants.add(ctx, "acme", "1G", max_accounts=2**31)


def test_long_addresses_in_a_quota_move_are_audited(ctx):
    tenants.add(ctx, "acme", "1G")
    domain = ".".join(["d" * 60, "e" * 60, "f" * 60]) + ".test"  # 188 characters
    domains.add(ctx, "acme", domain)
    long_a, long_b = "a" * 60 + "@" + domain, "b" * 60 + "@" + domain
    assert len(f"{long_a} -> {long_b}") > 320
    accounts.add(ctx, long_a, password=PW, quota="10M")
    accounts.add(ctx, long_b, password=PW, quota="10M")
    quota.move(ctx, long_a, long_b, "5M")
    assert auditlog.entries(ctx, limit=1)[0].target == f"{long_a} -> {long_b}"


def test_removing_an_admin_removes_their_tokens(acme):
    from zenmail.directory.context import Ctx

    admins.add(acme, "ops@acme.test")
    admins.add(acme, "boss@acme.test", tenant="acme")
    ops = admins.create_token(acme, "ops@acme.test")
    boss = admins.create_token(acme, "boss@acme.test")
    as_ops = Ctx(acme.db, admins.authenticate(acme, ops.token), acme.hasher)
    with pytest.raises(Conflict, match="cannot remove themselves"):
        admins.remove(as_ops, "ops@acme.test")
    admins.remove(as_ops, "boss@acme.test")
    assert admins.authenticate(acme, boss.token) is None
    assert [a.name for a in admins.list_all(acme)] == ["ops@acme.test"]
    assert [t.admin for t in admins.list_tokens(acme)] == ["ops@acme.test"]
    assert auditlog.entries(acme, limit=1)[0].action == "admin.remove"
    with pytest.raises(NotFound):
        admins.remove(acme, "boss@acme.test")
