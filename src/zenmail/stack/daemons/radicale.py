"""Radicale: calendars (CalDAV) and contacts (CardDAV), over HTTPS with the stack's
certificate, on the `dav` listener (base+5232 in dev, 5232 standard).

Runs as `python -m radicale --config STATE/radicale/etc/radicale.conf`, with zenmail's own
auth and rights plugins (zenmail.dav.auth, zenmail.dav.rights), which Radicale imports by
name: the stack imports neither. Its data is STATE/dav (zenmail.dav.storage). Its chore
deletes the DAV data of accounts removed from the directory.
"""

from __future__ import annotations

import hashlib
import http.client
import shutil
import ssl
import sys
from pathlib import Path

from sqlalchemy import select

from zenmail.dav import local, storage
from zenmail.db import Database
from zenmail.directory.models import Account, Tenant
from zenmail.stack import probeaccount
from zenmail.stack.base import Service, run, spawn_detached
from zenmail.stack.files import ensure_dir, render, template, write_atomic
from zenmail.stack.ports import Port
from zenmail.stack.tls import certificate_paths, fingerprint


class Radicale(Service):
    name = "radicale"
    process_name = "radicale"
    ports = (Port("dav", 5232),)
    depends_on = ("redis",)   # the lockouts of wrong passwords
    binaries = ()
    start_timeout = 30.0      # imports Radicale, SQLAlchemy and pydantic: seconds when cold
    chore_every = 600.0       # the sweep of removed accounts' data

    @property
    def conf(self) -> Path:
        return self.conf_dir / "radicale.conf"

    def prepare(self) -> None:
        ensure_dir(self.layout.run)
        ensure_dir(self.layout.log)
        ensure_dir(storage.root(self.settings), 0o700)

    def render(self, directory: Path) -> None:
        cert, key = certificate_paths(self.settings)
        values = storage.radicale_values(self.settings)
        s = self.settings
        # What the plugins read from the settings snapshot: a change makes a new generation,
        # so `up` restarts Radicale with it.
        digest = hashlib.sha256("\0".join([
            s.db_url, s.redis_endpoint, s.lockout.model_dump_json()]).encode()).hexdigest()[:16]
        probeaccount.password(s)  # made once, before the auth plugin reads it
        probe_key = probeaccount.key_file(s)
        port = self.plan["dav"]
        hosts = ", ".join(f"[{h}]:{port}" if ":" in h else f"{h}:{port}"
                          for h in self.plan.hosts("dav"))
        conf = render(template("radicale/radicale.conf"), {
            "digest": digest, "hosts": hosts, "tls_cert": cert, "tls_key": key,
            "tls_digest": fingerprint(self.settings),
            "max_resource_size": values["server"]["max_resource_size"],
            "settings_file": self.layout.settings_snapshot,
            "probe": probeaccount.address(s), "probe_key": probe_key,
            "storage": values["storage"]["filesystem_folder"],
            "predefined": values["storage"]["predefined_collections"]})
        write_atomic(directory / "radicale.conf", conf, mode=0o600)

    def check(self, directory: Path) -> None:
        # Radicale's own parser and schema (plugins are loaded only when it starts).
        run([sys.executable, "-c", "import sys; from radicale import config; "
             "config.load([(sys.argv[1], False)])", str(directory / "radicale.conf")],
            "checking the Radicale configuration")

    def _launch(self) -> None:
        pid = spawn_detached([sys.executable, "-m", "radicale", "--config", str(self.conf)],
                             self.logfile)
        self.pidfile().write_text(f"{pid}\n")

    def healthy(self) -> bool:
        if self.pid() is None:
            return False
        # Radicale answers the well-known path with a redirect without asking for a login.
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # our own certificate, reached on loopback
        host = self.plan.endpoints()["dav"].rpartition(":")[0].strip("[]")
        try:
            conn = http.client.HTTPSConnection(host, self.plan["dav"], timeout=3, context=ctx)
            conn.request("GET", "/.well-known/caldav")
            ok = conn.getresponse().status in (301, 302, 303, 307, 308)
            conn.close()
            return ok
        except (OSError, http.client.HTTPException):
            return False

    def stop(self) -> None:
        super().stop()
        self.pidfile().unlink(missing_ok=True)

    def chore(self) -> None:
        self.sweep_removed()

    def sweep_removed(self) -> list[str]:
        """Delete the DAV data of principals that are no account any more, and the shared
        calendars of tenants that are gone (`zenmail account remove` and the API delete an
        account's data at once; this catches every other way out). Returns what it deleted."""
        found = storage.principals(self.settings)
        shared_root = storage.collections(self.settings) / storage.SHARED
        tenants = sorted(p.name for p in shared_root.iterdir()) if shared_root.is_dir() else []
        if not found and not tenants:
            return []
        db = Database(self.settings.db_url)
        try:
            with db.reading() as s:
                known = set(s.scalars(select(Account.address)
                                      .where(Account.address.in_(found))))
                live = set(s.scalars(select(Tenant.name).where(Tenant.name.in_(tenants))))
        finally:
            db.dispose()
        # The watch's probe account is no directory account; its CalDAV probe cleans up
        # after itself.
        probe = probeaccount.address(self.settings)
        gone = [a for a in found if a not in known and a != probe]
        for address in gone:
            local.remove(self.settings, address)
        for tenant in tenants:
            if tenant not in live:
                shutil.rmtree(shared_root / tenant)
                gone.append(f"{storage.SHARED}/{tenant}")
        return gone

