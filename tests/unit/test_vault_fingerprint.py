"""The fingerprint that lets a snapshot skip an unchanged account: every change Dovecot or
Radicale makes shows in it, and a fingerprint too fresh to be trusted is none."""

from __future__ import annotations

import os
import time
from pathlib import Path

from zenmail.vault.snapshot import RACY_SECONDS, fingerprint


def _age(root: Path, seconds: float = 60) -> None:
    """Every directory and file under root as if last changed `seconds` ago."""
    when = time.time() - seconds
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            os.utime(os.path.join(dirpath, f), (when, when))
        os.utime(dirpath, (when, when))


def _maildir(tmp_path: Path) -> tuple[Path, Path]:
    md = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp", ".Sent/cur", ".Sent/new"):
        (md / sub).mkdir(parents=True)
    (md / "cur" / "1.M1P1.h,S=5:2,S").write_bytes(b"hello")
    (md / "dovecot-uidlist").write_text("3 V1 N2\n1 1.M1P1.h\n")
    dav = tmp_path / "dav" / "a@b.test"
    (dav / "calendar").mkdir(parents=True)
    (dav / "calendar" / "e.ics").write_text("BEGIN:VCALENDAR\nEND:VCALENDAR\n")
    _age(tmp_path)
    return md, dav


def test_unchanged_is_the_same_and_every_change_shows(tmp_path: Path) -> None:
    md, dav = _maildir(tmp_path)
    first = fingerprint(md, time.time(), dav)
    assert first is not None and fingerprint(md, time.time(), dav) == first
    changes = [
        lambda: os.rename(md / "cur" / "1.M1P1.h,S=5:2,S", md / "cur" / "1.M1P1.h,S=5:2,FS"),
        lambda: (md / "new" / "2.M2P1.h,S=3").write_bytes(b"new"),            # delivery
        lambda: os.rename(md / "new" / "2.M2P1.h,S=3", md / ".Sent" / "cur" / "2.M2P1.h,S=3:2,"),
        lambda: (md / ".Archive").mkdir(),                                     # new folder
        lambda: (dav / "calendar" / "f.ics").write_text("x"),                 # new event
        lambda: (md / "cur" / "1.M1P1.h,S=5:2,FS").unlink(),                   # expunge
    ]
    seen = {first}
    for change in changes:
        change()
        # As seen later, past the racy window (the change itself is not re-dated).
        now = fingerprint(md, time.time() + RACY_SECONDS + 1, dav)
        assert now is not None and now not in seen, change
        seen.add(now)


def test_a_fresh_change_is_not_trusted(tmp_path: Path) -> None:
    md, dav = _maildir(tmp_path)
    (md / "new" / "3.M3P1.h,S=1").write_bytes(b"x")  # just now: the directory is fresh
    assert fingerprint(md, time.time(), dav) is None
    assert fingerprint(md, time.time() + RACY_SECONDS + 1, dav) is not None
