"""One message back from the vault on a real stack, at the edges of its fast path: restic
reads while the checks run, Dovecot's own quota enforcement stands in for a separate quota
query — so a message over quota must still be refused with the quota named and nothing
restored, and one already there must still be skipped."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import MailStack, _start
from tests.e2e.test_vault import expunge, state_of, zenmail

BIG = (b"From: big@example.org\r\nSubject: the big one\r\n\r\n"
       + b"\r\n".join(base64.b64encode(os.urandom(57)) for _ in range(20_000)) + b"\r\n")


@pytest.fixture(scope="module")
def rstack() -> Iterator[MailStack]:
    if os.geteuid() != 0:
        pytest.skip("the mail stack starts Postfix and Dovecot, which needs root")
    yield from _start("")


def test_one_message_over_quota_is_refused_and_nothing_restored(rstack: MailStack) -> None:
    st = rstack
    user = st.account("full", quota="10M")
    m = st.imap(user)
    try:
        assert m.append("INBOX", r"(\Seen)", None, BIG)[0] == "OK"
        assert m.append("INBOX", None, None, b"Subject: small\r\n\r\nhi\r\n")[0] == "OK"
    finally:
        m.logout()
    before = state_of(st, user, "INBOX")
    zenmail(st, "snapshot", "--account", user)
    big = next(r for r in before if r[0] == hashlib.sha256(BIG).hexdigest())
    assert expunge(st, user, "INBOX", big[0]) == 1
    # Expunged keeps it and counts it (docs/stack.md): 1 MB cannot take it back.
    zenmail(st, "account", "set-quota", user, "1M")
    [row] = json.loads(zenmail(st, "restore", "find", user, "--subject", "big one",
                               "--json").stdout)
    done = zenmail(st, "restore", "message", user, row["restore_id"], ok=False)
    assert done.code == 2
    assert "quota" in done.stderr and "nothing was restored" in done.stderr
    assert "set-quota" in done.stderr
    assert [r for r in state_of(st, user, "INBOX") if r[0] == big[0]] == []
    # Into a new folder: refused the same, and the folder is not left behind, empty.
    done = zenmail(st, "restore", "message", user, row["restore_id"], "--to-folder", "Back",
                   ok=False)
    assert done.code == 2 and "nothing was restored" in done.stderr
    m = st.imap(user)
    try:
        assert not any(b'"Back"' in line or line.endswith(b" Back") for line in m.list()[1])
    finally:
        m.logout()

    # With room again it comes back, byte for byte with its flag and date; twice is once.
    zenmail(st, "account", "set-quota", user, "10M")
    zenmail(st, "restore", "message", user, row["restore_id"])
    assert state_of(st, user, "INBOX") == before
    again = json.loads(zenmail(st, "restore", "message", user, row["restore_id"],
                               "--json").stdout)
    assert again["restored"] == 0 and again["skipped"] == 1
    assert state_of(st, user, "INBOX") == before
