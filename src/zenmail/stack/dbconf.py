"""How Postfix and Dovecot reach the directory database (what they ask it is
`zenmail.directory.lookups`).

SQLite runs in WAL mode (zenmail.db sets it on every connection). A WAL reader must be able
to create the `-shm` file, so the database directory is 02770 and the database 0660, both
group `postfix` (Postfix's lookups run as that user; Dovecot's auth worker runs as root).
SQLite, when run as root, gives new `-wal`/`-shm` files the owner and mode of the database.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from zenmail.config import Settings
from zenmail.directory import lookups
from zenmail.errors import InvalidInput, StackError
from zenmail.stack.files import Layout, ensure_secret, gid


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


# ------------------------------------------------------------------ PostgreSQL: the mail role
#
# With PostgreSQL, Postfix and Dovecot do not connect as the administrator of the directory
# (who owns every table, admins and API tokens included) but as a role that can SELECT only the
# columns zenmail.directory.lookups reads. `up` creates and refreshes it with the directory's
# URL (whose user owns the tables, so it may grant on them; creating a role needs CREATEROLE).
# Its password is derived from the administrator's (or, without one, from a key in
# STATE/secrets), so every node of a cluster derives the same one and `up` on one node never
# breaks another's; reading the daemons' configuration reveals only the mail role's.

MAIL_COLUMNS: dict[str, tuple[str, ...]] = {
    "domains": ("name",),
    # No password_hash: the passdb reads the hashes through the view below (which runs with
    # its owner's rights), so the mail role never sees a revoked app password.
    "accounts": ("address", "enabled", "quota_bytes"),
    "mail_credentials": ("address", "enabled", "main", "apps"),
    "aliases": ("id", "address"),
    "alias_targets": ("id", "alias_id", "target"),
}
# What Dovecot writes (its usage dict, lookups.DOVECOT_USAGE): the upsert needs INSERT and
# UPDATE on these columns, and SELECT for its conflict target. No DELETE, no other table.
MAIL_WRITES: dict[str, tuple[str, ...]] = {
    lookups.USAGE_TABLE: (lookups.USAGE_USER_FIELD, *lookups.DOVECOT_USAGE.values()),
}


def mail_role_name(url: str) -> str:
    database = make_url(url).database or ""
    name = f"{database}_mail"
    if len(name) > 63:
        raise InvalidInput(f"the database name {database!r} is too long to derive the mail "
                           "role's name from; set [database] mail_url to a read-only role")
    return name


def daemon_url(admin_url: str, mail_url: str, key_file: Path) -> str:
    """The URL Postfix and Dovecot connect with: `mail_url` if set, the SQLite file itself,
    or the PostgreSQL mail role with its derived password."""
    if mail_url:
        return mail_url
    u = make_url(admin_url)
    if u.get_backend_name() != "postgresql":
        return admin_url
    seed = u.password or ensure_secret(key_file)
    password = hmac.new(str(seed).encode(), f"zenmail mail role {u.database}".encode(),
                        hashlib.sha256).hexdigest()
    return u.set(username=mail_role_name(admin_url), password=password).render_as_string(
        hide_password=False)


def daemons_url(settings: Settings, layout: Layout) -> str:
    """What Postfix and Dovecot of this stack connect with (see daemon_url)."""
    return daemon_url(settings.db_url, settings.database.mail_url,
                      layout.secrets / "db-mail-role.key")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def ensure_mail_role(admin_url: str, role_url: str) -> None:
    """Create or refresh the mail role of `role_url` with the rights of `admin_url`: log in,
    SELECT on MAIL_COLUMNS, SELECT/INSERT/UPDATE on MAIL_WRITES, nothing else. Idempotent
    (run by every `up`)."""
    import psycopg  # the PostgreSQL driver; only this path needs it here

    admin, role = make_url(admin_url), make_url(role_url)
    name, password = role.username or "", role.password or ""
    libpq = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    quoted = _ident(name)
    try:
        with psycopg.connect(libpq, autocommit=True, connect_timeout=10) as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s",
                                  (name,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(f"{verb} ROLE {quoted} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                         f"NOINHERIT NOREPLICATION NOBYPASSRLS PASSWORD "
                         f"{_literal(password)}")
            with conn.transaction():
                # Revoking a table's privileges revokes its column privileges too, so each
                # `up` starts from nothing and grants exactly MAIL_COLUMNS.
                conn.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {quoted}")
                conn.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {quoted}")
                conn.execute(f"REVOKE CREATE ON SCHEMA public FROM {quoted}")
                conn.execute(f"GRANT USAGE ON SCHEMA public TO {quoted}")
                conn.execute(f"GRANT CONNECT ON DATABASE {_ident(admin.database or '')} "
                             f"TO {quoted}")
                for table, columns in MAIL_COLUMNS.items():
                    conn.execute(f"GRANT SELECT ({', '.join(map(_ident, columns))}) ON "
                                 f"{_ident(table)} TO {quoted}")
                for table, columns in MAIL_WRITES.items():
                    cols = ", ".join(map(_ident, columns))
                    conn.execute(f"GRANT SELECT ({cols}), INSERT ({cols}), UPDATE ({cols}) "
                                 f"ON {_ident(table)} TO {quoted}")
    except psycopg.errors.InsufficientPrivilege as exc:
        raise StackError(
            f"the database user {admin.username!r} may not create or change the role {name!r} "
            f"that Postfix and Dovecot connect with ({exc}); as a PostgreSQL superuser run "
            f"`ALTER ROLE {admin.username} CREATEROLE`, or create a read-only role yourself "
            "and set [database] mail_url (docs/security.md)") from exc
    except psycopg.Error as exc:
        raise StackError(f"cannot prepare the mail daemons' database role {name!r}: {exc}"
                         ) from exc


def _literal(value: str) -> str:
    # ROLE statements take no bind parameters: a standard SQL string literal (the derived
    # password is hex, so this is belt and braces).
    return "'" + value.replace("'", "''") + "'"
