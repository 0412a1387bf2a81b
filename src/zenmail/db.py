"""The directory database: engine, transactions and schema migrations.

One transaction per use case, opened at the service edge (`Database.transaction`; use cases
reach it through `Ctx.unit`, which lets a larger unit of work join several of them). On
SQLite every write transaction starts with `BEGIN IMMEDIATE`, so two writers are serialised
before they read; on PostgreSQL services lock the rows they check (`SELECT … FOR UPDATE`).
Together these make invariants such as the pooled quota hold under concurrent requests.

Migrations run from one place, `Database.migrate` (`zenmail init`, `zenmail db upgrade`);
everything else only checks the schema (`Database.schema_state`, `ensure_current`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.orm import Session, sessionmaker

from zenmail.errors import SchemaOutdated, StackError

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
UPGRADE_HINT = "run `zenmail db upgrade`"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Autocommit at the driver level, so SQLAlchemy's begin event can issue BEGIN IMMEDIATE.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    # Readers take no write lock, so token checks and listings never queue behind writers.
    read_only = conn.get_execution_options().get("zenmail_read_only", False)
    conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


@dataclass(frozen=True)
class SchemaState:
    """Where the schema is (`current`, None for an empty database) and where it should be."""

    current: str | None
    head: str

    @property
    def is_current(self) -> bool:
        return self.current == self.head


class Database:
    """An engine plus a session factory for one directory database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            path = url.removeprefix("sqlite:///")
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(url, connect_args={"timeout": 30})
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin)
        else:
            self.engine = create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(
            self.engine.execution_options(zenmail_read_only=True), expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: committed if the block succeeds, rolled back on any error."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only unit of work: a consistent snapshot that takes no write lock."""
        with self._read_sessions() as session, session.begin():
            yield session

    def _alembic(self) -> AlembicConfig:
        # Imported here: Alembic costs ~0.4 s of start-up that no other command needs.
        from alembic.config import Config as AlembicConfig

        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.attributes["engine"] = self.engine
        return cfg

    def migrate(self) -> None:
        """Bring the schema to the newest revision (idempotent)."""
        from alembic import command

        try:
            command.upgrade(self._alembic(), "head")
        except Exception as exc:  # the driver's message names the cause (auth, disk, lock)
            raise StackError(f"cannot migrate the directory database: {exc}") from exc

    def schema_state(self) -> SchemaState:
        """The schema's revision and the one this zenmail expects; changes nothing."""
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        head = ScriptDirectory.from_config(self._alembic()).get_current_head()
        assert head is not None, "the migrations directory has no revision"
        try:
            with self.engine.connect() as conn:
                current = MigrationContext.configure(conn).get_current_revision()
        except Exception as exc:  # unreachable server, bad credentials, unreadable file
            raise StackError(f"cannot read the directory database's schema revision: "
                             f"{exc}") from exc
        return SchemaState(current=current, head=head)

    def ensure_current(self) -> SchemaState:
        """The schema state, or SchemaOutdated saying what to run when it is not the newest."""
        state = self.schema_state()
        if state.is_current:
            return state
        if state.current is None:
            raise SchemaOutdated(f"the directory database has no schema yet (this zenmail "
                                 f"needs revision {state.head}); {UPGRADE_HINT}")
        from alembic.script import ScriptDirectory
        from alembic.util.exc import CommandError

        try:
            ScriptDirectory.from_config(self._alembic()).get_revision(state.current)
        except CommandError:
            raise SchemaOutdated(
                f"the directory database is at revision {state.current}, which this zenmail "
                f"does not know (it knows up to {state.head}); the database was upgraded by a "
                "newer zenmail: upgrade zenmail on this node") from None
        raise SchemaOutdated(f"the directory database is at revision {state.current}; this "
                             f"zenmail needs {state.head}; {UPGRADE_HINT}")

    def is_initialised(self) -> bool:
        return inspect(self.engine).has_table("tenants")

    def dispose(self) -> None:
        self.engine.dispose()
