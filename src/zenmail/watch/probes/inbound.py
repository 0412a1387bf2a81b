"""The MX path: mail from another server, unauthenticated on the SMTP listener (port 25),
through the recipient checks (maps, quota-status) to the probe mailbox. The null sender
(as bounces use) passes the rule that outsiders may not claim a hosted sender."""

from __future__ import annotations

import smtplib

from zenmail.watch.probes.base import DeliveryProbe


class Inbound(DeliveryProbe):
    name = "inbound"

    def send(self, tok: str) -> None:
        t = self.target
        with smtplib.SMTP(t.host, t.smtp_port, timeout=t.timeout) as smtp:
            smtp.ehlo("probe.zenmail.invalid")
            if smtp.has_extn("starttls"):
                smtp.starttls(context=t.tls())
                smtp.ehlo("probe.zenmail.invalid")
            smtp.sendmail("<>", [t.address], t.message(tok, self.name))
