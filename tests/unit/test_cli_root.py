"""The CLI package itself: the root's options in both positions, `--as`, the list of command
modules, what moved out of the commands (init, URL redaction, quota move's report), layers."""

from __future__ import annotations

import ast
import json
import pkgutil
from pathlib import Path
from typing import Any

import pytest

import zenmail
import zenmail.cli
from tests.unit.cli_fixtures import (  # noqa: F401  (fixtures are found by name)
    Invoke,
    invoke_in,
    write_state,
    zenmail_fixture,
)
from tests.unit.test_api_fixtures import seed_tenant
from zenmail.cli import cli
from zenmail.cli.app import unix_user
from zenmail.cli.output import safe_url
from zenmail.cli.quota import moved_text
from zenmail.cli.root import MODULES
from zenmail.config import CONFIG_FILE, Settings, init_state, load_settings
from zenmail.db import Database
from zenmail.directory import auditlog
from zenmail.directory.context import Ctx
from zenmail.directory.views import PoolAccount, PoolInfo


@pytest.fixture
def seeded(ctx: Ctx) -> dict[str, str]:
    """Tenant B only: its administrator `it@b.test`, accounts alice@ and bob@b.test."""
    seed_tenant(ctx, "tenant-a", "a.test")
    return seed_tenant(ctx, "tenant-b", "b.test")


def names(out: str) -> list[str]:
    return [t["name"] for t in json.loads(out)]


# ---------------------------------------------------------------- --state / --json / --as

@pytest.mark.parametrize("migrated_db_url", ["sqlite"], indirect=True)  # option parsing only
def test_state_and_json_at_the_root_or_after_the_command(
        zenmail: Invoke, seeded: dict[str, str], database: Database, tmp_path: Path) -> None:
    state = write_state(tmp_path / "other", database)
    root = invoke_in(None, "--state", str(state), "--json", "tenant", "list")
    after = invoke_in(None, "tenant", "list", "--state", str(state), "--json")
    mixed = invoke_in(None, "--json", "tenant", "list", "--state", str(state))
    assert root.code == after.code == mixed.code == 0, (root.stderr, after.stderr)
    assert names(root.stdout) == names(after.stdout) == names(mixed.stdout) == [
        "tenant-a", "tenant-b"]


@pytest.mark.parametrize("migrated_db_url", ["sqlite"], indirect=True)
def test_as_at_the_root_after_the_command_or_from_the_environment(
        zenmail: Invoke, seeded: dict[str, str]) -> None:
    admin = seeded["admin"]
    for out in (zenmail("--as", admin, "--json", "tenant", "list"),
                zenmail("tenant", "list", "--json", "--as", admin),
                zenmail("--json", "tenant", "list", env={"ZENMAIL_AS": admin}),
                zenmail("--json", "tenant", "list", "--as", f"  {admin.upper()} ")):
        assert out.code == 0, out.stderr
        assert names(out.stdout) == ["tenant-b"]
    # On the command line beats the environment; an empty ZENMAIL_AS is no --as.
    out = zenmail("--json", "tenant", "list", "--as", admin,
                  env={"ZENMAIL_AS": "nobody@b.test"})
    assert out.code == 0 and names(out.stdout) == ["tenant-b"], out.stderr
    out = zenmail("--json", "tenant", "list", env={"ZENMAIL_AS": ""})
    assert names(out.stdout) == ["tenant-a", "tenant-b"]


@pytest.mark.parametrize("migrated_db_url", ["sqlite"], indirect=True)
def test_an_unknown_admin_is_a_one_line_error(zenmail: Invoke, seeded: dict[str, str]) -> None:
    for argv, env in ((["--as", "nobody@b.test", "tenant", "list"], None),
                      (["account", "list"], {"ZENMAIL_AS": "nobody@b.test"})):
        out = zenmail(*argv, env=env)
        assert out.code == 2 and out.stdout == ""
        assert out.stderr == ("zenmail: error: no administrator 'nobody@b.test' to act as "
                              "(--as / ZENMAIL_AS); `zenmail admin list` shows them\n")


def test_changes_made_with_as_name_both_people_in_the_audit_log(
        zenmail: Invoke, ctx: Ctx, seeded: dict[str, str]) -> None:
    out = zenmail("--as", seeded["admin"], "account", "set-quota", seeded["bob"], "1500M")
    assert out.code == 0, out.stderr
    newest = auditlog.entries(ctx, limit=1)[0]
    assert (newest.action, newest.tenant) == ("account.set_quota", "tenant-b")
    assert newest.actor == f"cli:{unix_user()} as {seeded['admin']}"
    zenmail("account", "disable", seeded["bob"])
    assert auditlog.entries(ctx, limit=1)[0].actor == f"cli:{unix_user()}"


