"""Start, stop and inspect one stack: the public face of zenmail.stack.

    up(settings) -> StackStatus      render configs, start Dovecot, Postfix, the API and the
                                     supervisor; returns once every service answers
    down(settings) -> None           stop them (supervisor first, so nothing is "repaired")
    status(settings) -> StackStatus  each service's pid, health and endpoints

All three are idempotent. Errors are StackError/InvalidInput with a message saying what to do.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from typing import Any

from zenmail.config import Settings
from zenmail.db import Database
from zenmail.errors import StackError
from zenmail.stack import api as api_mod
from zenmail.stack.dbconf import from_url, share_sqlite
from zenmail.stack.dovecot import Dovecot
from zenmail.stack.files import Layout, check_traversable, ensure_dir, write_atomic
from zenmail.stack.ports import ensure_free, plan
from zenmail.stack.postfix import Postfix
from zenmail.stack.service import Service
from zenmail.stack.supervisor import SupervisorProcess
from zenmail.stack.tls import ensure_certificate

DAEMONS = ("dovecot", "postfix")


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

    @property
    def running(self) -> bool:
        """True when the mail daemons run (the API is optional)."""
        return all(s.running for s in self.services if s.name in DAEMONS)

    @property
    def healthy(self) -> bool:
        return all(s.healthy for s in self.services if not s.detail)

    def service(self, name: str) -> ServiceStatus:
        return next(s for s in self.services if s.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {"state_dir": self.state_dir, "running": self.running, "healthy": self.healthy,
                "services": [asdict(s) for s in self.services], "endpoints": self.endpoints}


def services_by_name(settings: Settings) -> dict[str, Service]:
    ports = plan(settings)
    out: dict[str, Service] = {"dovecot": Dovecot(settings, ports),
                               "postfix": Postfix(settings, ports)}
    if api_mod.available():
        out["api"] = api_mod.Api(settings, ports)
    return out


def _require_system() -> None:
    if os.geteuid() != 0:
        raise StackError("the mail stack must be started as root: Postfix and Dovecot start as "
                         "root and drop to their own users (run with sudo)")
    missing = [b for b in ("postfix", "dovecot", "doveadm", "openssl") if not shutil.which(b)]
    if missing:
        raise StackError(f"{', '.join(missing)} not found; run `make install` "
                         "(scripts/install-system.sh installs the Debian packages)")


def prepare(settings: Settings) -> None:
    """Everything before a daemon starts: directories, schema, database access, TLS."""
    layout = Layout.of(settings.state_dir)
    ensure_dir(layout.state)
    check_traversable(layout.state)
    db_conf = from_url(settings.db_url)
    db = Database(settings.db_url)
    try:
        db.migrate()
    finally:
        db.dispose()
    if db_conf.sqlite_path is not None:
        share_sqlite(db_conf.sqlite_path)
    ensure_certificate(layout.tls, settings.hostname)
    ensure_dir(layout.run)
    # The API and the supervisor run with exactly these settings (env overrides included).
    write_atomic(layout.settings_snapshot, settings.model_dump_json(), mode=0o600)


def up(settings: Settings, *, with_api: bool = True, supervise: bool = True) -> StackStatus:
    """Start the stack (or what of it is not running) and return once every part answers."""
    _require_system()
    # A supervisor from an earlier `up` would race us restarting what we reload.
    SupervisorProcess(running_settings(settings)).stop()
    prepare(settings)
    services = services_by_name(settings)
    if not with_api:
        services.pop("api", None)
    try:
        for svc in services.values():
            running = svc.pid() is not None
            if not running:
                ensure_free(svc.ports, list(svc.endpoints()))
            svc.render()
            if running:
                svc.reload()
            svc.start()
        write_atomic(Layout.of(settings.state_dir).run / "services.json",
                     json.dumps(list(services)))
        if supervise:
            sup = SupervisorProcess(settings)
            sup.supervised = list(services)
            sup.start()
    except BaseException:
        down(settings)
        raise
    return status(settings)


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


def down(settings: Settings) -> None:
    """Stop the supervisor, the API, Postfix and Dovecot, in that order."""
    settings = running_settings(settings)
    sup = SupervisorProcess(settings)
    sup.stop()
    services = services_by_name(settings)
    for name in ("api", "postfix", "dovecot"):
        if name in services:
            services[name].stop()
    Layout.of(settings.state_dir).settings_snapshot.unlink(missing_ok=True)


def status(settings: Settings) -> StackStatus:
    settings = running_settings(settings)
    services = services_by_name(settings)
    started_file = Layout.of(settings.state_dir).run / "services.json"
    started = json.loads(started_file.read_text()) if started_file.exists() else list(services)
    out: list[ServiceStatus] = []
    endpoints: dict[str, str] = {}
    for svc in [*services.values(), SupervisorProcess(settings)]:
        pid = svc.pid()
        eps = svc.endpoints()
        endpoints.update(eps)
        optional = svc.name not in (*DAEMONS, "supervisor")
        detail = "not started" if optional and svc.name not in started and not pid else ""
        out.append(ServiceStatus(name=svc.name, pid=pid, running=pid is not None,
                                 healthy=pid is not None and svc.healthy(), endpoints=eps,
                                 detail=detail))
    if "api" not in services:
        out.append(ServiceStatus(name="api", pid=None, running=False, healthy=False,
                                 endpoints={}, detail="not installed"))
    return StackStatus(state_dir=str(Layout.of(settings.state_dir).state), services=out,
                       endpoints=endpoints)
