"""The login-failure rules (zenmail.security.lockout) on the in-memory store, with a clock:
who gets locked out, who does not, for how long, and the administrator's unlock."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from zenmail.config import LockoutSettings, load_settings
from zenmail.directory import accounts, auditlog, domains, tenants
from zenmail.directory.context import Actor, Ctx
from zenmail.directory.models import Tenant
from zenmail.errors import NotFound, PermissionDenied
from zenmail.security import lockout
from zenmail.security.lockout import Guard, MemoryStore, client_id
from zenmail.stack.registry import Stack

RULES = LockoutSettings(pair_failures=5, client_failures=8, account_failures=10,
                        window_minutes=15, known_client_days=30)
NAT, HOME, ELSEWHERE = "203.0.113.9", "198.51.100.4", "192.0.2.77"


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def guard(clock: Clock) -> Guard:
    return Guard(MemoryStore(now=clock), RULES)


def fail(guard: Guard, user: str, ip: str, times: int, start: int = 0) -> list[lockout.LockEvent]:
    events = []
    for n in range(start, start + times):
        events += guard.report(user, ip, success=False, password_hash=f"h{n}")
    return events


def test_guessing_one_account_locks_that_pair_only(guard: Guard) -> None:
    events = fail(guard, "alice@acme.test", NAT, 5)
    assert [(e.kind, e.account, e.client) for e in events] == [
        ("pair", "alice@acme.test", NAT)]
    assert not guard.allow("alice@acme.test", NAT).allowed
    assert "too many failed logins" in guard.allow("alice@acme.test", NAT).reason
    assert guard.allow("bob@acme.test", NAT).allowed          # others behind the NAT
    assert guard.allow("alice@acme.test", HOME).allowed       # the owner elsewhere


def test_a_repeated_wrong_password_counts_once(guard: Guard) -> None:
    for _ in range(50):  # a phone retrying an old password
        guard.report("alice@acme.test", NAT, success=False, password_hash="old")
    assert guard.allow("alice@acme.test", NAT).allowed
    assert guard.locks() == []


def test_spraying_locks_the_address_except_for_accounts_known_there(guard: Guard) -> None:
    guard.report("bob@acme.test", NAT, success=True)  # bob works behind the NAT
    for n in range(8):
        fail(guard, f"user{n}@acme.test", NAT, 1, start=n)
    assert [lk.kind for lk in guard.locks()] == ["client"]
    assert not guard.allow("carol@acme.test", NAT).allowed  # never logged in from there
    assert guard.allow("bob@acme.test", NAT).allowed
    assert guard.allow("carol@acme.test", HOME).allowed


def test_a_distributed_guess_locks_the_account_except_where_it_is_known(guard: Guard) -> None:
    guard.report("alice@acme.test", HOME, success=True)
    for n in range(10):
        fail(guard, "alice@acme.test", f"192.0.2.{n + 1}", 1, start=n)
    assert [lk.kind for lk in guard.locks()] == ["account"]
    assert not guard.allow("alice@acme.test", ELSEWHERE).allowed
    assert guard.allow("alice@acme.test", HOME).allowed


def test_lockouts_and_counts_end_with_the_window(guard: Guard, clock: Clock) -> None:
    fail(guard, "alice@acme.test", NAT, 5)
    clock.t += 15 * 60 + 1
    assert guard.allow("alice@acme.test", NAT).allowed
    assert fail(guard, "alice@acme.test", NAT, 4, start=100) == []  # counting starts afresh


def test_attempts_while_locked_do_not_extend_it(guard: Guard, clock: Clock) -> None:
    fail(guard, "alice@acme.test", NAT, 5)
    clock.t += 14 * 60
    guard.report("alice@acme.test", NAT, success=False, password_hash="x",
                 refused_by_policy=True)
    clock.t += 61
    assert guard.allow("alice@acme.test", NAT).allowed


def test_success_clears_the_pairs_count(guard: Guard) -> None:
    fail(guard, "alice@acme.test", NAT, 4)
    guard.report("alice@acme.test", NAT, success=True)
    assert [e.kind for e in fail(guard, "alice@acme.test", NAT, 4, start=10)] == ["client"]
    assert guard.allow("alice@acme.test", NAT).allowed  # known there: the address lock spares her


def test_ipv6_clients_count_per_64() -> None:
    assert client_id("2001:db8:1:2:aaaa::1") == client_id("2001:db8:1:2:bbbb::2") == \
        "2001:db8:1:2::/64"
    assert client_id("::ffff:192.0.2.1") == "192.0.2.1"
    assert client_id("") == client_id("not an address") == ""


def test_odd_login_names_cannot_reach_other_keys(guard: Guard) -> None:
    fail(guard, "*", NAT, 5)
    fail(guard, "a|lock|client|x", HOME, 5, start=10)
    assert guard.allow("alice@acme.test", NAT).allowed
    assert guard.allow("alice@acme.test", HOME).allowed
    assert {lk.account for lk in guard.locks()} == {"*", "a|lock|client|x"}


def test_unlock_by_administrators_within_their_walls(ctx: Ctx, guard: Guard) -> None:
    tenants.add(ctx, "acme", "1G")
    domains.add(ctx, "acme", "acme.test")
    tenants.add(ctx, "beta", "1G")
    domains.add(ctx, "beta", "beta.test")
    accounts.add(ctx, "alice@acme.test", password="long-enough-password", quota="10M")
    accounts.add(ctx, "bert@beta.test", password="long-enough-password", quota="10M")
    fail(guard, "alice@acme.test", NAT, 5)
    fail(guard, "bert@beta.test", ELSEWHERE, 5, start=10)
    with ctx.reading() as s:
        acme_id = s.scalar(select(Tenant.id).where(Tenant.name == "acme"))
    acme_admin = Ctx(ctx.db, Actor("api:it@acme.test", acme_id), ctx.hasher)
    assert [lk.account for lk in lockout.locks(acme_admin, guard)] == ["alice@acme.test"]
    with pytest.raises(NotFound):
        lockout.unlock(acme_admin, guard, account="bert@beta.test")
    with pytest.raises(PermissionDenied):
        lockout.unlock(acme_admin, guard, client=NAT)
    lifted = lockout.unlock(acme_admin, guard, account="alice@acme.test")
    assert [(lk.kind, lk.client) for lk in lifted] == [("pair", NAT)]
    assert guard.allow("alice@acme.test", NAT).allowed
    assert not guard.allow("bert@beta.test", ELSEWHERE).allowed
    assert lockout.unlock(acme_admin, guard, account="alice@acme.test") == []  # idempotent
    entry = next(e for e in auditlog.entries(acme_admin) if e.action == "auth.unlocked")
    assert entry.target == "alice@acme.test" and entry.actor == "api:it@acme.test"
    assert entry.tenant == "acme"
    lockout.unlock(ctx, guard, client=ELSEWHERE)  # a global administrator may lift an address
    assert guard.locks() == []


def test_zenmails_processes_and_the_stack_agree_on_redis(tmp_path: Path) -> None:
    settings = load_settings(tmp_path)
    assert settings.redis_endpoint == Stack(settings).endpoint("redis")
    moved = settings.with_values({"endpoints.redis": "inet:10.0.0.5:6379"})
    assert moved.redis_endpoint == Stack(moved).endpoint("redis") == "inet:10.0.0.5:6379"
