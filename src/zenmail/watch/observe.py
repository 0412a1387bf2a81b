"""What the watch sees of a node, read without changing anything: services, Postfix's queues,
restarts, disk, the certificate. Metrics, alerts, the status page and doctor all read these
same figures, so they never disagree.

Everything is read from the stack's own files (pid files, the spool, events.jsonl, the
certificate) and from cheap protocol greetings; nothing asks a daemon for work.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509

from zenmail.config import Settings
from zenmail.stack import manager
from zenmail.stack.files import Layout
from zenmail.stack.supervisor import read_events
from zenmail.stack.tls import certificate_paths

# Postfix's queues as directories of its spool (each message one file, some hashed into
# subdirectories); `hold` is mail an administrator put on hold.
QUEUES = ("incoming", "active", "deferred", "hold")


@dataclass
class ServiceFact:
    name: str
    running: bool
    healthy: bool
    pid: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def services(settings: Settings) -> list[ServiceFact]:
    """Each service of the running stack: its process and whether it answers its protocol."""
    st = manager.status(settings)
    return [ServiceFact(s.name, s.running, s.healthy, s.pid) for s in st.services
            if not s.detail]


def queue_dir(settings: Settings) -> Path:
    return Layout.of(settings.state_dir).daemon_dir("postfix") / "spool"


def queues(settings: Settings) -> dict[str, int]:
    """Messages in each of Postfix's queues, by counting the spool's files (as root; the
    same numbers `postqueue -p` would list, without forking Postfix's tools per scrape)."""
    spool = queue_dir(settings)
    out: dict[str, int] = {}
    for q in QUEUES:
        n = 0
        for _dir, _subdirs, files in os.walk(spool / q):
            n += len(files)
        out[q] = n
    return out


def restarts(settings: Settings, within: timedelta | None = None) -> dict[str, int]:
    """Restarts per service the supervisor made (all of them, or those `within` the past)."""
    since = datetime.now(UTC) - within if within is not None else None
    out: dict[str, int] = {}
    for e in read_events(settings.state_dir):
        if e.get("event") != "restarted":
            continue
        if since is not None and datetime.fromisoformat(e["at"]) < since:
            continue
        out[e["service"]] = out.get(e["service"], 0) + 1
    return out


@dataclass
class DiskFact:
    volume: str  # "mail" (the mail store) or "state" (the state directory)
    path: str
    free_bytes: int
    size_bytes: int

    @property
    def free_percent(self) -> float:
        return 100.0 * self.free_bytes / self.size_bytes if self.size_bytes else 0.0


def disks(settings: Settings) -> list[DiskFact]:
    out = []
    for volume, path in (("mail", settings.mail_store), ("state", settings.state_dir.resolve())):
        probe = path
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent  # the mail store is made at the first `up`
        usage = shutil.disk_usage(probe)
        out.append(DiskFact(volume, str(path), usage.free, usage.total))
    return out


def certificate_expiry(settings: Settings) -> datetime | None:
    """When the certificate the daemons present expires; None if there is none yet."""
    cert, _key = certificate_paths(settings)
    try:
        pem = cert.read_bytes()
    except OSError:
        return None
    return x509.load_pem_x509_certificate(pem).not_valid_after_utc
