"""Input an attacker tries first, refused with a clear answer and never a 500: ids and counts
in one canonical spelling, strict JSON types, passwords and imported hashes that can work."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.unit.cli_fixtures import Invoke, zenmail_fixture  # noqa: F401  (a fixture)
from tests.unit.test_api_fixtures import (  # noqa: F401  (fixtures are found by name)
    error_of,
    make_client_fixture,
    root_fixture,
    server_fixture,
    token_for,
)
from zenmail.directory import admins, names
from zenmail.directory.context import Ctx
from zenmail.errors import InvalidInput, NotFound

BEYOND_64_BITS = "9223372036854775808"
HUGE = "9" * 5000


# ---------------------------------------------------------------- ids (issue 8, item 5)

@pytest.mark.parametrize("text, number", [("0", 0), ("1", 1), ("2147483647", 2**31 - 1),
                                          (BEYOND_64_BITS, 2**63)])
def test_canonical_decimals_are_read(text: str, number: int) -> None:
    assert names.decimal(text) == number


@pytest.mark.parametrize("text", ["", "01", "+1", "-1", " 1", "1 ", "1_0", "１", "٣", "1.0",
                                  "0x1", HUGE])
def test_other_spellings_of_numbers_are_not(text: str) -> None:
    assert names.decimal(text) is None


def test_a_token_id_beyond_what_a_row_can_have_is_not_found(ctx: Ctx) -> None:
    token = admins.create_token(ctx, token_for(ctx, "root@ops.test") and "root@ops.test")
    for missing in (2**31, 2**63, int(BEYOND_64_BITS) * 10, BEYOND_64_BITS, HUGE, 0, "0"):
        with pytest.raises(NotFound, match="no token"):
            admins.revoke_token(ctx, missing)
    for malformed in ("01", "１", " 1", "x"):
        with pytest.raises(InvalidInput, match="is not a number as"):
            admins.revoke_token(ctx, malformed)
    assert admins.revoke_token(ctx, str(token.info.id)).revoked


def test_bearer_tokens_have_one_spelling_and_bounded_ids(
        ctx: Ctx, make_client: Callable[[str | None], httpx.Client]) -> None:
    valid = token_for(ctx, "root@ops.test")
    ident, secret = valid.removeprefix("zm_").split("_", 1)
    assert make_client(valid).get("/api/v1/tenants").status_code == 200
    for token in (f"zm_{BEYOND_64_BITS}_x", f"zm_{HUGE}_x", f"zm_0{ident}_{secret}",
                  f"zm_+{ident}_{secret}", f"zm_{ident}.0_{secret}"):
        r = make_client(token).get("/api/v1/tenants")
        assert r.status_code == 401, (token[:40], r.text)
        assert r.json()["error"] == "unauthenticated"
    # Headers are bytes on the wire; the service sees what a client could decode.
    fullwidth = "".join(chr(0xFF10 + int(d)) for d in ident)
    assert admins.authenticate(ctx, f"zm_{fullwidth}_{secret}") is None
    assert admins.authenticate(ctx, valid) is not None


def test_revoking_an_impossible_token_id_is_404_not_500(root: httpx.Client) -> None:
    for ident in (BEYOND_64_BITS, HUGE, "2147483648"):
        status, code, message = error_of(root.delete(f"/api/v1/tokens/{ident}"))
        assert (status, code) == (404, "not_found"), message
    for ident in ("01", "１", "+1"):
        status, code, _ = error_of(root.delete(f"/api/v1/tokens/{ident}"))
        assert (status, code) == (422, "invalid_input"), ident


def test_the_cli_revokes_by_canonical_number_only(zenmail: Invoke) -> None:
    r = zenmail("token", "revoke", "99999999999999999999999")
    assert (r.code, r.stderr) == (2, "zenmail: error: no token 99999999999999999999999; "
                                     "`zenmail token list` shows them\n")
    r = zenmail("token", "revoke", "０1")
    assert r.code == 2 and "is not a number as" in r.stderr
    assert "internal error" not in r.stderr


# ---------------------------------------------------------------- JSON types (item 10)

@pytest.mark.parametrize("value", [True, False, "5", 5.0, "５", [5], {"n": 5}])
def test_counts_must_be_json_integers(root: httpx.Client, value: object) -> None:
    for r in (root.post("/api/v1/tenants", json={"name": "loose", "pool": "1G",
                                                  "max_accounts": value}),
              root.put("/api/v1/tenants/loose/max-accounts", json={"max_accounts": value})):
        status, code, message = error_of(r)
        assert (status, code) == (422, "invalid_input"), (value, message)
        assert "max_accounts" in message
    assert root.get("/api/v1/tenants/loose").status_code == 404  # nothing was created


@pytest.mark.parametrize("body", [{"name": 5, "pool": "1G"}, {"name": "x", "pool": "1G",
                                                              "max_accounts": 5, "extra": 1}])
def test_strings_are_not_made_from_numbers(root: httpx.Client, body: dict[str, object]) -> None:
    assert error_of(root.post("/api/v1/tenants", json=body))[:2] == (422, "invalid_input")


def test_a_json_integer_still_works(root: httpx.Client) -> None:
    r = root.post("/api/v1/tenants", json={"name": "strict", "pool": "1G", "max_accounts": 5})
    assert r.status_code == 201 and r.json()["max_accounts"] == 5


@pytest.mark.parametrize("value", ["９", "+5", "1_0", " 5", "05", "5.0", "-1"])
def test_the_cli_reads_counts_as_strictly(zenmail: Invoke, value: str) -> None:
    r = zenmail("tenant", "add", "loose", "--pool", "1G", "--max-accounts", value)
    assert r.code == 2 and "is not a whole number written in ASCII digits" in r.stderr, r.stderr
    r = zenmail("audit", "--limit", value)
    assert r.code == 2 and "is not a whole number" in r.stderr, r.stderr
    assert zenmail("tenant", "show", "loose").code == 2  # not created
    assert zenmail("tenant", "add", "loose", "--pool", "1G", "--max-accounts", "5").code == 0
    assert zenmail("tenant", "set-max-accounts", "loose", value).code == 2


# ---------------------------------------------------------------- local parts (item 6)

@pytest.mark.parametrize("local", ["o'brien", "first.last", "a-b", "x_y", "x" * 64, "7"])
def test_local_parts_that_work_end_to_end_are_accepted(local: str) -> None:
    # tests/e2e/test_odd_input.py sends mail to each and logs in as it.
    assert names.valid_address(f"{local}@acme.test", hosted=True) == f"{local}@acme.test"


@pytest.mark.parametrize("local, words", [
    ("x" * 65, "has 65 characters before the @; mail servers accept at most 64"),
    ("team+ops", "separates an address from its detail"),
    ("team/ops", "contains '/', which the mail servers here do not accept"),
    ("a!b", "contains '!'"), ("50%", "contains '%'"), ("{x}", "contains '{ }'"),
])
def test_local_parts_the_servers_cannot_serve_are_refused(local: str, words: str) -> None:
    with pytest.raises(InvalidInput) as err:
        names.valid_address(f"{local}@acme.test", hosted=True)
    assert words in str(err.value)


def test_outside_targets_keep_every_legal_local_part() -> None:
    # An alias may forward to team/ops@elsewhere: the other side decides what it accepts.
    assert names.valid_address("team/ops@elsewhere.test") == "team/ops@elsewhere.test"
    with pytest.raises(InvalidInput, match="at most 64"):
        names.valid_address(f"{'x' * 65}@elsewhere.test")


def test_dovecot_is_told_the_same_characters() -> None:
    from zenmail.stack.daemons.dovecot import _username_chars
    chars = _username_chars()
    assert chars.startswith('"') and chars.endswith('"')
    assert set(chars.strip('"')) == (names.LOCAL_PART_CHARS
                                     | {c.upper() for c in names.LOCAL_PART_CHARS} | {"@"})
