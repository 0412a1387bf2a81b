"""What use cases return: plain, typed records that the CLI prints and the API serialises.

`used_bytes` is what a mailbox stores as Dovecot counts it (see directory/usage.py): `None`
for an account not measured yet; a tenant's or pool's figure adds up its measured accounts.

Domains and addresses appear twice: `name`/`address` is the stored, ASCII form (IDNA
A-labels) that scripts can compare and pass back, and the daemons use; `…_unicode` is the
same name as people write and should read it. They differ only for internationalised
domains.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any


@dataclass
class View:
    def to_dict(self) -> dict[str, Any]:
        def conv(v: Any) -> Any:
            if isinstance(v, datetime):  # always aware: models.UTCDateTime
                return v.isoformat()
            if isinstance(v, list):
                return [conv(x) for x in v]
            if isinstance(v, dict):
                return {k: conv(x) for k, x in v.items()}
            return v

        return {k: conv(v) for k, v in asdict(self).items()}


@dataclass
class TenantInfo(View):
    name: str
    pool_bytes: int
    allocated_bytes: int
    used_bytes: int
    max_accounts: int | None
    accounts: int
    domains: list[str]
    domains_unicode: list[str]
    created_at: datetime


@dataclass
class DomainInfo(View):
    name: str
    name_unicode: str
    tenant: str
    accounts: int
    created_at: datetime


@dataclass
class AccountInfo(View):
    address: str
    address_unicode: str
    tenant: str
    display_name: str
    quota_bytes: int
    used_bytes: int | None
    enabled: bool
    created_at: datetime
    updated_at: datetime


@dataclass
class PoolAccount(View):
    address: str
    address_unicode: str
    quota_bytes: int
    used_bytes: int | None


@dataclass
class PoolInfo(View):
    tenant: str
    pool_bytes: int
    allocated_bytes: int
    free_bytes: int
    used_bytes: int
    accounts: list[PoolAccount]


@dataclass
class AliasInfo(View):
    address: str
    address_unicode: str
    tenant: str
    targets: list[str]
    targets_unicode: list[str]
    catch_all: bool


@dataclass
class AdminInfo(View):
    name: str
    name_unicode: str
    tenant: str | None
    created_at: datetime


@dataclass
class TokenInfo(View):
    id: int
    admin: str
    name: str
    created_at: datetime
    revoked: bool


@dataclass
class NewToken(View):
    token: str
    info: TokenInfo


@dataclass
class AuditInfo(View):
    id: int
    at: datetime
    actor: str
    tenant: str | None
    action: str
    target: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
