"""Editing what exists: an account's display name, an alias's targets replaced in one step.

Each change is one unit of work with its audit entry, refused with the same words from the
service, the CLI and the API, and never renames or creates anything on the side.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from tests.unit.cli_fixtures import (  # noqa: F401  (fixtures are found by name)
    Invoke,
    zenmail_fixture,
)
from tests.unit.test_api_fixtures import (  # noqa: F401  (fixtures are found by name)
    PASSWORD,
    make_client_fixture,
    root_fixture,
    server_fixture,
)
from zenmail.directory import accounts, aliases, auditlog, domains, tenants
from zenmail.directory.context import Ctx
from zenmail.errors import Conflict, InvalidInput, NotFound


@pytest.fixture
def acme(ctx: Ctx) -> Ctx:
    tenants.add(ctx, "acme", "10G")
    domains.add(ctx, "acme", "acme.test")
    for user in ("alice", "bob", "carol"):
        accounts.add(ctx, f"{user}@acme.test", password=PASSWORD, quota="1G",
                     display_name=user.title())
    aliases.add(ctx, "sales@acme.test", ["alice@acme.test", "bob@acme.test"])
    return ctx


def last_audit(ctx: Ctx) -> tuple[str, str, object, object]:
    e = auditlog.entries(ctx, limit=1)[0]
    return e.action, e.target, e.before, e.after


def test_set_name_changes_only_the_name_and_is_audited(acme: Ctx) -> None:
    a = accounts.set_name(acme, "Alice@ACME.test", "  Alice Martin ")
    assert (a.address, a.display_name) == ("alice@acme.test", "Alice Martin")
    assert accounts.show(acme, "alice@acme.test").display_name == "Alice Martin"
    assert last_audit(acme) == ("account.set_name", "alice@acme.test",
                                {"display_name": "Alice"}, {"display_name": "Alice Martin"})
    assert accounts.set_name(acme, "alice@acme.test", "").display_name == ""
    entries = len(auditlog.entries(acme, limit=1000))
    accounts.set_name(acme, "alice@acme.test", "")  # no change, no entry
    assert len(auditlog.entries(acme, limit=1000)) == entries
    assert [x.address for x in accounts.list_all(acme)] == [
        "alice@acme.test", "bob@acme.test", "carol@acme.test"]


@pytest.mark.parametrize("bad", ["two\nlines", "x" * 201])
def test_set_name_refuses_what_cannot_be_a_display_name(acme: Ctx, bad: str) -> None:
    with pytest.raises(InvalidInput):
        accounts.set_name(acme, "bob@acme.test", bad)
    assert accounts.show(acme, "bob@acme.test").display_name == "Bob"
    with pytest.raises(NotFound, match="no account 'nobody@acme.test'"):
        accounts.set_name(acme, "nobody@acme.test", "Nobody")


def test_alias_set_replaces_every_target_in_order(acme: Ctx) -> None:
    a = aliases.set_targets(acme, "sales@acme.test", ["carol@acme.test", "Alice@acme.test"])
    assert a.targets == ["carol@acme.test", "alice@acme.test"]
    assert [x.targets for x in aliases.list_all(acme)] == [["carol@acme.test",
                                                           "alice@acme.test"]]
    assert last_audit(acme) == ("alias.set", "sales@acme.test",
                                {"targets": ["alice@acme.test", "bob@acme.test"]},
                                {"targets": ["carol@acme.test", "alice@acme.test"]})
    # Outside addresses are fine; the old targets are gone, the kept one stays.
    a = aliases.set_targets(acme, "sales@acme.test", ["alice@acme.test", "partner@example.org"])
    assert a.targets == ["alice@acme.test", "partner@example.org"]


def test_alias_set_refuses_and_leaves_the_alias_as_it_was(acme: Ctx) -> None:
    aliases.add(acme, "team@acme.test", ["sales@acme.test"])
    before = [x.to_dict() for x in aliases.list_all(acme)]
    with pytest.raises(NotFound, match="no alias 'sals@acme.test'"):  # never created
        aliases.set_targets(acme, "sals@acme.test", ["alice@acme.test"])
    with pytest.raises(Conflict, match="alias loop"):
        aliases.set_targets(acme, "sales@acme.test", ["team@acme.test"])
    with pytest.raises(NotFound, match="no such account or alias"):
        aliases.set_targets(acme, "sales@acme.test", ["dave@acme.test"])
    with pytest.raises(Conflict, match="cannot point to itself"):
        aliases.set_targets(acme, "sales@acme.test", ["sales@acme.test"])
    with pytest.raises(InvalidInput, match="at least one target"):
        aliases.set_targets(acme, "sales@acme.test", [])
    assert [x.to_dict() for x in aliases.list_all(acme)] == before


def test_cli_set_name_and_alias_set(acme: Ctx, zenmail: Invoke) -> None:
    r = zenmail("account", "set-name", "bob@acme.test", "Bob Stone")
    assert r.code == 0 and r.stdout == "account bob@acme.test: name Bob Stone\n", r.stderr
    shown = json.loads(zenmail("--json", "account", "show", "bob@acme.test").stdout)
    assert shown["display_name"] == "Bob Stone"
    r = zenmail("alias", "set", "sales@acme.test", "carol@acme.test")
    assert r.code == 0 and r.stdout == "alias sales@acme.test -> carol@acme.test\n", r.stderr
    r = zenmail("alias", "set", "nosuch@acme.test", "carol@acme.test")
    assert r.code == 2 and r.stderr.startswith("zenmail: error: no alias 'nosuch@acme.test'")
    assert [e.action for e in auditlog.entries(acme, limit=2)] == ["alias.set",
                                                                  "account.set_name"]


def test_api_set_name_and_alias_put(acme: Ctx, root: httpx.Client,
                                    make_client: Callable[[str | None], httpx.Client]) -> None:
    r = root.put("/api/v1/accounts/carol@acme.test/name", json={"display_name": "Carol Ng"})
    assert r.status_code == 200 and r.json()["display_name"] == "Carol Ng"
    assert r.json()["address"] == "carol@acme.test"
    r = root.put("/api/v1/aliases/sales@acme.test", json={"targets": ["carol@acme.test"]})
    assert r.status_code == 200 and r.json()["targets"] == ["carol@acme.test"]
    assert root.put("/api/v1/aliases/nosuch@acme.test",
                    json={"targets": ["carol@acme.test"]}).status_code == 404
    assert root.put("/api/v1/aliases/sales@acme.test", json={"targets": []}).status_code == 422
    assert root.put("/api/v1/accounts/carol@acme.test/name",
                    json={"display_name": "x", "address": "eve@acme.test"}).status_code == 422
    assert aliases.list_all(acme)[0].targets == ["carol@acme.test"]
