"""`zenmail demo`: a working platform to log into, in one command.

Initialises the state directory, starts the stack and the API, creates a demo company
(tenant `acme`, domain `acme.test`, a 5 GiB pool, four people, two aliases), an administrator
with an API token, sends a few realistic messages between the people over authenticated
submission, prints how to connect, and stays in the foreground until Ctrl-C stops it all.
Run again on the same state directory, it keeps the data and issues new passwords.
"""

from __future__ import annotations

import os
import signal
import smtplib
import ssl
import time
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from pathlib import Path

from zenmail.config import Settings
from zenmail.db import Database
from zenmail.directory import accounts, admins, aliases, domains, tenants
from zenmail.directory.context import Actor, Ctx, Platform
from zenmail.directory.passwords import Hasher, generate_password
from zenmail.errors import Conflict, StackError
from zenmail.stack import manager
from zenmail.stack.daemons.clamav import has_signatures
from zenmail.stack.dbconf import from_url
from zenmail.stack.files import blocking_parent
from zenmail.stack.registry import port_plan

TENANT = "acme"
DOMAIN = "acme.test"
PEOPLE = [  # local part, display name, role
    ("alice", "Alice Martin", "CEO"),
    ("bob", "Bob Keller", "Sales"),
    ("carol", "Carol Nguyen", "Accounting"),
    ("dave", "Dave Okafor", "IT"),
]
ALIASES = {"sales": ["bob", "alice"], "info": ["alice"]}
ADMIN = f"admin@{DOMAIN}"


def _address(local: str) -> str:
    return f"{local}@{DOMAIN}"


def create_directory(settings: Settings) -> tuple[dict[str, str], str]:
    """The demo company; returns ({address: password}, API token)."""
    db = Database(settings.db_url)
    try:
        db.migrate()
        ctx = Ctx(db, Actor("demo"), Hasher(settings.argon2_memory_kib,
                                            settings.argon2_time_cost), Platform.of(settings))
        try:
            tenants.add(ctx, TENANT, "5G", max_accounts=50)
        except Conflict:
            pass  # a second run keeps the company and its mail
        try:
            domains.add(ctx, TENANT, DOMAIN)
        except Conflict:
            pass
        passwords: dict[str, str] = {}
        for local, name, _role in PEOPLE:
            password = generate_password()
            try:
                accounts.add(ctx, _address(local), password=password, quota="1G",
                             display_name=name, tenant=TENANT)
            except Conflict:
                accounts.set_password(ctx, _address(local), password)
            passwords[_address(local)] = password
        for alias, targets in ALIASES.items():
            aliases.add(ctx, _address(alias), [_address(t) for t in targets])
        try:
            admins.add(ctx, ADMIN)
        except Conflict:
            pass
        token = admins.create_token(ctx, ADMIN, f"demo-{int(time.time())}").token
        return passwords, token
    finally:
        db.dispose()


def _messages() -> list[tuple[str, list[str], EmailMessage]]:
    def msg(sender: str, to: list[str], subject: str, text: str) -> EmailMessage:
        names = {_address(lo): n for lo, n, _ in PEOPLE}
        m = EmailMessage()
        m["From"] = formataddr((names.get(_address(sender), sender), _address(sender)))
        m["To"] = ", ".join(formataddr((names.get(_address(t), ""), _address(t))) for t in to)
        m["Subject"] = subject
        m["Message-ID"] = make_msgid(domain=DOMAIN)
        m.set_content(text)
        return m

    out = [
        msg("alice", ["bob"], "Q4 pipeline review on Monday",
            "Hi Bob,\n\ncould you bring the Q4 pipeline to Monday's review? I'd like to see\n"
            "the three biggest deals and what we need to close them.\n\nThanks,\nAlice\n"),
        msg("bob", ["carol"], "Invoice 2026-114 for Globex",
            "Hi Carol,\n\nGlobex signed. Please send invoice 2026-114: 48 seats, annual,\n"
            "net 30. Their PO number is GX-7781.\n\nBob\n"),
        msg("dave", ["alice", "bob", "carol"], "Wi-Fi maintenance on Saturday",
            "Hello all,\n\nthe office Wi-Fi will be down on Saturday from 08:00 to 10:00 for\n"
            "a firmware update. Mail on your phone keeps working over mobile data.\n\nDave\n"),
        msg("bob", ["alice"], "Re: Q4 pipeline review on Monday",
            "Sure. Globex is closed (see my note to Carol); Initech and Umbrella are\n"
            "next, both waiting for a security questionnaire.\n\nBob\n"),
    ]
    budget = msg("carol", ["alice"], "Budget draft 2027",
                 "Alice,\n\nthe budget draft is attached; the travel line is up 12 %.\n\n"
                 "Carol\n")
    budget.add_attachment("line,2026,2027\nsalaries,1200000,1260000\ntravel,50000,56000\n"
                          "software,80000,84000\n", subtype="csv", filename="budget-2027.csv")
    out.insert(2, budget)
    return [(_address(m["From"].addresses[0].username), [a.addr_spec for a in m["To"].addresses],
             m) for m in out]


