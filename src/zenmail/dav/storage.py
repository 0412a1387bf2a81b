"""Where the calendars and address books live, and the Radicale settings zenmail uses.

One storage serves both the Radicale daemon and zenmail's own tools (migration, export,
import, shared calendars, removal): Radicale's `multifilesystem` under STATE/dav, whose file
lock (STATE/dav/.Radicale.lock) keeps the daemon and a tool from writing at once.

    STATE/dav/collection-root/<address>/            an account's principal
                                 calendar/          its default calendar (VCALENDAR)
                                 contacts/          its default address book (VADDRESSBOOK)
    STATE/dav/collection-root/_shared/<tenant>/<name>/   a tenant's shared calendar

Principals are named by the account's address: an address always holds an `@`, so `_shared`
can never be an account. This module imports nothing of Radicale, so the stack can read
the paths and the settings without loading it.
"""

from __future__ import annotations

import json
from pathlib import Path

from zenmail.config import Settings
from zenmail.directory import names
from zenmail.errors import InvalidInput

SHARED = "_shared"
DEFAULT_CALENDAR = "calendar"
DEFAULT_ADDRESSBOOK = "contacts"
# Created by Radicale with every principal (its `predefined_collections`): the first login of
# an account (and zenmail's own first access, `local.provision`) finds both there.
DEFAULT_COLLECTIONS: dict[str, dict[str, str]] = {
    DEFAULT_CALENDAR: {"tag": "VCALENDAR", "D:displayname": "Calendar",
                       "C:supported-calendar-component-set": "VEVENT,VTODO,VJOURNAL"},
    DEFAULT_ADDRESSBOOK: {"tag": "VADDRESSBOOK", "D:displayname": "Contacts"},
}
MAX_RESOURCE_BYTES = 10_000_000  # one event or contact (Radicale's own default)


def root(settings: Settings) -> Path:
    """STATE/dav: Radicale's `filesystem_folder`."""
    return settings.state_dir.resolve() / "dav"


def collections(settings: Settings) -> Path:
    return root(settings) / "collection-root"


def principal_dir(settings: Settings, address: str) -> Path:
    key = names.address_key(address)
    if "/" in key or key.startswith(".") or "@" not in key:
        raise InvalidInput(f"{address!r} is not an account address")
    return collections(settings) / key


def shared_dir(settings: Settings, tenant: str) -> Path:
    return collections(settings) / SHARED / names.tenant_key(tenant)


def radicale_values(settings: Settings) -> dict[str, dict[str, str]]:
    """The Radicale settings every user of the storage shares (the daemon adds its
    [server], [auth] and [rights]): where the data is, and how much one item may weigh."""
    return {
        "storage": {"type": "multifilesystem", "filesystem_folder": str(root(settings)),
                    "predefined_collections": json.dumps(DEFAULT_COLLECTIONS,
                                                         sort_keys=True)},
        "server": {"max_resource_size": str(MAX_RESOURCE_BYTES)},
    }


def bytes_used(path: Path) -> int:
    """Bytes of the files under `path` (0 if it does not exist): items, properties and
    Radicale's caches, as they count on the disk."""
    if not path.exists():
        return 0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def usage(settings: Settings) -> dict[str, int]:
    """Bytes of DAV data per principal (account address), for the accounts that have some."""
    base = collections(settings)
    if not base.is_dir():
        return {}
    return {p.name: bytes_used(p) for p in base.iterdir()
            if p.is_dir() and "@" in p.name}


def principals(settings: Settings) -> list[str]:
    """The account addresses that have a principal in the storage."""
    base = collections(settings)
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir() and "@" in p.name)
