"""Authenticated submission -> Postfix -> LMTP -> Dovecot -> the probe mailbox: the path of
every message a customer sends to a colleague. Latency: from the first SMTP byte to the
message read back over IMAP."""

from __future__ import annotations

import smtplib

from zenmail.watch.probes.base import DeliveryProbe


class RoundTrip(DeliveryProbe):
    name = "roundtrip"

    def send(self, tok: str) -> None:
        t = self.target
        with smtplib.SMTP(t.host, t.submission_port, timeout=t.timeout) as smtp:
            smtp.starttls(context=t.tls())
            smtp.login(t.address, t.password)
            smtp.sendmail(t.address, [t.address], t.message(tok, self.name))
