"""Storage sizes as people write them: `500M`, `2G`, `2GB`, `1.5 GiB`, `1048576`.

Units are binary, as Dovecot reads them (`M` = `MB` = `MiB` = 2**20 bytes), so a quota typed
into zenmail means exactly what the mail server enforces. Anything that could be read two
ways is refused rather than guessed: a decimal comma, `Gb` (bits?), a fraction of a byte.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from zenmail.errors import InvalidInput

_UNITS = {"": 0, "K": 1, "M": 2, "G": 3, "T": 4, "P": 5}
_PATTERN = re.compile(r"^(?P<num>[0-9]+(?:\.[0-9]+)?)\s*(?P<prefix>[KMGTP]?)(?P<suffix>I?B?)$")
_EXAMPLES = "write it like 500M, 2G, 2GB, 1.5GiB or a number of bytes"
# The directory stores sizes in signed 64-bit columns; a larger value would fail in the
# database driver instead of with a message.
MAX_SIZE = 2**63 - 1


def parse_size(text: str | int) -> int:
    """Return the number of bytes `text` stands for, or raise InvalidInput saying why."""
    if isinstance(text, bool):
        raise InvalidInput(f"size {text!r} is not a size; {_EXAMPLES}")
    if isinstance(text, int):
        if text < 0:
            raise InvalidInput(f"size {text} is negative; sizes must be 0 or more")
        return _bounded(text, str(text))
    raw = str(text).strip()
    if not raw:
        raise InvalidInput(f"size is empty; {_EXAMPLES}")
    if raw.startswith("-"):
        raise InvalidInput(f"size {raw!r} is negative; sizes must be 0 or more")
    if "," in raw:
        raise InvalidInput(f"size {raw!r} has a comma, which could be a decimal or a thousands "
                           "separator; use a dot for decimals (1.5G) and no separators")
    if re.search(r"[KMGTPkmgtp]i?b$", raw) and not raw.endswith("B"):
        raise InvalidInput(f"size {raw!r} ends in a lowercase 'b', which could mean bits; "
                           f"write bytes with an uppercase B ({raw[:-1]}B) or no B at all")
    match = _PATTERN.match(raw.upper())
    if not match:
        raise InvalidInput(f"size {raw!r} is not understood; {_EXAMPLES}")
    prefix, suffix = match["prefix"], match["suffix"]
    if suffix == "I":  # "1.5Gi": an IEC prefix without its B
        suffix = "IB"
    if not prefix and suffix in ("IB",):
        raise InvalidInput(f"size {raw!r} has no unit prefix before 'iB'; {_EXAMPLES}")
    try:
        number = Decimal(match["num"])
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only decimals
        raise InvalidInput(f"size {raw!r} is not a number; {_EXAMPLES}") from exc
    if not prefix and number != number.to_integral_value():
        raise InvalidInput(f"size {raw!r} is a fraction of a byte; add a unit (1.5G) "
                           "or give whole bytes")
    value = number * (1024 ** _UNITS[prefix])
    return _bounded(int(value.to_integral_value()), raw)


def _bounded(n: int, raw: str) -> int:
    if n > MAX_SIZE:
        raise InvalidInput(f"size {raw!r} is larger than the 8 EiB zenmail can store; "
                           "check the unit (G, T, P)")
    return n


def format_size(n: int) -> str:
    """A short, exact-enough human form: 1.5 GiB, 500 MiB, 12 B."""
    if n < 1024:
        return f"{n} B"
    for unit, exp in (("PiB", 5), ("TiB", 4), ("GiB", 3), ("MiB", 2), ("KiB", 1)):
        scale = 1024 ** exp
        if n >= scale:
            value = n / scale
            text = f"{value:.2f}".rstrip("0").rstrip(".")
            return f"{text} {unit}"
    return f"{n} B"  # pragma: no cover
