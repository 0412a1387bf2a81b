"""Messages per outcome, counted from Postfix's log as it grows, for `/metrics`.

Each scrape reads only the lines added since the last one (the offset is kept per log file
in this process), so a scrape costs what the node logged meanwhile, not the whole log. A
rotated or truncated log starts the count again from zero; Prometheus' rate() takes such a
reset in its stride, as after any restart of the API.

    accepted   a message entered the queue (qmgr: from=<...>, size=...)
    delivered  a recipient's copy was delivered (status=sent)
    deferred   a delivery attempt failed for now (status=deferred; one per attempt)
    bounced    a recipient's copy was returned to the sender (status=bounced)
    rejected   refused before it was queued, at RCPT or by the filter (reject: / milter-reject:)
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

OUTCOMES = ("accepted", "delivered", "deferred", "bounced", "rejected")


def outcome(line: str) -> str | None:
    if "status=sent " in line:
        return "delivered"
    if "status=deferred " in line:
        return "deferred"
    if "status=bounced " in line:
        return "bounced"
    if "reject: " in line and "postfix/" in line:
        return "rejected"
    if "/qmgr[" in line and ": from=<" in line and ", size=" in line:
        return "accepted"
    return None


@dataclass
class _Counter:
    inode: int = -1
    offset: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))


_counters: dict[Path, _Counter] = {}
_lock = threading.Lock()


def counts(log: Path) -> dict[str, int]:
    """Messages per outcome in `log` since it was started (or this process first read it)."""
    with _lock:
        c = _counters.setdefault(log, _Counter())
        try:
            st = os.stat(log)
        except OSError:
            return dict(c.counts)
        if st.st_ino != c.inode or st.st_size < c.offset:  # rotated or truncated
            c.inode, c.offset, c.counts = st.st_ino, 0, dict.fromkeys(OUTCOMES, 0)
        with open(log, "rb") as fh:
            fh.seek(c.offset)
            data = fh.read()
        end = data.rfind(b"\n") + 1  # a half-written last line waits for the next scrape
        c.offset += end
        for raw in data[:end].splitlines():
            kind = outcome(raw.decode(errors="replace"))
            if kind is not None:
                c.counts[kind] += 1
        return dict(c.counts)
