"""A private PostgreSQL server in a temporary directory, for tests and benchmarks.

Uses Debian's own server binaries (package `postgresql`); runs as the `postgres` user when
started as root, because PostgreSQL refuses to run as root. Listens on 127.0.0.1 on a free
port and in its own directory; nothing of the system's default cluster is touched.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from zenmail.errors import StackError
from zenmail.stack.ports import free_ports


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise StackError("PostgreSQL server binaries not found; install the Debian package "
                         "`postgresql` (make install does)")
    return Path(found[-1]).parent


class PgServer:
    """Start with `start()`, get databases with `create_database()`, stop with `stop()`."""

    def __init__(self) -> None:
        self.bindir = _bindir()
        self.dir = Path(tempfile.mkdtemp(prefix="zenmail-pg-"))
        self.port = free_ports(1)[0]
        self.user = "zenmail"
        self.password = uuid.uuid4().hex
        self._as_root = os.geteuid() == 0

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = list(args)
        kwargs: dict[str, Any] = {"capture_output": True, "text": True}
        if self._as_root:
            pw = pwd.getpwnam("postgres")

            def demote() -> None:
                os.setgid(pw.pw_gid)
                os.setuid(pw.pw_uid)

            kwargs["preexec_fn"] = demote
            kwargs["cwd"] = str(self.dir)
        result = subprocess.run(cmd, **kwargs)  # noqa: PLW1510 - checked below
        if result.returncode != 0:
            raise StackError(f"{args[0]} failed: {result.stderr.strip() or result.stdout.strip()}")
        return result

    def start(self) -> PgServer:
        data = self.dir / "data"
        if self._as_root:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        pwfile = self.dir / "pw"
        pwfile.write_text(self.password)
        if self._as_root:
            os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        self._run(str(self.bindir / "initdb"), "-D", str(data), "-U", self.user,
                  "--pwfile", str(pwfile), "-A", "scram-sha-256", "-E", "UTF8", "--no-sync")
        conf = (f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                f"unix_socket_directories = '{self.dir}'\nfsync = off\n"
                "synchronous_commit = off\nfull_page_writes = off\nmax_connections = 200\n")
        with open(data / "postgresql.conf", "a") as fh:
            fh.write(conf)
        self._run(str(self.bindir / "pg_ctl"), "-D", str(data), "-l", str(self.dir / "log"),
                  "-w", "-t", "60", "start")
        return self

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/postgres"

    def create_database(self, name: str | None = None, *, template: str | None = None) -> str:
        """A new database, empty or a copy of `template`; returns its postgresql:// URL.

        A template must have no open connections while it is copied (PostgreSQL's rule).
        """
        import psycopg

        db = name or f"zm_{uuid.uuid4().hex[:12]}"
        copy = f' TEMPLATE "{template}"' if template else ""
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{db}"{copy}')
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{db}"

    def stop(self) -> None:
        data = self.dir / "data"
        if data.exists():
            try:
                self._run(str(self.bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                          "-w", "stop")
            except StackError:
                pass
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                shutil.rmtree(self.dir)
                return
            except OSError:
                time.sleep(0.1)
