"""Running the `zenmail` command in-process (imported by the test_cli_* modules; no tests here).

`invoke` goes through `zenmail.cli.run`, the same error boundary as the installed script
(one line on stderr, exit code 2), inside click's isolation: stdin, stdout, stderr and the
environment are the run's own, and no ZENMAIL_* variable of the outer environment leaks in.
A subprocess costs ~0.4 s of start-up per command; this costs a few milliseconds, which is
what lets the tenant-walls walk run every command many times on both backends.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from zenmail.cli import run
from zenmail.db import Database
from zenmail.devtools.redisserver import RedisServer


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


Invoke = Callable[..., Outcome]


def invoke_in(state: Path | None, *args: str, stdin: str | None = None,
              env: dict[str, str] | None = None) -> Outcome:
    """`zenmail [--state STATE] ARGS…` in-process; `env` adds ZENMAIL_* variables."""
    clean: dict[str, str | None] = {k: None for k in os.environ if k.startswith("ZENMAIL_")}
    clean.update(env or {})
    argv = ["--state", str(state), *args] if state is not None else list(args)
    with CliRunner().isolation(input=stdin, env=clean) as streams:
        code = run(argv)
        out, err = streams[0].getvalue(), streams[1].getvalue()
    return Outcome(code, out.decode(), err.decode())


def write_state(state: Path, database: Database, redis: str = "") -> Path:
    """A state directory whose settings point at `database` (and the lockout store at
    `redis`), with cheap password hashes."""
    state.mkdir(parents=True, exist_ok=True)
    (state / "zenmail.toml").write_text(
        f'database_url = "{database.url}"\n'
        "argon2_memory_kib = 1024\nargon2_time_cost = 1\n"  # as tests.conftest.FAST_HASHER
        + (f'[endpoints]\nredis = "{redis}"\n' if redis else ""))
    return state


@pytest.fixture(name="zenmail")
def zenmail_fixture(database: Database, tmp_path: Path, redis_server: RedisServer) -> Invoke:
    """zenmail(*args, stdin=None, env=None) -> Outcome, on the `database` fixture's directory
    (so on SQLite and on PostgreSQL), with `--state` given at the root."""
    state = write_state(tmp_path / "state", database, redis_server.endpoint)

    def zenmail(*args: str, stdin: str | None = None,
                env: dict[str, str] | None = None) -> Outcome:
        return invoke_in(state, *args, stdin=stdin, env=env)

    return zenmail
