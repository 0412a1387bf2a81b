"""Validation of domain names and mail addresses (RFC 5321/5322 via email-validator)."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from zenmail.errors import InvalidInput


def normalise_address(raw: str, what: str = "address") -> str:
    """Lowercased `local@domain`, or InvalidInput naming what is wrong."""
    text = raw.strip()
    try:
        result = validate_email(text, check_deliverability=False, allow_smtputf8=False,
                                test_environment=True)
    except EmailNotValidError as exc:
        raise InvalidInput(f"{what} {text!r} is not a valid mail address: {exc}") from exc
    return f"{result.local_part}@{result.domain}".lower()


def normalise_domain(raw: str) -> str:
    text = raw.strip().lower().rstrip(".")
    try:
        validate_email(f"postmaster@{text}", check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        raise InvalidInput(f"domain {raw!r} is not a valid domain name: {exc}") from exc
    if "." not in text:
        raise InvalidInput(f"domain {raw!r} has no dot; give a full name such as example.com")
    return text


def split(address: str) -> tuple[str, str]:
    local, _, domain = address.rpartition("@")
    return local, domain
