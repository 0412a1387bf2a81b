"""Shared fixtures: a directory database on SQLite and on a real private PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from zenmail.db import Database
from zenmail.devtools.pgserver import PgServer
from zenmail.directory.context import Actor, Ctx
from zenmail.directory.passwords import Hasher

# Cheap hashes keep the suite fast; the scheme and the verification path are the real ones.
FAST_HASHER = Hasher(memory_kib=1024, time_cost=1)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = PgServer().start()
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
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'directory.db'}"
    url = request.getfixturevalue("fresh_pg_url")
    return "postgresql+psycopg://" + url.removeprefix("postgresql://")


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    """A migrated, empty directory database, once on SQLite and once on PostgreSQL."""
    db = Database(db_url)
    db.migrate()
    yield db
    db.dispose()


@pytest.fixture
def ctx(database: Database) -> Ctx:
    """A global administrator's context."""
    return Ctx(database, Actor("test:root"), FAST_HASHER)
