"""Schema state: checked without changing anything, upgraded only by `Database.migrate`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command

from zenmail.db import Database
from zenmail.errors import SchemaOutdated, StackError


@pytest.fixture
def empty(db_url: str) -> Iterator[Database]:
    db = Database(db_url)
    yield db
    db.dispose()


def test_an_empty_database_is_not_current_and_says_what_to_run(empty: Database) -> None:
    state = empty.schema_state()
    assert state.current is None and not state.is_current
    with pytest.raises(SchemaOutdated, match="no schema yet.*run `zenmail db upgrade`"):
        empty.ensure_current()
    assert not empty.is_initialised()  # checking created nothing


def test_an_older_revision_is_reported_and_left_alone(empty: Database) -> None:
    command.upgrade(empty._alembic(), "0001")
    with pytest.raises(SchemaOutdated) as err:
        empty.ensure_current()
    head = empty.schema_state().head
    assert f"at revision 0001; this zenmail needs {head}" in str(err.value)
    assert "zenmail db upgrade" in str(err.value)
    assert isinstance(err.value, StackError) and err.value.code == "schema_outdated"
    assert empty.schema_state().current == "0001"


def test_migrate_brings_it_to_the_head(empty: Database) -> None:
    empty.migrate()
    state = empty.ensure_current()
    assert state.is_current and state.current == state.head
    empty.migrate()  # idempotent
    assert empty.schema_state() == state


def test_a_revision_from_a_newer_zenmail_asks_to_upgrade_zenmail(database: Database) -> None:
    with database.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(SchemaOutdated, match="does not know.*upgrade zenmail on this node"):
        database.ensure_current()


def test_an_unreachable_database_is_a_stack_error() -> None:
    db = Database("postgresql+psycopg://nobody:wrong@127.0.0.1:1/none")
    try:
        with pytest.raises(StackError, match="cannot read the directory database's schema"):
            db.schema_state()
    finally:
        db.dispose()
