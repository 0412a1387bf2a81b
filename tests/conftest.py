"""Shared fixtures: a directory database on SQLite and on a real private PostgreSQL.

The schema is migrated once per session into a template (a PostgreSQL template database, a
SQLite file) and each test gets a copy: running Alembic for every test cost more than most
tests themselves.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from zenmail.db import Database
from zenmail.devtools.pgserver import PgServer
from zenmail.devtools.redisserver import RedisServer
from zenmail.directory.context import Actor, Ctx
from zenmail.directory.passwords import Hasher

# Cheap hashes keep the suite fast; the scheme and the verification path are the real ones.
FAST_HASHER = Hasher(memory_kib=1024, time_cost=1)
PG_TEMPLATE = "zm_template"


def sqlalchemy_url(pg_url: str) -> str:
    return "postgresql+psycopg://" + pg_url.removeprefix("postgresql://")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = PgServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A private Redis (the lockout store), for tests that run no mail stack."""
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_url(pg_server: PgServer) -> str:
    """URL of the private server's maintenance database (create your own with fresh_pg_url)."""
    return pg_server.url


@pytest.fixture
def fresh_pg_url(pg_server: PgServer) -> str:
    """A new, empty PostgreSQL database for one test."""
    return pg_server.create_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database (no schema), once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'directory.db'}"
    return sqlalchemy_url(request.getfixturevalue("fresh_pg_url"))


def _migrated_template(url: str) -> None:
    db = Database(url)
    try:
        db.migrate()
    finally:
        db.dispose()  # no connection may stay open on a template


@pytest.fixture(scope="session")
def pg_template(pg_server: PgServer) -> str:
    _migrated_template(sqlalchemy_url(pg_server.create_database(PG_TEMPLATE)))
    return PG_TEMPLATE


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "directory.db"
    _migrated_template(f"sqlite:///{path}")
    # The last connection closed checkpoints the WAL; the file alone is the whole database.
    assert not path.with_name(path.name + "-wal").exists()
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database at the newest schema, copied from the session's template."""
    if request.param == "sqlite":
        path = tmp_path / "db" / "directory.db"
        path.parent.mkdir()
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    server: PgServer = request.getfixturevalue("pg_server")
    return sqlalchemy_url(server.create_database(
        template=request.getfixturevalue("pg_template")))


@pytest.fixture
def database(migrated_db_url: str) -> Iterator[Database]:
    """A migrated, empty directory database, once on SQLite and once on PostgreSQL."""
    db = Database(migrated_db_url)
    yield db
    db.dispose()


@pytest.fixture
def ctx(database: Database) -> Ctx:
    """A global administrator's context."""
    return Ctx(database, Actor("test:root"), FAST_HASHER)