@pytest.mark.parametrize("migrated_db_url", ["sqlite"], indirect=True)
def test_json_at_the_root_of_a_command_that_prints_no_data_is_refused(
        zenmail: Invoke, ctx: Ctx, seeded: dict[str, str]) -> None:
    out = zenmail("--json", "account", "disable", seeded["bob"])
    assert out.code == 2
    assert out.stderr.startswith("zenmail: error: --json: `zenmail account disable` prints")
    assert zenmail("--json", "account", "show", seeded["bob"]).stdout.count('"enabled": true')


# ---------------------------------------------------------------- what moved to services

@pytest.mark.parametrize("migrated_db_url", ["sqlite"], indirect=True)
def test_quota_move_reports_the_accounts_whatever_case_and_spaces_were_typed(
        zenmail: Invoke, seeded: dict[str, str]) -> None:
    out = zenmail("quota", "move", "  ALICE@b.test ", "Bob@B.Test\t", "512M")
    assert out.code == 0, out.stderr
    assert out.stdout == "moved; alice@b.test: 1.5 GiB, bob@b.test: 1.5 GiB\n"


def test_quota_move_report_never_fails_after_the_move() -> None:
    pool = PoolInfo(tenant="t", pool_bytes=3 * 1024**3, allocated_bytes=2 * 1024**3,
                    free_bytes=1024**3, used_bytes=0,
                    accounts=[PoolAccount("x@t.test", "x@t.test", 2 * 1024**3, None)])
    assert moved_text(pool, "X@T.test", "x@t.test") == ("moved; x@t.test: 2 GiB, "
                                                        "x@t.test: 2 GiB")
    # An account the pool does not list (it cannot happen today): the pool, not a traceback.
    assert moved_text(pool, "x@t.test", "y@t.test") == ("moved; pool of t: 2 GiB allocated, "
                                                        "1 GiB free")


def test_init_state_creates_the_directory_and_keeps_an_existing_settings_file(
        tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path / "deep" / "state")
    config_file = init_state(settings)
    assert config_file == tmp_path / "deep" / "state" / CONFIG_FILE
    assert config_file.read_text().startswith("# zenmail settings")
    config_file.write_text('hostname = "mx.acme.test"\n')
    assert init_state(settings) == config_file
    assert load_settings(settings.state_dir).hostname == "mx.acme.test"


def test_database_passwords_are_never_printed(tmp_path: Path) -> None:
    assert safe_url("postgresql+psycopg://zen:s3cr%40t@db:5432/zen") == (
        "postgresql+psycopg://zen:***@db:5432/zen")
    assert safe_url("sqlite:////var/lib/zenmail/db/directory.db") == (
        "sqlite:////var/lib/zenmail/db/directory.db")
    state = tmp_path / "state"
    state.mkdir()
    (state / CONFIG_FILE).write_text('database_url = "postgresql://zen:s3cr3t@db/zen"\n')
    for argv in (["config"], ["config", "--json"]):
        out = invoke_in(state, *argv)
        assert out.code == 0, out.stderr
        assert "s3cr3t" not in out.stdout and "zen:***@db/zen" in out.stdout


# ---------------------------------------------------------------- the package's shape

def test_every_command_module_is_registered_and_every_command_comes_from_one() -> None:
    package = Path(zenmail.cli.__file__).parent
    plumbing = {"__init__", "app", "output", "root"}
    on_disk = {m.name for m in pkgutil.iter_modules([str(package)])} - plumbing
    assert {m.__name__.rsplit(".", 1)[1] for m in MODULES} == on_disk
    from_modules = [c.name for m in MODULES for c in m.COMMANDS]
    assert len(from_modules) == len(set(from_modules))
    assert sorted(from_modules) == sorted(cli.commands)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_nothing_below_the_cli_imports_it() -> None:
    """Layers import downward only: the CLI sits on top; demo.py beside it needs none of it."""
    src = Path(zenmail.__file__).parent
    offenders: dict[str, Any] = {}
    for path in sorted(src.rglob("*.py")):
        rel = path.relative_to(src)
        if rel.parts[0] == "cli" or rel == Path("__main__.py"):
            continue
        bad = {m for m in _imports(path) if m == "zenmail.cli" or m.startswith("zenmail.cli.")}
        if bad:
            offenders[str(rel)] = bad
    assert offenders == {}
