"""The Radicale auth plugin: `[auth] type = zenmail.dav.auth`.

Radicale loads this module by name and calls `Auth._login_ext_with_groups` for every request
with credentials. The account's address becomes the Radicale user (its principal /<address>/)
and its tenant a group, which the rights plugin (zenmail.dav.rights) uses for shared
calendars. The watch's probe account (zenmail.stack.probeaccount), which lives outside the
directory, is let in by its key (the stack, which stands above this module, writes its
address and key file into the configuration), with no tenant: it reaches its own principal
only, where the CalDAV probe writes and deletes one event a round. Wrong passwords count towards the
same lockouts as IMAP and SMTP logins (zenmail.security.lockout): a locked-out login is
refused here too. If Redis is unreachable the check fails open, as the policy server does
for Dovecot.

Options, in Radicale's configuration (rendered by stack/daemons/radicale.py):

    [auth]
    type = zenmail.dav.auth
    zenmail_settings = STATE/run/settings.json   # the settings `zenmail up` saved
    zenmail_probe = zenmail-probe@probe.HOST     # the watch's probe account
    zenmail_probe_key = STATE/secrets/probe.key  # its password (root only)
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from pathlib import Path

from radicale import auth, config

from zenmail.config import Settings
from zenmail.dav import storage
from zenmail.dav.login import Verifier
from zenmail.db import Database
from zenmail.errors import ZenmailError
from zenmail.security.lockout import Guard, RedisStore, record_lock

log = logging.getLogger("radicale")


class Auth(auth.BaseAuth):
    def __init__(self, configuration: config.Configuration) -> None:
        super().__init__(configuration)
        path = Path(configuration.get("auth", "zenmail_settings"))
        self._settings = Settings.model_validate_json(path.read_text())
        self._db = Database(self._settings.db_url)
        folder = Path(configuration.get("storage", "filesystem_folder"))
        self._verifier = Verifier(self._db, dav_bytes=lambda address: storage.bytes_used(
            folder / "collection-root" / address))
        self._key = secrets.token_bytes(32)  # keys the digests of wrong passwords
        self._guard = Guard(RedisStore(self._settings.redis_endpoint), self._settings.lockout)
        self._probe = configuration.get("auth", "zenmail_probe").lower()
        self._probe_key_file = Path(configuration.get("auth", "zenmail_probe_key"))
        self._probe_key: str | None = None  # read at the probe's first login (root only)

    def _login_ext_with_groups(self, login: str, password: str,
                               context: auth.AuthContext) -> tuple[str, set[str]]:
        remote = context.remote_addr or ""
        try:
            allowed = self._guard.allow(login, remote).allowed
        except ZenmailError as exc:  # Redis down: fail open, like the policy server
            log.warning("zenmail: lockout check skipped for %r: %s", login, exc)
            allowed = True
        if not allowed:
            log.info("zenmail: refused %r from %s: locked out", login, remote)
            return "", set()
        if login.lower() == self._probe:
            ok = self._probe_matches(password)
            self._report(login, remote, ok, password)
            return (self._probe, set()) if ok else ("", set())
        found = self._verifier.check(login, password)
        self._report(login, remote, found is not None, password)
        if found is None:
            return "", set()
        return found.address, found.groups

    def _probe_matches(self, password: str) -> bool:
        if self._probe_key is None:
            try:
                self._probe_key = self._probe_key_file.read_text().strip()
            except OSError as exc:
                log.error("zenmail: the probe account's key is unreadable: %s", exc)
                return False
        return hmac.compare_digest(self._probe_key.encode(), password.encode())

    def _report(self, login: str, remote: str, success: bool, password: str) -> None:
        # Only a keyed digest of the password reaches Redis: a repeated wrong one counts once.
        digest = hmac.new(self._key, password.encode(), hashlib.sha256).hexdigest()[:16]
        try:
            events = self._guard.report(login, remote, success, password_hash=digest)
        except ZenmailError as exc:
            log.warning("zenmail: login of %r not counted: %s", login, exc)
            return
        for event in events:
            log.warning("zenmail: locked out after %d failures: %s %s", event.failures,
                        event.kind, event.account or event.client)
            try:
                record_lock(self._db, event, "dav")
            except Exception as exc:  # the lockout holds even without its audit entry
                log.error("zenmail: audit entry for a lockout not written: %s", exc)
