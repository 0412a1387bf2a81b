"""Login failures that lock the guesser out, not the people who share its address.

Dovecot's own answer to wrong passwords was a penalty per client address: every later login
from that address waited (2, 4, 8, 15 s), right passwords and other users' included, until
Postfix's 10-second SASL wait ran out and everyone behind a company's NAT got 454. That
penalty is switched off (templates/dovecot/dovecot.conf); these rules replace it. Dovecot
asks them before every login (IMAP, ManageSieve, SMTP AUTH through Postfix) and reports every
result afterwards (zenmail.security.authpolicy).

Three counters, each over a window of `[lockout] window_minutes` from its first failure:

    pair      one account from one client address: `pair_failures` different wrong passwords
              lock that account out *for that address* (a guesser stops; the owner logging in
              from elsewhere, and everyone else behind the address, go on)
    client    one client address, any accounts: `client_failures` lock the address out,
              except for accounts that logged in from it successfully in the last
              `known_client_days` (password spraying from a NAT stops; its known users go on)
    account   one account, any addresses: `account_failures` lock the account out, except from
              addresses it is known from (a distributed guess stops; the owner goes on)

A wrong password repeated (a phone with an old password retrying every minute) counts once:
Dovecot sends a keyed, truncated hash of each password tried, and a hash seen before within the
window is not counted again. A lockout lasts one window; an administrator can lift it at once
(`unlock`). Every lockout and unlock is written to the audit log. The policy fails open: if it
(or Redis) is down, logins work as without it, and Dovecot's 2-second failure delay remains.

State lives in Redis (keys with TTLs, so nothing needs cleaning up), behind `Store`; `MemoryStore`
is the same contract in memory, for unit tests.
"""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol
from urllib.parse import quote

from sqlalchemy import select

from zenmail.config import LockoutSettings
from zenmail.db import Database
from zenmail.directory.context import Ctx, audit
from zenmail.directory.models import Account, AuditEntry
from zenmail.directory.views import View
from zenmail.errors import InvalidInput, StackError

PREFIX = "zm:lockout|"
Kind = Literal["pair", "client", "account"]
LOCK_MESSAGE = ("too many failed logins; wait {minutes} minutes or ask your administrator to "
                "unlock the account")


class Store(Protocol):
    """The few operations the rules need, each atomic on its own."""

    def count(self, key: str, ttl: int) -> int:
        """Add one to `key` and return it; the first one starts a `ttl`-second window."""

    def remember(self, key: str, member: str, ttl: int) -> bool:
        """Add `member` to the set `key` (window as in count); False if it was there."""

    def put_new(self, key: str, value: str, ttl: int) -> bool:
        """Set `key` for `ttl` seconds unless it exists; True if set."""

    def get(self, key: str) -> str | None: ...

    def ttl(self, key: str) -> int:
        """Seconds `key` has left (0: gone)."""

    def delete(self, keys: Iterable[str]) -> int: ...

    def keys(self, pattern: str) -> list[str]:
        """Keys matching a glob `pattern` (only `*` is used)."""


