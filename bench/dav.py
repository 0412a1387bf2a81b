"""Calendars and contacts: what a DAV request costs with zenmail's login check, and how fast
a migration copies.

Starts a private stack (SQLite directory, free loopback ports) with an account whose password
is hashed as zenmail hashes people's passwords (Argon2id, 19 MiB, 2 passes), and measures:

  requests      PROPFIND Depth 1 on the account's calendar (20 events) over one kept-alive
                HTTPS connection, as a syncing client does -> requests/s through Radicale
                with zenmail's auth and rights plugins
  login check   zenmail's check as the plugin runs it (remembered success: one indexed
                query) beside the obvious alternative, verifying the Argon2id hash at every
                request (what a plugin without memory does; HTTP Basic resends the password
                with every request) -> ms per check
  migration     `migrate-dav` of N events from a second, private Radicale (plain HTTP on
                loopback) with multiget (100 items per REPORT) beside the alternative of one
                GET per item -> items/s

    sudo .venv/bin/python bench/dav.py                  # 1,000 events to migrate
    sudo .venv/bin/python bench/dav.py --events 300
"""

from __future__ import annotations

import argparse
import base64
import http.client
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from zenmail.dav import migrate
from zenmail.dav.client import Collection, DavClient, HttpTransport, Item
from zenmail.dav.login import Verifier
from zenmail.db import Database
from zenmail.devtools.stackdir import new_state
from zenmail.directory import accounts, domains, tenants
from zenmail.directory.context import Actor, Ctx
from zenmail.directory.passwords import Hasher
from zenmail.stack import manager, proc
from zenmail.stack.ports import free_ports
from zenmail.stack.registry import Stack

PASSWORD = "correct-horse-battery"


def event(uid: str, n: int) -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20261101T090000Z\r\nDTSTART:20261203T{n % 24:02d}0000Z\r\n"
            f"DURATION:PT1H\r\nSUMMARY:Meeting {n}\r\nDESCRIPTION:{'agenda ' * 20}\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n")


class GetEach(DavClient):
    """The alternative: list the collection, then one GET per item."""

    def items(self, coll: Collection) -> list[Item]:
        listing = self._multistatus("PROPFIND", coll.href, b'<?xml version="1.0"?>'
                                    b'<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/>'
                                    b"</D:prop></D:propfind>", "1")
        hrefs = [h for h, _ in listing if h.rstrip("/") != coll.href.rstrip("/")]
        return [i for i in (self.get(h) for h in hrefs) if i is not None]


