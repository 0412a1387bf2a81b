"""What filtering costs: the same messages through the filtered path and the bare path.

Starts a private stack with filtering on (rspamd as a milter on a unix socket, clamd with a
signature database written here, Redis, a DNS server on loopback that answers NXDOMAIN at
once), then:

  filtered   N messages (~S KB of text, 4 in 5 with a link, 1 in 10 with a PDF-like
             attachment) over SMTP to the MX listener on C connections, to one mailbox:
             Postfix -> rspamd (+ clamd) -> LMTP -> Dovecot.
  bare       `zenmail up --no-filter` on the same stack (rspamd and clamd stop, Postfix
             loses its milter), and the same N messages to a second mailbox.

accepted/s = N / time until the last 250 after DATA; delivered/s = N / time until IMAP
STATUS shows all N. The ratio filtered/bare is the figure to watch (target: at least 0.5).

    sudo .venv/bin/python bench/filtering.py              # N=5000
    sudo .venv/bin/python bench/filtering.py -n 1000 -c 8
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import smtplib
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from delivery import (  # noqa: E402
    WORDS,
    bench_mailboxes,
    send_parallel,
    twin_batches,
    wait_delivered,
)
from zenmail.db import Database  # noqa: E402
from zenmail.devtools.filtering import DnsServer, write_signatures  # noqa: E402
from zenmail.devtools.stackdir import new_state  # noqa: E402
from zenmail.stack import manager  # noqa: E402
from zenmail.stack.registry import Stack  # noqa: E402


def make_message(i: int, to: str, size: int, rng: random.Random) -> bytes:
    """A plausible business message: text, often a link, sometimes an attachment."""
    lines, total = [], 0
    while total < size:
        line = " ".join(rng.choice(WORDS) for _ in range(11))
        lines.append(line)
        total += len(line) + 2
    if i % 5:
        lines.append(f"Details: https://portal.partner{i % 7}.example/orders/{i}")
    text = "\r\n".join(lines)
    head = (f"From: Partner {i % 13} <sales{i % 13}@partner.example>\r\nTo: <{to}>\r\n"
            f"Subject: order {i}: {rng.choice(WORDS)} {rng.choice(WORDS)}\r\n"
            f"Message-ID: <bench-{i}-{os.getpid()}@partner.example>\r\n"
            "Date: Fri, 27 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n")
    if i % 10:
        return (head + f"Content-Type: text/plain; charset=us-ascii\r\n\r\n{text}\r\n").encode()
    blob = os.urandom(3000).hex()
    body = "\r\n".join(blob[k:k + 76] for k in range(0, len(blob), 76))
    return (head + 'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\n'
            f"Content-Type: text/plain; charset=us-ascii\r\n\r\n{text}\r\n--b1\r\n"
            'Content-Type: application/pdf; name="order.pdf"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n" + body + "\r\n--b1--\r\n").encode()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("-n", "--messages", type=int, default=5000)
    ap.add_argument("-s", "--size", type=int, default=5_000, help="approximate text bytes")
    ap.add_argument("-c", "--connections", type=int, default=4)
    ap.add_argument("--timeout", type=float, default=1200.0, help="cap on the whole run (s)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/filtering.py starts the mail stack: run it as root", file=sys.stderr)
        return 2
    deadline = time.monotonic() + args.timeout
    dns = DnsServer().start()
    sigs = Path(tempfile.mkdtemp(prefix="zenmail-bench-clamdb-", dir="/tmp"))
    write_signatures(sigs)
    settings = new_state("zenmail-bench-", filter={
        "enabled": True, "clamav_db": str(sigs), "nameservers": [dns.address],
        "dnsbl": False})
    state = settings.state_dir
    db = Database(settings.db_url)
    try:
        filtered_box, bare_box = bench_mailboxes(db, "filtered", "bare")
        n = args.messages
        batch_f, batch_b = twin_batches(n, args.size, filtered_box, bare_box, make_message)

        results = {}
        for label, box, batch, values in (("filtered (rspamd + clamd milter)", filtered_box,
                                           batch_f, {}),
                                          ("bare (`up --no-filter`)", bare_box, batch_b,
                                           {"filter.enabled": False})):
            t0 = time.monotonic()
            manager.up(settings.with_values(values), with_api=False, supervise=False)
            print(f"stack up for {label} in {time.monotonic() - t0:.1f} s")
            p = Stack(settings).plan
            smtp_port = p["smtp"]
            start = time.monotonic()
            accepted, send_s = send_parallel(
                lambda port=smtp_port: smtplib.SMTP("127.0.0.1", port, timeout=120),  # type: ignore[misc]
                batch, box, args.connections, deadline)
            delivered = wait_delivered(p["imap"], box, accepted, deadline)
            results[label] = (accepted / send_s, delivered / (time.monotonic() - start),
                              delivered)

        print()
        print(f"filtering benchmark: {n} messages of ~{args.size // 1000} KB, "
              f"{args.connections} connections, {os.cpu_count()} CPUs")
        print(f"  {'path':<36} {'accepted/s':>11} {'delivered/s':>12} {'delivered':>10}")
        for label, (acc, dlv, count) in results.items():
            print(f"  {label:<36} {acc:>11.0f} {dlv:>12.0f} {count:>5}/{n}")
        (fa, fd, fc), (ba, bd, bc) = results.values()
        print(f"  ratio filtered/bare: accepted {fa / ba:.2f}, delivered {fd / bd:.2f} "
              "(target >= 0.5)")
        if time.monotonic() > deadline:
            print(f"  (stopped by --timeout {args.timeout:.0f} s: figures cover what was done)")
        return 0 if fc == n and bc == n else 1
    finally:
        manager.down(settings)
        db.dispose()
        shutil.rmtree(state, ignore_errors=True)
        shutil.rmtree(sigs, ignore_errors=True)
        dns.stop()


if __name__ == "__main__":
    sys.exit(main())
