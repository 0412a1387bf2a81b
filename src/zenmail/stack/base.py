"""The seam every part of the stack sits behind, and the common behaviour written once.

A daemon is one module under `stack/daemons/` with one `Service` subclass that declares:

    name            "dovecot"
    process_name    what its master's command line contains (pids get reused)
    ports           the listeners it owns (`Port("imap", 143)`): the port plan comes from these
    depends_on      daemons that must run first (start order, reverse stop order)
    binaries        programs `up` checks for before anything starts
    start_timeout   how long a cold start may take before it counts as failed
    after_restart_of  daemons whose restart this one reacts to (`on_peer_restarted`)
    chore_every     seconds between runs of its `chore()` by the supervisor (None: no chore)

and implements `render(directory)` (its configuration, into a staged generation), `check`
(the daemon's own checker on that generation), `_launch`, `healthy`, `pidfile`. A daemon
that another needs (Postfix needs Dovecot's LMTP and SASL) `provides()` named endpoints; the
other asks the stack for them (`self.stack.endpoint("lmtp")`), never constructs its peer.
"""

from __future__ import annotations

import os
import subprocess
import sys
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar, Protocol

from zenmail.config import Settings
from zenmail.errors import StackError
from zenmail.stack import generations, proc
from zenmail.stack.files import Layout, tail
from zenmail.stack.ports import Port, PortPlan


class StackView(Protocol):
    """What a daemon may know of the stack it belongs to (the registry's `Stack`)."""

    settings: Settings
    layout: Layout
    plan: PortPlan

    def endpoint(self, name: str) -> str: ...


class Service(ABC):
    name: ClassVar[str]
    process_name: ClassVar[str]
    ports: ClassVar[tuple[Port, ...]] = ()
    depends_on: ClassVar[tuple[str, ...]] = ()
    binaries: ClassVar[tuple[str, ...]] = ()
    start_timeout: ClassVar[float] = 20.0
    after_restart_of: ClassVar[tuple[str, ...]] = ()
    has_config: ClassVar[bool] = True
    optional: ClassVar[bool] = False   # may be left out of a stack (`up --no-api`)
    chore_every: ClassVar[float | None] = None

    def __init__(self, stack: StackView) -> None:
        self.stack = stack

    @property
    def settings(self) -> Settings:
        return self.stack.settings

    @property
    def layout(self) -> Layout:
        return self.stack.layout

    @property
    def plan(self) -> PortPlan:
        return self.stack.plan

    # ------------------------------------------------------------ declared per daemon

    @abstractmethod
    def _launch(self) -> None:
        """Start the daemon; returns once it has daemonised or failed."""

    @abstractmethod
    def healthy(self) -> bool:
        """Every listener of the daemon answers with its protocol's greeting."""

    def health_check(self) -> str | None:
        """What is wrong, in a sentence, or None: the supervisor's periodic check of a running
        daemon, which may go deeper than `healthy` (a login, an EHLO). A daemon whose process
        lives but fails this `[watch] hung_after` times in a row is restarted."""
        return None if self.healthy() else f"{self.name} does not answer its protocol"

    def render(self, directory: Path) -> None:
        """Write the configuration into `directory`, a staged generation. Files refer to
        each other through `self.conf_dir` (the stable path), never through `directory`."""

    def check(self, directory: Path) -> None:
        """Have the daemon's own checker read the staged generation; StackError if bad."""

    def prepare(self) -> None:
        """Directories and files the daemon needs besides its configuration (run as root
        before the first start and after every render)."""

    def provides(self) -> dict[str, str]:
        """Endpoints other daemons reach this one by: name -> "unix:/path" | "inet:h:p"."""
        return {}

    def on_peer_restarted(self, peer: str) -> None:
        """Called after a daemon named in `after_restart_of` was restarted."""

    def chore(self) -> None:
        """Periodic work for a running daemon: the supervisor calls it soon after it starts
        and then every `chore_every` seconds, in a thread of its own (one run at a time)."""

    # ------------------------------------------------------------ common behaviour

    @property
    def home(self) -> Path:
        """STATE/<name>: the daemon's configuration and working files."""
        return self.layout.daemon_dir(self.name)

    @property
    def conf_dir(self) -> Path:
        """The stable path of the live configuration generation."""
        return self.home / "etc"

    @property
    def logfile(self) -> Path:
        return self.layout.log / f"{self.name}.log"

    def pidfile(self) -> Path:
        return self.layout.pidfile(self.name)

    def endpoints(self) -> dict[str, str]:
        """host:port of each listener, as `status` shows them."""
        all_endpoints = self.plan.endpoints()
        return {p.name: all_endpoints[p.name] for p in self.ports}

    def stage(self) -> generations.Staged | None:
        """Render and check a new configuration generation, leaving the live one alone."""
        if not self.has_config:
            return None
        staged = generations.stage(self.conf_dir, self.render)
        if staged.changed:
            try:
                self.check(staged.directory)
            except BaseException:
                generations.discard(staged)
                raise
        return staged

    def pid(self) -> int | None:
        pid = proc.read_pid(self.pidfile())
        return pid if proc.alive(pid, self.process_name) else None

    def start(self) -> int:
        """Start (unless running) and wait until healthy; StackError with the log's tail."""
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
        """Make a running daemon read its new configuration. By default: stop it, and the
        `start()` that follows brings it back with the new settings."""
        self.stop()

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            proc.terminate(pid)


class PythonService(Service):
    """A process of our own: `python -m <module> --state DIR`, pid and output in STATE."""

    module: ClassVar[str]
    has_config = False

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.process_name = cls.module  # its command line is `python -m <module> ...`

    def args(self) -> list[str]:
        return ["--state", str(self.layout.state)]

    def _launch(self) -> None:
        pid = spawn_detached([sys.executable, "-m", self.module, *self.args()], self.logfile)
        self.pidfile().write_text(f"{pid}\n")

    def healthy(self) -> bool:
        return self.pid() is not None

    def stop(self) -> None:
        super().stop()
        self.pidfile().unlink(missing_ok=True)


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
