"""The pooled-quota invariant holds under parallel requests, on SQLite and PostgreSQL.

Without the tenant lock these tests overshoot the pool: every thread reads the same free
space before any of them commits.
"""

import threading
from collections.abc import Callable
from typing import TypeVar

from zenmail.directory import accounts, auditlog, domains, quota, tenants
from zenmail.directory.views import PoolInfo
from zenmail.errors import QuotaExceeded

MiB = 1024 ** 2
PW = "correct horse battery"
T = TypeVar("T")


def run_together(n: int, fn: Callable[[int], T]) -> list[T | QuotaExceeded]:
    """Call fn(0..n-1) in n threads released at once; each result, or its QuotaExceeded.

    Any other error, or a thread that does not finish, fails the test: a refusal for
    another reason must not pass as a success (or as a refusal).
    """
    barrier = threading.Barrier(n)
    results: list[T | QuotaExceeded | None] = [None] * n
    unexpected: list[BaseException] = []

    def worker(i: int) -> None:
        barrier.wait()
        try:
            results[i] = fn(i)
        except QuotaExceeded as exc:
            results[i] = exc
        except BaseException as exc:  # noqa: B036 - reported to the test below
            unexpected.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "a thread did not finish within 60 s"
    if unexpected:
        raise AssertionError(f"{len(unexpected)} thread(s) failed unexpectedly") \
            from unexpected[0]
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


def test_parallel_account_creation_never_overshoots_the_pool(ctx):
    tenants.add(ctx, "acme", "1G")
    domains.add(ctx, "acme", "acme.test")
    results = run_together(20, lambda i: accounts.add(ctx, f"u{i}@acme.test", password=PW,
                                                      quota="100M"))
    created = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, QuotaExceeded)]
    assert len(created) == 10 and len(refused) == 10
    pool = quota.pool(ctx, "acme")
    assert pool.allocated_bytes == 1000 * MiB <= pool.pool_bytes
    assert len(pool.accounts) == 10


def test_parallel_quota_raises_never_overshoot_the_pool(ctx):
    tenants.add(ctx, "acme", "1G")
    domains.add(ctx, "acme", "acme.test")
    for i in range(10):
        accounts.add(ctx, f"u{i}@acme.test", password=PW, quota="1M")
    # 1014 MiB free; each raise needs 199 MiB more: exactly five fit.
    results = run_together(10, lambda i: quota.set_quota(ctx, f"u{i}@acme.test", "200M"))
    raised = [r for r in results if not isinstance(r, Exception)]
    assert len(raised) == 5
    pool = quota.pool(ctx, "acme")
    assert pool.allocated_bytes == 5 * 200 * MiB + 5 * MiB
    assert pool.allocated_bytes <= pool.pool_bytes


def test_parallel_moves_keep_the_total(ctx):
    tenants.add(ctx, "acme", "1G")
    domains.add(ctx, "acme", "acme.test")
    accounts.add(ctx, "a@acme.test", password=PW, quota="500M")
    accounts.add(ctx, "b@acme.test", password=PW, quota="500M")
    results = run_together(16, lambda i: quota.move(
        ctx, *(("a@acme.test", "b@acme.test") if i % 2 else ("b@acme.test", "a@acme.test")),
        "10M"))
    # Every move has room (each side keeps >= 420M), so every one must succeed; the shares
    # end where they began only because eight went each way.
    assert sum(isinstance(r, PoolInfo) for r in results) == 16
    pool = quota.pool(ctx, "acme")
    shares = {a.address: a.quota_bytes for a in pool.accounts}
    assert shares == {"a@acme.test": 500 * MiB, "b@acme.test": 500 * MiB}
    moves = [e for e in auditlog.entries(ctx, limit=100) if e.action == "quota.move"]
    assert len(moves) == 16
