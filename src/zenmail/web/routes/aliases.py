"""Aliases, including a domain's catch-all `@domain`.

The alias address sits in the path as written: `@` is legal in a path segment, so the
catch-all is `/aliases/@acme.example` (`%40acme.example` works too).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from zenmail.directory import aliases
from zenmail.directory.views import AliasInfo
from zenmail.web.deps import CtxDep
from zenmail.web.routes.common import ERRORS
from zenmail.web.schemas import AliasCreate, AliasRemoval, AliasTargetsSet

router = APIRouter(prefix="/aliases", tags=["aliases"], responses=ERRORS)


@router.get("", summary="List aliases, optionally of one tenant or domain")
def list_aliases(ctx: CtxDep, tenant: str | None = None,
                 domain: str | None = None) -> list[AliasInfo]:
    return aliases.list_all(ctx, tenant, domain)


@router.post("", summary="Create an alias, or add targets to an existing one")
def add_alias(ctx: CtxDep, body: AliasCreate) -> AliasInfo:
    return aliases.add(ctx, body.address, body.targets)


@router.put("/{alias:address}", summary="Replace an existing alias's targets in one step")
def set_alias(ctx: CtxDep, alias: str, body: AliasTargetsSet) -> AliasInfo:
    return aliases.set_targets(ctx, alias, body.targets)


@router.delete("/{alias:address}", summary="Remove one target, or the whole alias")
def remove_alias(ctx: CtxDep, alias: str,
                 target: Annotated[str | None, Query(
                     description="Remove only this target; the alias goes when none is left. "
                                 "Omit to remove the whole alias.")] = None) -> AliasRemoval:
    return AliasRemoval(alias=aliases.remove(ctx, alias, target))
