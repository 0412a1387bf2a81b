"""How Postfix and Dovecot reach the directory database (what they ask it is
`zenmail.directory.lookups`).

SQLite runs in WAL mode (zenmail.db sets it on every connection). A WAL reader must be able
to create the `-shm` file, so the database directory is 02770 and the database 0660, both
group `postfix` (Postfix's lookups run as that user; Dovecot's auth worker runs as root).
SQLite, when run as root, gives new `-wal`/`-shm` files the owner and mode of the database.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from zenmail.errors import InvalidInput
from zenmail.stack.files import gid


@dataclass(frozen=True)
class DbConf:
    postfix_type: str          # "sqlite" or "pgsql"
    postfix_params: str        # the connection lines of a Postfix *_table file
    dovecot_driver: str        # "sqlite" or "pgsql"
    dovecot_connect: str
    sqlite_path: Path | None


def _pg_quote(value: str) -> str:
    # libpq connection strings: single-quote values, escaping quotes and backslashes.
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def from_url(url: str) -> DbConf:
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if not u.database or u.database == ":memory:":
            raise InvalidInput("the mail daemons need a SQLite file, not an in-memory database; "
                               "leave [database] url empty to use STATE/db/directory.db")
        path = Path(u.database).resolve()
        return DbConf("sqlite", f"dbpath = {path}", "sqlite", str(path), path)
    if u.get_backend_name() == "postgresql":
        host = u.host or "/var/run/postgresql"
        port = u.port or 5432
        hosts = f"unix:{host}" if host.startswith("/") else f"inet:{host}:{port}"
        lines = [f"hosts = {hosts}", f"dbname = {u.database}"]
        if u.username:
            lines.append(f"user = {u.username}")
        if u.password:
            lines.append(f"password = {u.password}")
        parts = [f"host={_pg_quote(host)}", f"port={port}", f"dbname={_pg_quote(u.database or '')}"]
        if u.username:
            parts.append(f"user={_pg_quote(u.username)}")
        if u.password:
            parts.append(f"password={_pg_quote(u.password)}")
        return DbConf("pgsql", "\n".join(lines), "pgsql", " ".join(parts), None)
    raise InvalidInput(f"database URL {u.render_as_string(hide_password=True)} is neither SQLite "
                       "nor PostgreSQL; the mail daemons can read only those")


def share_sqlite(path: Path) -> None:
    """Let the postfix group read the WAL-mode database (see the module docstring)."""
    group = gid("postfix")
    directory = path.parent
    os.chown(directory, -1, group)
    os.chmod(directory, 0o2770)
    for f in [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]:
        if f.exists():
            os.chown(f, -1, group)
            os.chmod(f, 0o660)
