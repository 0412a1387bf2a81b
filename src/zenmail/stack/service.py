"""The seam every supervised daemon sits behind: render, start, stop, pid, health."""

from __future__ import annotations

import os
import subprocess
from abc import ABC, abstractmethod
from pathlib import Path

from zenmail.config import Settings
from zenmail.errors import StackError
from zenmail.stack import proc
from zenmail.stack.files import Layout, tail
from zenmail.stack.ports import PortPlan, plan


class Service(ABC):
    name: str
    process_name: str       # what its master's command line contains
    start_timeout = 20.0

    def __init__(self, settings: Settings, ports: PortPlan | None = None) -> None:
        self.settings = settings
        self.layout = Layout.of(settings.state_dir)
        self.ports = ports or plan(settings)

    @abstractmethod
    def render(self) -> None:
        """Write this daemon's configuration into the state directory (atomically)."""

    @abstractmethod
    def _launch(self) -> None:
        """Start the daemon; returns once it has daemonised or failed."""

    @abstractmethod
    def pidfile(self) -> Path: ...

    @abstractmethod
    def healthy(self) -> bool:
        """Every listener of the daemon answers with its protocol's greeting."""

    @abstractmethod
    def endpoints(self) -> dict[str, str]: ...

    @property
    @abstractmethod
    def logfile(self) -> Path: ...

    def pid(self) -> int | None:
        pid = proc.read_pid(self.pidfile())
        return pid if proc.alive(pid, self.process_name) else None

    def start(self) -> int:
        """Start and wait until healthy; StackError with the log's tail otherwise."""
        if self.pid() is None:
            self._launch()
        if not proc.wait_until(self.healthy, self.start_timeout, 0.05):
            raise StackError(f"{self.name} did not answer within {self.start_timeout:.0f} s; "
                             f"last lines of {self.logfile}:\n{tail(self.logfile)}")
        pid = self.pid()
        if pid is None:
            raise StackError(f"{self.name} answers but left no pid in {self.pidfile()}")
        return pid

    def reload(self) -> None:
        """Make a running daemon read its re-rendered configuration. By default: stop it,
        and the `start()` that follows brings it back with the new settings."""
        self.stop()

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            proc.terminate(pid)

    def rss(self) -> int:
        pid = self.pid()
        return proc.rss_bytes([pid, *proc.children(pid)]) if pid else 0


def run(cmd: list[str], what: str, timeout: float = 60.0) -> str:
    """Run a daemon's tool; a failure becomes a StackError quoting its output."""
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError as exc:
        raise StackError(f"{cmd[0]} is not installed; run `make install`") from exc
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"{what}: `{' '.join(cmd)}` did not finish in {timeout:.0f} s") from exc
    if done.returncode != 0:
        out = (done.stderr or done.stdout).strip()
        raise StackError(f"{what} failed (exit {done.returncode}): {out}")
    return done.stdout


def spawn_detached(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> int:
    """Start a daemon in its own session with stdio on a log file, never on a pipe:
    Dovecot keeps inherited descriptors open, which would hang a caller reading them."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                             start_new_session=True, env=env or os.environ.copy(),
                             close_fds=True)
    return p.pid
