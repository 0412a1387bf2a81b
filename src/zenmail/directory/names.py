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
import string
from functools import lru_cache

import idna
from confusable_homoglyphs import categories, confusables
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


# Names no tenant may hold, with every name under them: special-use names that never reach
# anyone on the internet (RFC 6761 localhost and invalid, RFC 6762 local, RFC 7686 onion,
# RFC 9476 alt, ICANN's internal, the reverse-mapping arpa with RFC 8375 home.arpa) and the
# `localdomain` of `localhost.localdomain`. A tenant holding one would receive the mail
# daemons' own local mail, or look like them. `test` and `example` (RFC 6761, RFC 2606) stay
# allowed: demos and test set-ups use them, and they impersonate no one.
SPECIAL_USE = ("localhost", "localdomain", "invalid", "local", "onion", "alt", "internal",
               "arpa")


def valid_domain(raw: str) -> str:
    text = domain_key(raw)
    special = next((r for r in SPECIAL_USE if text == r or text.endswith("." + r)), None)
    if special is not None:
        raise InvalidInput(f"domain {raw.strip()!r} is a special-use name (.{special}) that "
                           "no one on the internet can send mail to; choose a real domain")
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


# ---------------------------------------------------------------- look-alike domains
#
# Unicode's confusables data (UTS #39, through the `confusable_homoglyphs` package) says
# which characters look like which. Two uses: a label that mixes scripts (Latin `acm` and a
# Cyrillic `е`) is the classic spoof and refused outright, except the mixes UTS #39 calls
# "highly restrictive" (Japanese, Chinese and Korean writing beside Latin); and a domain is
# compared with the other tenants' by its *look-alike key*, each character replaced by the
# ASCII letter or digit it imitates.

_NEUTRAL_SCRIPTS = {"COMMON", "INHERITED"}  # digits, hyphens, marks: part of any script
_SCRIPT_MIXES = ({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}, {"LATIN", "HAN", "BOPOMOFO"},
                 {"LATIN", "HAN", "HANGUL"})
_ASCII_LABEL_CHARS = set(string.ascii_lowercase + string.digits)


def scripts(label: str) -> set[str]:
    """The scripts a Unicode label is written in (`{"LATIN"}`), digits and hyphens aside."""
    return {str(s) for s in categories.unique_aliases(label)} - _NEUTRAL_SCRIPTS


def mixes_scripts(label: str) -> bool:
    """Whether a Unicode label mixes scripts beyond what one language writes together."""
    found = scripts(label)
    return len(found) > 1 and not any(found <= mix for mix in _SCRIPT_MIXES)


@lru_cache(maxsize=4096)
def _imitated(char: str) -> str:
    """The ASCII letter or digit `char` looks like (Cyrillic `е` -> `e`), else `char`."""
    if char.isascii():
        return char
    found = confusables.is_confusable(char, greedy=True) or []
    ascii_twins = {g["c"] for f in found for g in f["homoglyphs"]
                   if g["c"] in _ASCII_LABEL_CHARS}
    return ascii_twins.pop() if len(ascii_twins) == 1 else char


def lookalike_key(key: str) -> str:
    """The look-alike key of a stored domain: equal keys look the same to a reader
    (`xn--acm-...` for a Cyrillic-e `acmе.test` gives `acme.test`). ASCII names are their
    own key: `rn` and `m` stay apart, as the domain registries keep them."""
    return "".join(_imitated(c) for c in domain_display(key))


def address_key(raw: str) -> str:
    """The stored form of `local@domain`: local part lowercased, domain as `domain_key`."""
    local, at, domain = raw.strip().rpartition("@")
    if not at:
        return raw.strip().lower()
    return f"{local.lower()}@{domain_key(domain)}"


# The characters of a local part hosted here (accounts, aliases), lowercase: letters, digits
# and the punctuation real names and systems use (o'brien, first.last, a-b, x_y). Not `+`:
# it separates an address from its detail (bob+news@ is delivered to bob@, Postfix's and
# Dovecot's recipient_delimiter), so mail to an account `team+ops` would go to `team`.
# Dovecot is told to accept exactly these in user names (`auth_username_chars`, rendered by
# stack/daemons/dovecot.py), so every address the directory accepts can also log in and
# receive: the rest of RFC 5322's atext (`/`, `%`, `!`, `{`, ...) would either be refused by
# Dovecot or nest one mailbox's directory inside another's, and is refused here instead.
LOCAL_PART_CHARS = frozenset(string.ascii_lowercase + string.digits + ".-_'")
MAX_LOCAL_PART = 64  # RFC 5321 section 4.5.3.1.1


def valid_address(raw: str, what: str = "address", *, hosted: bool = False) -> str:
    """The key of a new `local@domain`, or InvalidInput naming what is wrong.

    `hosted`: the address is to be an account or an alias here, so its local part must be
    one Dovecot and Postfix both handle (LOCAL_PART_CHARS), not merely valid.
    """
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
    local = result.local_part.lower()
    if len(local) > MAX_LOCAL_PART:
        raise InvalidInput(f"{what} {text!r} has {len(local)} characters before the @; mail "
                           f"servers accept at most {MAX_LOCAL_PART} (RFC 5321)")
    odd = sorted(set(local) - LOCAL_PART_CHARS)
    if hosted and "+" in odd:
        raise InvalidInput(f"{what} {text!r} contains '+', which separates an address from "
                           "its detail here (bob+news@… is delivered to bob@…); leave it out")
    if hosted and odd:
        raise InvalidInput(f"{what} {text!r} contains {' '.join(odd)!r}, which the mail "
                           "servers here do not accept in a mailbox name; use letters, digits "
                           "and . - _ '")
    return f"{local}@{result.ascii_domain.lower()}"


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
    return valid_address(text, "alias address", hosted=True)


def domain_of(address: str) -> str:
    """The domain of a key made by one of the functions above (`@domain` included)."""
    return address.rpartition("@")[2]
