"""The probe account: a mailbox the watch's end-to-end probes send to and read, which no
customer sees and no tenant's quota counts.

It lives outside the directory on purpose: Dovecot knows it from a passwd-file (before its
SQL passdb/userdb), Postfix from small texthash tables beside its SQL maps. So it appears in
no tenant, no listing, no pool; its usage row in quota_usage (Dovecot's quota_clone writes
one) joins no account, so it counts for nobody. Its domain lies under the platform's host
name, which no tenant may hold (directory rules), so no customer can take it over.

Its password is a random key made once (STATE/secrets, root only), its hash stored beside
it, so re-rendering the configuration does not change a generation each time.
"""

from __future__ import annotations

from pathlib import Path

from zenmail.config import Settings
from zenmail.directory.passwords import Hasher
from zenmail.stack.files import Layout, ensure_secret, write_atomic

LOCAL_PART = "zenmail-probe"
QUOTA = "*:storage=64M"  # probe mail is deleted at once; a bound in case it is not


def domain(settings: Settings) -> str:
    return f"probe.{settings.hostname}"


def address(settings: Settings) -> str:
    return f"{LOCAL_PART}@{domain(settings)}"


def key_file(settings: Settings) -> Path:
    """Where the password lies (root only). Radicale's auth plugin is given this path in
    its configuration: it stands below the stack (zenmail.dav.auth)."""
    return Layout.of(settings.state_dir).secrets / "probe.key"


def password(settings: Settings) -> str:
    return ensure_secret(key_file(settings))


def password_hash(settings: Settings) -> str:
    """The {ARGON2ID} hash of the password, made once and kept (root only)."""
    path = Layout.of(settings.state_dir).secrets / "probe.hash"
    secret = password(settings)
    hasher = Hasher(settings.argon2_memory_kib, settings.argon2_time_cost)
    if path.exists():
        stored = path.read_text().strip()
        if hasher.verify(stored, secret):
            return stored
    stored = hasher.hash(secret)
    write_atomic(path, stored + "\n", mode=0o600)
    return stored


def passwd_line(settings: Settings) -> str:
    """The account in Dovecot's passwd-file format (uid/gid/home from mail_uid/mail_home)."""
    return f"{address(settings)}:{password_hash(settings)}::::::userdb_quota_rule={QUOTA}\n"
