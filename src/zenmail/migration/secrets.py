"""Source passwords kept for a project's later runs, encrypted at rest.

A project runs several times (pre-syncs, day X, the final delta), so it must keep the
source credentials it was given; they are the old provider's, which zenmail cannot hash
like its own. They are stored in the directory encrypted (Fernet: AES-128-CBC + HMAC) with a
key that lives only in the state directory (STATE/secrets/migration.key, 0600), so a copy of
the database alone reveals nothing. `zenmail migrate project remove` drops them.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from zenmail.errors import InvalidInput


class SecretBox:
    def __init__(self, key_file: Path) -> None:
        self.key_file = key_file

    def _fernet(self) -> Fernet:
        if not self.key_file.exists():
            self.key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = self.key_file.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(Fernet.generate_key())
            os.replace(tmp, self.key_file)
        return Fernet(self.key_file.read_bytes().strip())

    def seal(self, secret: str) -> str:
        return self._fernet().encrypt(secret.encode()).decode()

    def open(self, token: str) -> str:
        try:
            return self._fernet().decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise InvalidInput(f"a stored source password cannot be read with "
                               f"{self.key_file} (was the key replaced?); add the project "
                               "again with its CSV") from exc
