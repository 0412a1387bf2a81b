"""Password hashes that Dovecot verifies itself: `{ARGON2ID}$argon2id$v=19$…` for the
passwords zenmail sets, and the crypt(5) hashes an account may keep from its old system."""

from __future__ import annotations

import base64
import binascii
import ctypes
import ctypes.util
import functools
import hmac
import re
import secrets
import string
import threading

from argon2 import PasswordHasher, Type, extract_parameters
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
        """Whether `password` matches `stored`, for every scheme an account may hold — what
        Dovecot decides at an IMAP or SMTP login, so the API and CalDAV agree with it."""
        if stored.startswith(CRYPT_SCHEMES):
            return crypt_matches(stored.partition("}")[2], password)
        if not stored.startswith(SCHEME):
            return False
        try:
            return self._ph.verify(stored.removeprefix(SCHEME), password)
        except (VerificationError, InvalidHashError):
            return False


# Hashes imported from another system ({BLF-CRYPT}, {SHA512-CRYPT}) are checked by the
# system's crypt(3), libxcrypt on Debian, as Dovecot checks them; Python's own `crypt` module
# is deprecated (gone in 3.13).
CRYPT_SCHEMES = ("{BLF-CRYPT}", "{SHA512-CRYPT}")
_crypt_lock = threading.Lock()  # crypt(3) answers in a static buffer


@functools.lru_cache(maxsize=1)
def _libcrypt() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("crypt")
    if name is None:
        return None
    lib = ctypes.CDLL(name)
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    return lib


def crypt_matches(stored: str, password: str) -> bool:
    lib = _libcrypt()
    if lib is None or "\0" in password:
        return False
    with _crypt_lock:
        out: bytes | None = lib.crypt(password.encode(), stored.encode())
    return out is not None and hmac.compare_digest(out, stored.encode())


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"password has {len(password)} characters; use at least "
                           f"{MIN_PASSWORD_LENGTH} (a passphrase of a few words is easiest)")
    if password != password.strip() or "\n" in password or "\r" in password:
        raise InvalidInput("password starts or ends with whitespace or has a line break; "
                           "remove it (with --password-stdin, only the first line is read)")
    if "\0" in password:
        # SASL PLAIN separates user and password with NUL, and IMAP strings cannot carry one:
        # such a password could be stored but never used to log in.
        raise InvalidInput("password contains a NUL character, which no mail client can "
                           "send; choose another")


# The crypt(5) formats Dovecot verifies, as they are written (salt and hash in crypt's
# base-64 alphabet); a hash cut short or garbled would lock the account out at the first
# login instead of being refused at the import.
_BLF_CRYPT = re.compile(r"\$2[abxy]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")
_SHA512_CRYPT = re.compile(r"\$6\$(rounds=[1-9][0-9]{3,8}\$)?[./A-Za-z0-9]{1,16}\$"
                           r"[./A-Za-z0-9]{86}")
_ARGON2ID = re.compile(r"\$argon2id\$v=19\$m=[1-9][0-9]*,t=[1-9][0-9]*,p=[1-9][0-9]*"
                       r"\$[A-Za-z0-9+/]{11,}\$[A-Za-z0-9+/]{16,}")
_SCHEMES = {
    "{ARGON2ID}": "$argon2id$v=19$m=…,t=…,p=…$salt$hash",
    "{BLF-CRYPT}": "$2y$ (or $2a$/$2b$), a cost of 04-31, then 53 characters",
    "{SHA512-CRYPT}": "$6$, an optional rounds=N$, a salt of up to 16 characters, $, 86 "
                      "characters",
}


def _well_formed(scheme: str, rest: str) -> bool:
    if scheme == "{BLF-CRYPT}":
        return _BLF_CRYPT.fullmatch(rest) is not None
    if scheme == "{SHA512-CRYPT}":
        return _SHA512_CRYPT.fullmatch(rest) is not None
    if _ARGON2ID.fullmatch(rest) is None or not all(map(_canonical_b64, rest.split("$")[-2:])):
        return False
    try:
        return extract_parameters(rest).type is Type.ID
    except InvalidHashError:
        return False


def _canonical_b64(text: str) -> bool:
    """Unpadded base 64 that decodes and encodes back to itself (a cut-off one does not)."""
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except binascii.Error:
        return False
    return base64.b64encode(raw).decode().rstrip("=") == text


def check_imported_hash(stored: str) -> str:
    """Accept an existing hash (migration, benchmark) only if it is a well-formed hash of a
    scheme Dovecot verifies, so an account never gets a password nobody can log in with."""
    scheme = next((s for s in _SCHEMES if stored.startswith(s)), None)
    if scheme is None:
        raise InvalidInput("password hash must start with {ARGON2ID}, {BLF-CRYPT} or "
                           "{SHA512-CRYPT}")
    if not _well_formed(scheme, stored.removeprefix(scheme)):
        raise InvalidInput(f"password hash is not a well-formed {scheme} hash (expected "
                           f"{scheme}{_SCHEMES[scheme]}); export it unchanged from the old "
                           "system, or set a new password instead")
    return stored


URL_SAFE = string.ascii_letters + string.digits + "-_"  # base64url (RFC 4648 section 5)
GENERATED_LENGTH = 20


def generate_password() -> str:
    """A random password for demo accounts: 20 url-safe characters (≈120 bits), the first a
    letter or digit, so that no command line (swaks, curl -u) reads it as an option."""
    first = secrets.choice(string.ascii_letters + string.digits)
    return first + "".join(secrets.choice(URL_SAFE) for _ in range(GENERATED_LENGTH - 1))
