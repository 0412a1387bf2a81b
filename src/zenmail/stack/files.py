"""Where one stack keeps its things, and how files that daemons read are written.

Every file a daemon reads is written atomically (temp file in the same directory, fsync,
rename), so a daemon that reloads or restarts mid-write never sees half a configuration.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import secrets
import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from zenmail.errors import StackError

_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


@dataclass(frozen=True)
class Layout:
    """The paths every part of one stack shares (absolute: daemons need that). A daemon's own
    paths (its configuration, pid file, sockets) are declared by the daemon itself."""

    state: Path

    @classmethod
    def of(cls, state_dir: Path) -> Layout:
        return cls(state_dir.resolve())

    @property
    def run(self) -> Path:
        return self.state / "run"

    @property
    def log(self) -> Path:
        return self.state / "log"

    @property
    def tls(self) -> Path:
        return self.state / "tls"

    @property
    def events(self) -> Path:
        """The supervisor's JSON-lines record of deaths and restarts."""
        return self.log / "events.jsonl"

    @property
    def settings_snapshot(self) -> Path:
        """The settings `up` ran with, for the supervisor and the API process."""
        return self.run / "settings.json"

    @property
    def started(self) -> Path:
        """The names of the services the last `up` started."""
        return self.run / "services.json"

    @property
    def secrets(self) -> Path:
        """Keys zenmail makes for itself (root only); rendered files that need one get it
        in a file only root reads."""
        return self.state / "secrets"

    @property
    def policy_key(self) -> Path:
        """What Dovecot presents to the login-failure policy (zenmail.security.authpolicy)."""
        return self.secrets / "auth-policy.key"

    def daemon_dir(self, name: str) -> Path:
        """Where daemon `name` keeps its configuration and working files."""
        return self.state / name

    def pidfile(self, name: str) -> Path:
        return self.run / f"{name}.pid"


def render(template: str, values: dict[str, object]) -> str:
    """Fill `{{ name }}` placeholders; a missing value is a bug, so it raises."""
    def sub(m: re.Match[str]) -> str:
        if m.group(1) not in values:
            raise KeyError(f"template placeholder {m.group(1)!r} has no value")
        return str(values[m.group(1)])
    return _PLACEHOLDER.sub(sub, template)


def template(name: str) -> str:
    return (resources.files("zenmail.stack") / "templates" / name).read_text()


def write_atomic(path: Path, content: str, mode: int = 0o644, owner: str | None = None,
                 group: str | None = None, backdate: float = 0.0) -> bool:
    """Write `content` to `path` unless it is already there; True if the file changed.
    `backdate` sets the mtime that many seconds into the past (Postfix stalls ~2 s on
    reading a configuration file younger than that)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        unchanged = path.read_text() == content
    except (OSError, UnicodeDecodeError):
        unchanged = False
    if unchanged:
        os.chmod(path, mode)
        if owner or group:
            os.chown(path, uid(owner) if owner else -1, gid(group) if group else -1)
        return False
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        if owner or group:
            os.chown(tmp, uid(owner) if owner else -1, gid(group) if group else -1)
        if backdate:
            past = time.time() - backdate
            os.utime(tmp, (past, past))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def ensure_secret(path: Path) -> str:
    """A random key at `path` (0600 root, in a 0700 directory), made once; returns it."""
    ensure_dir(path.parent, 0o700)
    if not path.exists():
        write_atomic(path, secrets.token_hex(32) + "\n", mode=0o600)
    return path.read_text().strip()


def uid(user: str) -> int:
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError as exc:
        raise StackError(f"system user {user!r} is missing; run `make install`") from exc


def gid(group: str) -> int:
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError as exc:
        raise StackError(f"system group {group!r} is missing; run `make install`") from exc


def ensure_dir(path: Path, mode: int = 0o755, owner: str | None = None,
               group: str | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, mode)
    if owner or group:
        os.chown(path, uid(owner) if owner else -1, gid(group) if group else -1)
    return path


def blocking_parent(path: Path) -> Path | None:
    """The first directory on the way to `path` that other users cannot enter, if any."""
    for parent in [path, *path.parents]:
        if parent.exists() and not os.stat(parent).st_mode & 0o001:
            return parent
    return None


def check_traversable(path: Path) -> None:
    """The daemons' unprivileged users must be able to walk down to the state directory."""
    parent = blocking_parent(path)
    if parent is not None:
        raise StackError(
            f"{parent} (mode {oct(os.stat(parent).st_mode & 0o777)}) cannot be entered by "
            f"the postfix and mail users, so the stack under {path} could not read its "
            f"files; run `chmod o+x {parent}` or choose a state directory elsewhere "
            "(e.g. --state /var/lib/zenmail)")


def tail(path: Path, lines: int = 8) -> str:
    """The last lines of a log, to put into an error message."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text[-lines:]) or f"({path} is empty)"
