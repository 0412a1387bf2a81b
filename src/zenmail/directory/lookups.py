"""The SQL the mail daemons run against the directory: one contract, three renderings.

Postfix (maps) and Dovecot (passdb/userdb) read the directory's tables themselves, so these
queries are part of the schema's contract (see models.py): a renamed column must fail
here, in a unit test that runs every query against the migrated schema on SQLite and
PostgreSQL (tests/unit/test_lookups.py), not only when mail stops flowing.

Queries are written once with neutral placeholders, each standing where a quoted value goes:

    {key}      the key of a Postfix lookup            Postfix: '%s'
    {user}     the user Dovecot looks up (lowercase)  Dovecot: '%u'
    {domain}   that user's domain                     Dovecot: '%d'
    {service}  the Dovecot service asking             Dovecot: '%s'
    {bytes}, {messages}   what Dovecot's dict writes (USAGE_UPSERT; Dovecot builds that
               statement itself from the dict maps, so it is rendered only for tests)

Both daemons quote the values they substitute; `bound()` renders bind parameters instead.
"""

from __future__ import annotations

import re

_PLACEHOLDER = re.compile(r"\{(key|user|domain|service|bytes|messages)\}")

# Postfix maps, by the name of their file (STATE/postfix/etc/sql/<name>.cf).
POSTFIX: dict[str, str] = {
    "domains": "SELECT name FROM domains WHERE name = {key}",
    "mailboxes": "SELECT address FROM accounts WHERE address = {key} AND enabled",
    # An account maps to itself, so a catch-all (`@domain`, looked up last by Postfix)
    # never steals mail from a real mailbox of its domain.
    "aliases": ("SELECT t.target FROM aliases a JOIN alias_targets t ON t.alias_id = a.id "
                "WHERE a.address = {key} UNION SELECT address FROM accounts "
                "WHERE address = {key}"),
    # Who may use an envelope sender: the account itself, and the targets of an alias.
    "senders": ("SELECT address FROM accounts WHERE address = {key} AND enabled UNION "
                "SELECT t.target FROM aliases a JOIN alias_targets t ON t.alias_id = a.id "
                "WHERE a.address = {key}"),
    # Postfix looks a sender up as `user@domain`, then `domain`: the second one matches.
    "hosted-senders": ("SELECT 'REJECT 5.7.1 sender is in a domain hosted here; log in on "
                       "the submission port to send as it' FROM domains WHERE name = {key}"),
}

# Dovecot's sql passdb/userdb (STATE/dovecot/etc/sql.conf.ext).
DOVECOT: dict[str, str] = {
    # The first of two passdbs: it only fetches what a password may match — the main hash
    # (empty when the tenant requires app passwords) and the live app passwords as
    # `id:hash id:hash …` — without checking (`noauthenticate`); the second, a Lua passdb
    # (templates/dovecot/credentials.lua), checks the typed password against them.
    "password_query": ("SELECT address AS user, NULL AS password, 'y' AS noauthenticate, "
                       "main AS zenmail_main, apps AS zenmail_apps FROM mail_credentials "
                       "WHERE address = {user} AND enabled"),
    # quota_rule is re-read at every login and delivery: a quota change needs no restart.
    # For the quota-status policy only, an alias or catch-all address stands for the account
    # it delivers to (the first, for several targets), so Postfix can refuse mail to the
    # alias of a full mailbox at RCPT time too. Everywhere else only accounts exist.
    "user_query": (
        "SELECT u.name AS user, u.rule AS quota_rule FROM ("
        " SELECT 0 AS rank, 0 AS tid, address AS name,"
        " '*:storage=' || quota_bytes || 'B' AS rule"
        " FROM accounts WHERE address = {user} AND enabled"
        " UNION ALL"
        " SELECT CASE WHEN al.address = {user} THEN 1 ELSE 2 END, t.id, acc.address,"
        " '*:storage=' || acc.quota_bytes || 'B'"
        " FROM aliases al JOIN alias_targets t ON t.alias_id = al.id"
        " JOIN accounts acc ON acc.address = t.target"
        " WHERE {service} = 'quota-status' AND al.address IN ({user}, '@' || {domain})"
        " AND acc.enabled"
        " AND NOT EXISTS (SELECT 1 FROM accounts x WHERE x.address = {user})"
        ") u ORDER BY u.rank, u.tid LIMIT 1"),
    "iterate_query": "SELECT address AS user FROM accounts WHERE enabled",
}

# What Dovecot writes: its quota_clone plugin copies each user's usage, as the quota `count`
# backend counts it, into the directory through Dovecot's SQL dict
# (STATE/dovecot/etc/dict-usage.conf.ext), at every change (a delivery, a save, an expunge).
# One map per dict key, each into a column of one row per user (models.QuotaUsage).
USAGE_TABLE = "quota_usage"
USAGE_USER_FIELD = "username"
DOVECOT_USAGE: dict[str, str] = {
    "priv/quota/storage": "bytes",
    "priv/quota/messages": "messages",
}
# The statement Dovecot 2.3's dict-sql makes of one such change (both keys in one dict
# transaction, so one row): an upsert, which SQLite (3.24 and later) and PostgreSQL both run.
USAGE_UPSERT = (
    f"INSERT INTO {USAGE_TABLE} (bytes, messages, {USAGE_USER_FIELD})"
    " VALUES ({bytes}, {messages}, {user})"
    f" ON CONFLICT ({USAGE_USER_FIELD}) DO UPDATE SET bytes = {{bytes}},"
    " messages = {messages}")


def dict_maps() -> str:
    """The `map { … }` blocks of Dovecot's dict-sql file, from DOVECOT_USAGE."""
    return "\n".join(
        f"map {{\n  pattern = {pattern}\n  table = {USAGE_TABLE}\n"
        f"  username_field = {USAGE_USER_FIELD}\n  value_field = {column}\n"
        "  value_type = uint\n}" for pattern, column in DOVECOT_USAGE.items())


_POSTFIX_VARS = {"key": "'%s'"}
_DOVECOT_VARS = {"user": "'%u'", "domain": "'%d'", "service": "'%s'"}


def _render(query: str, values: dict[str, str], daemon: str) -> str:
    def sub(m: re.Match[str]) -> str:
        if m.group(1) not in values:
            raise KeyError(f"{{{m.group(1)}}} has no meaning in a {daemon} query")
        return values[m.group(1)]
    return _PLACEHOLDER.sub(sub, query)


def for_postfix(query: str) -> str:
    return _render(query, _POSTFIX_VARS, "Postfix")


def for_dovecot(query: str) -> str:
    return _render(query, _DOVECOT_VARS, "Dovecot")


def bound(query: str) -> str:
    """The query for SQLAlchemy's `text()`: bind parameters (`:key`, `:user`, ...) and
    every literal colon escaped (`'*:storage='` must not read as a parameter)."""
    return _PLACEHOLDER.sub(lambda m: f":{m.group(1)}", query.replace(":", "\\:"))
