"""Calendar and contact items as text: their UIDs, a stable digest, and splitting a whole
.ics or .vcf file into the items a DAV collection holds (one UID each)."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import vobject  # type: ignore[import-untyped]

from zenmail.errors import InvalidInput

_SAFE_NAME = re.compile(r"[A-Za-z0-9@._-]{1,120}")
CALENDAR_COMPONENTS = ("VEVENT", "VTODO", "VJOURNAL")


def unfold(text: str) -> str:
    return re.sub(r"\r?\n[ \t]", "", text)


def uid_of(text: str) -> str | None:
    """The first UID property of an item (after unfolding), or None."""
    m = re.search(r"^UID(?:;[^:\r\n]*)?:(.*?)\r?$", unfold(text), re.MULTILINE)
    return m.group(1).strip() if m and m.group(1).strip() else None


def digest(text: str) -> str:
    """A digest that ignores line-ending and trailing-blank differences."""
    lines = [line.rstrip() for line in unfold(text).replace("\r\n", "\n").split("\n")]
    return hashlib.sha256("\n".join(line for line in lines if line).encode()).hexdigest()


def file_name(key: str, ext: str) -> str:
    """The name of the item keyed `key` (its UID) inside a collection: the UID itself when
    it is a safe path segment, else its digest."""
    if _SAFE_NAME.fullmatch(key) and not key.startswith("."):
        return f"{key}.{ext}"
    return hashlib.sha256(key.encode()).hexdigest()[:40] + f".{ext}"


def _parse(text: str, what: str) -> list[Any]:
    try:
        return list(vobject.readComponents(text))
    except Exception as exc:  # vobject raises ParseError and assorted ValueErrors
        raise InvalidInput(f"{what} is not valid ({exc}); export it again from its "
                           "program") from exc


def split_calendar(text: str, what: str = "the calendar") -> list[tuple[str, str]]:
    """(uid, one-item VCALENDAR) per UID of a calendar file: the events, tasks and journal
    entries with that UID (a recurring event's exceptions stay together), with the time
    zones of the file."""
    out: list[tuple[str, str]] = []
    for cal in _parse(text, what):
        if cal.name != "VCALENDAR":
            raise InvalidInput(f"{what} holds a {cal.name}, not a VCALENDAR")
        zones = [c for c in cal.getChildren() if c.name == "VTIMEZONE"]
        groups: dict[str, list[Any]] = {}
        for comp in cal.getChildren():
            if comp.name not in CALENDAR_COMPONENTS:
                continue
            uid = comp.uid.value if hasattr(comp, "uid") else None
            if not uid:
                uid = hashlib.sha256(comp.serialize().encode()).hexdigest()[:32]
                comp.add("uid").value = uid
            groups.setdefault(uid, []).append(comp)
        for uid, comps in groups.items():
            item = vobject.iCalendar()
            for zone in zones:
                item.add(zone)
            for comp in comps:
                item.add(comp)
            out.append((uid, item.serialize()))
    return out


def split_vcards(text: str, what: str = "the address book") -> list[tuple[str, str]]:
    """(uid, vCard) per contact of a .vcf file; a contact without UID gets its digest."""
    out = []
    for card in _parse(text, what):
        if card.name != "VCARD":
            raise InvalidInput(f"{what} holds a {card.name}, not a VCARD")
        if not hasattr(card, "uid") or not card.uid.value:
            card.add("uid").value = hashlib.sha256(card.serialize().encode()).hexdigest()[:32]
        out.append((card.uid.value, card.serialize()))
    return out
