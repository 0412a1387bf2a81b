"""Synthetic end-to-end probes, one small class per file, all run by `runner.run_round`.

    roundtrip.py   authenticated submission -> the probe mailbox (IMAP IDLE), read, delete
    inbound.py     the MX path: unauthenticated SMTP on port 25 -> the probe mailbox
    imap_login.py  an IMAP login to the probe mailbox (STARTTLS, LOGIN, SELECT)
    caldav.py      CalDAV through Radicale: PUT an event into the probe account's calendar,
                   read it back, delete it

Every probe sends to, reads and writes the probe account (zenmail.stack.probeaccount), which no
customer sees and no tenant's quota counts.
"""

from zenmail.watch.probes.base import Outcome, Probe, Target
from zenmail.watch.probes.caldav import CalDav
from zenmail.watch.probes.imap_login import ImapLogin
from zenmail.watch.probes.inbound import Inbound
from zenmail.watch.probes.roundtrip import RoundTrip

PROBES: tuple[type[Probe], ...] = (RoundTrip, Inbound, ImapLogin, CalDav)

__all__ = ["PROBES", "Outcome", "Probe", "Target"]
