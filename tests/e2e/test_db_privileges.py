"""What the mail daemons may do to the directory database (issue 8 item 13).

PostgreSQL: Postfix and Dovecot connect as `<database>_mail`, a role that can SELECT only the
columns their lookups read; the administrator's URL appears in none of their files.
SQLite: the file is shared with the postfix group (WAL needs it); docs/security.md says so.
On both: the files holding database credentials are closed to other users.
"""

from __future__ import annotations

import os
import stat

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.e2e.conftest import MailStack
from zenmail.directory import lookups
from zenmail.stack.dbconf import daemons_url
from zenmail.stack.files import Layout

pytestmark = pytest.mark.e2e


def _rendered(stack: MailStack) -> dict[str, str]:
    files = [stack.state / "dovecot" / "etc" / "sql.conf.ext",
             *sorted((stack.state / "postfix" / "etc" / "sql").glob("*.cf"))]
    return {str(f): f.read_text() for f in files}


def test_credential_files_are_closed_to_other_users(stack: MailStack) -> None:
    for path in _rendered(stack):
        mode = stat.S_IMODE(os.stat(path).st_mode)
        assert mode & 0o007 == 0, f"{path} is {oct(mode)}"
    secrets = Layout.of(stack.state).secrets
    assert stat.S_IMODE(os.stat(secrets).st_mode) == 0o700


# SQLite has no roles (docs/security.md says what the daemons may touch there).
@pytest.mark.parametrize("stack", ["postgresql"], indirect=True)
def test_postgres_daemons_may_read_their_lookups_and_nothing_else(stack: MailStack) -> None:
    admin = make_url(stack.settings.db_url)
    mail = make_url(daemons_url(stack.settings, Layout.of(stack.state)))
    assert mail.username == f"{admin.database}_mail" != admin.username
    for path, text in _rendered(stack).items():
        assert f"user = {mail.username}" in text or f"user='{mail.username}'" in text, path
        assert str(admin.password) not in text, path
    # Mail flows with that role (the rest of this module's suite runs on it too).
    alice = stack.account("alice")
    with stack.smtp() as c:
        c.sendmail("partner@example.org", [alice], stack.message("partner@example.org", alice,
                                                                 "read by the mail role"))
    assert b"read by the mail role" in stack.wait_messages(alice, 1)[0]
    conninfo = mail.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        # Every lookup the daemons run works as the role...
        for query in [*lookups.POSTFIX.values(), *lookups.DOVECOT.values()]:
            sql = lookups.bound(query).replace("\\:", ":")
            for name in ("key", "user", "domain", "service"):
                sql = sql.replace(f":{name}", f"%({name})s")
            conn.execute(sql, {"key": alice, "user": alice, "domain": "acme.test",
                               "service": "quota-status"})
        # ...and the one write Dovecot makes: its usage dict's upsert (quota_clone)...
        upsert = lookups.bound(lookups.USAGE_UPSERT).replace("\\:", ":")
        for name in ("user", "bytes", "messages"):
            upsert = upsert.replace(f":{name}", f"%({name})s")
        conn.execute(upsert, {"user": alice, "bytes": 5, "messages": 1})
        conn.execute(upsert, {"user": alice, "bytes": 6, "messages": 2})
        # ...and nothing else: no secrets, no other writes.
        for forbidden in [
            "INSERT INTO admins (name, created_at) VALUES ('evil@x.test', now())",
            "SELECT token_hash FROM api_tokens",
            "SELECT name FROM admins",
            "UPDATE accounts SET password_hash = 'x'",
            "UPDATE accounts SET enabled = true",
            "DELETE FROM aliases",
            "DELETE FROM quota_usage",
            "SELECT display_name FROM accounts",
            "SELECT * FROM audit_log",
            "CREATE TABLE mine (x int)",
        ]:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(forbidden)
