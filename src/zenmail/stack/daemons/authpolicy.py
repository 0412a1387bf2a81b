"""The login-failure policy Dovecot asks before and after every login (IMAP, ManageSieve,
SMTP AUTH through Postfix): zenmail.security.authpolicy, as a supervised process of the stack.

It locks out whoever guesses passwords, per account, per client address and per pair, without
locking out the other people behind the same address (zenmail.security.lockout); its state
is in Redis, so it depends on Redis. Dovecot reaches it on loopback (`provides()`), with a key
from STATE/secrets that both read. Started from its import path, like the API: the stack
imports none of zenmail.security.
"""

from __future__ import annotations

import http.client

from zenmail.stack.base import PythonService
from zenmail.stack.files import ensure_secret
from zenmail.stack.ports import Port


class AuthPolicy(PythonService):
    name = "authpolicy"
    module = "zenmail.security.authpolicy"
    # Loopback only: what it tells and what it accepts concern every login of the stack.
    ports = (Port("authpolicy", 4001, "loopback"),)
    depends_on = ("redis",)

    def args(self) -> list[str]:
        return ["--settings", str(self.layout.settings_snapshot),
                "--listen", f"127.0.0.1:{self.plan['authpolicy']}",
                "--key-file", str(self.layout.policy_key)]

    def provides(self) -> dict[str, str]:
        return {"auth-policy": f"http://127.0.0.1:{self.plan['authpolicy']}/"}

    def prepare(self) -> None:
        ensure_secret(self.layout.policy_key)

    def healthy(self) -> bool:
        if self.pid() is None:
            return False
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.plan["authpolicy"], timeout=3)
            conn.request("GET", "/health")
            ok = conn.getresponse().status == 200
            conn.close()
            return ok
        except OSError:
            return False
