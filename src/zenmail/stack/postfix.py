"""The private Postfix: an MX-role SMTP listener and submission listeners (STARTTLS or
implicit TLS, Dovecot SASL required), virtual domains, mailboxes and aliases from
sqlite:/pgsql: maps on the directory tables, delivery over LMTP to Dovecot, quota-status
at RCPT time.

Runs as `postfix -c STATE/postfix/etc` with its own queue and data directories; no
postmulti, no chroot.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from zenmail.stack import proc
from zenmail.stack.dbconf import POSTFIX_QUERIES, from_url
from zenmail.stack.dovecot import Dovecot
from zenmail.stack.files import ensure_dir, render, template, write_atomic
from zenmail.stack.service import Service, run

# Postfix waits until a configuration file it reads is a couple of seconds old (a guard
# against half-edited files); ours are written atomically, so they are dated back.
BACKDATE = 10.0


class Postfix(Service):
    name = "postfix"
    process_name = "master"

    @property
    def conf_dir(self) -> Path:
        return self.layout.postfix_conf

    @property
    def logfile(self) -> Path:
        return self.layout.log / "postfix.log"

    @property
    def syslog_name(self) -> str:
        return "zm" + hashlib.sha256(str(self.layout.state).encode()).hexdigest()[:6] + "/postfix"

    def pidfile(self) -> Path:
        return self.layout.postfix_queue / "pid" / "master.pid"

    def render(self) -> None:
        lay, p = self.layout, self.ports
        db = from_url(self.settings.db_url)
        dovecot = Dovecot(self.settings, p)
        ensure_dir(self.conf_dir)
        ensure_dir(lay.postfix_queue)
        ensure_dir(lay.log)
        bind = p.bind if p.bind not in ("*", "") else "0.0.0.0"
        standard_dns = self.settings.ports == "standard"
        values = {
            "queue_dir": lay.postfix_queue, "data_dir": lay.postfix_data, "log_dir": lay.log,
            "conf_dir": self.conf_dir, "syslog_name": self.syslog_name,
            "hostname": self.settings.hostname,
            "inet_interfaces": "all" if bind == "0.0.0.0" else bind,
            "dns_level": "enabled" if standard_dns else "disabled",
            "smtp_host_lookup": "dns, native" if standard_dns else "native",
            "map": db.postfix_type, "lmtp_socket": dovecot.lmtp_socket,
            "sasl_socket": dovecot.auth_socket, "quota_socket": dovecot.quota_socket,
            "tls_cert": lay.tls / "cert.pem", "tls_key": lay.tls / "key.pem",
            "smtp_listen": f"{bind}:{p.smtp}", "submission_listen": f"{bind}:{p.submission}",
            "submissions_listen": f"{bind}:{p.submissions}",
        }
        write_atomic(self.conf_dir / "main.cf", render(template("postfix/main.cf"), values),
                     backdate=BACKDATE)
        write_atomic(self.conf_dir / "master.cf", render(template("postfix/master.cf"), values),
                     backdate=BACKDATE)
        for name, query in POSTFIX_QUERIES.items():
            # Lookups run as the postfix user; the file may hold a database password.
            write_atomic(self.conf_dir / "sql" / f"{name}.cf",
                         f"# Rendered by zenmail.\n{db.postfix_params}\nquery = {query}\n",
                         mode=0o640, group="postfix", backdate=BACKDATE)
        # `postfix check` creates the queue's subdirectories with the right owners (2 s, so
        # only for a new queue); later, `postconf` catches a bad configuration quickly.
        if not (lay.postfix_queue / "maildrop").exists():
            run(["postfix", "-c", str(self.conf_dir), "check"], "checking Postfix")
        run(["postconf", "-c", str(self.conf_dir), "-n"], "checking the Postfix configuration")

    def _launch(self) -> None:
        run(["postfix", "-c", str(self.conf_dir), "start"], "starting Postfix")

    def reload(self) -> None:
        run(["postfix", "-c", str(self.conf_dir), "reload"], "reloading Postfix")

    def healthy(self) -> bool:
        host = self.ports.connect_host()
        return (self.pid() is not None
                and proc.banner(host, self.ports.smtp, b"220")
                and proc.banner(host, self.ports.submission, b"220")
                and proc.tcp_open(host, self.ports.submissions))

    def endpoints(self) -> dict[str, str]:
        e = self.ports.endpoints()
        return {k: e[k] for k in ("smtp", "submission", "submissions")}

    def flush(self) -> None:
        """Retry every deferred message now (after Dovecot came back)."""
        run(["postqueue", "-c", str(self.conf_dir), "-f"], "flushing the Postfix queue")

    def queue_size(self) -> int:
        out = run(["postqueue", "-c", str(self.conf_dir), "-j"], "listing the Postfix queue")
        return sum(1 for line in out.splitlines() if line.strip())
