"""The `zenmail` command as a user runs it: a real process, real exit codes, one-line errors."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FAST_HASHER
from zenmail.db import Database
from zenmail.directory import domains, tenants
from zenmail.directory.context import Actor, Ctx

ZENMAIL = [sys.executable, "-m", "zenmail"]


def make_runner(tmp_path: Path, db_url: str):
    state = tmp_path / "state"
    env = {**os.environ, "ZENMAIL_STATE": str(state), "ZENMAIL_DATABASE_URL":
           db_url.replace("postgresql+psycopg://", "postgresql://"),
           "ZENMAIL_ARGON2_MEMORY_KIB": "1024", "ZENMAIL_ARGON2_TIME_COST": "1"}

    def _run(*args: str, stdin: str | None = None, ok: bool = True):
        p = subprocess.run([*ZENMAIL, *args], input=stdin, capture_output=True, text=True,
                           env=env, timeout=60)
        if ok:
            assert p.returncode == 0, p.stderr
        return p

    return _run


@pytest.fixture
def run(tmp_path: Path, db_url: str):
    return make_runner(tmp_path, db_url)


@pytest.fixture
def run_acme(tmp_path: Path):
    """A runner on an initialised SQLite state holding tenant acme (prepared in-process)."""
    url = f"sqlite:///{tmp_path / 'state' / 'db' / 'directory.db'}"
    db = Database(url)
    db.migrate()
    ctx = Ctx(db, Actor("test"), FAST_HASHER)
    tenants.add(ctx, "acme", "10G")
    domains.add(ctx, "acme", "acme.test")
    db.dispose()
    return make_runner(tmp_path, url)


def test_a_session_of_an_administrator(run):
    assert "not initialised" in run("tenant", "list", ok=False).stderr
    run("init")
    run("init")  # idempotent
    run("tenant", "add", "acme", "--pool", "10G")
    run("domain", "add", "acme", "acme.test")
    run("account", "add", "alice@acme.test", "--quota", "4G", "--password-stdin",
        stdin="correct horse battery\n")
    run("account", "add", "bob@acme.test", "--quota", "1.5 GiB", "--password-stdin",
        stdin="correct horse battery\n")
    out = run("quota", "move", "alice@acme.test", "bob@acme.test", "500M").stdout
    assert "alice@acme.test: 3.51 GiB" in out
    pool = json.loads(run("quota", "show", "acme", "--json").stdout)
    assert pool["allocated_bytes"] == int(5.5 * 1024 ** 3)
    assert pool["free_bytes"] == int(4.5 * 1024 ** 3)
    run("alias", "add", "sales@acme.test", "alice@acme.test", "bob@acme.test")
    aliases = json.loads(run("alias", "list", "--json").stdout)
    assert aliases[0]["targets"] == ["alice@acme.test", "bob@acme.test"]
    listing = run("account", "list").stdout.splitlines()
    assert listing[0].split() == ["ADDRESS", "TENANT", "QUOTA", "USED", "ENABLED",
                                   "NAME"]
    run("account", "disable", "bob@acme.test")
    assert json.loads(run("account", "show", "bob@acme.test", "--json").stdout)["enabled"] is False
    run("admin", "add", "ops@acme.test", "--tenant", "acme")
    token = run("token", "create", "ops@acme.test").stdout.strip()
    assert token.startswith("zm_")
    audit = json.loads(run("audit", "--json", "--limit", "100").stdout)
    assert audit[0]["action"] == "token.create"
    assert {"account.disable", "quota.move", "alias.add"} <= {e["action"] for e in audit}


@pytest.mark.parametrize("args,stdin,message", [
    (("tenant", "add", "globex", "--pool", "2Gb"), None, "could mean bits"),
    (("tenant", "add", "globex", "--pool", "-1G"), None, "negative"),
    (("tenant", "add", "acme", "--pool", "1G"), None, "already exists"),
    (("tenant", "show", "nobody"), None, "no tenant 'nobody'"),
    (("account", "add", "x@acme.test", "--password-stdin"), "short\n", "at least 12"),
    (("account", "add", "not-an-address", "--password-stdin"), "correct horse battery\n",
     "not a valid mail address"),
    (("account", "add", "x@acme.test", "--quota", "20G", "--password-stdin"),
     "correct horse battery\n", "does not fit"),
    (("account", "add", "x@acme.test"), "", "--password-stdin"),
    (("quota", "move", "a@acme.test", "b@acme.test", "1,5G"), None, "comma"),
    (("tenant", "frobnicate"), None, "No such command"),
])
def test_errors_are_one_line_with_exit_code_2(run_acme, args, stdin, message):
    p = run_acme(*args, stdin=stdin, ok=False)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("zenmail: error:"), p.stderr
    assert message in lines[0]
    assert "Traceback" not in p.stderr


def test_state_option_on_every_command(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZENMAIL_")}
    state = tmp_path / "elsewhere"
    for args in (["--state", str(state), "init"], ["tenant", "list", "--state", str(state)]):
        p = subprocess.run([*ZENMAIL, *args], capture_output=True, text=True, env=env,
                           cwd=tmp_path, timeout=60)
        assert p.returncode == 0, p.stderr
    assert (state / "db" / "directory.db").exists()
    assert not (tmp_path / ".zenmail").exists()


def test_import_csv_shows_progress_and_creates_all(run_acme, tmp_path: Path):
    f = tmp_path / "staff.csv"
    f.write_text("address,quota,display_name,password\n" + "".join(
        f"user{i}@acme.test,100M,User {i},correct horse battery\n" for i in range(3)))
    p = run_acme("account", "import", str(f))
    assert "3 accounts created" in p.stdout
    assert "creating accounts: 3/3" in p.stderr
    listed = json.loads(run_acme("account", "list", "--json").stdout)
    assert [a["address"] for a in listed] == [f"user{i}@acme.test" for i in range(3)]
    f.write_text("address,quota,password\nuser9@acme.test,100G,correct horse battery\n")
    p = run_acme("account", "import", str(f), ok=False)
    # One account and an import share one rule and so one message, naming the shortfall.
    assert p.returncode == 2 and "short by" in p.stderr and "row" not in p.stderr


def test_docs_cli_md_names_every_command():
    """docs/cli.md mentions every command the CLI has, so the reference cannot drift."""
    import click

    from zenmail.cli import cli

    text = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    names = []
    for name, cmd in cli.commands.items():
        if isinstance(cmd, click.Group):
            names += [f"{name} {sub}" for sub in cmd.commands]
        else:
            names.append(name)
    assert len(names) > 30
    missing = [n for n in names if not re.search(
        rf"zenmail {n.split()[0]}\b" + (rf"[^\n]*\b{n.split()[1]}\b" if " " in n else ""), text)]
    assert missing == []


def test_schema_is_migrated_only_on_request(run):
    """`db status` reads the revision without changing it; `db upgrade` (or `init`) migrates."""
    status = run("db", "status", "--json")
    before = json.loads(status.stdout)
    assert before["revision"] is None and before["current"] is False
    assert "run `zenmail db upgrade`" in run("db", "status").stdout
    assert "not initialised" in run("tenant", "list", ok=False).stderr  # still nothing there
    assert "upgraded from (none) to" in run("db", "upgrade").stdout
    assert "nothing to do" in run("db", "upgrade").stdout
    after = json.loads(run("db", "status", "--json").stdout)
    assert after["current"] is True and after["revision"] == after["needed"] == before["needed"]
    run("tenant", "add", "acme", "--pool", "1G")


def test_internationalised_names_are_shown_in_unicode_beside_the_ascii_form(run_acme):
    run_acme("domain", "add", "acme", "bücher.example")
    run_acme("account", "add", "anna@BÜCHER.example", "--password-stdin",
             stdin="correct horse battery\n")
    assert "bücher.example (xn--bcher-kva.example)" in run_acme("domain", "list").stdout
    shown = run_acme("account", "show", "anna@xn--bcher-kva.example").stdout
    assert "address:   anna@bücher.example (anna@xn--bcher-kva.example)" in shown
    assert "anna@bücher.example" in run_acme("account", "list").stdout
    data = json.loads(run_acme("account", "show", "anna@bücher.example", "--json").stdout)
    assert data["address"] == "anna@xn--bcher-kva.example"  # scripts get the stored form
    assert data["address_unicode"] == "anna@bücher.example"
