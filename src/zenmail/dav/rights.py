"""The Radicale rights plugin: `[rights] type = zenmail.dav.rights`.

    /                                   R   (discovery: every logged-in account)
    /<address>/                         RW  its owner only (the principal)
    /<address>/<collection>/            rw  its owner only (calendars, address books)
    /_shared/<tenant>/                  R   the accounts of that tenant
    /_shared/<tenant>/<calendar>/       r   the accounts of that tenant (read only; zenmail's
                                            tools write them: `zenmail dav shared ...`)

An account whose mail and DAV data reach its quota (group `zenmail:read-only`, set by the
auth plugin) gets R and r on its own collections: it reads, deletes nothing, writes nothing
(403) until it has room again.

Everything else is nothing: another account's or another tenant's collections answer 403
or 404, like what does not exist. The tenant comes from the auth plugin (zenmail.dav.auth),
as the group `tenant:<name>`, so this check reads no database.
"""

from __future__ import annotations

from radicale import pathutils, rights

from zenmail.dav.login import READ_ONLY, TENANT_GROUP
from zenmail.dav.storage import SHARED


def authorization(user: str, groups: set[str], path: str) -> str:
    if not user:
        return ""
    sane = pathutils.strip_path(path)
    if not sane:
        return "R"
    parts = sane.split("/")
    if parts[0] == user:
        if READ_ONLY in groups:
            return {1: "R", 2: "r"}.get(len(parts), "")
        return {1: "RW", 2: "rw"}.get(len(parts), "")
    if parts[0] == SHARED and len(parts) in (2, 3) and TENANT_GROUP + parts[1] in groups:
        return "R" if len(parts) == 2 else "r"
    return ""


class Rights(rights.BaseRights):
    def authorization(self, user: str, user_groups: set[str], path: str) -> str:
        return authorization(user, user_groups or set(), path)