class RedisStore:
    """The Store on Redis (redis-py), at an endpoint such as `unix:/path` or `inet:h:p`."""

    def __init__(self, endpoint: str) -> None:
        import redis  # imported here: only the policy, the API and the CLI's unlock need it

        if endpoint.startswith("unix:"):
            self._r = redis.Redis(unix_socket_path=endpoint.removeprefix("unix:"),
                                  socket_timeout=2, decode_responses=True)
        elif endpoint.startswith("inet:"):
            host, _, port = endpoint.removeprefix("inet:").rpartition(":")
            self._r = redis.Redis(host=host.strip("[]"), port=int(port), socket_timeout=2,
                                  decode_responses=True)
        else:
            raise InvalidInput(f"Redis endpoint {endpoint!r} is neither unix:/PATH nor "
                               "inet:HOST:PORT; fix [endpoints] redis")
        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)
        self.endpoint = endpoint

    def _call(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except self._errors as exc:
            raise StackError(f"Redis at {self.endpoint} did not answer ({exc}); is the stack "
                             "running? (`zenmail status`)") from exc

    def count(self, key: str, ttl: int) -> int:
        def run() -> Any:
            with self._r.pipeline() as p:
                p.incr(key)
                p.expire(key, ttl, nx=True)
                return p.execute()[0]
        return int(self._call(run))

    def remember(self, key: str, member: str, ttl: int) -> bool:
        def run() -> Any:
            with self._r.pipeline() as p:
                p.sadd(key, member)
                p.expire(key, ttl, nx=True)
                return p.execute()[0]
        return bool(self._call(run))

    def put_new(self, key: str, value: str, ttl: int) -> bool:
        return bool(self._call(lambda: self._r.set(key, value, ex=ttl, nx=True)))

    def get(self, key: str) -> str | None:
        value = self._call(lambda: self._r.get(key))
        return None if value is None else str(value)

    def ttl(self, key: str) -> int:
        return max(0, int(self._call(lambda: self._r.ttl(key))))

    def delete(self, keys: Iterable[str]) -> int:
        keys = list(keys)
        return int(self._call(lambda: self._r.delete(*keys))) if keys else 0

    def keys(self, pattern: str) -> list[str]:
        found = self._call(lambda: list(self._r.scan_iter(match=pattern, count=1000)))
        return [str(k) for k in found]

    def ping(self) -> bool:
        try:
            return bool(self._r.ping())
        except self._errors:
            return False


@dataclass
class MemoryStore:
    """The Store in memory, with a clock tests can move."""

    now: Callable[[], float] = time.monotonic
    _data: dict[str, tuple[float, object]] = field(default_factory=dict)

    def _live(self, key: str) -> object | None:
        item = self._data.get(key)
        if item is None or item[0] <= self.now():
            self._data.pop(key, None)
            return None
        return item[1]

    def count(self, key: str, ttl: int) -> int:
        value = self._live(key)
        n = (value if isinstance(value, int) else 0) + 1
        expires = self._data[key][0] if value is not None else self.now() + ttl
        self._data[key] = (expires, n)
        return n

    def remember(self, key: str, member: str, ttl: int) -> bool:
        value = self._live(key)
        members = value if isinstance(value, set) else set()
        if member in members:
            return False
        expires = self._data[key][0] if value is not None else self.now() + ttl
        self._data[key] = (expires, members | {member})
        return True

    def put_new(self, key: str, value: str, ttl: int) -> bool:
        if self._live(key) is not None:
            return False
        self._data[key] = (self.now() + ttl, value)
        return True

    def get(self, key: str) -> str | None:
        value = self._live(key)
        return value if isinstance(value, str) else None

    def ttl(self, key: str) -> int:
        return max(0, int(self._data[key][0] - self.now())) if self._live(key) else 0

    def delete(self, keys: Iterable[str]) -> int:
        return sum(1 for k in list(keys) if self._live(k) is not None and self._data.pop(k))

    def keys(self, pattern: str) -> list[str]:
        head, _, tail = pattern.partition("*")
        return [k for k in list(self._data) if self._live(k) is not None
                and k.startswith(head) and k.endswith(tail)]


def client_id(address: str) -> str:
    """The client a login comes from: its IPv4 address, or its IPv6 /64 (one host owns a
    whole /64, so single IPv6 addresses would make every guess a new client). Empty when
    unknown (a local `doveadm auth test`): such logins are counted per account only."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return ""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _enc(part: str) -> str:
    # Login names come from anyone: keep Redis key separators and glob characters out.
    return quote(part, safe="@.+-_")


def _key(*parts: str) -> str:
    return PREFIX + "|".join(_enc(p) for p in parts)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


@dataclass
class LockInfo(View):
    """One lockout in force: `account`, `client` or both (a pair)."""

    kind: str
    account: str | None
    client: str | None
    failures: int
    since: str
    seconds_left: int


@dataclass(frozen=True)
class LockEvent:
    """A lockout that just began, for the audit log."""

    kind: Kind
    account: str | None
    client: str | None
    failures: int
    minutes: int


class Guard:
    """The rules, over a Store. `allow` before a login, `report` after it."""

    def __init__(self, store: Store, rules: LockoutSettings) -> None:
        self.store = store
        self.rules = rules

    @property
    def window(self) -> int:
        return self.rules.window_minutes * 60

    def _lock_keys(self, account: str, client: str) -> dict[Kind, str]:
        keys: dict[Kind, str] = {"account": _key("lock", "account", account)}
        if client:
            keys["pair"] = _key("lock", "pair", client, account)
            keys["client"] = _key("lock", "client", client)
        return keys

    def _known(self, account: str, client: str) -> bool:
        return bool(client) and self.store.get(_key("known", client, account)) is not None

    def allow(self, login: str, address: str) -> Decision:
        account, client = login.strip().lower(), client_id(address)
        locks = self._lock_keys(account, client)
        message = LOCK_MESSAGE.format(minutes=self.rules.window_minutes)
        if "pair" in locks and self.store.get(locks["pair"]) is not None:
            return Decision(False, message)
        if self._known(account, client):
            return Decision(True)
        others = [key for kind, key in locks.items() if kind != "pair"]
        if any(self.store.get(key) is not None for key in others):
            return Decision(False, message)
        return Decision(True)

    def report(self, login: str, address: str, success: bool, password_hash: str = "",
               refused_by_policy: bool = False) -> list[LockEvent]:
        """Count one login's result; returns the lockouts it began (usually none)."""
        account, client = login.strip().lower(), client_id(address)
        if not account:
            return []
        if success:
            if client:
                known = _key("known", client, account)
                self.store.delete([known])
                self.store.put_new(known, "1", self.rules.known_client_days * 86400)
                self.store.delete([_key("fail", "pair", client, account),
                                   _key("seen", client, account)])
            return []
        if refused_by_policy:
            return []  # attempts while locked out do not extend the lockout
        seen = _key("seen", client or "-", account)
        if password_hash and not self.store.remember(seen, password_hash, self.window):
            return []  # the same wrong password again: not a new guess
        counters: list[tuple[Kind, str, int]] = [
            ("account", _key("fail", "account", account), self.rules.account_failures)]
        if client:
            counters += [("pair", _key("fail", "pair", client, account), self.rules.pair_failures),
                         ("client", _key("fail", "client", client), self.rules.client_failures)]
        events = []
        locks = self._lock_keys(account, client)
        for kind, key, limit in counters:
            failures = self.store.count(key, self.window)
            if failures < limit:
                continue
            event = LockEvent(kind, None if kind == "client" else account,
                              None if kind == "account" else client, failures,
                              self.rules.window_minutes)
            value = json.dumps({"kind": kind, "account": event.account, "client": event.client,
                                "failures": failures,
                                "since": datetime.now(UTC).isoformat(timespec="seconds")})
            if self.store.put_new(locks[kind], value, self.window):
                events.append(event)
        return events

    def locks(self) -> list[LockInfo]:
        out = []
        for key in self.store.keys(PREFIX + "lock|*"):
            raw = self.store.get(key)
            if raw is None:
                continue
            data = json.loads(raw)
            out.append(LockInfo(kind=data["kind"], account=data["account"],
                                client=data["client"], failures=data["failures"],
                                since=data["since"], seconds_left=self.store.ttl(key)))
        return sorted(out, key=lambda lk: (lk.kind, lk.account or "", lk.client or ""))

    def lift(self, account: str | None, client: str | None) -> list[LockInfo]:
        """Remove lockouts and failure counts: of `account` (itself and at every address),
        of `client` (itself and every account at it), or of that one pair. Returns the
        lockouts lifted; the counts restart from zero either way."""
        def parts(lk: LockInfo) -> list[str]:
            return [p for p in (lk.client, lk.account) if p]

        if account and client:
            lifted = [lk for lk in self.locks() if lk.kind == "pair"
                      and (lk.account, lk.client) == (account, client)]
            counts = [_key("fail", "pair", client, account), _key("seen", client, account)]
        elif account:
            lifted = [lk for lk in self.locks() if lk.kind != "client" and lk.account == account]
            counts = [_key("fail", "account", account),
                      *self.store.keys(PREFIX + "fail|pair|*|" + _enc(account)),
                      *self.store.keys(PREFIX + "seen|*|" + _enc(account))]
        elif client:
            lifted = [lk for lk in self.locks() if lk.kind != "account" and lk.client == client]
            counts = [_key("fail", "client", client),
                      *self.store.keys(PREFIX + "fail|pair|" + _enc(client) + "|*"),
                      *self.store.keys(PREFIX + "seen|" + _enc(client) + "|*")]
        else:
            return []
        self.store.delete([*counts, *(_key("lock", lk.kind, *parts(lk)) for lk in lifted)])
        return lifted


def guard_for(endpoint: str, rules: LockoutSettings) -> Guard:
    return Guard(RedisStore(endpoint), rules)


# ---------------------------------------------------------------- audit and administration


def _tenant_of(db: Database, account: str) -> int | None:
    with db.reading() as s:
        return s.scalar(select(Account.tenant_id).where(Account.address == account))


def record_lock(db: Database, event: LockEvent, protocol: str = "") -> None:
    """The audit entry for a lockout that began (actor `auth-policy`); the account's tenant
    sees it when the account exists."""
    target = (f"{event.account} from {event.client}" if event.kind == "pair"
              else event.account or event.client or "")
    tenant = _tenant_of(db, event.account) if event.account else None
    after = {"kind": event.kind, "account": event.account, "client": event.client,
             "failures": event.failures, "minutes": event.minutes, "protocol": protocol}
    with db.transaction() as s:
        s.add(AuditEntry(actor="auth-policy", tenant_id=tenant, action="auth.locked",
                         target=target, after=json.dumps(after, sort_keys=True)))


def locks(ctx: Ctx, guard: Guard) -> list[LockInfo]:
    """The lockouts in force that the caller may see: everything for a global
    administrator; for a tenant administrator, those of its tenant's accounts."""
    found = guard.locks()
    if ctx.actor.is_global:
        return found
    with ctx.reading() as s:
        mine = set(s.scalars(ctx.scoped(select(Account.address), Account.tenant_id)))
    return [lk for lk in found if lk.account in mine]


def unlock(ctx: Ctx, guard: Guard, account: str | None = None,
           client: str | None = None) -> list[LockInfo]:
    """Lift the lockouts of an account (at every address), of a client address (global
    administrators only), or of one account at one address; audited. Returns what was lifted
    (possibly nothing: unlocking twice is no error). A tenant administrator names only its
    own accounts; a global one may name any login, existing or not (guessers try both)."""
    if account is None and client is None:
        raise InvalidInput("name an account, a client address, or both")
    where = client_id(client) if client else None
    if client and not where:
        raise InvalidInput(f"{client!r} is not an IPv4 or IPv6 address")
    if account is None:
        ctx.require_global("unlock a client address")
    with ctx.unit() as s:
        name: str | None = None
        tenant: int | None = None
        if account is not None:
            found = ctx.get(s, Account, account) if ctx.actor.is_global else ctx.find(
                s, Account, account)
            name = found.address if found else account.strip().lower()
            tenant = found.tenant_id if found else None
        lifted = guard.lift(name, where)
        audit(s, ctx, "auth.unlocked", " from ".join(p for p in (name, where) if p), tenant,
              before={"locks": [lk.to_dict() for lk in lifted]})
    return lifted
