"""Editing what exists, seen by the daemons at once: an alias whose targets were replaced
delivers to the new targets only, with no reload (Postfix reads the directory itself)."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import MailStack
from zenmail.directory import aliases

pytestmark = pytest.mark.e2e


def test_alias_set_redirects_the_next_mail(stack: MailStack) -> None:
    old, new = stack.account("old"), stack.account("new")
    alias = f"desk-{old.split('@')[0]}@acme.test"
    aliases.add(stack.ctx, alias, [old])
    with stack.smtp() as c:
        c.sendmail("partner@example.org", [alias],
                   stack.message("partner@example.org", alias, "before the change"))
    stack.wait_messages(old, 1)

    aliases.set_targets(stack.ctx, alias, [new])
    with stack.smtp() as c:
        c.sendmail("partner@example.org", [alias],
                   stack.message("partner@example.org", alias, "after the change"))
    [got] = stack.wait_messages(new, 1)
    assert b"Subject: after the change" in got
    assert [b"Subject: before the change" in m for m in stack.messages(old)] == [True]
