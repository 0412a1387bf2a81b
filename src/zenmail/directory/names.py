"""How the directory's names are written: one normaliser per kind of key, and validation.

A *key* function turns any accepted spelling of a name into the form stored in the database
(what lookups compare with); it never decides whether a name is acceptable. A *valid_*
function does that, for names about to be created, and returns the key.
"""

from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email

from zenmail.errors import InvalidInput

_TENANT = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def tenant_key(raw: str) -> str:
    return raw.strip().lower()


def valid_tenant_name(raw: str) -> str:
    clean = tenant_key(raw)
    if not _TENANT.match(clean):
        raise InvalidInput(f"tenant name {raw!r} must be 1-63 letters, digits or hyphens, "
                           "not starting or ending with a hyphen (e.g. acme-corp)")
    return clean


def domain_key(raw: str) -> str:
    return raw.strip().lower().rstrip(".")


def valid_domain(raw: str) -> str:
    text = domain_key(raw)
    try:
        validate_email(f"postmaster@{text}", check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        raise InvalidInput(f"domain {raw!r} is not a valid domain name: {exc}") from exc
    if "." not in text:
        raise InvalidInput(f"domain {raw!r} has no dot; give a full name such as example.com")
    return text


def address_key(raw: str) -> str:
    return raw.strip().lower()


def valid_address(raw: str, what: str = "address") -> str:
    """The key of a new `local@domain`, or InvalidInput naming what is wrong."""
    text = raw.strip()
    try:
        result = validate_email(text, check_deliverability=False, allow_smtputf8=False,
                                test_environment=True)
    except EmailNotValidError as exc:
        raise InvalidInput(f"{what} {text!r} is not a valid mail address: {exc}") from exc
    return f"{result.local_part}@{result.domain}".lower()


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
