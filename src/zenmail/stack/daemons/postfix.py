"""The private Postfix: an MX-role SMTP listener and submission listeners (STARTTLS or
implicit TLS, Dovecot SASL required), virtual domains, mailboxes and aliases from
sqlite:/pgsql: maps on the directory tables, delivery over LMTP to Dovecot, quota-status
at RCPT time; a loopback-only listener for the mail Dovecot sends itself (Sieve vacation
replies and redirects, quota warnings); mail to other domains straight to their MX, through
a relay host ([relay]), or held in the queue (dev plan without a relay).

Runs as `postfix -c STATE/postfix/etc` with its own queue and data directories; no
postmulti, no chroot. Where Dovecot's LMTP, SASL and quota-status are comes from the stack
(`endpoint(...)`): the local Dovecot's sockets, or another node's, as settings say.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zenmail.config import Settings
from zenmail.directory import lookups
from zenmail.errors import InvalidInput
from zenmail.stack import health, probeaccount, proc
from zenmail.stack.base import Service, run
from zenmail.stack.daemons import postscreen
from zenmail.stack.dbconf import daemons_url, from_url
from zenmail.stack.files import ensure_dir, render, template, write_atomic
from zenmail.stack.ports import Port, family, is_wildcard
from zenmail.stack.tls import certificate_paths, fingerprint

# Where Postfix finds the certificate authorities that vouch for a relay host (Debian's
# ca-certificates bundle); Postfix does not use OpenSSL's default paths by itself.
SYSTEM_CA_FILE = "/etc/ssl/certs/ca-certificates.crt"

# Postfix waits until a configuration file it reads is a couple of seconds old (a guard
# against half-edited files); ours are written atomically, so they are dated back.
BACKDATE = 10.0


def _listener_host(address: str) -> str:
    """The `host:` prefix of a master.cf service name (empty: every inet_interface)."""
    if is_wildcard(address):
        return ""
    return f"[{address}]:" if ":" in address else f"{address}:"


def relayhost(settings: Settings) -> str:
    """The relay host as Postfix's nexthop ([host]:port: no MX lookup for it), or ""."""
    relay = settings.relay
    if not relay.host:
        return ""
    host = f"ipv6:{relay.host}" if ":" in relay.host else relay.host
    return f"[{host}]:{relay.port}"


def _outbound(settings: Settings, conf_dir: Path) -> dict[str, str]:
    """main.cf values for mail to other domains: through the relay host if one is set,
    else straight to the MX (standard plan) or held in the queue (dev plan: no DNS, and a
    dev stack must never send to the internet by accident)."""
    standard = settings.ports.plan == "standard"
    relay, nexthop = settings.relay, relayhost(settings)
    lines = []
    if nexthop:
        lines.append("# TLS is required towards the relay; `verify` also checks its certificate "
                     "against the\n# CA file and its host name, so the login goes to it alone.")
        if relay.tls == "verify":
            lines.append(f"smtp_tls_CAfile = {relay.ca_file or SYSTEM_CA_FILE}")
        lines.append("smtp_tls_mandatory_protocols = >=TLSv1.2")
        if relay.username:
            lines += [
                "# The login: a table only root can read. smtp(8) opens it as root, before it "
                "drops to\n# the postfix user; texthash needs no postmap, so the generation "
                "stays plain text.",
                "smtp_sasl_auth_enable = yes",
                f"smtp_sasl_password_maps = texthash:{conf_dir}/relay_passwd",
                "# PLAIN/LOGIN only inside TLS, never anonymous.",
                "smtp_sasl_security_options = noplaintext, noanonymous",
                "smtp_sasl_tls_security_options = noanonymous",
                "# Refused credentials defer the mail (it stays queued), never bounce it.",
                "smtp_sasl_auth_soft_bounce = yes",
            ]
    else:
        lines.append("# No relay host ([relay] host is empty).")
    return {
        "dns_level": "enabled" if standard else "disabled",
        "smtp_host_lookup": "dns, native" if standard else "native",
        "relayhost": nexthop,
        "defer_transports": "" if nexthop or standard else "smtp",
        "smtp_tls_level": ("may" if not nexthop else
                           "secure" if relay.tls == "verify" else "encrypt"),
        "relay": "\n".join(lines),
    }


