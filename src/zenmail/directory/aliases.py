"""Aliases: an address (or `@domain`, the catch-all) delivered to one or more targets."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from zenmail.directory import names, rules
from zenmail.directory.context import EVERYONE, Ctx, audit
from zenmail.directory.models import Account, Alias, AliasTarget, Domain, Tenant
from zenmail.directory.views import AliasInfo
from zenmail.errors import Conflict, InvalidInput, NotFound


def _info(s: Session, a: Alias) -> AliasInfo:
    tenant = s.scalar(select(Tenant.name).where(Tenant.id == a.tenant_id)) or ""
    targets = [t.target for t in a.targets]
    return AliasInfo(address=a.address, address_unicode=names.address_display(a.address),
                     tenant=tenant, targets=targets,
                     targets_unicode=[names.address_display(t) for t in targets],
                     catch_all=a.address.startswith("@"))


def _alias_graph(s: Session) -> dict[str, list[str]]:
    graph: dict[str, list[str]] = {}
    for address, target in s.execute(select(Alias.address, AliasTarget.target)
                                      .join(AliasTarget, AliasTarget.alias_id == Alias.id)):
        graph.setdefault(address, []).append(target)
    return graph


def _find_loop(graph: dict[str, list[str]], start: str) -> list[str] | None:
    """A path start -> ... -> start through aliases, if the graph has one."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for nxt in graph.get(node, []):
            if nxt == start:
                return [*path, nxt]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


def _loop_message(s: Session, ctx: Ctx, loop: list[str]) -> str:
    """What to say about a loop, naming nothing outside the actor's tenant.

    A loop may run through another tenant's aliases (b's info -> a's fw -> b's info): the
    caller learns that it would loop, as mail sent around it would show, but not through
    which of the other tenant's addresses.
    """
    owners = dict(s.execute(select(Domain.name, Domain.tenant_id).where(
        Domain.name.in_({names.domain_of(a) for a in loop}))).all())
    if all(ctx.may_see_tenant(owners.get(names.domain_of(a))) for a in loop):
        return ("alias loop: " + " -> ".join(map(names.address_display, loop))
                + "; point one of them at an account instead")
    return (f"alias {names.address_display(loop[0])!r} would create a loop through an "
            "address outside your tenant; point it at an account instead")


def _check_local_target(s: Session, target: str, tenant_id: int) -> None:
    """A target in one of the tenant's domains must exist, or mail to the alias would bounce.

    Targets in other tenants' domains are treated like outside addresses and not looked up,
    so that an alias cannot be used to probe which addresses another tenant has.
    """
    domain = names.domain_of(target)
    owner = s.scalar(select(Domain.tenant_id).where(Domain.name == domain))
    if owner != tenant_id:
        return
    exists = (s.scalar(select(Account.id).where(Account.address == target)) is not None
              or s.scalar(select(Alias.id).where(Alias.address.in_([target, f"@{domain}"])))
              is not None)
    if not exists:
        raise NotFound(f"alias target {names.address_display(target)!r} is in local domain "
                       f"{names.domain_display(domain)!r} but no such "
                       "account or alias exists; create it first")


def _clean_targets(source: str, targets: list[str]) -> list[str]:
    """The targets in canonical form, duplicates dropped, order kept; never the alias itself."""
    if not targets:
        raise InvalidInput("an alias needs at least one target address")
    clean = list(dict.fromkeys(names.valid_address(t, "alias target") for t in targets))
    if source in clean:
        raise Conflict(f"alias {names.address_display(source)!r} cannot point to itself")
    return clean


def _ensure_no_loop(s: Session, ctx: Ctx, source: str) -> None:
    # The whole graph, every tenant's aliases: Postfix expands them all the same way.
    loop = _find_loop(_alias_graph(s), source)
    if loop:
        raise Conflict(_loop_message(s, ctx, loop))


