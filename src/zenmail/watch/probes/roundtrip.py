"""Authenticated submission -> Postfix -> LMTP -> Dovecot -> the probe mailbox: the path of
every message a customer sends to a colleague. Latency: from the first SMTP byte to the
message read back over IMAP."""

from __future__ import annotations

import smtplib
import time

from zenmail.watch.probes.base import Mailbox, Probe, token


class RoundTrip(Probe):
    name = "roundtrip"

    def measure(self) -> float:
        t = self.target
        box = Mailbox(t)
        try:
            tok = token()
            start = time.monotonic()
            with smtplib.SMTP(t.host, t.submission_port, timeout=t.timeout) as smtp:
                smtp.starttls(context=t.tls())
                smtp.login(t.address, t.password)
                smtp.sendmail(t.address, [t.address], t.message(tok, self.name))
            box.wait_for(tok, start + t.timeout)
            return time.monotonic() - start
        finally:
            box.close()
