"""The MX path: mail from another server, unauthenticated on the SMTP listener (port 25),
through the recipient checks (maps, quota-status) to the probe mailbox. The null sender
(as bounces use) passes the rule that outsiders may not claim a hosted sender."""

from __future__ import annotations

import smtplib
import time

from zenmail.watch.probes.base import Mailbox, Probe, token


class Inbound(Probe):
    name = "inbound"

    def measure(self) -> float:
        t = self.target
        box = Mailbox(t)
        try:
            tok = token()
            start = time.monotonic()
            with smtplib.SMTP(t.host, t.smtp_port, timeout=t.timeout) as smtp:
                smtp.ehlo("probe.zenmail.invalid")
                if smtp.has_extn("starttls"):
                    smtp.starttls(context=t.tls())
                    smtp.ehlo("probe.zenmail.invalid")
                smtp.sendmail("<>", [t.address], t.message(tok, self.name))
            box.wait_for(tok, start + t.timeout)
            return time.monotonic() - start
        finally:
            box.close()
