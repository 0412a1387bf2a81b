"""Tenants are walls, on the command line too: run as tenant B's administrator (`--as`), every
command aimed at tenant A is refused with a one-line "not found" / "only a global
administrator" error (exit code 2) that names nothing of A but what was typed, every listing
shows only B, and the directory is unchanged afterwards.

The walk is driven by click's own command tree, so a command added later is walked too; one
the walk does not know how to aim at A (AIMED, READS below), or one of whose parameters no
call sets, fails the test until it is taught. Commands that act on no directory object are
listed in OUT_OF_WALK with the reason, and must refuse `--as`.

In-process (`cli_fixtures.invoke_in`, through the real error boundary) and on both backends:
the `--as` lookup is SQL of its own, and in-process runs make both backends cost ~2 s.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from pathlib import Path
from typing import Any

import click
import pytest
from click.core import ParameterSource

from tests.unit.cli_fixtures import (  # noqa: F401  (fixtures are found by name)
    Invoke,
    invoke_in,
    zenmail_fixture,
)
from tests.unit.test_api_fixtures import PASSWORD
from tests.unit.test_api_tenant_walls import (  # noqa: F401  (two_tenants: a fixture)
    FOREIGN_NAMES,
    leaked,
    snapshot,
    two_tenants,
)
from zenmail.cli import cli
from zenmail.cli.app import App, Command
from zenmail.db import Database
from zenmail.directory.context import Ctx

# Commands outside the walk: none acts on a tenant's objects through a directory context.
OUT_OF_WALK = {
    "init": "creates the state directory and the schema; reads and changes no tenant's data",
    "config": "prints this installation's settings, which belong to no tenant",
    "db status": "reports the schema's revision, which belongs to no tenant",
    "db upgrade": "migrates the whole database's schema; reads and changes no tenant's data",
    "serve": "runs the REST API, whose every endpoint test_api_tenant_walls.py walks",
    "up": "starts this machine's daemons",
    "down": "stops this machine's daemons",
    "status": "reports this machine's daemons",
    "demo": "creates its own demo company on this machine, as a global actor",
    "probe run": "probes this machine's mail service with its own probe account, no tenant's",
    "install-service": "writes this machine's systemd unit",
    "doctor": "checks this machine (DNS, certificate, ports, disk, clock) for its operator",
}

# Parameters every command shares (the root's options) or that only steer output.
SHARED = {"state", "json_", "as_admin", "help"}

Call = tuple[list[str], str | None]  # arguments after the command's name, standard input


def AIMED(a: dict[str, Any], b: dict[str, Any], tmp: Path) -> dict[str, list[Call]]:
    """Hostile calls per command: each tries to create in, change or read tenant A."""
    pw = f"{PASSWORD}\n"

    def csv(name: str, *addresses: str) -> str:
        f = tmp / f"{name}.csv"
        f.write_text("address,password\n" + "".join(f"{x},{PASSWORD}\n" for x in addresses))
        return str(f)

    def archive(tenant: str, domain: str) -> str:
        """A zenmail export that would create an account in `tenant`."""
        d = {"format": "zenmail-directory/1", "tenants": [{"name": tenant, "pool_bytes": 1,
                                                           "max_accounts": None}],
             "domains": [{"name": domain, "tenant": tenant}], "aliases": [],
             "accounts": [{"address": f"mallory@{domain}", "tenant": tenant,
                           "display_name": "", "password_hash": "{SHA512-CRYPT}$6$x$y",
                           "quota_bytes": 1, "enabled": True, "used_bytes": None}]}
        raw = json.dumps(d).encode()
        manifest = json.dumps({"format": "zenmail-export/1", "files": {"directory.json": {
            "sha256": hashlib.sha256(raw).hexdigest(), "size": len(raw)}}}).encode()
        f = tmp / f"{tenant}.tar"
        with tarfile.open(f, "w") as tar:
            for name, data in (("directory.json", raw), ("manifest.json", manifest)):
                info = tarfile.TarInfo(f"zenmail-export/{name}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return str(f)

    mbox = tmp / "old.mbox"
    mbox.write_bytes(b"From a@b Mon Mar  2 10:00:00 2026\nSubject: x\n\nbody\n")

    def mig_csv(target: str) -> str:
        f = tmp / "migration.csv"
        # The target first: the walk reads what was typed from a file's first column.
        f.write_text(f"target,source,source_tls,password\n{target},imap://x@old.test:143,"
                     "none,pw\n")
        return str(f)

    def ics() -> str:
        f = tmp / "one.ics"
        f.write_text("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
                     "UID:e1@t\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260102T100000Z\r\n"
                     "SUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
        return str(f)

    def vcf() -> str:
        f = tmp / "one.vcf"
        f.write_text("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c1@t\r\nFN:X\r\nN:X;;;;\r\n"
                     "END:VCARD\r\n")
        return str(f)

    return {
        "export": [(["--tenant", a["tenant"], "--out", str(tmp / "a.tar"), "--mbox"], None),
                   (["--account", a["alice"], "--out", str(tmp / "a.tar")], None)],
        "import": [([archive(a["tenant"], a["domain"])], None),
                   ([str(mbox), "--account", a["alice"]], None)],
        "tenant add": [(["tenant-c", "--pool", "1G"], None),
                       ([a["tenant"], "--pool", "1G", "--max-accounts", "5"], None)],
        "tenant show": [([a["tenant"]], None)],
        "tenant set-pool": [([a["tenant"], "1T"], None), ([a["tenant"], "1M"], None)],
        "tenant set-max-accounts": [([a["tenant"], "0"], None), ([a["tenant"]], None)],
        "tenant remove": [([a["tenant"]], None)],
        "domain add": [([a["tenant"], "new-a.test"], None),
                       ([b["tenant"], a["domain"]], None),
                       ([b["tenant"], "x." + a["domain"]], None),
                       ([b["tenant"], "\u0430." + a["domain"][2:]], None)],  # Cyrillic а
        "domain list": [(["--tenant", a["tenant"]], None)],
        "domain remove": [([a["domain"]], None)],
        "account add": [
            (["mallory@a.test", "--password-stdin"], pw),
            (["mallory@a.test", "--tenant", b["tenant"], "--password-stdin"], pw),
            (["mallory@b.test", "--tenant", a["tenant"], "--quota", "1M", "--name", "M",
              "--password-stdin"], pw),
        ],
        "account import": [
            ([csv("a", "mallory@a.test")], None),
            ([csv("b", "mallory@b.test"), "--tenant", a["tenant"]], None),
            ([csv("ba", "mallory@b.test", "mallory@a.test")], None),
        ],
        "account list": [(["--tenant", a["tenant"]], None), (["--domain", a["domain"]], None)],
        "account show": [([a["alice"]], None), ([a["bob"]], None)],
        "account set-quota": [([a["alice"], "1M"], None), ([a["alice"], "9G"], None)],
        "account set-password": [([a["alice"], "--password-stdin"], "mallory was here!\n")],
        "account set-name": [([a["alice"], "Mallory"], None), ([a["bob"], ""], None)],
        "account disable": [([a["alice"]], None)],
        "account enable": [([a["alice"]], None)],
        "account remove": [([a["alice"]], None), ([a["bob"]], None)],
        "quota move": [([a["alice"], a["bob"], "1M"], None),
                       ([a["alice"], b["alice"], "1G"], None),
                       ([b["alice"], a["alice"], "1M"], None)],
        "quota show": [([a["tenant"]], None)],
        "alias add": [(["evil@a.test", b["alice"]], None),
                      ([a["alias"], b["alice"]], None),
                      ([a["catch_all"], b["alice"]], None),
                      ([a["loops_back"], a["forward"]], None)],
        "alias set": [([a["alias"], b["alice"]], None), ([a["catch_all"], b["alice"]], None),
                      ([a["alias"], a["alice"]], None)],
        "alias list": [(["--tenant", a["tenant"]], None), (["--domain", a["domain"]], None)],
        "alias remove": [([a["alias"]], None), ([a["alias"], a["bob"]], None),
                         ([a["catch_all"]], None)],
        "admin add": [(["mallory@b.test", "--tenant", a["tenant"]], None),
                      (["mallory@b.test"], None)],
        "admin remove": [([a["admin"]], None), ([a["global_admin"]], None)],
        "token create": [([a["admin"], "--name", "stolen"], None),
                         ([a["global_admin"]], None)],
        "token revoke": [([str(a["token_id"])], None), ([str(a["global_token_id"])], None)],
        "audit": [(["--tenant", a["tenant"]], None)],
        "snapshot": [(["--tenant", a["tenant"]], None), (["--account", a["alice"]], None),
                     (["--all"], None)],
        "snapshot list": [(["--tenant", a["tenant"]], None),
                          (["--account", a["alice"]], None)],
        "restore find": [([a["alice"], "--folder", "INBOX", "--subject", "x", "--from", "y",
                           "--since", "2026-01-01", "--until", "2026-12-31"], None)],
        "restore message": [([a["alice"], "deadbeef-0"], None),
                            ([a["alice"], "deadbeef-0", "--to-folder", "X"], None)],
        "restore folder": [([a["alice"], "INBOX", "--snapshot", "deadbeef", "--to-folder",
                             "X"], None)],
        "restore account": [([a["alice"], "--snapshot", "deadbeef"], None),
                            ([b["alice"], "--snapshot", "deadbeef", "--into", a["alice"]],
                             None)],
        "restore shared": [([a["tenant"], "--snapshot", "deadbeef"], None),
                           ([a["tenant"], "--snapshot", "deadbeef", "--calendar", "room-1"],
                            None)],
        "vault verify": [(["--read-data-subset", "5%"], None)],
        "alerts list": [(["--limit", "5"], None)],  # the node's alerts: global only
        "trace": [(["--to", a["alice"]], None),
                  (["--from", a["bob"], "--message-id", "x@a.test", "--since", "1h"], None)],
        "vault prune": [([], None)],
        "dns": [([a["domain"]], None)],
        "dkim rotate": [([a["domain"]], None), ([a["domain"], "--algorithm", "ed25519"], None)],
        "account unlock": [([a["alice"]], None), ([a["bob"]], None)],
        "security report": [(["--tenant", a["tenant"]], None),
                            (["--tenant", a["tenant"], "--since", "7d"], None)],
        "quarantine list": [(["--tenant", a["tenant"]], None)],
        # Held mail of A is walked end to end in tests/e2e/test_filtering.py (it needs
        # Postfix); here: ids that are not there, or not B's, are "not found" alike.
        "quarantine release": [(["ABCDEF12345"], None)],
        "quarantine delete": [(["ABCDEF12345"], None)],
        "migrate project add": [([
            "steal", mig_csv(a["alice"]), "--concurrency", "2",
            "--max-msgs-per-s", "5", "--max-bytes-per-s", "100", "--day-x", "2030-01-02",
            "--presync", "2030-01-01", "--dav-url", "https://dav.old.example/"], None)],
        "migrate project remove": [([a["project"]], None)],
        "migrate run": [([a["project"]], None), ([a["project"], "--pilot"], None),
                        ([b["project"], "--account", a["alice"]], None)],
        "migrate verify": [([a["project"]], None)],
        "migrate status": [([a["project"]], None)],
        "migrate report": [([a["project"], "--out", str(tmp / "r.html")], None)],
        "migrate cutover": [([a["project"]], None)],
        "migrate account": [([a["alice"], "--source", "imap://x@127.0.0.1:9",
                              "--source-tls", "none", "--source-password-stdin"], pw),
                             ([a["bob"], "--source", "imap://x@127.0.0.1:9", "--source-tls",
                               "tls", "--source-insecure", "--source-master", "admin",
                               "--sync-deletions", "--source-password-stdin"], pw),
                             ([a["alice"], "--source", "imap://x@127.0.0.1:9",
                               "--source-tls", "none", "--source-oauth2",
                               "--source-password-stdin"], pw)],
        "app-password add": [([a["alice"], "--name", "stolen"], None)],
        "app-password list": [([a["alice"]], None), ([a["bob"]], None)],
        "app-password revoke": [([a["alice"], a["app_password"]], None)],
        "app-password policy": [([a["tenant"], "--required"], None), ([a["tenant"]], None),
                                ([a["tenant"], "--optional"], None)],
        "device profile": [([a["alice"], "--out", str(tmp / "p.mobileconfig"), "--name", "x"],
                            None)],
        "device link": [([a["alice"], "--expires", "1h"], None)],
        "account check": [([a["alice"]], pw), ([a["bob"]], pw)],
        "dav shared add": [([a["tenant"], "room-x", "--display-name", "Room X"], None)],
        "dav shared list": [([a["tenant"]], None)],
        "dav shared remove": [([a["tenant"], "room-x"], None)],
        "dav export": [([a["alice"], "--out", str(tmp / "out-a")], None),
                       (["--tenant", a["tenant"], "--out", str(tmp / "out-t")], None)],
        "dav import": [([a["alice"], ics(), vcf()], None),
                       ([a["bob"], vcf(), "--collection", "work"], None)],
        "dav shared import": [([a["tenant"], "room-x", ics()], None)],
        "dav usage": [(["--tenant", a["tenant"]], None)],
        "migrate-dav account": [([a["alice"], "--source", "https://127.0.0.1:9/",
                                  "--source-user", "u", "--source-password-stdin",
                                  "--source-ca", ics()], "secret\n")],
        "eco compress": [(["--tenant", a["tenant"]], None), (["--account", a["alice"]], None)],
        "eco analyze": [(["--tenant", a["tenant"]], None), (["--account", a["alice"]], None)],
        "eco policy set": [([a["tenant"], "--archive-after", "1m", "--trash-after", "1d",
                             "--reduce-images"], None)],
        "eco policy show": [([a["tenant"]], None)],
        "eco apply": [(["--tenant", a["tenant"], "--dry-run"], None)],
        "eco report": [(["--tenant", a["tenant"]], None),
                       (["--account", a["alice"], "--as-of", "2026-11-01"], None)],
        "vault erase": [([a["alice"], "--yes"], None)],
        "vault retention": [([a["tenant"], "--hourly", "1", "--daily", "1", "--monthly", "1",
                              "--last", "1"], None), ([a["tenant"], "--default"], None),
                            ([a["tenant"]], None)],
        "lockout unlock": [(["--account", a["alice"]], None),
                           (["--client", "203.0.113.7"], None),
                           (["--account", a["alice"], "--client", "203.0.113.7"], None)],
    }


def READS(a: dict[str, Any], b: dict[str, Any]) -> dict[str, list[list[str]]]:
    """Calls that are not aimed at A: they succeed and must show nothing of A."""
    return {
        "tenant list": [[]],
        "tenant show": [[b["tenant"]]],
        "domain list": [[]],
        "account list": [[]],
        "account show": [[b["alice"]]],
        "quota show": [[b["tenant"]]],
        "alias list": [[]],
        "admin list": [[]],
        "token list": [[]],
        "audit": [[], ["--limit", "10000"]],
        "lockout list": [[]],
        "dns": [[b["domain"]]],
        "migrate project list": [[]],
        "migrate status": [[b["project"]]],
        "app-password list": [[b["alice"]]],
        "app-password policy": [[b["tenant"]]],
        "dav usage": [[]],
        "eco analyze": [[]],
        "eco policy show": [[]],
        "vault retention": [[], [b["tenant"]]],
        "eco report": [[]],
    }


Walled = tuple[dict[str, Any], dict[str, Any]]


@pytest.fixture
def ab(request: pytest.FixtureRequest) -> Walled:
    """Tenants A and B as the API walk seeds them (the `two_tenants` fixture): domain, two
    accounts, alias, catch-all and administrator each; a global administrator with a token."""
    walled: Walled = request.getfixturevalue("two_tenants")
    return walled


REFUSED = re.compile(r"zenmail: error: (no (tenant|domain|account|alias|administrator|token"
                     r"|held message|migration project) "
                     r"|only a global administrator may "
                     r"|domain '[^']+' already belongs to another tenant"
                     r"|domain '[^']+' is a parent or a subdomain of a domain another tenant "
                     r"|domain '[^']+': the label '[^']+' is written in letters that all look "
                     r"|alias '[^']+' would create a loop through an address outside your "
                     r"tenant)")
PROGRESS = re.compile(r"\r[a-z ]+: \d+/\d+")  # `account import` counts on stderr


def leaves(group: click.Group, prefix: str = "") -> dict[str, click.Command]:
    """Every runnable command under `group`, by its name as typed ("tenant add"); a group
    that runs without a subcommand (`snapshot`, beside `snapshot list`) is one too."""
    found: dict[str, click.Command] = {}
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            found.update(leaves(cmd, f"{prefix}{name} "))
            if cmd.invoke_without_command:
                found[f"{prefix}{name}"] = cmd
        else:
            found[f"{prefix}{name}"] = cmd
    return found


def params_set(cmd: click.Command, name: str, args: list[str]) -> set[str]:
    """The parameters of `cmd` that `args` sets on the command line."""
    with click.Context(cli, obj=App()) as parent:
        ctx = cmd.make_context(name, list(args), parent=parent)
        return {p.name for p in cmd.params if p.name
                and ctx.get_parameter_source(p.name) is ParameterSource.COMMANDLINE}


def typed(args: list[str]) -> list[str]:
    """What the caller typed: the arguments and the addresses in a CSV file given."""
    out = list(args)
    for arg in args:
        if arg.endswith(".csv"):
            out += [line.split(",")[0] for line in Path(arg).read_text().splitlines()]
    return out


def without(text: str, args: list[str]) -> str:
    """`text` with what the caller typed taken out (see `typed`, and the domains of what
    was typed): echoing one's own input is no leak."""
    values = typed(args)
    values += [t.rpartition("@")[2] for t in values if "@" in t]
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, "")
    return text


