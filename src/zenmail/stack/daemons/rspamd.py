"""A private rspamd: the milter Postfix asks on every SMTP listener (MX, submission, the
local one Dovecot sends through), on a unix socket.

It runs Debian's stock rules (`-c /etc/rspamd/rspamd.conf`) with everything site-specific in
its own LOCAL_CONFDIR, STATE/rspamd/etc (a configuration generation): the stock
/etc/rspamd/local.d and override.d are never read. Its workers listen on unix sockets under
STATE/run/rspamd only (the stock ports 11332-11335 stay closed); Redis is the stack's
(`endpoint("redis")`); ClamAV the stack's clamd (`endpoint("clamd")`) when [filter] antivirus.

What zenmail adds to the stock rules lives in `zenmail.lua` (rendered from
templates/rspamd/zenmail.lua) and in maps it writes from the directory under
STATE/rspamd/maps (zenmail.filtering.maps): rewritten whenever accounts or domains change;
rspamd re-reads a changed map by itself.

A cold start compiles ≈50 MB of regular expressions (15-80 s on 2 busy cores); they are
kept in [filter] cache_dir, shared by the stacks of the machine, so later starts take ≈1 s.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import socket
from pathlib import Path
from typing import Any

from zenmail.db import Database
from zenmail.directory.context import Actor, Ctx
from zenmail.errors import StackError
from zenmail.filtering import dkim, maps, quarantine, records, store
from zenmail.stack.base import Service, run, spawn_detached
from zenmail.stack.files import ensure_dir, ensure_secret, render, template, uid, write_atomic

log = logging.getLogger(__name__)

USER = "_rspamd"
STOCK_CONF = "/etc/rspamd/rspamd.conf"
# Worker sections go to override.d (they must replace the stock bind sockets), the rest to
# local.d (merged with the stock module settings).
OVERRIDES = ("worker-proxy.inc", "worker-controller.inc", "worker-normal.inc",
             "worker-fuzzy.inc")
LOCALS = ("options.inc", "logging.inc", "actions.conf", "redis.conf", "milter_headers.conf",
          "greylist.conf", "antivirus.conf", "fuzzy_check.conf", "dkim_signing.conf", "arc.conf",
          "dkim.conf", "spf.conf", "antivirus_group.conf", "dmarc.conf")


class Rspamd(Service):
    name = "rspamd"
    process_name = "rspamd: main process"
    depends_on = ("redis",)
    binaries = ("rspamd", "rspamadm")
    # A cold start compiles the regular expressions (see the module's docstring).
    start_timeout = 180.0
    # New domains get their DKIM key, new people and domains count in the maps, within this.
    chore_every = 15.0

    @property
    def run_dir(self) -> Path:
        return self.layout.run / "rspamd"

    @property
    def db_dir(self) -> Path:
        return self.home / "db"

    @property
    def maps_dir(self) -> Path:
        """Maps zenmail writes from the directory (outside the generations: rspamd watches
        them and re-reads a changed one without a reload)."""
        return self.home / "maps"

    @property
    def milter_socket(self) -> Path:
        return self.run_dir / "milter.sock"

    @property
    def controller_socket(self) -> Path:
        return self.run_dir / "controller.sock"

    @property
    def learn_dir(self) -> Path:
        """The learning spool: Dovecot's learn scripts (running as `mail`, which may not
        reach the controller) drop what a user filed into or out of Junk into new/ as
        `spam-*` or `ham-*`; the chore teaches rspamd and removes it."""
        return self.home / "learn"

    @property
    def password_file(self) -> Path:
        return self.layout.secrets / "rspamd-controller.key"

    def pidfile(self) -> Path:
        return self.run_dir / "rspamd.pid"

    def provides(self) -> dict[str, str]:
        return {"milter": f"unix:{self.milter_socket}",
                "rspamd-controller": f"unix:{self.controller_socket}",
                "rspamd-learn": f"spool:{self.learn_dir}"}

    def _vars(self, confdir: Path) -> list[str]:
        # `--var=K=V` in one word: rspamadm takes nothing else (rspamd takes both).
        return [f"--var=LOCAL_CONFDIR={confdir}", f"--var=RUNDIR={self.run_dir}",
                f"--var=DBDIR={self.db_dir}", f"--var=LOGDIR={self.layout.log}"]

    def prepare(self) -> None:
        ensure_dir(self.layout.log)
        # Enterable by all, listable by none: each socket's own mode says who may use it
        # (the milter: postfix; the controller: mail, for learning).
        ensure_dir(self.run_dir, 0o751, owner=USER, group="postfix")
        ensure_dir(self.db_dir, 0o750, owner=USER, group=USER)
        ensure_dir(self.maps_dir, 0o755)
        ensure_dir(Path(self.settings.filter.cache_dir), 0o750, owner=USER, group=USER)
        self.logfile.touch(0o640)
        os.chown(self.logfile, uid(USER), -1)
        ensure_secret(self.password_file)
        # root's and mail's alone: the learn scripts write, the chore reads and removes.
        for sub in ("", "tmp", "new"):
            ensure_dir(self.learn_dir / sub, 0o770, group="mail")
        self.refresh()

    def refresh(self) -> None:
        """Maps and DKIM keys from the directory (rspamd re-reads changed maps itself)."""
        db = Database(self.settings.db_url)
        try:
            maps.refresh(db, self.layout.state, self.maps_dir,
                         self.settings.filter.dkim_algorithm)
        finally:
            db.dispose()

    def chore(self) -> None:
        self.refresh()
        self.learn_filed()
        self.expire_quarantine()
        self.rotate_dkim()

    def rotate_dkim(self) -> None:
        """Scheduled DKIM rotation ([filter] dkim_rotate_days) and retirement of previous
        keys after [filter] dkim_overlap_days (zenmail.filtering.records.rotate_due)."""
        f = self.settings.filter
        db = Database(self.settings.db_url)
        try:
            records.rotate_due(Ctx(db, Actor("supervisor:dkim")), self.layout.state,
                               f.dkim_algorithm, f.dkim_rotate_days, f.dkim_overlap_days)
        finally:
            db.dispose()

    def learn_filed(self) -> int:
        """Teach rspamd what users filed (the learning spool); returns how many it took.
        A message rspamd will not learn (already learned, too short) is dropped from the
        spool; one it could not be asked about stays for the next chore."""
        taught = 0
        for path in sorted((self.learn_dir / "new").glob("*-*")):
            kind = path.name.split("-", 1)[0]
            if kind in ("spam", "ham"):
                try:
                    self.controller("POST", f"/learn{kind}", path.read_bytes())
                    taught += 1
                except StackError as exc:  # rspamd answered, and said no
                    log.info("rspamd did not learn %s as %s: %s", path.name, kind, exc)
            path.unlink(missing_ok=True)
        return taught

    def expire_quarantine(self) -> list[quarantine.Held]:
        """Delete held mail older than [filter] quarantine_days (audited and counted)."""
        days = self.settings.filter.quarantine_days
        if not days:
            return []
        db = Database(self.settings.db_url)
        try:
            return quarantine.expire(Ctx(db, Actor("supervisor:quarantine")),
                                     quarantine.Queue.of(self.layout.state), days,
                                     store.connect(self.stack.endpoint("redis")))
        finally:
            db.dispose()

    def render(self, directory: Path) -> None:
        f = self.settings.filter
        servers = [s if ":" in s else f"{s}:53" for s in f.nameservers]
        nameservers = (f"nameserver = {json.dumps(servers)};" if servers else "")
        clamd = ""
        if f.antivirus:
            clamd = render(template("rspamd/clamav.inc"),
                           {"clamd": self.stack.endpoint("clamd").removeprefix("unix:")})
        values: dict[str, object] = {
            "milter_socket": self.milter_socket,
            "controller_socket": self.controller_socket,
            "normal_socket": self.run_dir / "normal.sock",
            "fuzzy_socket": self.run_dir / "fuzzy.sock",
            "controller_password": self.password_file.read_text().strip(),
            "nameservers": nameservers, "cache_dir": f.cache_dir.rstrip("/"),
            "test_patterns": "true" if f.test_patterns else "false",
            "reject_score": f.reject_score, "junk_score": f.junk_score,
            "redis": self.stack.endpoint("redis").removeprefix("unix:"),
            "antivirus": clamd, "maps_dir": self.maps_dir,
            "dkim_dir": dkim.key_dir(self.layout.state),
            "external_tag": "true" if f.external_tag else "false",
            "messages_per_hour": f.messages_per_hour,
            "tenant_messages_per_hour": f.tenant_messages_per_hour,
            "recipients_per_message": f.recipients_per_message,
            "recipients_per_day": f.recipients_per_day, "suspend_after": f.suspend_after,
            # One scanning process per core (each is single-threaded), at most four.
            "scanners": max(1, min(4, os.cpu_count() or 1)),
        }
        for name in OVERRIDES:
            write_atomic(directory / "override.d" / name,
                         render(template(f"rspamd/{name}"), values),
                         mode=0o640, group=USER)
        for name in LOCALS:
            write_atomic(directory / "local.d" / name,
                         render(template(f"rspamd/{name}"), values), mode=0o640, group=USER)
        write_atomic(directory / "rspamd.local.lua",
                     render(template("rspamd/rspamd.local.lua"), values), mode=0o640, group=USER)
        if not f.dnsbl:
            for module in ("rbl", "surbl", "emails", "asn"):
                write_atomic(directory / "local.d" / f"{module}.conf",
                             "# [filter] dnsbl = false\nenabled = false;\n",
                             mode=0o640, group=USER)
        for d in (directory / "local.d", directory / "override.d"):
            d.chmod(0o755)

    def check(self, directory: Path) -> None:
        out = run(["rspamadm", *self._vars(directory), "configtest", "-c", STOCK_CONF],
                  "checking the rspamd configuration", timeout=120)
        if "syntax OK" not in out:
            raise StackError(f"rspamadm configtest did not approve the configuration: {out}")

    def _launch(self) -> None:
        stale = self.pidfile()
        if stale.exists() and self.pid() is None:
            stale.unlink()
        # Not waited for: a cold start blocks for as long as it compiles (start() polls).
        spawn_detached(["rspamd", "-c", STOCK_CONF, *self._vars(self.conf_dir), "-u", USER,
                        "-g", USER], self.home / "start.log")

    def reload(self) -> None:
        pid = self.pid()
        if pid is not None:
            os.kill(pid, 1)  # SIGHUP: workers restart on the new configuration

    def healthy(self) -> bool:
        return (self.pid() is not None and self.milter_socket.exists()
                and self._ping())

    def _ping(self) -> bool:
        try:
            return self.controller("GET", "/ping").strip() == b"pong"
        except (OSError, StackError):
            return False

    def controller(self, method: str, path: str, body: bytes = b"",
                   headers: dict[str, str] | None = None) -> bytes:
        """One request to rspamd's controller on its unix socket (checks, learning)."""
        conn = _UnixHTTPConnection(str(self.controller_socket), timeout=30)
        try:
            hdrs = {"Password": self.password_file.read_text().strip(), **(headers or {})}
            conn.request(method, path, body=body or None, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            if resp.status != 200:
                raise StackError(f"rspamd answered {resp.status} to {path}: {data[:200]!r}")
            return data
        finally:
            conn.close()

    def check_message(self, raw: bytes, **headers: str) -> dict[str, Any]:
        """rspamd's verdict on one message (/checkv2), as JSON."""
        return dict(json.loads(self.controller("POST", "/checkv2", raw, headers)))


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self._path)
        self.sock = s
