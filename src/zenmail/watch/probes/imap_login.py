"""An IMAP login as a customer's mail client does it: greeting, STARTTLS, LOGIN (the
directory's auth path and the login policy), SELECT INBOX. It also empties the probe
mailbox of what earlier probes left."""

from __future__ import annotations

import time

from zenmail.watch.probes.base import Mailbox, Probe


class ImapLogin(Probe):
    name = "imap_login"

    def measure(self) -> float:
        start = time.monotonic()
        box = Mailbox(self.target)  # connect, STARTTLS, LOGIN, SELECT, IDLE
        took = time.monotonic() - start
        try:
            box.purge()
        finally:
            box.close()
        return took