def test_every_command_refuses_another_tenants_admin(
        ctx: Ctx, database: Database, zenmail: Invoke, tmp_path: Path,
        ab: Walled) -> None:
    a, b = ab
    as_b = ["--as", b["admin"]]
    before = snapshot(ctx, database)
    commands = leaves(cli)
    aimed, reads = AIMED(a, b, tmp_path), READS(a, b)

    # Every command is walked or excluded with a reason, and the CLI agrees about which.
    unknown = set(commands) - set(aimed) - set(reads) - set(OUT_OF_WALK)
    assert not unknown, f"teach the walk how to aim {sorted(unknown)} at tenant A"
    assert set(aimed) | set(reads) <= set(commands), "the walk names a command that is gone"
    for name, cmd in commands.items():
        if isinstance(cmd, click.Group):  # takes --as itself, so it acts
            assert "as_admin" in {p.name for p in cmd.params}, name
            continue
        assert isinstance(cmd, Command), name
        assert cmd.acts == (name not in OUT_OF_WALK), name

    # Every parameter of a walked command is set by at least one call.
    for name in set(aimed) | set(reads):
        cmd = commands[name]
        calls = [args for args, _ in aimed.get(name, [])] + reads.get(name, [])
        covered = set().union(*(params_set(cmd, name.split()[-1], c) for c in calls))
        missing = {p.name for p in cmd.params} - SHARED - covered
        assert not missing, f"{name}: no call of the walk sets {sorted(missing)}"

    denied = 0
    for name, calls in aimed.items():
        for args, stdin in calls:
            r = zenmail(*as_b, *name.split(), *args, stdin=stdin)
            what = f"{name} {args} -> {r.code} {r.stdout!r} {r.stderr!r}"
            assert r.code == 2, what
            assert r.stdout == "", what
            errors = [x for x in r.stderr.split("\n") if x and not PROGRESS.fullmatch(x)]
            assert len(errors) == 1 and REFUSED.match(errors[0]), what
            left = without(r.stderr, args)
            assert not any(n in left for n in FOREIGN_NAMES), what
            assert not leaked(r.stderr, typed(args), a), what
            denied += 1

    shown = 0
    for name, calls in reads.items():
        for args in calls:
            for form in ([], ["--json"]):
                r = zenmail(*as_b, *name.split(), *args, *form)
                what = f"{name} {args} {form} -> {r.code} {r.stdout!r} {r.stderr!r}"
                assert r.code == 0 and r.stderr == "", what
                assert not any(n in r.stdout for n in FOREIGN_NAMES), what
                if form:
                    json.loads(r.stdout)
                assert "b.test" in r.stdout or "tenant-b" in r.stdout, what  # not vacuous
                shown += 1

    # Not vacuous: ~30 commands, most aimed at A in several ways.
    assert len(aimed) + len(set(reads) - set(aimed)) + len(OUT_OF_WALK) == len(commands)
    assert denied >= 50 and shown >= 20
    assert snapshot(ctx, database) == before