def send_messages(settings: Settings, passwords: dict[str, str]) -> int:
    """Send the demo conversation over submission (STARTTLS + login), as its users would."""
    p = port_plan(settings)
    tls = ssl.create_default_context(cafile=str(settings.state_dir.resolve() / "tls" /
                                                "cert.pem"))
    sent = 0
    for sender, rcpts, message in _messages():
        with smtplib.SMTP(p.connect_host(), p['submission'], timeout=30) as c:
            c.starttls(context=tls)
            c.login(sender, passwords[sender])
            c.send_message(message, from_addr=sender, to_addrs=rcpts)
            sent += 1
    return sent


def connection_text(settings: Settings, passwords: dict[str, str], token: str) -> str:
    p = port_plan(settings)
    host = p.connect_host()
    lines = [
        "",
        "zenmail demo is running. Connect a mail client (Thunderbird, Apple Mail, ...):",
        "",
        f"  IMAP      {host} port {p['imap']} (STARTTLS) or {p['imaps']} (SSL/TLS)",
        f"  SMTP      {host} port {p['submission']} (STARTTLS) or {p['submissions']} (SSL/TLS), "
        "normal password",
        f"  MX (in)   {host} port {p['smtp']}",
        f"  TLS       self-signed: {settings.state_dir.resolve() / 'tls' / 'cert.pem'} "
        "(accept the certificate once)",
        "",
        "  Users (user name = address):",
    ]
    for local, name, role in PEOPLE:
        lines.append(f"    {_address(local):<18} {passwords[_address(local)]:<22} {name}, {role}")
    lines.append("  Aliases: " + ", ".join(f"{_address(a)} -> {', '.join(t)}"
                                            for a, t in ALIASES.items()))
    lines.append("")
    lines += [f"  API       http://{p.api_host}:{p['http']}/api/v1  (docs: "
              f"http://{p.api_host}:{p['http']}/api/docs)",
              f"  Token     {token}   (administrator {ADMIN})",
              f"  Try       curl -H 'Authorization: Bearer {token}' "
              f"http://{p.api_host}:{p['http']}/api/v1/tenants"]
    lines += ["", "  Ctrl-C stops everything.", ""]
    return "\n".join(lines)


FALLBACK_STATE = Path("/var/lib/zenmail-demo")


def usable_state(settings: Settings) -> Settings:
    """A clone under /root (mode 0700) cannot hold a state directory the mail daemons can
    enter; rather than fail a newcomer's first command, the demo moves to FALLBACK_STATE."""
    blocked = blocking_parent(settings.state_dir.resolve())
    if blocked is None:
        return settings
    print(f"zenmail demo: {blocked} cannot be entered by the postfix and mail users; using "
          f"{FALLBACK_STATE} as the state directory instead", flush=True)
    FALLBACK_STATE.mkdir(parents=True, exist_ok=True)
    os.chmod(FALLBACK_STATE, 0o755)
    sqlite = from_url(settings.db_url).sqlite_path if settings.database.url else None
    if sqlite is not None and blocking_parent(sqlite) is not None:
        raise StackError(f"the SQLite database {sqlite} lies where the mail daemons cannot "
                         "read it; move it, or leave [database] url empty")
    return settings.model_copy(update={"state_dir": FALLBACK_STATE})


def without_missing_antivirus(settings: Settings) -> Settings:
    """A fresh machine has no ClamAV signatures until `freshclam` has run (and it cannot run
    offline); `up` refuses a stack whose clamd cannot start, the demo runs without it."""
    db = Path(settings.filter.clamav_db)
    if not settings.filter.enabled or not settings.filter.antivirus or has_signatures(db):
        return settings
    print(f"zenmail demo: no ClamAV signatures in {db} (run `freshclam`, see "
          "docs/filtering.md): the demo runs without the virus scanner", flush=True)
    return settings.with_values({"filter.antivirus": False})


def run_demo(settings: Settings) -> None:
    """Set up and run the demo in the foreground; Ctrl-C (or SIGTERM) stops the stack."""
    settings = usable_state(settings)
    print(f"zenmail demo: state directory {settings.state_dir.resolve()}", flush=True)
    settings = without_missing_antivirus(settings)
    passwords, token = create_directory(settings)
    print("zenmail demo: starting the stack ...", flush=True)
    try:
        st = manager.up(settings)
        print(st.text(), flush=True)
        sent = send_messages(settings, passwords)
        print(f"zenmail demo: sent {sent} messages between the demo users", flush=True)
        print(connection_text(settings, passwords, token), flush=True)
        stop = False

        def on_term(_sig: int, _frame: object) -> None:
            nonlocal stop
            stop = True
        signal.signal(signal.SIGTERM, on_term)
        while not stop:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    except (smtplib.SMTPException, OSError) as exc:
        raise StackError(f"the demo messages could not be sent ({exc}); see "
                         f"{settings.state_dir.resolve() / 'log'}") from exc
    finally:
        print("\nzenmail demo: stopping ...", flush=True)
        manager.down(settings)
        print("zenmail demo: stopped", flush=True)
