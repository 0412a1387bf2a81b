"""A second, private Dovecot that plays "the old provider" for migration tests and benches.

`SourceImap.start(...)` writes a minimal standalone configuration into a temporary
directory (passwd-file users, maildir, its own base_dir and instance name, free ports) and
starts it. It can be told to look like another provider: another hierarchy separator,
no SPECIAL-USE on its folders, a master user (`user*master`, as Dovecot and Zimbra do).
Users are added with `add_user`; their mail is filled over a pre-authenticated IMAP pipe
(`doveadm exec imap`), so flags, keywords and internal dates are set exactly.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from zenmail.stack import proc
from zenmail.stack.ports import free_ports
from zenmail.stack.tls import ensure_certificate

_CONF = """\
instance_name = {instance}
base_dir = {base}/run
state_dir = {base}/lib
log_path = {base}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{base}/tls/cert.pem
ssl_key = <{base}/tls/key.pem
ssl_dh = </usr/share/dovecot/dh.pem
disable_plaintext_auth = no
auth_mechanisms = plain login{mechanisms}
auth_master_user_separator = *
auth_failure_delay = 0
mail_uid = mail
mail_gid = mail
first_valid_uid = 8
first_valid_gid = 8
mail_home = {base}/mail/%Lu
mail_location = maildir:~/Maildir{layout}
mail_max_userip_connections = 100
namespace inbox {{
  inbox = yes
  separator = {separator}
  prefix = {prefix}
{special}
}}
passdb {{
  driver = passwd-file
  args = {base}/masters
  master = yes
  result_success = continue
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%Lu {base}/users
}}
{oauth2}userdb {{
  driver = static
  args = uid=mail gid=mail allow_all_users=yes
}}
service imap-login {{
  inet_listener imap {{
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = {imaps_port}
    ssl = yes
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""

# OAuth2 access tokens (XOAUTH2, as Microsoft 365 and Gmail want) checked by Dovecot's own
# oauth2 passdb: signed JWTs validated locally with a shared HS256 key, the way an identity
# provider's tokens are validated without asking it (introspection_mode = local).
_OAUTH2_PASSDB = """\
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {base}/oauth2.conf.ext
}}
"""
_OAUTH2_CONF = """\
introspection_mode = local
local_validation_key_dict = fs:posix:prefix={base}/keys/
username_attribute = email
"""

_SPECIAL = """\
  mailbox Sent {
    special_use = \\Sent
  }
  mailbox Drafts {
    special_use = \\Drafts
  }
  mailbox Trash {
    special_use = \\Trash
  }
  mailbox Junk {
    special_use = \\Junk
  }
"""


@dataclass
class SourceImap:
    """A running source Dovecot; `stop()` (or the context manager) tears it down."""

    base: Path
    imap_port: int
    imaps_port: int
    users: dict[str, str] = field(default_factory=dict)
    oauth2_key: bytes | None = None

    @property
    def conf(self) -> Path:
        return self.base / "dovecot.conf"

    @property
    def cert(self) -> Path:
        return self.base / "tls" / "cert.pem"

    @classmethod
    def start(cls, separator: str = "/", special_use: bool = True, prefix: str = "",
              master: tuple[str, str] | None = None,
              oauth2_key: bytes | None = None) -> SourceImap:
        """Start one. `separator` "." with maildir++ layout like Courier/cPanel hosts;
        `special_use=False` like a provider that only has localized folder names; `prefix`
        "INBOX." puts every folder under INBOX, like Courier and Cyrus; `oauth2_key` also
        accepts XOAUTH2 logins with access tokens signed by that key (`oauth2_token`)."""
        base = Path(tempfile.mkdtemp(prefix="zenmail-source-", dir="/tmp"))
        os.chmod(base, 0o755)
        imap_port, imaps_port = free_ports(2)
        for sub in ("run", "lib", "mail", "tls"):
            (base / sub).mkdir()
        shutil.chown(base / "mail", "mail", "mail")
        ensure_certificate(base / "tls", "source.test")
        (base / "users").write_text("")
        masters = f"{master[0]}:{{PLAIN}}{master[1]}\n" if master else ""
        (base / "masters").write_text(masters)
        if oauth2_key:
            (base / "oauth2.conf.ext").write_text(_OAUTH2_CONF.format(base=base))
            keys = base / "keys" / "default" / "HS256"
            keys.mkdir(parents=True)
            (keys / "default").write_text(base64.b64encode(oauth2_key).decode())
            os.chmod(base / "keys", 0o755)
        instance = "zm-src-" + hashlib.sha256(str(base).encode()).hexdigest()[:8]
        me = cls(base, imap_port, imaps_port)
        (base / "dovecot.conf").write_text(_CONF.format(
            instance=instance, base=base, imap_port=imap_port, imaps_port=imaps_port,
            separator=separator, prefix=prefix, special=_SPECIAL if special_use else "",
            layout="" if separator == "." else ":LAYOUT=fs",
            mechanisms=" xoauth2 oauthbearer" if oauth2_key else "",
            oauth2=_OAUTH2_PASSDB.format(base=base) if oauth2_key else ""))
        me.oauth2_key = oauth2_key
        subprocess.run(["dovecot", "-c", str(me.conf)], check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=30)
        if not proc.wait_until(lambda: proc.tcp_open("127.0.0.1", imap_port), 20):
            me.stop()
            raise RuntimeError(f"the source Dovecot did not listen; see {base}/dovecot.log")
        return me

    def add_user(self, user: str, password: str) -> None:
        self.users[user.lower()] = password
        (self.base / "users").write_text(
            "".join(f"{u}:{p}\n" for u, p in self.users.items()))

    def oauth2_token(self, user: str, lifetime: int = 3600) -> str:
        """An access token for `user` (a JWT, HS256) that this source accepts over XOAUTH2."""
        assert self.oauth2_key, "start the source with oauth2_key"
        now = int(time.time())

        def part(value: dict[str, object]) -> bytes:
            return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=")
        head = part({"alg": "HS256", "typ": "JWT"}) + b"." + part(
            {"sub": user, "email": user, "iat": now, "nbf": now, "exp": now + lifetime})
        sig = base64.urlsafe_b64encode(hmac.new(self.oauth2_key, head, "sha256").digest())
        return (head + b"." + sig.rstrip(b"=")).decode()

    def pipe_command(self, user: str) -> list[str]:
        """A pre-authenticated IMAP session as `user` on stdin/stdout."""
        return ["doveadm", "-c", str(self.conf), "exec", "imap", "-u", user]

    def stop(self) -> None:
        subprocess.run(["doveadm", "-c", str(self.conf), "stop"], check=False,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=30)
        pid = proc.read_pid(self.base / "run" / "master.pid")
        if pid and proc.alive(pid):
            proc.terminate(pid)
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> SourceImap:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
