"""zenmail's own access to the DAV storage: Radicale's application in this process.

Tools (migration, import, export, shared calendars, removal) speak the same DAV requests a
client would, to `radicale.Application` over WSGI (no socket, no password): every write goes
through Radicale's own checks and its storage lock, so the running daemon and a tool never
write at once, and nothing depends on Radicale's internals.

The local application trusts its caller: it runs with `remote_user` authentication (the
account acted for is passed in REMOTE_USER) and rights that allow everything. It is never
exposed: only code in this process reaches it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable

from radicale import Application, config, rights
from radicale.storage import multifilesystem

from zenmail.config import Settings
from zenmail.dav import items, storage
from zenmail.dav.client import Collection, DavClient, Kind, WsgiTransport
from zenmail.errors import StackError


class _Everything(rights.BaseRights):
    def authorization(self, user: str, user_groups: set[str], path: str) -> str:
        return "RWrw"


class _BulkCollection(multifilesystem.Collection):
    def has_uid(self, uid: str) -> bool:
        # Radicale reads every item of the collection to refuse a second item with the same
        # UID: quadratic for a migration of thousands. Bulk writers (migrate, import) list the
        # target's UIDs once and write each UID where it already is, so nothing is doubled.
        return False


class _BulkStorage(multifilesystem.Storage):
    _collection_class = _BulkCollection


@functools.lru_cache(maxsize=8)
def _app(folder: str, predefined: str, fsync: bool) -> Callable[..., Iterable[bytes]]:
    configuration = config.load()
    configuration.update({
        "auth": {"type": "remote_user"},
        "rights": {"type": _Everything},
        "storage": {"type": "multifilesystem", "filesystem_folder": folder,
                    "predefined_collections": predefined},
        "web": {"type": "none"},
        "logging": {"level": "warning", "mask_passwords": "True"},
    }, "zenmail.dav.local")
    if not fsync:
        configuration.update({"storage": {"_filesystem_fsync": "False",
                                          "type": _BulkStorage}},
                             "zenmail.dav.local (bulk)", privileged=True)
    app: Callable[..., Iterable[bytes]] = Application(configuration)
    return app


def client(settings: Settings, user: str = "", *, bulk: bool = False) -> DavClient:
    """A DAV client on this state's storage, acting as account `user` (its principal and
    default collections are created at the first request), or as nobody (shared calendars).

    `bulk`: Radicale skips its six fsyncs per item (most of the time of a PUT) and its
    look for the UID among all items; the caller must write each UID where the target
    already has it (`uid_hrefs`), and call `flush()` before it reports anything as done."""
    values = storage.radicale_values(settings)["storage"]
    storage.root(settings).mkdir(parents=True, exist_ok=True)
    return DavClient(WsgiTransport(_app(values["filesystem_folder"],
                                        values["predefined_collections"], not bulk), user))


def flush() -> None:
    """Put what bulk writes left in the page cache on the disk (one sync for all of them)."""
    os.sync()


def provision(settings: Settings, address: str) -> None:
    """Make sure the account's principal, default calendar and address book exist."""
    resp = client(settings, address).t.request("PROPFIND", f"/{address}/", b"",
                                               {"Depth": "0"})
    if resp.status != 207:
        raise StackError(f"the DAV storage did not answer for {address} ({resp.status})")


def remove(settings: Settings, address: str) -> bool:
    """Delete the account's calendars and address books (under the storage lock); True if
    there were any."""
    path = storage.principal_dir(settings, address)
    if not path.exists():
        return False
    status = client(settings, path.name).delete(f"/{path.name}/")
    if status not in (200, 204, 404):
        raise StackError(f"the DAV data of {address} could not be deleted ({status})")
    return True


def uid_hrefs(dav: DavClient, href: str, kind: Kind) -> dict[str, str]:
    """UID -> href of every item of a collection (one listing)."""
    out: dict[str, str] = {}
    for item in dav.items(Collection(href, kind)):
        uid = items.uid_of(item.body)
        if uid:
            out.setdefault(uid, item.href)
    return out
