"""CalDAV through Radicale, as a calendar program does it: over HTTPS with the probe
account's login, PUT an event into the probe account's own calendar, read it back, delete
it. Latency: from the PUT to the DELETE answered.

The probe account is no directory account: Radicale's auth plugin (zenmail.dav.auth) knows
it by its key and gives it no tenant, so it reaches only its own principal
(/<probe address>/calendar/, made by Radicale at its first login); no customer's
calendar, listing or quota ever sees the probe's event.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from urllib.parse import quote

from zenmail.dav.client import CONTENT_TYPES, HttpTransport
from zenmail.dav.storage import DEFAULT_CALENDAR
from zenmail.watch.probes.base import Probe, ProbeFailed, token


def event(uid: str, hostname: str) -> bytes:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//zenmail//watch probe//EN\r\n"
            f"BEGIN:VEVENT\r\nUID:{uid}@{hostname}\r\nDTSTAMP:{stamp}\r\n"
            f"DTSTART:{stamp}\r\nDURATION:PT1M\r\nSUMMARY:zenmail probe {uid}\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n").encode()


class CalDav(Probe):
    name = "caldav"

    def measure(self) -> float:
        t = self.target
        host = f"[{t.host}]" if ":" in t.host else t.host
        dav = HttpTransport(f"https://{host}:{t.dav_port}/", t.address, t.password,
                            timeout=t.timeout, context=t.tls())
        tok = token()
        href = f"/{quote(t.address)}/{DEFAULT_CALENDAR}/{tok}.ics"
        stored = False
        try:
            start = time.monotonic()
            put = dav.request("PUT", href, event(tok, t.hostname),
                              {"Content-Type": CONTENT_TYPES["calendar"], "If-None-Match": "*"})
            if put.status not in (201, 204):
                raise ProbeFailed(f"PUT of the probe event answered {put.status}")
            stored = True
            got = dav.request("GET", href)
            if got.status != 200 or f"UID:{tok}@".encode() not in got.body:
                raise ProbeFailed(f"the probe event did not read back (GET answered "
                                  f"{got.status})")
            gone = dav.request("DELETE", href)
            if gone.status not in (200, 204):
                raise ProbeFailed(f"DELETE of the probe event answered {gone.status}")
            stored = False
            return time.monotonic() - start
        finally:
            if stored:  # a failed round leaves nothing behind in the probe's calendar
                try:
                    dav.request("DELETE", href)
                except Exception:  # Radicale is what failed: the probe says so already
                    pass
            dav.close()
