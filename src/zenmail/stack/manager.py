"""Start, stop and inspect one stack: the public face of zenmail.stack.

    up(settings) -> StackStatus      render and check every daemon's configuration, then
                                     start (or reload) them in dependency order, the API and
                                     the supervisor; returns once every service answers
    down(settings) -> None           stop them (supervisor first, so nothing is "repaired")
    status(settings) -> StackStatus  each service's pid, health and endpoints

All three are idempotent. `up` never breaks a running stack: every configuration is
rendered into a new generation and checked by the daemon's own checker before anything
live changes; if a daemon then fails to take it, its previous generation is put back and
the daemon reloaded, and the error says so. Errors are StackError/InvalidInput with a
message saying what to do.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from typing import Any

from zenmail.config import Settings
from zenmail.db import Database
from zenmail.errors import StackError, ZenmailError
from zenmail.stack import generations
from zenmail.stack.base import Service
from zenmail.stack.dbconf import daemons_url, ensure_mail_role, from_url, share_sqlite
from zenmail.stack.files import Layout, check_traversable, ensure_dir, write_atomic
from zenmail.stack.ports import ensure_free
from zenmail.stack.registry import DAEMONS, FILTERS, Stack
from zenmail.stack.supervisor import SupervisorProcess
from zenmail.stack.tls import certificate_paths, check_pair, ensure_certificate


@dataclass
class ServiceStatus:
    name: str
    pid: int | None
    running: bool
    healthy: bool
    endpoints: dict[str, str]
    detail: str = ""


@dataclass
class StackStatus:
    state_dir: str
    services: list[ServiceStatus]
    endpoints: dict[str, str] = field(default_factory=dict)
    required: tuple[str, ...] = ()

    @property
    def running(self) -> bool:
        """True when the mail daemons run (optional services such as the API aside)."""
        return all(s.running for s in self.services if s.name in self.required)

    @property
    def healthy(self) -> bool:
        return all(s.healthy for s in self.services if not s.detail)

    def service(self, name: str) -> ServiceStatus:
        return next(s for s in self.services if s.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {"state_dir": self.state_dir, "running": self.running, "healthy": self.healthy,
                "services": [asdict(s) for s in self.services], "endpoints": self.endpoints}

    def text(self) -> str:
        """What `zenmail status` prints."""
        lines = [f"stack in {self.state_dir}: " + ("healthy" if self.healthy else
                 "running, not all healthy" if self.running else "stopped")]
        for s in self.services:
            state = ("healthy" if s.healthy else "unhealthy" if s.running
                     else s.detail or "stopped")
            eps = " ".join(f"{k}={v}" for k, v in s.endpoints.items())
            pid = f"pid {s.pid}" if s.pid else "-"
            lines.append(f"  {s.name:<11} {pid:<11} {state:<12} {eps}".rstrip())
        return "\n".join(lines)


def _names(settings: Settings, with_api: bool) -> list[str]:
    left_out = set() if settings.filter.enabled else set(FILTERS)
    if not settings.filter.antivirus:
        left_out.add("clamav")
    return [c.name for c in DAEMONS
            if (with_api or not c.optional) and c.name not in left_out]


def _require_system(stack: Stack) -> None:
    if os.geteuid() != 0:
        raise StackError("the mail stack must be started as root: Postfix and Dovecot start as "
                         "root and drop to their own users (run with sudo)")
    missing = [b for b in [*stack.binaries(), "openssl"] if not shutil.which(b)]
    if missing:
        raise StackError(f"{', '.join(missing)} not found; run `make install` "
                         "(scripts/install-system.sh installs the Debian packages)")


def _require_schema(settings: Settings) -> None:
    """Every node checks; only `zenmail init` / `zenmail db upgrade` migrate, so nodes never
    race to change one database's schema."""
    db = Database(settings.db_url)
    try:
        db.ensure_current()
    finally:
        db.dispose()


def prepare(settings: Settings, stack: Stack) -> None:
    """Everything before a configuration is rendered: directories, database access, TLS."""
    layout = stack.layout
    ensure_dir(layout.state)
    check_traversable(layout.state)
    _require_schema(settings)
    db_conf = from_url(settings.db_url)
    if db_conf.sqlite_path is not None:
        share_sqlite(db_conf.sqlite_path)
    elif not settings.database.mail_url:
        # Postfix and Dovecot connect as a role that can only read what they look up.
        ensure_mail_role(settings.db_url, daemons_url(settings, layout))
    if not settings.tls.cert:
        ensure_certificate(layout.tls, settings.hostname)
    check_pair(*certificate_paths(settings))
    ensure_dir(layout.run)
    for svc in stack.start_order():
        svc.prepare()


def running_settings(settings: Settings) -> Settings:
    """The settings the running stack was started with (its ports may differ from today's
    defaults, e.g. after `up --ports standard`); `settings` itself when nothing runs."""
    snapshot = Layout.of(settings.state_dir).settings_snapshot
    if not snapshot.exists():
        return settings
    try:
        return Settings.model_validate_json(snapshot.read_text())
    except ValueError:
        return settings


def _started(settings: Settings) -> list[str]:
    path = Layout.of(settings.state_dir).started
    try:
        names = json.loads(path.read_text())
    except (OSError, ValueError):
        return _names(settings, with_api=True)
    return [n for n in names if n in {c.name for c in DAEMONS}]


