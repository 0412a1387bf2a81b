"""The SQL the daemons run, against the migrated schema on SQLite and PostgreSQL.

Every query of zenmail.directory.lookups runs here with bind parameters in place of the
daemons' %s/%u/%d, on a small directory, and must answer what Postfix and Dovecot expect:
a renamed column or table fails in seconds instead of when mail stops flowing.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import inspect, text

from zenmail.directory import accounts, aliases, apppasswords, domains, lookups, tenants

PW = "correct horse battery"


@pytest.fixture
def directory(ctx):
    tenants.add(ctx, "acme", "10G")
    domains.add(ctx, "acme", "acme.test")
    accounts.add(ctx, "alice@acme.test", password=PW, quota="2G")
    accounts.add(ctx, "bob@acme.test", password=PW, quota="1G")
    accounts.add(ctx, "gone@acme.test", password=PW, quota="1G")
    accounts.set_enabled(ctx, "gone@acme.test", False)
    aliases.add(ctx, "sales@acme.test", ["bob@acme.test", "alice@acme.test"])
    aliases.add(ctx, "@acme.test", ["alice@acme.test"])
    return ctx


def _rows(ctx, query: str, **params: Any) -> list[tuple[Any, ...]]:
    with ctx.db.reading() as s:
        return [tuple(r) for r in s.execute(text(lookups.bound(query)), params)]


def _postfix(ctx, name: str, key: str) -> set[str]:
    return {r[0] for r in _rows(ctx, lookups.POSTFIX[name], key=key)}


def test_every_query_is_covered_below() -> None:
    assert set(lookups.POSTFIX) == {"domains", "mailboxes", "aliases", "senders",
                                    "hosted-senders"}
    assert set(lookups.DOVECOT) == {"password_query", "user_query", "iterate_query"}
    assert set(lookups.DOVECOT_USAGE) == {"priv/quota/storage", "priv/quota/messages"}


def test_postfix_maps(directory) -> None:
    assert _postfix(directory, "domains", "acme.test") == {"acme.test"}
    assert _postfix(directory, "domains", "other.test") == set()
    assert _postfix(directory, "mailboxes", "alice@acme.test") == {"alice@acme.test"}
    assert _postfix(directory, "mailboxes", "gone@acme.test") == set()  # disabled: 550
    assert _postfix(directory, "aliases", "sales@acme.test") == {"bob@acme.test",
                                                                 "alice@acme.test"}
    # An account maps to itself, so the catch-all never takes its mail.
    assert _postfix(directory, "aliases", "bob@acme.test") == {"bob@acme.test"}
    assert _postfix(directory, "aliases", "@acme.test") == {"alice@acme.test"}
    assert _postfix(directory, "senders", "sales@acme.test") == {"bob@acme.test",
                                                                 "alice@acme.test"}
    assert _postfix(directory, "senders", "gone@acme.test") == set()
    [reject] = _postfix(directory, "hosted-senders", "acme.test")
    assert reject.startswith("REJECT 5.7.1 ")
    assert _postfix(directory, "hosted-senders", "example.org") == set()


def test_dovecot_passdb_and_userdb(directory) -> None:
    q = lookups.DOVECOT
    [(user, password, noauth, main, apps)] = _rows(directory, q["password_query"],
                                                   user="alice@acme.test")
    assert (user, password, noauth, apps) == ("alice@acme.test", None, "y", "")
    assert main.startswith("{ARGON2ID}")
    assert _rows(directory, q["password_query"], user="gone@acme.test") == []
    # Live app passwords ride along as `id:hash …`; a revoked one does not, and a tenant
    # that requires app passwords gives no main hash.
    apppasswords.add(directory, "alice@acme.test", "phone")
    apppasswords.add(directory, "alice@acme.test", "laptop")
    apppasswords.revoke(directory, "alice@acme.test", "phone")
    [(_, _, _, main, apps)] = _rows(directory, q["password_query"], user="alice@acme.test")
    [(ident, hashed)] = [a.split(":", 1) for a in apps.split(" ")]
    assert ident.isdigit() and hashed.startswith("{SSHA256}")
    apppasswords.set_required(directory, "acme", True)
    [(_, _, _, main, _)] = _rows(directory, q["password_query"], user="alice@acme.test")
    assert main == ""
    login = {"service": "imap", "domain": "acme.test"}
    assert _rows(directory, q["user_query"], user="alice@acme.test", **login) == [
        ("alice@acme.test", f"*:storage={2 * 1024**3}B")]
    # Only the quota-status policy resolves an alias (or the catch-all) to its first target.
    assert _rows(directory, q["user_query"], user="sales@acme.test", **login) == []
    policy = {"service": "quota-status", "domain": "acme.test"}
    assert _rows(directory, q["user_query"], user="sales@acme.test", **policy) == [
        ("bob@acme.test", f"*:storage={1024**3}B")]
    assert _rows(directory, q["user_query"], user="nobody@acme.test", **policy) == [
        ("alice@acme.test", f"*:storage={2 * 1024**3}B")]
    assert {r[0] for r in _rows(directory, q["iterate_query"])} == {"alice@acme.test",
                                                                    "bob@acme.test"}


def test_renderings_use_each_daemons_variables() -> None:
    assert lookups.for_postfix(lookups.POSTFIX["domains"]).endswith("name = '%s'")
    user_query = lookups.for_dovecot(lookups.DOVECOT["user_query"])
    assert "'%u'" in user_query and "'@' || '%d'" in user_query and "'%s' =" in user_query
    assert "{" not in user_query
    with pytest.raises(KeyError, match="no meaning in a Postfix query"):
        lookups.for_postfix(lookups.DOVECOT["password_query"])


def dovecot_writes_usage(ctx, user: str, used: int, messages: int) -> None:
    """What Dovecot's dict process runs when quota_clone reports a user's usage."""
    with ctx.db.transaction() as s:
        s.execute(text(lookups.bound(lookups.USAGE_UPSERT)),
                  {"user": user, "bytes": used, "messages": messages})


def test_dovecot_usage_dict_writes_the_usage_table(directory) -> None:
    columns = {c["name"] for c in inspect(directory.db.engine).get_columns(lookups.USAGE_TABLE)}
    assert {lookups.USAGE_USER_FIELD, *lookups.DOVECOT_USAGE.values()} <= columns
    maps = lookups.dict_maps()
    for pattern, column in lookups.DOVECOT_USAGE.items():
        assert f"pattern = {pattern}\n  table = quota_usage\n" in maps
        assert f"value_field = {column}\n" in maps
    dovecot_writes_usage(directory, "alice@acme.test", 1000, 1)
    dovecot_writes_usage(directory, "alice@acme.test", 5000, 3)  # the same row, updated
    assert _rows(directory, "SELECT username, bytes, messages FROM quota_usage") == [
        ("alice@acme.test", 5000, 3)]
