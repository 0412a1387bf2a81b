"""How the directory's names are written: one normaliser per kind of key, and validation.

A *key* function turns any accepted spelling of a name into the form stored in the database
(what lookups compare with); it never decides whether a name is acceptable. A *valid_*
function does that, for names about to be created, and returns the key. A *display*
function gives the form people read.

Domains are stored in their ASCII form (IDNA 2008 A-labels, UTS #46 mapping, lowercase):
that is what Postfix and Dovecot see on the wire, since SMTPUTF8 is off, and what they look
up in the database. Both `bücher.example` and `xn--bcher-kva.example` are accepted as input
and mean the same domain; people are shown `bücher.example`. Local parts must be ASCII, for
the same reason.
"""

from __future__ import annotations

import re

import idna
from email_validator import EmailNotValidError, validate_email

from zenmail.errors import InvalidInput, NotFound

_TENANT = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# A whole number as people and programs write it: ASCII digits, no sign, no leading zero.
# Python's int() also takes " 12", "+12", "1_2" and fullwidth "１２", so one number would
# have many spellings (`zm_01_…` and `zm_1_…` the same token); those are refused instead.
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_DECIMAL_DIGITS = 20  # more than any id or count here; int() of 5,000 digits is not even tried
MAX_ROW_ID = 2**31 - 1  # row ids are 32-bit INTEGER columns on PostgreSQL


def decimal(text: str) -> int | None:
    """`text` as a whole number if written canonically (see `_DECIMAL`), else None."""
    if len(text) > _DECIMAL_DIGITS or not _DECIMAL.fullmatch(text):
        return None
    return int(text)


def token_key(raw: int | str) -> int:
    """A token's id, from its number (`12`) or an int; the one spelling, in range.

    A malformed number is InvalidInput; one no token can have (0, beyond 32 bits) is the
    NotFound of a missing token, so it never reaches the database driver.
    """
    shown = str(raw) if len(str(raw)) <= 40 else f"{str(raw)[:40]}…"  # not 5,000 digits
    if isinstance(raw, int):
        number = raw
    elif _DECIMAL.fullmatch(raw):
        number = int(raw) if len(raw) <= _DECIMAL_DIGITS else MAX_ROW_ID + 1
    else:
        raise InvalidInput(f"token id {shown!r} is not a number as `zenmail token list` "
                           "shows the ids (digits only, no leading zero)")
    if not 1 <= number <= MAX_ROW_ID:
        raise NotFound(f"no token {shown}; `zenmail token list` shows them")
    return number


def tenant_key(raw: str) -> str:
    return raw.strip().lower()


def valid_tenant_name(raw: str) -> str:
    clean = tenant_key(raw)
    if not _TENANT.match(clean):
        raise InvalidInput(f"tenant name {raw!r} must be 1-63 letters, digits or hyphens, "
                           "not starting or ending with a hyphen (e.g. acme-corp)")
    return clean


def domain_key(raw: str) -> str:
    """The stored form of a domain, from its Unicode or its ASCII spelling."""
    text = raw.strip().rstrip(".")
    if text.isascii():
        return text.lower()
    try:
        return idna.encode(text, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise InvalidInput(f"domain {raw.strip()!r} is not a valid internationalised domain "
                           f"name ({exc}); check its spelling") from exc


def valid_domain(raw: str) -> str:
    text = domain_key(raw)
    try:
        # Checks the A-label form too: an `xn--` label must decode to a valid name.
        validate_email(f"postmaster@{text}", check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        raise InvalidInput(f"domain {raw.strip()!r} is not a valid domain name: {exc}") from exc
    if "." not in text:
        raise InvalidInput(f"domain {raw!r} has no dot; give a full name such as example.com")
    return text


def domain_display(key: str) -> str:
    """The Unicode form of a stored domain, for people (the key itself if it has none)."""
    if "xn--" not in key:
        return key
    try:
        return idna.decode(key)
    except idna.IDNAError:
        return key  # stored before it was checked; the ASCII form is still the truth


def address_key(raw: str) -> str:
    """The stored form of `local@domain`: local part lowercased, domain as `domain_key`."""
    local, at, domain = raw.strip().rpartition("@")
    if not at:
        return raw.strip().lower()
    return f"{local.lower()}@{domain_key(domain)}"


def valid_address(raw: str, what: str = "address") -> str:
    """The key of a new `local@domain`, or InvalidInput naming what is wrong."""
    text = raw.strip()
    local, at, _ = text.rpartition("@")
    if at and not local.isascii():
        raise InvalidInput(f"{what} {text!r} has non-ASCII characters before the @; the mail "
                           "servers here do not offer SMTPUTF8, so it could never receive "
                           "mail. Use an ASCII local part (the domain may be Unicode)")
    try:
        result = validate_email(text, check_deliverability=False, allow_smtputf8=False,
                                test_environment=True)
    except EmailNotValidError as exc:
        raise InvalidInput(f"{what} {text!r} is not a valid mail address: {exc}") from exc
    return f"{result.local_part.lower()}@{result.ascii_domain.lower()}"


def address_display(key: str) -> str:
    """`local@domain` (or `@domain`) with the domain in Unicode, for people."""
    local, at, domain = key.rpartition("@")
    return f"{local}@{domain_display(domain)}" if at else domain_display(key)


def alias_key(raw: str) -> str:
    """An alias is an address, or `@domain` for the domain's catch-all."""
    text = raw.strip()
    return "@" + domain_key(text[1:]) if text.startswith("@") else address_key(text)


def valid_alias_source(raw: str) -> str:
    text = raw.strip()
    if text.startswith("@"):
        return "@" + valid_domain(text[1:])
    return valid_address(text, "alias address")


def domain_of(address: str) -> str:
    """The domain of a key made by one of the functions above (`@domain` included)."""
    return address.rpartition("@")[2]
