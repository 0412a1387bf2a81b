"""The private Dovecot: IMAP (STARTTLS and implicit TLS), LMTP, SASL for Postfix, Sieve,
quota from the directory with a quota-status policy for Postfix, lazy_expunge.

Runs as `dovecot -c STATE/dovecot/dovecot.conf` with its own base_dir, state_dir, log and
instance name, so several stacks coexist with each other and with a system Dovecot.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from zenmail.errors import StackError
from zenmail.stack import proc
from zenmail.stack.dbconf import from_url
from zenmail.stack.files import ensure_dir, render, tail, template, write_atomic
from zenmail.stack.service import Service, run


class Dovecot(Service):
    name = "dovecot"
    process_name = "dovecot"

    @property
    def conf(self) -> Path:
        return self.layout.dovecot_conf

    @property
    def logfile(self) -> Path:
        return self.layout.log / "dovecot.log"

    @property
    def instance(self) -> str:
        return "zenmail-" + hashlib.sha256(str(self.layout.state).encode()).hexdigest()[:10]

    @property
    def auth_socket(self) -> Path:
        return self.layout.dovecot_base / "auth-postfix"

    @property
    def lmtp_socket(self) -> Path:
        return self.layout.dovecot_base / "lmtp"

    @property
    def quota_socket(self) -> Path:
        return self.layout.dovecot_base / "quota-status"

    def pidfile(self) -> Path:
        return self.layout.dovecot_base / "master.pid"

    def render(self) -> None:
        lay, p = self.layout, self.ports
        db = from_url(self.settings.db_url)
        ensure_dir(lay.dovecot_conf_dir)
        ensure_dir(lay.run)
        ensure_dir(lay.log)
        ensure_dir(lay.dovecot_state.parent)
        ensure_dir(lay.mail, 0o770, owner="mail", group="mail")
        tls = lay.tls
        values = {
            "instance": self.instance, "base_dir": lay.dovecot_base,
            "state_dir": lay.dovecot_state, "log_dir": lay.log, "conf_dir": lay.dovecot_conf_dir,
            "conf": self.conf, "mail_dir": lay.mail, "hostname": self.settings.hostname,
            "bind": "*" if p.bind in ("0.0.0.0", "*") else p.bind,
            "tls_cert": tls / "cert.pem", "tls_key": tls / "key.pem",
            "imap_port": p.imap, "imaps_port": p.imaps, "sieve_port": p.sieve,
            "lmtp_port": p.lmtp, "driver": db.dovecot_driver, "connect": db.dovecot_connect,
        }
        write_atomic(self.conf, render(template("dovecot/dovecot.conf"), values))
        # Holds the PostgreSQL password, if any: root only (Dovecot reads it as root).
        write_atomic(lay.dovecot_conf_dir / "sql.conf.ext",
                     render(template("dovecot/sql.conf.ext"), values), mode=0o600)
        write_atomic(lay.dovecot_conf_dir / "quota-warning.sh",
                     render(template("dovecot/quota-warning.sh"), values), mode=0o755)
        run(["doveconf", "-c", str(self.conf), "-n"], "checking the Dovecot configuration")

    def _launch(self) -> None:
        # After a kill -9 the dead master may linger as an unreaped zombie, which Dovecot
        # would take for a running instance and refuse to start.
        stale = proc.read_pid(self.pidfile())
        if stale and not proc.alive(stale, self.process_name):
            self.pidfile().unlink(missing_ok=True)
        self.logfile.parent.mkdir(parents=True, exist_ok=True)
        with open(self.logfile, "ab") as out:
            # stdio on the log, never a pipe: the daemon keeps them open.
            done = subprocess.run(["dovecot", "-c", str(self.conf)], stdin=subprocess.DEVNULL,
                                  stdout=out, stderr=out, timeout=30)
        if done.returncode != 0:
            raise StackError(f"dovecot did not start (exit {done.returncode}); last lines of "
                             f"{self.logfile}:\n{tail(self.logfile)}")

    def healthy(self) -> bool:
        p = self.ports
        host = p.connect_host()
        return (self.pid() is not None
                and proc.banner(host, p.imap, b"* OK")
                and proc.banner("127.0.0.1", p.lmtp, b"220")
                and self.auth_socket.exists() and self.quota_socket.exists())

    def endpoints(self) -> dict[str, str]:
        e = self.ports.endpoints()
        return {k: e[k] for k in ("imap", "imaps", "lmtp", "sieve")}

    def reload(self) -> None:
        self.doveadm("reload")

    def doveadm(self, *args: str) -> str:
        return run(["doveadm", "-c", str(self.conf), *args], f"doveadm {args[0]}")
