"""The private Dovecot: IMAP (STARTTLS and implicit TLS), LMTP, SASL for Postfix, Sieve,
quota from the directory with a quota-status policy for Postfix, lazy_expunge. The mail it
sends itself (Sieve vacation replies and redirects, quota warnings) leaves through the
private Postfix's loopback listener (`endpoint("submit")`).

Runs as `dovecot -c STATE/dovecot/etc/dovecot.conf` with its own base_dir, state_dir, log
and instance name, so several stacks coexist with each other and with a system Dovecot.
"""

from __future__ import annotations

import hashlib
import hmac
import subprocess
from pathlib import Path

from zenmail.db import Database
from zenmail.directory import lookups, names, usage
from zenmail.errors import StackError
from zenmail.stack import health, probeaccount, proc
from zenmail.stack.base import Service, run
from zenmail.stack.dbconf import daemons_url, from_url
from zenmail.stack.files import (
    ensure_dir,
    ensure_secret,
    render,
    tail,
    template,
    write_atomic,
)
from zenmail.stack.ports import Port
from zenmail.stack.tls import certificate_paths, fingerprint

# Dovecot's own words for "every address": `*` (IPv4) and `::` (IPv6).
_WILDCARDS = {"0.0.0.0": "*", "::": "::"}

# The quota-warning script runs as the mail user with Debian's interpreter (python3 comes
# with python3-venv): standard library only, so it needs nothing from zenmail's venv, which
# may lie where `mail` cannot read.
PYTHON = "/usr/bin/python3"


def parse_usage(table: str) -> dict[str, tuple[int, int]]:
    """`doveadm -f tab mailbox status -A -t "messages vsize" "*"`: (bytes, messages) per user.

    The figures the quota's `count` backend counts (vsizes, every folder), exactly as its
    quota_clone plugin copies them; the header names the columns, in Dovecot's own order.
    """
    lines = [line for line in table.splitlines() if line.strip()]
    if not lines:
        return {}
    header = [name.lower() for name in lines[0].split("\t")]  # "Username\tmessages\tvsize"
    try:
        col = {name: header.index(name) for name in ("username", "vsize", "messages")}
    except ValueError as exc:
        raise StackError(f"doveadm mailbox status: unexpected header {lines[0]!r}") from exc
    figures: dict[str, tuple[int, int]] = {}
    for line in lines[1:]:
        cells = line.split("\t")
        try:
            figures[cells[col["username"]]] = (int(cells[col["vsize"]]),
                                               int(cells[col["messages"]]))
        except (IndexError, ValueError) as exc:
            raise StackError(f"doveadm mailbox status: unexpected line {line!r}") from exc
    return figures


def smtp_host(endpoint: str) -> tuple[str, int]:
    """host, port of an inet: endpoint: Dovecot's SMTP client speaks TCP only."""
    kind, _, rest = endpoint.partition(":")
    host, _, port = rest.rpartition(":")
    if kind != "inet" or not port.isdigit():
        raise StackError(f"Dovecot sends its mail over TCP, but the submit endpoint is "
                         f"{endpoint!r}; give it as inet:HOST:PORT")
    return host.strip("[]"), int(port)


# How long deleted mail stays restorable in the Expunged folder.
EXPUNGED_KEEP = "30d"


def _learning(sieve_dir: Path) -> str:
    """plugin {} settings: the user trains the filter by moving mail ([filter] enabled)."""
    return "\n".join([
        "  # The user trains the filter (docs/filtering.md): into Junk = spam, from Junk into",
        "  # the inbox = ham, piped to rspamd's controller by imap_sieve.",
        "  sieve_plugins = sieve_imapsieve sieve_extprograms",
        "  sieve_global_extensions = +vnd.dovecot.pipe",
        f"  sieve_pipe_bin_dir = {sieve_dir}/bin",
        "  imapsieve_mailbox1_name = Junk",
        "  imapsieve_mailbox1_causes = COPY APPEND",
        f"  imapsieve_mailbox1_before = file:{sieve_dir}/learn-spam.sieve",
        "  imapsieve_mailbox2_name = INBOX",
        "  imapsieve_mailbox2_from = Junk",
        "  imapsieve_mailbox2_causes = COPY",
        f"  imapsieve_mailbox2_before = file:{sieve_dir}/learn-ham.sieve",
        ""])


