"""The vault's schedule (zenmail.vault.scheduler) as a supervised process of the stack:
snapshots every `[vault] every_minutes` and the retention after each, and the tenants'
eco policies once per `[eco] apply_every_hours` (their originals go into the vault first).
Started from its import path, like the API and the login-failure policy: the stack imports
none of zenmail.vault nor zenmail.eco. Needs Dovecot's store and restic; listens nowhere."""

from __future__ import annotations

from zenmail.stack.base import PythonService


class Vault(PythonService):
    name = "vault"
    module = "zenmail.vault.scheduler"
    binaries = ("restic",)
    depends_on = ("dovecot",)

    def args(self) -> list[str]:
        return ["--settings", str(self.layout.settings_snapshot)]
