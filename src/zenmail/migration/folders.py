"""Where each source folder goes at the target: one pure function per decision.

The source names arrive decoded from modified UTF-7 (imapclient does that), with the
source's own hierarchy separator and personal-namespace prefix (Courier and Cyrus put every
folder under "INBOX."). The target is zenmail's Dovecot: separator "/", special folders
named Sent, Drafts, Trash, Junk, Archive. A special folder is recognised by its SPECIAL-USE
attribute where the source gives one, else by the usual names in English, German and
French — but only at the top level (or under Gmail's "[Gmail]"), so "Projects/Sent" stays
a project folder.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

TARGET_SEPARATOR = "/"

SPECIAL_USE = {b"\\sent": "Sent", b"\\drafts": "Drafts", b"\\trash": "Trash",
               b"\\junk": "Junk", b"\\archive": "Archive"}

# Lowercased and without accents (see _fold): what providers and clients call them.
_NAMES = {
    "Sent": ["sent", "sent items", "sent messages", "sent mail", "sent-mail", "gesendet",
             "gesendete objekte", "gesendete elemente", "gesendete nachrichten", "envoyes",
             "elements envoyes", "messages envoyes", "courrier envoye"],
    "Drafts": ["drafts", "draft", "entwurfe", "entwuerfe", "brouillons", "brouillon"],
    "Trash": ["trash", "deleted items", "deleted messages", "bin", "papierkorb",
              "geloschte objekte", "geloschte elemente", "corbeille", "elements supprimes"],
    "Junk": ["junk", "spam", "junk e-mail", "junk email", "junk-e-mail", "bulk mail",
             "unerwunscht", "courrier indesirable", "indesirables", "pourriel"],
    "Archive": ["archive", "archives", "archiv"],
}
_BY_NAME = {name: special for special, names in _NAMES.items() for name in names}

# Folders that are views of other folders, not mail of their own: copying them would copy
# every message twice (Gmail's All Mail, Important, Starred; Dovecot's virtual folders).
SKIP_USES = {b"\\all", b"\\flagged", b"\\important"}


def _fold(name: str) -> str:
    """Lowercase, without accents: "Éléments envoyés" → "elements envoyes"."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).strip()


@dataclass(frozen=True)
class SourceFolder:
    name: str               # as the source names it (decoded), with its separator
    separator: str | None   # None: a flat namespace
    flags: tuple[bytes, ...]


def split(folder: SourceFolder, prefix: str) -> list[str]:
    """The folder's path as parts, without the personal-namespace prefix."""
    name = folder.name
    if prefix and name.lower().startswith(prefix.lower()) and len(name) > len(prefix):
        name = name[len(prefix):]
    if not folder.separator:
        return [name]
    return name.split(folder.separator)


def special(folder: SourceFolder, parts: list[str]) -> str | None:
    """The target's special folder this one is, if any."""
    for flag in folder.flags:
        if flag.lower() in SPECIAL_USE:
            return SPECIAL_USE[flag.lower()]
    top = parts[1:] if len(parts) == 2 and parts[0].lower() == "[gmail]" else parts
    if len(top) != 1:
        return None
    return _BY_NAME.get(_fold(top[0]))


def skipped(folder: SourceFolder) -> bool:
    flags = {f.lower() for f in folder.flags}
    return bool(flags & SKIP_USES) or b"\\noselect" in flags or b"\\nonexistent" in flags


def target_name(folder: SourceFolder, prefix: str = "") -> str:
    """Where the folder's messages go at the target ("INBOX" stays INBOX)."""
    parts = split(folder, prefix)
    if len(parts) == 1 and parts[0].upper() == "INBOX":
        return "INBOX"
    mapped = special(folder, parts)
    if mapped:
        return mapped
    # A part holding the target's separator would become a level of its own.
    clean = [p.replace(TARGET_SEPARATOR, "_") or "_" for p in parts]
    if clean[0].upper() == "INBOX" and len(clean) > 1:
        clean[0] = "INBOX"  # INBOX's children stay its children
    return TARGET_SEPARATOR.join(clean)