class Dovecot(Service):
    name = "dovecot"
    process_name = "dovecot"
    ports = (Port("imap", 143), Port("imaps", 993), Port("sieve", 4190),
             Port("lmtp", 24, "loopback"))  # LMTP has no authentication: loopback only
    binaries = ("dovecot", "doveconf", "doveadm", PYTHON)
    # The usage sweep and the purge of Expunged: each ~0.3 s of doveadm for 1,000 accounts
    # (docs/stack.md, "the sweep").
    chore_every = 600.0

    @property
    def conf(self) -> Path:
        return self.conf_dir / "dovecot.conf"

    @property
    def base_dir(self) -> Path:
        # Short on purpose: unix socket paths are limited to 108 bytes.
        return self.layout.run / "dovecot"

    @property
    def instance(self) -> str:
        return "zenmail-" + hashlib.sha256(str(self.layout.state).encode()).hexdigest()[:10]

    def pidfile(self) -> Path:
        return self.base_dir / "master.pid"

    def provides(self) -> dict[str, str]:
        return {"lmtp": f"unix:{self.base_dir / 'lmtp'}",
                "sasl": f"unix:{self.base_dir / 'auth-postfix'}",
                "quota-status": f"unix:{self.base_dir / 'quota-status'}"}

    def prepare(self) -> None:
        ensure_dir(self.layout.run)
        ensure_dir(self.layout.log)
        ensure_dir(self.home / "lib")
        ensure_dir(self.settings.mail_store, 0o770, owner="mail", group="mail")
        ensure_secret(self.layout.policy_key)
        # The global spam-to-Junk script, compiled here so every delivery reads the binary
        # (the mail user may not write it). Outside the configuration generations: the
        # binary names its source's path, so compiling it in a staged directory would make
        # every generation look new.
        script = self.sieve_dir / "spam-to-junk.sieve"
        ensure_dir(self.sieve_dir)
        changed = write_atomic(script, template("dovecot/spam-to-junk.sieve"))
        if changed or not script.with_suffix(".svbin").exists():
            run(["sievec", "-c", "/dev/null", str(script)],
                "compiling the spam-to-Junk Sieve script")
        if self.settings.filter.enabled:
            self._prepare_learning()

    def _prepare_learning(self) -> None:
        """Moving mail into Junk teaches rspamd spam, out of Junk into the inbox ham: Dovecot's
        imap_sieve runs these scripts, which pipe the message to rspamd's controller."""
        spool = self.stack.endpoint("rspamd-learn").removeprefix("spool:")
        bin_dir = ensure_dir(self.sieve_dir / "bin")
        for kind in ("spam", "ham"):
            # Into rspamd's learning spool (its controller socket is root's and rspamd's
            # only): written in tmp/, renamed into new/ whole, taught by rspamd's chore.
            write_atomic(bin_dir / f"learn-{kind}",
                         "#!/bin/sh\n# Rendered by zenmail: hand what the user filed to "
                         "rspamd's learning (stack/daemons/rspamd.py).\numask 007\n"
                         f'tmp=$(mktemp "{spool}/tmp/XXXXXXXX") || exit 75\n'
                         f'cat > "$tmp" && exec mv "$tmp" "{spool}/new/{kind}-${{tmp##*/}}"\n',
                         mode=0o755)
            script = self.sieve_dir / f"learn-{kind}.sieve"
            changed = write_atomic(script, 'require ["vnd.dovecot.pipe", "copy"];\n'
                                   f'pipe :copy "learn-{kind}";\n')
            if changed or not script.with_suffix(".svbin").exists():
                conf = self.sieve_dir / ".sievec.conf"
                write_atomic(conf, "plugin {\n  sieve_plugins = sieve_extprograms\n"
                             "  sieve_global_extensions = +vnd.dovecot.pipe\n"
                             f"  sieve_pipe_bin_dir = {bin_dir}\n}}\n")
                run(["sievec", "-c", str(conf), str(script)],
                    "compiling the Sieve script that teaches rspamd")

    @property
    def sieve_dir(self) -> Path:
        return self.home / "sieve"

    def render(self, directory: Path) -> None:
        p = self.plan
        db = from_url(daemons_url(self.settings, self.layout))
        cert, key = certificate_paths(self.settings)
        submit_host, submit_port = smtp_host(self.stack.endpoint("submit"))
        values: dict[str, object] = {
            "instance": self.instance, "base_dir": self.base_dir,
            "state_dir": self.home / "lib", "log_dir": self.layout.log,
            "conf_dir": self.conf_dir, "conf": self.conf, "mail_dir": self.settings.mail_store,
            "sieve_dir": self.sieve_dir,
            "imap_sieve": " imap_sieve" if self.settings.filter.enabled else "",
            "learning": _learning(self.sieve_dir) if self.settings.filter.enabled else "",
            "hostname": self.settings.hostname,
            "listen": ", ".join(_WILDCARDS.get(a, a) for a in p.listen),
            "tls_cert": cert, "tls_key": key, "tls_digest": fingerprint(self.settings),
            "imap_port": p["imap"], "imaps_port": p["imaps"], "sieve_port": p["sieve"],
            "lmtp_port": p["lmtp"], "submit_host": submit_host, "submit_port": submit_port,
            "python": PYTHON, "driver": db.dovecot_driver, "connect": db.dovecot_connect,
            "username_chars": _username_chars(),
            **{name: lookups.for_dovecot(q) for name, q in lookups.DOVECOT.items()},
            "usage_maps": lookups.dict_maps(),
            "dict_groups": "  extra_groups = postfix" if db.sqlite_path else "",
            "policy_url": self.stack.endpoint("auth-policy"),
            "auth_cache_size": "10M" if self.settings.devices.auth_cache_ttl else "0",
            "auth_cache_ttl": max(self.settings.devices.auth_cache_ttl, 1),
            "zlib_save": zlib_save(self.settings.eco.compression,
                                   self.settings.eco.compression_level),
        }
        write_atomic(directory / "dovecot.conf", render(template("dovecot/dovecot.conf"),
                                                        values))
        # Holds the PostgreSQL password, if any: root only (Dovecot reads it as root).
        write_atomic(directory / "sql.conf.ext", render(template("dovecot/sql.conf.ext"),
                                                        values), mode=0o600)
        # The dict process (user dovecot) reads it; it holds the PostgreSQL password, if any.
        write_atomic(directory / "dict-usage.conf.ext",
                     render(template("dovecot/dict-usage.conf.ext"), values), mode=0o640,
                     group="dovecot")
        # The login-failure policy's key, and the nonce that keys the password hashes Dovecot
        # sends it: root only, like the database password.
        secret = self.layout.policy_key.read_text().strip()
        nonce = hmac.new(secret.encode(), b"auth_policy_hash_nonce", hashlib.sha256).hexdigest()
        write_atomic(directory / "policy.conf.ext",
                     "# Rendered by zenmail: secrets of the login-failure policy.\n"
                     f"auth_policy_hash_nonce = {nonce}\n"
                     f"auth_policy_server_api_header = X-Zenmail-Policy-Key: {secret}\n",
                     mode=0o600)
        # The probe account's hash; the auth process reads it as user dovecot.
        write_atomic(directory / "probe.passwd", probeaccount.passwd_line(self.settings),
                     mode=0o640, group="dovecot")
        write_atomic(directory / "credentials.lua", template("dovecot/credentials.lua"))
        write_atomic(directory / "quota-warning",
                     render(template("dovecot/quota-warning"), values), mode=0o755)

    def check(self, directory: Path) -> None:
        run(["doveconf", "-c", str(directory / "dovecot.conf"), "-n"],
            "checking the Dovecot configuration")

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
        p = self.plan
        return (self.pid() is not None
                and proc.banner(p.connect_host(), p["imap"], b"* OK")
                and proc.banner("127.0.0.1", p["lmtp"], b"220")
                and (self.base_dir / "auth-postfix").exists()
                and (self.base_dir / "quota-status").exists())

    def health_check(self) -> str | None:
        """IMAP greeting and the probe account's login (auth and userdb answer), LMTP LHLO."""
        if self.pid() is None:
            return "dovecot is not running"
        p = self.plan
        return (health.imap_login(p.connect_host(), p["imap"],
                                  probeaccount.address(self.settings),
                                  probeaccount.password(self.settings))
                or health.smtp("127.0.0.1", p["lmtp"], "LHLO"))

    def reload(self) -> None:
        self.doveadm("reload")

    def chore(self) -> None:
        self.purge_expunged()
        self.sweep_usage()

    def purge_expunged(self, older_than: str = EXPUNGED_KEEP) -> None:
        """Remove for good what lazy_expunge kept longer than `older_than` (a doveadm
        interval such as "30d"); the restore window of deleted mail ends there."""
        run(["doveadm", "-c", str(self.conf), "expunge", "-A", "mailbox", "Expunged",
             "savedbefore", older_than], "purging old mail from Expunged", timeout=600)

    def sweep_usage(self) -> int:
        """Every account's usage from one doveadm call into quota_usage; returns how many rows
        changed. Corrects what quota_clone got out of order, and measures accounts whose
        mailbox has not changed since (after an upgrade). Opening each mailbox creates the
        account's mail folders, as its first login would."""
        table = run(["doveadm", "-c", str(self.conf), "-f", "tab", "mailbox", "status", "-A",
                     "-t", "messages vsize", "*"], "doveadm mailbox status", timeout=600)
        figures = parse_usage(table)
        db = Database(self.settings.db_url)
        try:
            with db.transaction() as s:
                return usage.record(s, figures)
        finally:
            db.dispose()

    def doveadm(self, *args: str, timeout: float = 60.0) -> str:
        return run(["doveadm", "-c", str(self.conf), *args], f"doveadm {args[0]}",
                   timeout=timeout)


def zlib_save(algorithm: str, level: int) -> str:
    """The zlib plugin's save settings: compress what is stored, or store it as is."""
    if algorithm == "none":
        return "  # zlib_save unset: new mail is stored uncompressed"
    if algorithm in ("gz", "bz2", "xz"):
        level = min(level, 9)
    return f"  zlib_save = {algorithm}\n  zlib_save_level = {level}"


def _username_chars() -> str:
    """Dovecot's `auth_username_chars`: every character of a hosted address, in both cases
    (users may type capitals; `%Lu` lowercases after the check), quoted for the `'`."""
    upper = "".join(c.upper() for c in sorted(names.LOCAL_PART_CHARS) if c.isalpha())
    return '"' + "".join(sorted(names.LOCAL_PART_CHARS)) + upper + "@" + '"'
