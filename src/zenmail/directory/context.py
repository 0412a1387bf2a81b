"""Who is acting, against which database: the context every directory use case receives.

Authorization lives here, in the service layer, so that the CLI, the API and the scheduler
obey the same walls: `Ctx.find` resolves a name only inside the actor's tenant, and anything
outside it looks exactly like something that does not exist; `Ctx.scoped` is the one filter
for listings.

Units of work also live here. A use case opens `ctx.unit()` (or `ctx.reading()` when it only
reads). If a unit is already open for this context in this thread — an engine such as an
import or a restore running several use cases as one — the use case joins it instead of
committing on its own (the idea of Mailman 3's `@transactional`): the outermost unit commits
or rolls back everything. A joined write runs inside a savepoint, so a use case that fails
leaves nothing half-written even if the caller catches its error and carries on.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Select, insert, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from zenmail.config import Settings
from zenmail.db import Database
from zenmail.directory import names
from zenmail.directory.models import (
    Account,
    Admin,
    Alias,
    ApiToken,
    AuditEntry,
    AuthChange,
    Base,
    Domain,
    Tenant,
)
from zenmail.directory.passwords import Hasher
from zenmail.errors import NotFound, PermissionDenied

Row = TypeVar("Row", bound=Base)
EVERYONE = "*"     # in auth_changes: flush the whole auth cache
ALL_AT_ONCE = 100  # more addresses than this in one unit: flush everyone instead


@dataclass(frozen=True)
class Actor:
    """The one on whose behalf a use case runs.

    `name` is what the audit log records ("cli:root", "api:it@acme.example"); `tenant_id`
    None means a global administrator; `admin_id` is the administrator an API token belongs
    to (None for the local operator, the demo, tests), so "is this me" compares ids.
    """

    name: str
    tenant_id: int | None = None
    admin_id: int | None = None

    @classmethod
    def of_admin(cls, admin: Admin, via: str = "api") -> Actor:
        return cls(f"{via}:{admin.name}", admin.tenant_id, admin.id)

    @property
    def is_global(self) -> bool:
        return self.tenant_id is None


@dataclass(frozen=True)
class Platform:
    """What the directory knows of the installation it serves: the host names that are the
    platform's own (settings `hostname`), which no tenant may hold. The default is the
    default setting's, so a context built without settings refuses that one too."""

    hostnames: tuple[str, ...] = (str(Settings.model_fields["hostname"].default),)

    @classmethod
    def of(cls, settings: Settings) -> Platform:
        return cls((settings.hostname,))


@dataclass(frozen=True)
class _Kind:
    """How one kind of row is named, whose tenant it is, and what to say when it is missing."""

    column: InstrumentedAttribute[Any]
    key: Callable[[Any], Any]
    tenant_of: Callable[[Any], int | None]
    missing: Callable[[Any], str]


def _no_domain(key: str) -> str:
    shown = names.domain_display(key)
    return f"no domain {shown!r}; add it first with `zenmail domain add TENANT {shown}`"


# Messages show names as people write them (Unicode domains); the stored key is ASCII.
_KINDS: dict[type[Base], _Kind] = {
    Tenant: _Kind(Tenant.name, names.tenant_key, lambda t: t.id,
                  lambda k: f"no tenant {k!r}; `zenmail tenant list` shows the tenants you "
                            "manage"),
    Domain: _Kind(Domain.name, names.domain_key, lambda d: d.tenant_id, _no_domain),
    Account: _Kind(Account.address, names.address_key, lambda a: a.tenant_id,
                   lambda k: f"no account {names.address_display(k)!r}; `zenmail account "
                             "list` shows the accounts"),
    Alias: _Kind(Alias.address, names.alias_key, lambda a: a.tenant_id,
                 lambda k: f"no alias {names.address_display(k)!r}; `zenmail alias list` "
                           "shows the aliases"),
    Admin: _Kind(Admin.name, names.address_key, lambda a: a.tenant_id,
                 lambda k: f"no administrator {names.address_display(k)!r}; create one with "
                           "`zenmail admin add`"),
    ApiToken: _Kind(ApiToken.id, names.token_key, lambda t: t.admin.tenant_id,
                    lambda k: f"no token {k}; `zenmail token list` shows them"),
}