def add(ctx: Ctx, address: str, targets: list[str]) -> AliasInfo:
    """Create an alias, or add targets to an existing one. Refuses loops and dangling targets."""
    source = names.valid_alias_source(address)
    clean_targets = _clean_targets(source, targets)
    with ctx.unit() as s:
        domain = ctx.find(s, Domain, names.domain_of(source))
        # The same lock as account creation, so an account and an alias cannot both take
        # one address in two concurrent units (PostgreSQL; SQLite serialises writers anyway).
        rules.lock_tenant(s, domain.tenant_id)
        rules.ensure_addresses_free(s, [source], for_alias=True)
        alias = ctx.get(s, Alias, source)
        before = [t.target for t in alias.targets] if alias else None
        if alias is None:
            alias = Alias(tenant_id=domain.tenant_id, domain_id=domain.id, address=source)
            s.add(alias)
        for t in clean_targets:
            _check_local_target(s, t, domain.tenant_id)
            if t not in [x.target for x in alias.targets]:
                alias.targets.append(AliasTarget(target=t))
        s.flush()
        _ensure_no_loop(s, ctx, source)
        _lookups_changed(s, ctx, source)
        audit(s, ctx, "alias.add", source, domain.tenant_id,
              before={"targets": before} if before else None,
              after={"targets": [t.target for t in alias.targets]})
        return _info(s, alias)


def set_targets(ctx: Ctx, address: str, targets: list[str]) -> AliasInfo:
    """Replace an existing alias's targets with `targets`, in that order (Postfix delivers to
    all; the RCPT-time quota check looks at the first). Never creates an alias: a mistyped
    address is "not found", not a new alias. The same checks as `add`: no loop, no dangling
    local target."""
    source = names.valid_alias_source(address)
    clean_targets = _clean_targets(source, targets)
    with ctx.unit() as s:
        alias = ctx.find(s, Alias, source)
        rules.lock_tenant(s, alias.tenant_id)
        before = [t.target for t in alias.targets]
        if clean_targets == before:
            return _info(s, alias)
        for t in clean_targets:
            _check_local_target(s, t, alias.tenant_id)
        alias.targets.clear()
        s.flush()  # the old rows go first: a kept target is inserted again, (alias, target) unique
        alias.targets.extend(AliasTarget(target=t) for t in clean_targets)
        s.flush()
        _ensure_no_loop(s, ctx, alias.address)
        _lookups_changed(s, ctx, alias.address)
        audit(s, ctx, "alias.set", alias.address, alias.tenant_id,
              before={"targets": before}, after={"targets": clean_targets})
        return _info(s, alias)


def _lookups_changed(s: Session, ctx: Ctx, source: str) -> None:
    # The RCPT-time quota check resolves an alias (or, for any unknown address of its
    # domain, the catch-all) to its first target's quota, through Dovecot's user lookup,
    # which its auth cache may hold.
    ctx.auth_changed(s, [EVERYONE if source.startswith("@") else source])


def list_all(ctx: Ctx, tenant: str | None = None, domain: str | None = None) -> list[AliasInfo]:
    with ctx.reading() as s:
        stmt = select(Alias).order_by(Alias.address)
        if tenant:
            stmt = stmt.where(Alias.tenant_id == ctx.find(s, Tenant, tenant).id)
        if domain:
            stmt = stmt.where(Alias.domain_id == ctx.find(s, Domain, domain).id)
        stmt = ctx.scoped(stmt, Alias.tenant_id)
        return [_info(s, a) for a in s.scalars(stmt)]


def remove(ctx: Ctx, address: str, target: str | None = None) -> AliasInfo | None:
    """Remove one target (the alias goes when none is left) or the whole alias."""
    with ctx.unit() as s:
        alias = ctx.find(s, Alias, address)
        source = alias.address
        _lookups_changed(s, ctx, source)
        before = [t.target for t in alias.targets]
        if target is not None:
            clean = names.address_key(target)
            match = [t for t in alias.targets if t.target == clean]
            if not match:
                raise NotFound(f"alias {names.address_display(source)!r} has no target "
                               f"{names.address_display(clean)!r}; its targets are "
                               + ", ".join(map(names.address_display, before)))
            alias.targets.remove(match[0])
        if target is None or not alias.targets:
            audit(s, ctx, "alias.remove", source, alias.tenant_id, before={"targets": before})
            s.delete(alias)
            return None
        s.flush()
        audit(s, ctx, "alias.remove_target", source, alias.tenant_id,
              before={"targets": before}, after={"targets": [t.target for t in alias.targets]})
        return _info(s, alias)