def requests_per_second(port: int, cafile: str, user: str, seconds: float) -> float:
    ctx = ssl.create_default_context(cafile=cafile)
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=30)
    auth = "Basic " + base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
    body = (b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/>'
            b"</D:prop></D:propfind>")
    done, start = 0, time.monotonic()
    while time.monotonic() - start < seconds:
        conn.request("PROPFIND", f"/{user}/calendar/", body=body,
                     headers={"Authorization": auth, "Depth": "1"})
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 207, resp.status
        done += 1
    conn.close()
    return done / (time.monotonic() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    settings = new_state(prefix="zenmail-bench-dav-", argon2_memory_kib=19456,
                         argon2_time_cost=2)
    db = Database(settings.db_url)
    db.migrate()
    ctx = Ctx(db, Actor("bench"), Hasher())
    tenants.add(ctx, "acme", "100G")
    domains.add(ctx, "acme", "acme.test")
    users = ["alice@acme.test", "bob@acme.test", "carol@acme.test"]
    for user in users:
        accounts.add(ctx, user, password=PASSWORD, quota="5G")
    old = Path(tempfile.mkdtemp(prefix="zenmail-bench-old-dav-"))
    [old_port] = free_ports(1)
    (old / "users").write_text("old:old-password\n")
    (old / "config").write_text(
        f"[server]\nhosts = 127.0.0.1:{old_port}\n[auth]\ntype = htpasswd\n"
        f"htpasswd_filename = {old / 'users'}\nhtpasswd_encryption = plain\ndelay = 0\n"
        f"[rights]\ntype = owner_only\n[storage]\nfilesystem_folder = {old / 'data'}\n"
        "[web]\ntype = none\n[logging]\nlevel = warning\n")
    old_proc = subprocess.Popen([sys.executable, "-m", "radicale", "--config",
                                 str(old / "config")], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        manager.up(settings, with_api=False, supervise=False)
        port = Stack(settings).plan["dav"]
        cafile = str(settings.state_dir / "tls" / "cert.pem")
        alice = DavClient(HttpTransport(f"https://127.0.0.1:{port}/", users[0], PASSWORD,
                                        ca_file=cafile))
        alice.discover()
        for n in range(20):
            alice.put(f"/{users[0]}/calendar/e{n}.ics", event(f"e{n}@bench", n), "calendar")
        alice.t.close()  # type: ignore[attr-defined]

        rps = requests_per_second(port, cafile, users[0], args.seconds)
        verifier = Verifier(db)
        rounds = 200
        t0 = time.perf_counter()
        for _ in range(rounds):
            assert verifier.check(users[0], PASSWORD)
        remembered = (time.perf_counter() - t0) / rounds * 1000
        t0 = time.perf_counter()
        for _ in range(rounds // 10):
            assert Verifier(db).check(users[0], PASSWORD)  # nothing remembered
        hashed = (time.perf_counter() - t0) / (rounds // 10) * 1000

        src = DavClient(HttpTransport(f"http://127.0.0.1:{old_port}/", "old", "old-password"))
        proc.wait_until(lambda: _answers(src), 30, 0.1)
        src.t.request("PROPFIND", "/old/", b"", {"Depth": "0"})
        src.make_collection("/old/cal/", "calendar", "Calendar")
        for n in range(args.events):
            src.put(f"/old/cal/m{n}.ics", event(f"m{n}@old", n), "calendar")
        figures = {}
        for user, cls in ((users[1], DavClient), (users[2], GetEach)):
            transport = HttpTransport(f"http://127.0.0.1:{old_port}/", "old", "old-password")
            original = migrate.DavClient
            migrate.DavClient = cls  # type: ignore[misc]
            try:
                t0 = time.perf_counter()
                report = migrate.migrate_account(ctx, settings, user, transport,
                                                 f"http://127.0.0.1:{old_port}/")
                figures[cls.__name__] = args.events / (time.perf_counter() - t0)
            finally:
                migrate.DavClient = original  # type: ignore[misc]
            assert report.verdict == "complete" and report.copied == args.events, report
        t0 = time.perf_counter()
        again = migrate.migrate_account(ctx, settings, users[1], HttpTransport(
            f"http://127.0.0.1:{old_port}/", "old", "old-password"),
            f"http://127.0.0.1:{old_port}/")
        rerun = time.perf_counter() - t0
        assert again.copied == 0

        print(f"DAV requests (PROPFIND Depth 1, 20 events, HTTPS keep-alive): {rps:,.0f}/s")
        print(f"login check, remembered success (zenmail):  {remembered:6.2f} ms")
        print(f"login check, Argon2id every request (alt.): {hashed:6.2f} ms")
        print(f"migration of {args.events} events, multiget (zenmail): "
              f"{figures['DavClient']:,.0f} items/s")
        print(f"migration of {args.events} events, one GET each (alt.): "
              f"{figures['GetEach']:,.0f} items/s")
        print(f"re-run of the finished migration (copies nothing): {rerun:.2f} s")
    finally:
        manager.down(settings)
        old_proc.terminate()
        old_proc.wait(timeout=30)
        db.dispose()
        shutil.rmtree(settings.state_dir, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def _answers(client: DavClient) -> bool:
    try:
        return client.t.request("GET", "/.well-known/caldav").status > 0
    except Exception:
        return False


if __name__ == "__main__":
    main()
