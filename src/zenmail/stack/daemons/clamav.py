"""A private clamd for rspamd's antivirus module ([filter] antivirus): a unix socket only
(group _rspamd), its own pid and log files; signatures from [filter] clamav_db, which
`freshclam` keeps current in production (docs/filtering.md). clamd refuses to start without
any signature database, so `up` says so before trying.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from zenmail.errors import InvalidInput
from zenmail.stack.base import Service, run
from zenmail.stack.files import ensure_dir, render, template, uid, write_atomic

USER = "clamav"
SIGNATURE_SUFFIXES = (".cvd", ".cld", ".cud", ".hdb", ".hsb", ".ndb", ".ldb", ".mdb", ".msb",
                      ".cdb", ".yara", ".yar", ".ign2")


def has_signatures(database: Path) -> bool:
    """Whether `database` holds any ClamAV signature file (clamd refuses to start without)."""
    return database.is_dir() and any(p.suffix in SIGNATURE_SUFFIXES for p in database.iterdir())


class ClamAV(Service):
    name = "clamav"
    process_name = "clamd"
    binaries = ("clamd", "clamconf")
    # Loading the full official signatures takes 20-60 s and ≈1 GB at first.
    start_timeout = 300.0

    @property
    def run_dir(self) -> Path:
        return self.layout.run / "clamav"

    @property
    def socket(self) -> Path:
        return self.run_dir / "clamd.sock"

    @property
    def database(self) -> Path:
        return Path(self.settings.filter.clamav_db)

    def pidfile(self) -> Path:
        return self.run_dir / "clamd.pid"

    def provides(self) -> dict[str, str]:
        return {"clamd": f"unix:{self.socket}"}

    def prepare(self) -> None:
        ensure_dir(self.layout.log)
        ensure_dir(self.run_dir, 0o750, owner=USER, group="_rspamd")
        log = self.logfile
        log.touch(0o640)
        os.chown(log, uid(USER), -1)
        f = self.settings.filter
        if not (f.enabled and f.antivirus):
            return  # rendered and checked, but left out of this stack: no signatures needed
        if not has_signatures(self.database):
            raise InvalidInput(
                f"no ClamAV signatures in {self.database}: run `freshclam` first (see "
                "docs/filtering.md), point [filter] clamav_db at a signature directory, or "
                "set [filter] antivirus = false")

    def render(self, directory: Path) -> None:
        values: dict[str, object] = {"socket": self.socket, "pidfile": self.pidfile(),
                                     "logfile": self.logfile, "database": self.database}
        write_atomic(directory / "clamd.conf", render(template("clamav/clamd.conf"), values))

    def check(self, directory: Path) -> None:
        out = run(["clamconf", "-c", str(directory)], "checking the ClamAV configuration")
        if "ERROR" in out:
            raise InvalidInput("the clamd configuration is refused: " + " ".join(
                line for line in out.splitlines() if "ERROR" in line))

    def _launch(self) -> None:
        stale = self.pidfile()
        if stale.exists() and self.pid() is None:
            stale.unlink()
        run(["clamd", f"--config-file={self.conf_dir / 'clamd.conf'}"], "starting clamd",
            timeout=self.start_timeout)

    def healthy(self) -> bool:
        return self.pid() is not None and _ping(self.socket)


def _ping(path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(3)
            s.connect(str(path))
            s.sendall(b"zPING\0")
            return s.recv(16).startswith(b"PONG")
    except OSError:
        return False
