"""Postfix's postscreen in front of the MX listener ([filter] postscreen, with the filtered
path): each new client is checked against the DNS block lists of [filter] dnsbl_sites and
the pregreet test before it reaches smtpd; one that fails gets `550 5.7.1 Service
unavailable; client [IP] blocked using ZONE` to each RCPT. The submission ports and the
loopback listener Dovecot sends through are never behind it. 127.0.0.1 (mynetworks) is not
screened.

postscreen asks the block lists through dnsblog(8), which uses the C library's resolver and
so /etc/resolv.conf. When [filter] nameservers names servers on port 53 (resolv.conf has no
port), dnsblog runs in a mount namespace of its own where /etc/resolv.conf is a file listing
them: the same DNS servers rspamd asks, without touching the machine's resolver.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from zenmail.config import Settings
from zenmail.stack.base import run
from zenmail.stack.files import write_atomic

RESOLV = "resolv.conf"
WRAPPER = "dnsblog-resolver"


def enabled(settings: Settings) -> bool:
    return settings.filter.enabled and settings.filter.postscreen


def port53_nameservers(settings: Settings) -> list[str]:
    """The [filter] nameservers that a resolv.conf can name (port 53, or none given)."""
    found = []
    for server in settings.filter.nameservers:
        if server.startswith("["):  # [v6] or [v6]:port
            host, _, port = server[1:].partition("]")
            port = port.removeprefix(":") or "53"
        elif server.count(":") == 1:  # v4:port
            host, _, port = server.partition(":")
        else:  # v4, or a bare v6
            host, port = server, "53"
        if port == "53":
            found.append(host)
    return found


def main_cf(settings: Settings, conf_dir: Path) -> str:
    """main.cf lines for postscreen (empty when it is off)."""
    if not enabled(settings):
        return "# No postscreen ([filter] postscreen = false or the bare path)."
    f, limits = settings.filter, settings.limits
    sites = ", ".join(f.dnsbl_sites)
    return "\n".join([
        "# postscreen screens new clients of the MX listener (stack/daemons/postscreen.py):",
        "# block lists ([filter] dnsbl_sites, threshold dnsbl_threshold) and the pregreet",
        "# test; a client that fails gets 550 5.7.1 to every RCPT (enforce), with the list.",
        "postscreen_access_list = permit_mynetworks",
        "# One cache for every listen address (proxywrite serialises the writes).",
        "postscreen_cache_map = proxy:btree:$data_directory/postscreen_cache",
        f"postscreen_dnsbl_sites = {sites}",
        f"postscreen_dnsbl_threshold = {f.dnsbl_threshold}",
        "postscreen_dnsbl_action = enforce",
        "postscreen_greet_action = enforce",
        f"postscreen_client_connection_count_limit = {limits.mx_connections_at_once}",
        # The resolver: see the module's docstring.
        f"# dnsblog resolves through {conf_dir}/{RESOLV}"
        if port53_nameservers(settings) else "# dnsblog uses /etc/resolv.conf",
    ])


def mx_listener(host: str, port: int, syslog_name: str) -> str:
    """master.cf lines of the MX listener: postscreen on the port, smtpd behind it as the
    `smtpd` pass service (see `behind`); without postscreen, smtpd on the port."""
    return (f"{host}{port} inet n       -      n      -      1       postscreen\n"
            f"  -o syslog_name={syslog_name}/postscreen\n")


def behind(smtpd_options: str, dnsblog_command: str) -> str:
    """master.cf services postscreen needs: the smtpd it hands clients to (with the MX
    listener's options), dnsblog and tlsproxy (STARTTLS while it talks to a client)."""
    return (f"smtpd      pass  -       -       n       -       -       smtpd\n{smtpd_options}"
            f"dnsblog    unix  -       -       n       -       0       {dnsblog_command}\n"
            "tlsproxy   unix  -       -       n       -       0       tlsproxy\n")


def dnsblog_command(settings: Settings, directory: Path, conf_dir: Path) -> str:
    """The master.cf command of dnsblog; writes the resolver files into `directory` (a
    configuration generation, live at `conf_dir`) when [filter] nameservers asks for them.
    master(8) runs commands relative to daemon_directory, hence the relative path."""
    servers = port53_nameservers(settings)
    if not servers:
        return "dnsblog"
    write_atomic(directory / RESOLV,
                 "# Rendered by zenmail from [filter] nameservers, for dnsblog only.\n"
                 + "".join(f"nameserver {s}\n" for s in servers) + "options timeout:2\n",
                 mode=0o644)
    daemons = daemon_directory()
    inner = (f"mount --bind {shlex.quote(str(conf_dir / RESOLV))} /etc/resolv.conf "
             f"&& exec {shlex.quote(daemons)}/dnsblog \"$@\"")
    # master runs it as root (dnsblog drops to postfix itself); the namespace's mounts are
    # private, so the bind mount is seen by this dnsblog alone.
    write_atomic(directory / WRAPPER,
                 "#!/bin/sh\n# Rendered by zenmail: dnsblog with [filter] nameservers as its "
                 "resolver.\nexec unshare --mount --propagation private -- /bin/sh -c "
                 f"{shlex.quote(inner)} dnsblog \"$@\"\n", mode=0o755)
    return os.path.relpath(conf_dir / WRAPPER, daemons)


_DAEMON_DIR: list[str] = []


def daemon_directory() -> str:
    """Where Postfix's daemons are (/usr/lib/postfix/sbin on Debian)."""
    if not _DAEMON_DIR:
        out = run(["postconf", "-dh", "daemon_directory"], "asking Postfix for its daemons")
        _DAEMON_DIR.append(out.strip())
    return _DAEMON_DIR[0]