def test_tenant_admin_lists_only_its_own_tenant(
        zenmail: Invoke, ab: Walled) -> None:
    _, b = ab

    def listed(*args: str) -> Any:
        r = zenmail("--as", b["admin"], "--json", *args)
        assert r.code == 0, r.stderr
        return json.loads(r.stdout)

    assert [t["name"] for t in listed("tenant", "list")] == ["tenant-b"]
    assert [d["name"] for d in listed("domain", "list")] == ["b.test"]
    assert [x["address"] for x in listed("account", "list")] == [b["alice"], b["bob"]]
    assert [x["address"] for x in listed("alias", "list")] == ["@b.test", b["alias"]]
    assert [x["name"] for x in listed("admin", "list")] == [b["admin"]]
    assert {x["admin"] for x in listed("token", "list")} == {b["admin"]}
    audit = listed("audit", "--limit", "10000")
    assert audit and {e["tenant"] for e in audit} == {"tenant-b"}
    assert listed("quota", "show", "tenant-b")["allocated_bytes"] == 3 * 1024**3


def test_without_as_or_as_a_global_admin_both_tenants_show(
        zenmail: Invoke, ab: Walled) -> None:
    # The contrast that shows the walls come from --as, not from the data.
    for prefix in ([], ["--as", "root@ops.test"]):
        r = zenmail(*prefix, "--json", "tenant", "list")
        assert r.code == 0, r.stderr
        assert [t["name"] for t in json.loads(r.stdout)] == ["tenant-a", "tenant-b"]
    assert zenmail("account", "show", "alice@a.test").code == 0


@pytest.mark.parametrize("name", sorted(OUT_OF_WALK))
def test_commands_outside_the_walk_refuse_as(
        name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--as on a command that acts on no directory object is an error, before it does anything
    (the stack, the server and the state directory are not touched: each would fail here)."""
    def must_not_run(*_a: object, **_k: object) -> None:
        raise AssertionError(f"`zenmail {name} --as` ran the command")

    for target in ("zenmail.stack.manager.up", "zenmail.stack.manager.down",
                   "zenmail.stack.manager.status", "zenmail.demo.run_demo",
                   "zenmail.cli.setup.init_state", "uvicorn.run",
                   "zenmail.db.Database.migrate", "zenmail.db.Database.schema_state"):
        monkeypatch.setattr(target, must_not_run)
    state = tmp_path / "fresh"
    words = name.split()
    for argv in (["--as", "it@b.test", *words], [*words, "--as", "it@b.test"]):
        r = invoke_in(state, *argv)
        assert r.code == 2, (argv, r.stderr)
        lines = r.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("zenmail: error: "), r.stderr
        assert "--as" in lines[0]
    assert not state.exists()