def up(settings: Settings, *, with_api: bool = True, supervise: bool = True) -> StackStatus:
    """Start the stack, or bring a running one to `settings`; returns once every part
    answers. On failure a running stack keeps its previous configuration and keeps running."""
    stack = Stack(settings, _names(settings, with_api))
    _require_system(stack)
    layout = stack.layout
    previous = running_settings(settings)
    old = Stack(previous, _started(previous))
    was_running = {s.name for s in old.start_order() if s.pid() is not None}

    staged: dict[str, generations.Staged | None] = {}
    try:
        prepare(settings, stack)
        for svc in stack.start_order():
            staged[svc.name] = svc.stage()
            # Listeners that will bind anew must find their port free, before anything
            # live is touched.
            ensure_free(stack.plan, [p.name for p in svc.ports if svc.name not in was_running
                                     or _moved(p.name, old, stack)])
    except BaseException as exc:
        for st in staged.values():
            if st is not None:
                generations.discard(st)
        if was_running and isinstance(exc, ZenmailError):
            raise type(exc)(f"{exc}\nNothing running was changed.") from exc
        raise

    supervisor = SupervisorProcess(old)
    supervised_before = supervisor.pid() is not None
    supervisor.stop()  # it would race us, restarting what we reload
    snapshot_before = (layout.settings_snapshot.read_text()
                       if layout.settings_snapshot.exists() else None)
    snapshot = settings.model_dump_json()
    # The API and the supervisor run with exactly these settings (env overrides included).
    write_atomic(layout.settings_snapshot, snapshot, mode=0o600)

    done: list[tuple[Service, generations.Staged | None, bool]] = []
    try:
        for svc in stack.start_order():
            st, running = staged[svc.name], svc.name in was_running
            if st is not None:
                generations.activate(st)
            done.append((svc, st, running))
            changed = st.changed if st is not None else snapshot != snapshot_before
            if running and changed:
                svc.reload()
            svc.start()
    except BaseException as exc:
        note = _roll_back(done, layout, snapshot_before)
        if supervised_before:
            SupervisorProcess(old).start()
        if isinstance(exc, ZenmailError):
            raise type(exc)(f"{exc}\n{note}") from exc
        raise

    for gone in old.stop_order():  # e.g. the API after `up --no-api`
        if gone.name not in stack.services:
            gone.stop()
    write_atomic(layout.started, json.dumps(list(stack.services)))
    for st in staged.values():
        if st is not None:
            generations.prune(st.link)
    if supervise:
        SupervisorProcess(stack).start()
    return status(settings)


def _moved(listener: str, old: Stack, new: Stack) -> bool:
    """Does `listener` bind elsewhere under the new settings? (Its new port must be free.)"""
    return (old.plan[listener], old.plan.hosts(listener)) != (
        new.plan[listener], new.plan.hosts(listener))


def _roll_back(done: list[tuple[Service, generations.Staged | None, bool]], layout: Layout,
               snapshot_before: str | None) -> str:
    """Undo a failed `up`: daemons that ran get their previous configuration back, the ones
    it started are stopped. Returns a sentence saying what state the stack is in."""
    if snapshot_before is None:
        layout.settings_snapshot.unlink(missing_ok=True)
    else:
        write_atomic(layout.settings_snapshot, snapshot_before, mode=0o600)
    troubles = []
    for svc, st, was_running in reversed(done):
        if st is not None:
            generations.roll_back(st)
        try:
            if not was_running:
                svc.stop()
            elif st is None or st.changed:
                if svc.pid() is not None:
                    svc.reload()
                svc.start()
        except ZenmailError as exc:
            troubles.append(f"{svc.name}: {exc}")
    if not any(running for _, _, running in done):
        return "Nothing was left running."
    if troubles:
        return ("The previous configuration was put back, but not every daemon took it: "
                + "; ".join(troubles))
    return "The stack keeps running with its previous configuration."


def down(settings: Settings) -> None:
    """Stop the supervisor, then every daemon in reverse start order."""
    settings = running_settings(settings)
    stack = Stack(settings)
    SupervisorProcess(stack).stop()
    for svc in stack.stop_order():
        svc.stop()
    Layout.of(settings.state_dir).settings_snapshot.unlink(missing_ok=True)


def status(settings: Settings) -> StackStatus:
    settings = running_settings(settings)
    stack = Stack(settings)
    started = _started(settings)
    out: list[ServiceStatus] = []
    endpoints: dict[str, str] = {}
    for svc in [*stack.start_order(), SupervisorProcess(stack)]:
        pid = svc.pid()
        eps = svc.endpoints()
        endpoints.update(eps)
        left_out = svc.optional or svc.name in FILTERS  # `up --no-api`, `--no-filter`
        detail = "not started" if left_out and svc.name not in started and not pid else ""
        out.append(ServiceStatus(name=svc.name, pid=pid, running=pid is not None,
                                 healthy=pid is not None and svc.healthy(), endpoints=eps,
                                 detail=detail))
    required = tuple(s.name for s in stack.start_order() if not s.optional
                     and (s.name not in FILTERS or s.name in started))
    return StackStatus(state_dir=str(stack.layout.state), services=out, endpoints=endpoints,
                       required=required)