def _milter(settings: Settings, endpoint: Callable[[str], str]) -> str:
    """main.cf lines that put rspamd in the way of every SMTP listener ([filter] enabled)."""
    if not settings.filter.enabled:
        return "# [filter] enabled = false (`up --no-filter`): no milter, the bare path."
    return "\n".join([
        "# rspamd scans every message on every listener (MX, submission, Dovecot's own mail):",
        "# spam and viruses are refused at the end of DATA, never accepted and dropped. Over a",
        "# unix socket (a TCP milter cost ≈45 ms per message). If rspamd does not answer, the",
        "# sender is told to retry (4xx): no mail goes through unscanned.",
        f"smtpd_milters = {endpoint('milter')}",
        "non_smtpd_milters = $smtpd_milters",
        "milter_protocol = 6",
        "milter_default_action = tempfail",
        "milter_connect_timeout = 10s",
        "milter_mail_macros = i {mail_addr} {client_addr} {client_name} {auth_authen}",
    ])


class Postfix(Service):
    name = "postfix"
    process_name = "master"
    ports = (Port("smtp", 25), Port("submission", 587), Port("submissions", 465),
             # Where Dovecot hands over the mail it sends itself. Its SMTP client cannot log
             # in, so this listener is on 127.0.0.1 only and relays for that address alone.
             Port("submit", 26, "loopback"))
    depends_on = ("dovecot",)
    binaries = ("postfix", "postconf", "postqueue")
    # Mail that waited in the queue while Dovecot was down goes out at once.
    after_restart_of = ("dovecot",)

    @property
    def queue_dir(self) -> Path:
        return self.home / "spool"

    @property
    def syslog_name(self) -> str:
        return "zm" + hashlib.sha256(str(self.layout.state).encode()).hexdigest()[:6] + "/postfix"

    def pidfile(self) -> Path:
        return self.queue_dir / "pid" / "master.pid"

    def provides(self) -> dict[str, str]:
        return {"submit": f"inet:127.0.0.1:{self.plan['submit']}"}

    @property
    def dh_params(self) -> Path:
        return self.home / "dh2048.pem"

    def prepare(self) -> None:
        ensure_dir(self.queue_dir)  # not the data directory: Postfix makes it, owned by itself
        ensure_dir(self.layout.log)
        relay = self.settings.relay
        if relay.host and relay.tls == "verify":
            ca = Path(relay.ca_file or SYSTEM_CA_FILE)
            if not ca.is_file():
                raise InvalidInput(f"{ca} does not exist, so the relay host's certificate "
                                   "cannot be checked; point [relay] ca_file at the PEM file "
                                   "of its certificate authority (or install "
                                   "ca-certificates)")
        if not self.dh_params.exists():
            # RFC 7919's ffdhe2048: a named, well-studied 2048-bit group, made instantly (no
            # prime search), public, so no secret to guard.
            tmp = self.dh_params.with_suffix(".tmp")
            run(["openssl", "genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt",
                 "group:ffdhe2048", "-out", str(tmp)], "making Postfix's DH parameters")
            tmp.chmod(0o644)
            tmp.replace(self.dh_params)

    def render(self, directory: Path) -> None:
        p = self.plan
        db = from_url(daemons_url(self.settings, self.layout))
        cert, key = certificate_paths(self.settings)
        # IPv4 always: the loopback listener for Dovecot's mail is on 127.0.0.1.
        families = {family(a) for a in p.listen} | {family("127.0.0.1")}
        wildcard = any(is_wildcard(a) for a in p.listen)
        ipv6 = any(":" in a for a in p.listen)
        values: dict[str, object] = {
            "queue_dir": self.queue_dir, "data_dir": self.home / "data",
            "log_dir": self.layout.log, "conf_dir": self.conf_dir,
            "syslog_name": self.syslog_name, "hostname": self.settings.hostname,
            "inet_interfaces": "all" if wildcard else ", ".join(p.listen),
            "inet_protocols": "all" if len(families) > 1 else "ipv6" if ipv6 else "ipv4",
            "mynetworks": "127.0.0.1/32" + (", [::1]/128" if ipv6 else ""),
            **_outbound(self.settings, self.conf_dir),
            "submit_port": p["submit"],
            "map": db.postfix_type,
            "lmtp": self.stack.endpoint("lmtp"),
            "sasl": self.stack.endpoint("sasl").removeprefix("unix:"),
            "quota_status": self.stack.endpoint("quota-status"),
            "tls_cert": cert, "tls_key": key, "tls_digest": fingerprint(self.settings),
            "dh_params": self.dh_params,
            "mx_recipients_per_message": self.settings.limits.mx_recipients_per_message,
            "mx_recipients_per_minute": self.settings.limits.mx_recipients_per_minute,
            "submission_auths_per_minute": self.settings.limits.submission_auths_per_minute,
            "mx_connections_per_minute": self.settings.limits.mx_connections_per_minute,
            "mx_connections_at_once": self.settings.limits.mx_connections_at_once,
            "milter": _milter(self.settings, self.stack.endpoint),
            "postscreen": postscreen.main_cf(self.settings, self.conf_dir),
        }
        smtpd_options = render(template("postfix/mx-smtpd.cf"), values)
        screened = postscreen.enabled(self.settings)
        values["postscreen_services"] = postscreen.behind(
            smtpd_options, postscreen.dnsblog_command(self.settings, directory, self.conf_dir)
        ) if screened else ""

        def mx(host: str) -> str:
            if screened:
                return postscreen.mx_listener(host, p["smtp"], self.syslog_name)
            return (f"{host}{p['smtp']} inet n       -      n      -      -       smtpd\n"
                    + smtpd_options)

        hosts = [""] if wildcard else [_listener_host(a) for a in p.listen]
        values["listeners"] = "".join(
            render(template("postfix/listeners.cf"),
                   {**values, "host": host, "mx": mx(host),
                    "submission_port": p["submission"], "submissions_port": p["submissions"]})
            for host in hosts)
        write_atomic(directory / "main.cf", render(template("postfix/main.cf"), values),
                     backdate=BACKDATE)
        write_atomic(directory / "master.cf", render(template("postfix/master.cf"), values),
                     backdate=BACKDATE)
        for name, query in lookups.POSTFIX.items():
            # Lookups run as the postfix user; the file may hold a database password.
            write_atomic(directory / "sql" / f"{name}.cf",
                         f"# Rendered by zenmail from zenmail/directory/lookups.py.\n"
                         f"{db.postfix_params}\nquery = {lookups.for_postfix(query)}\n",
                         mode=0o640, group="postfix", backdate=BACKDATE)
        (directory / "sql").chmod(0o755)
        probe = probeaccount.address(self.settings)
        for name, line in (("probe_domains", f"{probeaccount.domain(self.settings)} OK"),
                           ("probe_mailboxes", f"{probe} OK"),
                           ("probe_senders", f"{probe} {probe}")):
            write_atomic(directory / name, line + "\n", backdate=BACKDATE)
        relay = self.settings.relay
        if relay.host and relay.username:
            # The relay login, for smtp(8) only: root reads it before dropping privileges.
            write_atomic(directory / "relay_passwd",
                         f"{relayhost(self.settings)} {relay.username}:{relay.password}\n",
                         mode=0o600, backdate=BACKDATE)

    def check(self, directory: Path) -> None:
        # `postfix check` creates the queue's subdirectories with the right owners (2 s, so
        # only for a new queue); `postconf` catches a bad configuration quickly.
        if not (self.queue_dir / "maildrop").exists():
            run(["postfix", "-c", str(directory), "check"], "checking Postfix")
        run(["postconf", "-c", str(directory), "-n"], "checking Postfix's main.cf")
        run(["postconf", "-c", str(directory), "-M"], "checking Postfix's master.cf")

    def _launch(self) -> None:
        run(["postfix", "-c", str(self.conf_dir), "start"], "starting Postfix")

    def reload(self) -> None:
        run(["postfix", "-c", str(self.conf_dir), "reload"], "reloading Postfix")

    def healthy(self) -> bool:
        host, p = self.plan.connect_host(), self.plan
        return (self.pid() is not None
                and proc.banner(host, p["smtp"], b"220")
                and proc.banner(host, p["submission"], b"220")
                and proc.tcp_open(host, p["submissions"])
                and proc.banner("127.0.0.1", p["submit"], b"220"))

    def health_check(self) -> str | None:
        """Banner and EHLO on the MX, submission and loopback listeners."""
        if self.pid() is None:
            return "postfix is not running"
        host, p = self.plan.connect_host(), self.plan
        return (health.smtp(host, p["smtp"]) or health.smtp(host, p["submission"])
                or health.smtp("127.0.0.1", p["submit"]))

    def on_peer_restarted(self, peer: str) -> None:
        self.flush()

    def flush(self) -> None:
        """Retry every deferred message now."""
        run(["postqueue", "-c", str(self.conf_dir), "-f"], "flushing the Postfix queue")

    def queue(self) -> list[dict[str, Any]]:
        """Every message in the queue as `postqueue -j` describes it: queue_name, queue_id,
        sender ("MAILER-DAEMON" for the empty one), recipients [{address, delay_reason}]."""
        out = run(["postqueue", "-c", str(self.conf_dir), "-j"], "listing the Postfix queue")
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def queue_size(self) -> int:
        return len(self.queue())
