"""What imapclient lacks for a migration: FETCH over a UID range ("5:*").

imapclient's `fetch` keeps only the messages it was given by number, so a range would come
back empty; this sends the same command and keeps every message of the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from imapclient import IMAPClient
from imapclient.imapclient import seq_to_parenstr_upper
from imapclient.response_parser import parse_fetch_response


def fetch_range(client: IMAPClient, uids: str, items: Sequence[bytes | str],
                modifiers: Sequence[str] | None = None) -> dict[int, dict[bytes, Any]]:
    """UID FETCH `uids` (a range or set, e.g. "1:*", "7,9:12") → {uid: {item: value}}."""
    args: list[Any] = ["UID", "FETCH", uids, seq_to_parenstr_upper(list(items))]
    if modifiers:
        args.append(seq_to_parenstr_upper(list(modifiers)))
    imap = client._imap  # noqa: SLF001 (imapclient's documented escape hatch is this object)
    tag = imap._command(*args)  # noqa: SLF001
    typ, data = imap._command_complete("FETCH", tag)  # noqa: SLF001
    client._checkok("fetch", typ, data)  # noqa: SLF001
    typ, data = imap._untagged_response(typ, data, "FETCH")  # noqa: SLF001
    parsed = parse_fetch_response(data, client.normalise_times, True)
    return {int(uid): values for uid, values in parsed.items()}
