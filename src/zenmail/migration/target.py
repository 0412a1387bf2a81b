"""The target side: the zenmail account, written through Dovecot itself.

`doveadm exec imap -u ADDRESS` runs Dovecot's own IMAP process for the account,
pre-authenticated, on a pipe: no password is needed (zenmail holds only hashes), nothing
listens, and every message goes through Dovecot's save path — quota counted (and refused
when full), indexes and the usage copy in the directory kept right — exactly as if the user
had appended it. Batches go in one MULTIAPPEND with LITERAL+ (one round trip, one
transaction, one fsync per batch); UIDPLUS's APPENDUID says where each message landed.
(Measured against the alternatives in bench/migration.py and docs/migration.md.)
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from zenmail.migration.folders import TARGET_SEPARATOR
from zenmail.migration.imapx import fetch_range

_APPENDUID = re.compile(rb"\[APPENDUID (\d+) ([0-9:,]+)\]")

# Builds the command of a pre-authenticated IMAP session for one address.
TargetCommand = Callable[[str], Sequence[str]]


class TargetError(Exception):
    """The target refused (`reason` is Dovecot's own words, e.g. [OVERQUOTA] or [LIMIT])."""

    def __init__(self, reason: str, *, permanent: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass(frozen=True)
class Outgoing:
    raw: bytes
    flags: tuple[bytes, ...]
    date: datetime


def uid_set(text: bytes) -> list[int]:
    """"5:7,9" → [5, 6, 7, 9] (the order APPENDUID lists them in, RFC 4315)."""
    out: list[int] = []
    for part in text.split(b","):
        lo, _, hi = part.partition(b":")
        a, b = int(lo), int(hi or lo)
        out.extend(range(a, b + 1) if a <= b else range(a, b - 1, -1))
    return out


class _PipeClient(IMAPClient):
    """imapclient on a pipe: there is no socket to put a timeout on."""

    def _set_read_timeout(self) -> None:
        pass


class Target:
    """One pre-authenticated IMAP session on the account's Dovecot."""

    def __init__(self, command: Sequence[str], log: str = "/dev/null") -> None:
        # Dovecot's IMAP process logs on its stderr (one line per session): into `log`,
        # never onto the terminal of the one running the migration.
        shell = f"{shlex.join(command)} 2>>{shlex.quote(log)}"
        try:
            self.client = _PipeClient(shell, stream=True, ssl=False)
        except (OSError, IMAPClientError) as exc:
            # Dovecot's IMAP process ended before its greeting: it could not look the
            # account up (stack down, or no such mailbox user).
            raise TargetError(f"cannot open the account's mailbox through Dovecot ({exc}); "
                              "is the stack running (`zenmail up`)?") from exc
        self._created: set[str] = set()

    def close(self) -> None:
        try:
            self.client.logout()
        except Exception:  # noqa: BLE001 (the process may be gone already)
            pass

    def ensure_folder(self, name: str) -> None:
        if name in self._created or name == "INBOX":
            return
        # Parents first, so the tree exists level by level (Dovecot would make them anyway).
        parts = name.split(TARGET_SEPARATOR)
        for depth in range(1, len(parts) + 1):
            path = TARGET_SEPARATOR.join(parts[:depth])
            if path in self._created:
                continue
            if not self.client.folder_exists(path):
                try:
                    self.client.create_folder(path)
                except IMAPClientError as exc:
                    if not self.client.folder_exists(path):
                        raise TargetError(f"cannot create folder {path!r}: {exc}") from exc
                self.client.subscribe_folder(path)
            self._created.add(path)

    def uidnext(self, folder: str) -> tuple[int, int]:
        st = self.client.folder_status(folder, [b"UIDNEXT", b"UIDVALIDITY"])
        return int(st[b"UIDNEXT"]), int(st[b"UIDVALIDITY"])

    def append(self, folder: str, messages: Sequence[Outgoing]) -> list[int]:
        """Append all of `messages` in one MULTIAPPEND; their target UIDs, in order.

        All or nothing (RFC 3502): a refusal raises TargetError and nothing was stored.
        """
        items = [{"msg": m.raw, "flags": m.flags, "date": m.date} for m in messages]
        try:
            typ, data = self.client.multiappend(folder, items)
        except IMAPClientError as exc:
            raise TargetError(str(exc)) from exc
        text = b" ".join(d for d in data if isinstance(d, bytes))
        if typ != "OK":
            raise TargetError(text.decode("utf-8", "replace") or typ)
        found = _APPENDUID.search(text)
        if not found:
            raise TargetError("the target did not report APPENDUID; cannot track the copy")
        uids = uid_set(found.group(2))
        if len(uids) != len(messages):
            raise TargetError(f"APPENDUID listed {len(uids)} UIDs for {len(messages)} "
                              "messages")
        return uids

    def fetch_from(self, folder: str, first_uid: int, items: Iterable[bytes]
                   ) -> dict[int, dict[bytes, object]]:
        """Messages of `folder` with UID ≥ first_uid (without the `*` quirk)."""
        self.client.select_folder(folder, readonly=True)
        got = fetch_range(self.client, f"{first_uid}:*", list(items))
        return {int(uid): d for uid, d in got.items() if int(uid) >= first_uid}

    def store_flags(self, folder: str, changes: dict[int, tuple[bytes, ...]]) -> None:
        """Set each message's flags to exactly the given ones."""
        if not changes:
            return
        self.client.select_folder(folder)
        for uid, flags in changes.items():
            self.client.set_flags([uid], list(flags), silent=True)

    def expunge(self, folder: str, uids: list[int]) -> None:
        if not uids:
            return
        self.client.select_folder(folder)
        self.client.add_flags(uids, [b"\\Deleted"], silent=True)
        self.client.uid_expunge(uids)
