"""The migration's pure parts: folder mapping, UID sets, the report's seal, source URLs."""

from __future__ import annotations

import pytest

from zenmail.errors import InvalidInput
from zenmail.migration.engine import _chunks, _uidset, clean_flags
from zenmail.migration.folders import SourceFolder, skipped, target_name
from zenmail.migration.report import check_seal, seal, to_html
from zenmail.migration.source import parse_url
from zenmail.migration.target import uid_set


@pytest.mark.parametrize(("name", "sep", "flags", "prefix", "want"), [
    ("INBOX", "/", (), "", "INBOX"),
    ("Sent Items", "/", (), "", "Sent"),
    ("Gesendete Objekte", "/", (), "", "Sent"),
    ("Éléments envoyés", "/", (), "", "Sent"),
    ("INBOX.Papierkorb", ".", (), "INBOX.", "Trash"),
    ("Corbeille", "/", (), "", "Trash"),
    ("Courrier indésirable", "/", (), "", "Junk"),
    ("Entwürfe", "/", (), "", "Drafts"),
    ("Brouillons", "/", (), "", "Drafts"),
    ("Archiv", "/", (), "", "Archive"),
    ("[Gmail]/Sent Mail", "/", (b"\\Sent",), "", "Sent"),
    ("Whatever", "/", (b"\\Junk",), "", "Junk"),          # SPECIAL-USE wins over the name
    ("Projects/Sent", "/", (), "", "Projects/Sent"),     # only the top level is special
    ("INBOX.Projekte.2024", ".", (), "INBOX.", "Projekte/2024"),
    ("a/b.x", ".", (), "", "a_b/x"),
    ("INBOX/Sub", "/", (), "", "INBOX/Sub"),
    ("Flat", None, (), "", "Flat"),
])
def test_folder_names_map(name: str, sep: str | None, flags: tuple[bytes, ...], prefix: str,
                          want: str) -> None:
    assert target_name(SourceFolder(name, sep, flags), prefix) == want


def test_views_and_containers_are_skipped() -> None:
    assert skipped(SourceFolder("[Gmail]/All Mail", "/", (b"\\All",)))
    assert skipped(SourceFolder("[Gmail]", "/", (b"\\Noselect",)))
    assert not skipped(SourceFolder("INBOX", "/", ()))


def test_uid_sets_both_ways() -> None:
    assert _uidset([1, 2, 3, 7, 9, 10]) == "1:3,7,9:10"
    assert uid_set(b"1:3,7,9:10") == [1, 2, 3, 7, 9, 10]


def test_batches_respect_count_and_bytes() -> None:
    sizes = {1: 10, 2: 10, 3: 100, 4: 10}
    assert list(_chunks([1, 2, 3, 4], sizes, 2, 50)) == [[1, 2], [3], [4]]


def test_recent_is_not_copied() -> None:
    assert clean_flags((b"\\Seen", b"\\Recent", b"$Label1")) == (b"$Label1", b"\\Seen")


def test_the_seal_detects_an_edit() -> None:
    report = seal({"verdict": "messages missing", "missing": [{"subject": "x"}]})
    assert check_seal(report)
    assert not check_seal({**report, "verdict": "zero loss"})
    assert not check_seal({**report, "missing": []})
    assert "messages missing" in to_html([report], "t")


def test_source_urls() -> None:
    spec = parse_url("imap://alice%40old.example@old.example:143", "starttls")
    assert (spec.user, spec.host, spec.port) == ("alice@old.example", "old.example", 143)
    assert parse_url("imap://a@h", "tls").port == 993
    with pytest.raises(InvalidInput, match="password-stdin"):
        parse_url("imap://a:secret@h:143", "none")
    with pytest.raises(InvalidInput):
        parse_url("http://a@h", "none")