@dataclass
class Ctx:
    db: Database
    actor: Actor
    hasher: Hasher = field(default_factory=Hasher)
    platform: Platform = field(default_factory=Platform)
    # Called after a unit of work commits with the addresses whose credentials it changed
    # (`auth_changed`): the CLI and the API flush Dovecot's auth cache for them at
    # once, so the very next login sees the change. Every node also drains `auth_changes`.
    on_auth_change: Callable[[list[str]], None] | None = None
    # The unit of work open in each thread: (session, whether it may write).
    _open: threading.local = field(default_factory=threading.local, init=False, repr=False,
                                   compare=False)

    # ---------------------------------------------------------------- units of work

    @contextmanager
    def unit(self) -> Iterator[Session]:
        """A unit of work that may write: opened here, or joined if one is open already."""
        joined: tuple[Session, bool] | None = getattr(self._open, "unit", None)
        if joined is None:
            changed: list[str] = []
            with self.db.transaction() as s, self._opened(s, writes=True, changed=changed):
                yield s
            if changed and self.on_auth_change is not None:
                self.on_auth_change(sorted(set(changed)))
            return
        session, writes = joined
        if not writes:
            # SQLite would have to upgrade a plain BEGIN to a write lock mid-way, which can
            # fail with "database is locked" under load; so the outer unit must be a writer.
            raise RuntimeError("a use case that writes was called inside ctx.reading(); open "
                               "the outer unit with ctx.unit()")
        with session.begin_nested():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only unit: joins any open unit (seeing its changes), else a snapshot."""
        joined: tuple[Session, bool] | None = getattr(self._open, "unit", None)
        if joined is not None:
            yield joined[0]
            return
        with self.db.reading() as s, self._opened(s, writes=False):
            yield s

    @contextmanager
    def _opened(self, session: Session, *, writes: bool,
                changed: list[str] | None = None) -> Iterator[None]:
        self._open.unit = (session, writes)
        self._open.changed = changed
        try:
            yield
        finally:
            self._open.unit = None
            self._open.changed = None

    def auth_changed(self, s: Session, addresses: list[str]) -> None:
        """Record, in the open unit, that what Dovecot's auth lookups answer for these
        addresses changed (a password, an account's state or quota, an app password, the
        tenant's rule, an alias): a row per address in `auth_changes` for every node's
        auth-cache drain, and `on_auth_change` once the unit commits. "*" stands for
        everyone (a catch-all, a whole tenant, a large import)."""
        if len(addresses) > ALL_AT_ONCE:
            addresses = [EVERYONE]
        if addresses:
            s.execute(insert(AuthChange), [{"address": a} for a in addresses])
        changed: list[str] | None = getattr(self._open, "changed", None)
        if changed is not None:
            changed.extend(addresses)

    # ---------------------------------------------------------------- the tenant wall

    def require_global(self, what: str) -> None:
        if not self.actor.is_global:
            raise PermissionDenied(f"only a global administrator may {what}; ask your hosting "
                                   "provider")

    def may_see_tenant(self, tenant_id: int | None) -> bool:
        """Global rows (tenant None, e.g. global administrators) only for global actors."""
        return self.actor.is_global or self.actor.tenant_id == tenant_id

    def get(self, s: Session, model: type[Row], key: str | int, *,
            lock: bool = False) -> Row | None:
        """The row of `model` named `key` in any accepted spelling, if the actor may see it.

        `lock` holds the row until the unit of work ends (`SELECT … FOR UPDATE`).
        """
        kind = _KINDS[model]
        stmt = select(model).where(kind.column == kind.key(key))
        if lock:
            stmt = stmt.with_for_update()
        row = s.scalars(stmt).one_or_none()
        if row is None or not self.may_see_tenant(kind.tenant_of(row)):
            return None
        return row

    def find(self, s: Session, model: type[Row], key: str | int, *,
             lock: bool = False) -> Row:
        """As `get`, but NotFound — the same answer for "missing" and "outside your tenant"."""
        row = self.get(s, model, key, lock=lock)
        if row is None:
            kind = _KINDS[model]
            raise NotFound(kind.missing(kind.key(key)))
        return row

    def scoped(self, stmt: Select[Any], tenant_column: Any) -> Select[Any]:
        """`stmt` limited to the actor's tenant: the one filter every listing goes through."""
        if self.actor.is_global:
            return stmt
        return stmt.where(tenant_column == self.actor.tenant_id)


def audit(s: Session, ctx: Ctx, action: str, target: str, tenant_id: int | None,
          before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> None:
    """Write one audit entry in the same transaction as the change it describes."""
    s.add(AuditEntry(actor=ctx.actor.name, tenant_id=tenant_id, action=action, target=target,
                     before=json.dumps(before, sort_keys=True, default=str) if before else None,
                     after=json.dumps(after, sort_keys=True, default=str) if after else None))
