"""The tenants' anti-phishing maps, written from the directory for rspamd's zenmail rules
(templates/rspamd/rspamd.local.lua). rspamd re-reads a map file when it changes, so no
reload is needed; the stack's rspamd rewrites them at `up` and every minute (its chore), so
new accounts and domains count within a minute.

    domains.map     "<domain> <tenant>"            every hosted domain
    people.map      "<display name> <tenant>"      names of the tenant's people (lowercase,
                                                   spaces as '_'): an outside sender using one
                                                   is impersonating them
    lookalikes.map  "<domain> <tenant>:<domain>"   domains one slip away from a hosted one:
                                                   one letter added, dropped, changed or
                                                   swapped, confusable characters (0/o, 1/l,
                                                   rn/m, Cyrillic letters in punycode), other
                                                   top-level domains
"""

from __future__ import annotations

import os
import string
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import select

from zenmail.db import Database
from zenmail.directory.models import Account, Domain, Tenant
from zenmail.filtering import dkim

LETTERS = string.ascii_lowercase + string.digits + "-"
CONFUSABLE = {"o": ["0"], "0": ["o"], "l": ["1", "i"], "i": ["1", "l"], "1": ["l", "i"],
              "m": ["rn"], "w": ["vv"], "e": ["3"], "a": ["4"], "s": ["5"], "g": ["q"],
              "d": ["cl"]}
CYRILLIC = {"a": "\u0430", "c": "\u0441", "e": "\u0435", "o": "\u043e", "p": "\u0440",
            "x": "\u0445", "y": "\u0443", "i": "\u0456"}
TLDS = ("com", "net", "org", "co", "io", "biz", "info", "us", "eu", "de", "fr", "uk", "co.uk",
        "app", "online", "site", "xyz", "email", "cc", "ltd", "company", "group", "test",
        "example")


def normal_name(name: str) -> str:
    """How a display name is compared: case, accents and spacing do not matter."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    words = "".join(c if c.isalnum() else " " for c in folded.lower()).split()
    return "_".join(words)


def lookalikes(domain: str) -> set[str]:
    """Domains a reader could take for `domain` (its IDNA form), `domain` itself excluded."""
    label, _, suffix = domain.partition(".")
    out: set[str] = set()

    def add(lab: str, suf: str = suffix) -> None:
        if lab and not lab.startswith("-") and not lab.endswith("-"):
            out.add(f"{lab}.{suf}")

    for i in range(len(label) + 1):
        for c in LETTERS:
            add(label[:i] + c + label[i:])                       # one letter added
    for i in range(len(label)):
        add(label[:i] + label[i + 1:])                           # one dropped
        for c in LETTERS:
            add(label[:i] + c + label[i + 1:])                   # one changed
        for alt in CONFUSABLE.get(label[i], []):
            add(label[:i] + alt + label[i + 1:])                 # one that looks the same
        if label[i] in CYRILLIC:
            spoof = label[:i] + CYRILLIC[label[i]] + label[i + 1:]
            add(spoof.encode("idna").decode())                   # a Cyrillic twin, punycode
    for i in range(len(label) - 1):
        add(label[:i] + label[i + 1] + label[i] + label[i + 2:])  # two swapped
    for pair, single in (("rn", "m"), ("vv", "w"), ("cl", "d")):
        add(label.replace(pair, single))
    for tld in TLDS:
        add(label, tld)                                           # another top-level domain
    for extra in (label + "-mail", label + "-secure", "secure-" + label):
        add(extra)
    out.discard(domain)
    return out


def _write(path: Path, lines: Iterable[str]) -> bool:
    content = "".join(f"{line}\n" for line in sorted(set(lines)))
    try:
        if path.read_text() == content:
            return False
    except OSError:
        pass
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(content)
    os.chmod(tmp, 0o644)
    tmp.replace(path)
    return True


def write(db: Database, maps_dir: Path) -> bool:
    """Write the maps from the directory; True if any changed."""
    with db.reading() as s:
        doms = [(d, t) for d, t in s.execute(
            select(Domain.name, Tenant.name).join(Tenant, Domain.tenant_id == Tenant.id))]
        people = [(n, t) for n, t in s.execute(
            select(Account.display_name, Tenant.name).join(
                Tenant, Account.tenant_id == Tenant.id).where(Account.display_name != ""))]
    maps_dir.mkdir(parents=True, exist_ok=True)
    hosted = {d for d, _ in doms}
    look = []
    for d, t in doms:
        look += [f"{x} {t}:{d}" for x in lookalikes(d) if x not in hosted]
    changed = _write(maps_dir / "domains.map", (f"{d} {t}" for d, t in doms))
    changed |= _write(maps_dir / "people.map",
                      (f"{normal_name(n)} {t}" for n, t in people if normal_name(n)))
    changed |= _write(maps_dir / "lookalikes.map", look)
    return changed


def refresh(db: Database, state_dir: Path, maps_dir: Path, algorithm: str = "rsa") -> None:
    """Everything rspamd needs from the directory: the maps and a DKIM key per domain (a
    new one of `algorithm`)."""
    write(db, maps_dir)
    with db.reading() as s:
        names = list(s.scalars(select(Domain.name)))
    dkim.ensure(state_dir, names, algorithm=algorithm)
