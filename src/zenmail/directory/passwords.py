"""Password hashes that Dovecot verifies itself: `{ARGON2ID}$argon2id$v=19$…`."""

from __future__ import annotations

import secrets
import string

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from zenmail.errors import InvalidInput

MIN_PASSWORD_LENGTH = 12
SCHEME = "{ARGON2ID}"


class Hasher:
    """Argon2id with the cost from settings (19 MiB, 2 passes by default)."""

    def __init__(self, memory_kib: int = 19456, time_cost: int = 2) -> None:
        self._ph = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)

    def hash(self, password: str) -> str:
        check_password(password)
        return SCHEME + self._ph.hash(password)

    def verify(self, stored: str, password: str) -> bool:
        if not stored.startswith(SCHEME):
            return False
        try:
            return self._ph.verify(stored.removeprefix(SCHEME), password)
        except (VerificationError, InvalidHashError):
            return False


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"password has {len(password)} characters; use at least "
                           f"{MIN_PASSWORD_LENGTH} (a passphrase of a few words is easiest)")
    if password != password.strip() or "\n" in password:
        raise InvalidInput("password starts or ends with whitespace or has a line break; "
                           "remove it (with --password-stdin, only the first line is read)")


def check_imported_hash(stored: str) -> str:
    """Accept an existing hash (migration, benchmark) only in a scheme Dovecot verifies."""
    if not stored.startswith(("{ARGON2ID}", "{BLF-CRYPT}", "{SHA512-CRYPT}")):
        raise InvalidInput("password hash must start with {ARGON2ID}, {BLF-CRYPT} or "
                           "{SHA512-CRYPT}")
    return stored


URL_SAFE = string.ascii_letters + string.digits + "-_"  # base64url (RFC 4648 section 5)
GENERATED_LENGTH = 20


def generate_password() -> str:
    """A random password for demo accounts: 20 url-safe characters (≈120 bits), the first a
    letter or digit, so that no command line (swaks, curl -u) reads it as an option."""
    first = secrets.choice(string.ascii_letters + string.digits)
    return first + "".join(secrets.choice(URL_SAFE) for _ in range(GENERATED_LENGTH - 1))
