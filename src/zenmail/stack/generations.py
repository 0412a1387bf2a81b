"""Rendered configuration, one generation at a time: stage, check, activate, roll back.

A daemon reads its configuration through a stable path, `STATE/<daemon>/etc`, which is a
symlink to one generation, `STATE/<daemon>/conf.<id>`. `up` renders a new generation beside
the live one, the daemon's own checker reads it there, and only then the symlink is swapped
(rename(2), atomic). The previous generation stays until the daemon runs on the new one, so
a failure swaps back and the daemon keeps what it had.

Rendered files refer to each other through the stable path, never through their generation's
name, so the content does not depend on where it was staged: `<id>` is a hash of the content,
and unchanged settings give the generation that is already live (nothing to reload).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PREFIX = "conf."


@dataclass(frozen=True)
class Staged:
    link: Path                 # the stable path the daemon reads
    directory: Path            # the staged generation
    previous: Path | None      # the generation live before, if any
    changed: bool              # False: the staged content is what is live already


def live(link: Path) -> Path | None:
    """The generation `link` points to now, or None."""
    if not link.is_symlink():
        return None
    return link.parent / os.readlink(link)


def _digest(directory: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        st = path.stat()
        h.update(str(path.relative_to(directory)).encode() + b"\0")
        h.update(f"{st.st_mode:o}:{st.st_uid}:{st.st_gid}".encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def _adopt_legacy(link: Path) -> None:
    """A configuration directory from before generations becomes the first generation."""
    if link.is_dir() and not link.is_symlink():
        legacy = link.parent / f"{PREFIX}legacy"
        shutil.rmtree(legacy, ignore_errors=True)
        os.rename(link, legacy)
        os.symlink(legacy.name, link)


def stage(link: Path, render: Callable[[Path], None]) -> Staged:
    """Render a generation for `link` with `render(directory)`; nothing live changes."""
    link.parent.mkdir(parents=True, exist_ok=True)
    _adopt_legacy(link)
    tmp = Path(tempfile.mkdtemp(dir=link.parent, prefix=".staging-"))
    try:
        os.chmod(tmp, 0o755)  # the daemons' unprivileged users read parts of it
        render(tmp)
        target = link.parent / f"{PREFIX}{_digest(tmp)}"
        previous = live(link)
        if previous is not None and previous.name == target.name and previous.is_dir():
            shutil.rmtree(tmp)
            return Staged(link, target, previous, changed=False)
        shutil.rmtree(target, ignore_errors=True)  # a leftover of an attempt that failed
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Staged(link, target, previous, changed=True)


def _point(link: Path, target: Path) -> None:
    tmp = link.with_name(f".{link.name}.swap")
    tmp.unlink(missing_ok=True)
    os.symlink(target.name, tmp)
    os.replace(tmp, link)


def activate(staged: Staged) -> None:
    if staged.changed:
        _point(staged.link, staged.directory)


def roll_back(staged: Staged) -> None:
    """Point the link back at the previous generation, and drop the staged one."""
    if not staged.changed:
        return
    if staged.previous is not None:
        _point(staged.link, staged.previous)
    else:
        staged.link.unlink(missing_ok=True)
    shutil.rmtree(staged.directory, ignore_errors=True)


def discard(staged: Staged) -> None:
    """Drop a staged generation that never went live."""
    if staged.changed and live(staged.link) != staged.directory:
        shutil.rmtree(staged.directory, ignore_errors=True)


def prune(link: Path) -> None:
    """Remove every generation but the live one."""
    current = live(link)
    for old in link.parent.glob(f"{PREFIX}*"):
        if current is None or old.name != current.name:
            shutil.rmtree(old, ignore_errors=True)
