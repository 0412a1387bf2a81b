"""Importing many accounts: all or nothing, row-numbered errors, pool checked for the batch."""

from pathlib import Path

import pytest

from zenmail.directory import accounts, auditlog, bulk, domains, quota, tenants
from zenmail.directory.bulk import NewAccount
from zenmail.errors import Conflict, InvalidInput, NotFound, QuotaExceeded

# A well-formed hash (`doveadm pw -s BLF-CRYPT`): imports check the format, not the prefix.
BLF_CRYPT = "{BLF-CRYPT}$2y$05$GITF2T90nyq8PypOf4eYvukyaW/63hARz3n6NhKwqXYdKllaQYzAC"

MiB = 1024 ** 2
PW = "correct horse battery"


@pytest.fixture
def acme(ctx):
    tenants.add(ctx, "acme", "1G", max_accounts=50)
    domains.add(ctx, "acme", "acme.test")
    return ctx


def test_import_creates_all_with_audit(acme):
    rows = [NewAccount(f"u{i}@acme.test", "10M", f"User {i}", password=PW) for i in range(20)]
    seen = []
    assert bulk.add_many(acme, rows, progress=lambda st, d, t: seen.append((st, d, t))) == 20
    pool = quota.pool(acme, "acme")
    assert pool.allocated_bytes == 200 * MiB and len(pool.accounts) == 20
    assert accounts.show(acme, "u7@acme.test").display_name == "User 7"
    assert ("hashing passwords", 20, 20) in seen and ("creating accounts", 20, 20) in seen
    assert sum(e.action == "account.add" for e in auditlog.entries(acme, limit=100)) == 20


@pytest.mark.parametrize("rows,error,fragment", [
    ([NewAccount("a@acme.test", "10M", password=PW), NewAccount("bad", "10M", password=PW)],
     InvalidInput, "row 2:"),
    ([NewAccount("a@acme.test", "10M", password="short")], InvalidInput, "row 1: password"),
    ([NewAccount("a@acme.test", "10M", password=PW), NewAccount("A@acme.test", "1M",
                                                                password=PW)],
     Conflict, "more than once"),
    ([NewAccount("a@acme.test", "600M", password=PW), NewAccount("b@acme.test", "600M",
                                                                 password=PW)],
     QuotaExceeded, "short by 177 MiB"),
    ([NewAccount("a@nowhere.test", "1M", password=PW)], NotFound, "no domain 'nowhere.test'"),
    ([NewAccount("taken@acme.test", "1M", password=PW)], Conflict, "already exists"),
    ([NewAccount(f"x{i}@acme.test", "1M", password_hash=BLF_CRYPT)
      for i in range(50)], QuotaExceeded, "limit of 50 accounts; it has 1 and this adds 50"),
    ([], InvalidInput, "no rows"),
])
def test_import_refuses_whole_batch(acme, rows, error, fragment):
    accounts.add(acme, "taken@acme.test", password=PW, quota="1M")
    with pytest.raises(error) as err:
        bulk.add_many(acme, rows)
    assert fragment in str(err.value)
    assert [a.address for a in accounts.list_all(acme)] == ["taken@acme.test"]


def test_read_csv(tmp_path: Path):
    f = tmp_path / "staff.csv"
    f.write_text("address,quota,display_name,password\nann@acme.test,2G,Ann,"
                 "correct horse battery\nben@acme.test,,Ben,another long one\n")
    rows = bulk.read_csv(f)
    assert [r.address for r in rows] == ["ann@acme.test", "ben@acme.test"]
    assert rows[1].quota == "1G" and rows[0].password == "correct horse battery"
    f.write_text("mail,quota\nann@acme.test,2G\n")
    with pytest.raises(InvalidInput, match="header must name 'address'"):
        bulk.read_csv(f)
    with pytest.raises(InvalidInput, match="cannot read"):
        bulk.read_csv(tmp_path / "missing.csv")
