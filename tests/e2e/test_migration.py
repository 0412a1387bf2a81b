"""`zenmail migrate account`: a second private Dovecot plays the old provider, the zenmail
stack is the target; the command runs as a user runs it (a subprocess, password on stdin).

Each test compares both sides itself, over IMAP, by SHA-256 of every message's bytes, its
flags and its internal date — not by trusting the command's own report.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from imapclient import IMAPClient

from tests.e2e.conftest import PASSWORD, MailStack, _start, wait_for
from zenmail.devtools import mailgen
from zenmail.devtools.sourceimap import SourceImap
from zenmail.migration.report import check_seal
from zenmail.migration.target import Target

SRC_PASSWORD = "old-provider-pw"


@pytest.fixture(scope="module")
def zstack() -> Iterator[MailStack]:
    if os.geteuid() != 0:
        pytest.skip("the mail stack starts Postfix and Dovecot, which needs root")
    yield from _start("")


@pytest.fixture(scope="module")
def source() -> Iterator[SourceImap]:
    with SourceImap.start(master=("admin", "master-secret")) as s:
        yield s


@pytest.fixture(scope="module")
def other() -> Iterator[SourceImap]:
    """Like a Courier/cPanel host: "." separator, folders under "INBOX.", no SPECIAL-USE."""
    with SourceImap.start(separator=".", special_use=False, prefix="INBOX.") as s:
        yield s


def migrate(stack: MailStack, address: str, src: SourceImap, user: str, *extra: str,
            password: str = SRC_PASSWORD, tls: str = "tls",
            port: int | None = None) -> tuple[int, dict, str]:
    port = port or (src.imaps_port if tls == "tls" else src.imap_port)
    cmd = [sys.executable, "-m", "zenmail", "migrate", "account", address,
           "--source", f"imap://{user}@127.0.0.1:{port}", "--source-tls", tls,
           "--source-password-stdin", "--json", "--state", str(stack.state), *extra]
    p = subprocess.run(cmd, input=password + "\n", capture_output=True, text=True,
                       timeout=600, env=_env())
    assert password not in p.stdout + p.stderr
    report = json.loads(p.stdout) if p.stdout.strip().startswith("{") else {}
    return p.returncode, report, p.stderr


def _env() -> dict[str, str]:
    return {**os.environ, "ZENMAIL_MIGRATION_RETRIES": "1",
            "ZENMAIL_MIGRATION_BACKOFF_SECONDS": "0.1"}


def seeded(src: SourceImap, user: str, messages: list[mailgen.Msg]) -> None:
    src.add_user(user, SRC_PASSWORD)
    t = Target(src.pipe_command(user), log=str(src.base / "exec.log"))
    try:
        mailgen.fill(t, messages)
    finally:
        t.close()


def contents(client: IMAPClient) -> dict[str, list[tuple[str, tuple[bytes, ...], int]]]:
    """Every selectable folder: sorted (sha256, flags, internal date) of its messages."""
    client.normalise_times = False
    out = {}
    for flags, _, name in client.list_folders():
        if b"\\Noselect" in flags:
            continue
        client.select_folder(name, readonly=True)
        got = client.fetch(client.search("ALL"), [b"BODY.PEEK[]", b"FLAGS", b"INTERNALDATE"])
        out[name] = sorted(
            (hashlib.sha256(d[b"BODY[]"]).hexdigest(),
             tuple(sorted(f for f in d[b"FLAGS"] if f != b"\\Recent")),
             int(d[b"INTERNALDATE"].timestamp())) for d in got.values())
    return out


def source_contents(src: SourceImap, user: str) -> dict[str, list]:
    c = IMAPClient("127.0.0.1", src.imap_port, ssl=False)
    c.login(user, SRC_PASSWORD)
    try:
        return contents(c)
    finally:
        c.logout()


def target_contents(stack: MailStack, address: str) -> dict[str, list]:
    c = IMAPClient("127.0.0.1", stack.ports["imap"], ssl=False)
    c.starttls(stack.tls)
    c.login(address, PASSWORD)
    try:
        # Expunged is zenmail's own (deleted mail kept restorable); the empty special
        # folders every account has are not the source's.
        return {k: v for k, v in contents(c).items() if k != "Expunged" and (
            v or k not in ("Drafts", "Sent", "Junk", "Trash"))}
    finally:
        c.logout()


def test_everything_arrives_byte_identical_then_a_rerun_copies_nothing(
        zstack: MailStack, source: SourceImap) -> None:
    address = zstack.account("mig")
    user = "alice@old.test"
    seeded(source, user, mailgen.messy())
    want = source_contents(source, user)
    assert sum(len(v) for v in want.values()) == 15
    big = mailgen.attachment("big attachment", 15 << 20, 7)  # a 15 MB file, base64 in MIME
    assert hashlib.sha256(big).hexdigest() in {m[0] for m in want["INBOX"]}

    code, report, err = migrate(zstack, address, source, user, "--source-insecure")
    assert code == 0, err
    assert report["verdict"] == "zero loss" and check_seal(report)
    assert report["totals"]["source_messages"] == report["totals"]["migrated_messages"] == 15
    assert report["run"]["copied"] == 15
    got = target_contents(zstack, address)
    assert got == want  # same folders, same bytes, flags and dates, duplicates kept as two
    # (the 15 MB attachment's message among them, byte-identical: its SHA-256 is in `want`)

    code, report, err = migrate(zstack, address, source, user, "--source-insecure")
    assert code == 0, err
    assert report["run"]["copied"] == 0 and report["verdict"] == "zero loss"
    assert target_contents(zstack, address) == want

    # Delta: new mail and changed flags at the source since the last run.
    c = IMAPClient("127.0.0.1", source.imap_port, ssl=False)
    c.login(user, SRC_PASSWORD)
    c.select_folder("INBOX")
    first = min(c.search("ALL"))
    c.add_flags([first], [b"\\Flagged", b"$Later"])
    c.append("INBOX", b"Subject: arrived after the first run\r\n\r\nnew\r\n", (b"\\Seen",),
             datetime(2026, 11, 1, tzinfo=UTC))
    c.logout()
    code, report, err = migrate(zstack, address, source, user, "--source-insecure")
    assert code == 0, err
    assert report["run"]["copied"] == 1 and report["run"]["flags_updated"] == 1
    assert target_contents(zstack, address) == source_contents(source, user)


def test_a_master_login_reads_the_users_mailbox(zstack: MailStack, source: SourceImap
                                                ) -> None:
    address = zstack.account("master")
    user = "mia@old.test"
    seeded(source, user, mailgen.messy(big_attachment=0))
    code, report, err = migrate(zstack, address, source, user, "--source-master", "admin",
                                "--source-insecure", password="master-secret",
                                tls="starttls")
    assert code == 0, err
    assert target_contents(zstack, address) == source_contents(source, user)


def test_another_providers_tree_is_mapped(zstack: MailStack, other: SourceImap) -> None:
    address = zstack.account("tree")
    user = "bert@old.test"
    msgs = mailgen.messy(big_attachment=0, sent="INBOX.Gesendete Objekte",
                         nested="INBOX.Projekte.2024", unicode_folder="INBOX.Éléments envoyés")
    msgs.append(mailgen.Msg("INBOX.Papierkorb", b"Subject: deleted\r\n\r\nx\r\n"))
    msgs.append(mailgen.Msg("INBOX.Courrier ind\u00e9sirable", b"Subject: spam\r\n\r\nx\r\n"))
    seeded(other, user, msgs)
    want = source_contents(other, user)
    code, report, err = migrate(zstack, address, other, user, tls="none")
    assert code == 0, err
    got = target_contents(zstack, address)
    renamed = {"INBOX": "INBOX", "INBOX.Gesendete Objekte": "Sent",
               "INBOX.Projekte.2024": "Projekte/2024", "INBOX.Éléments envoyés": "Sent",
               "INBOX.Papierkorb": "Trash", "INBOX.Courrier indésirable": "Junk",
               "INBOX.Projekte": "Projekte"}
    expected: dict[str, list] = {}
    for name, msgs_ in want.items():
        expected.setdefault(renamed[name], []).extend(msgs_)
    expected.setdefault("Projekte", [])  # made at zenmail as the parent of Projekte/2024
    assert got == {k: sorted(v) for k, v in expected.items()}


def test_kill_9_mid_run_then_resume_loses_and_duplicates_nothing(
        zstack: MailStack, source: SourceImap) -> None:
    address = zstack.account("kill")
    user = "carl@old.test"
    seeded(source, user, mailgen.realistic(1500, ["INBOX", "Archive/2019", "Sent"]) +
           mailgen.messy(big_attachment=0))
    want = source_contents(source, user)
    cmd = [sys.executable, "-m", "zenmail", "migrate", "account", address,
           "--source", f"imap://{user}@127.0.0.1:{source.imap_port}", "--source-tls",
           "none", "--source-password-stdin", "--state", str(zstack.state)]
    env = {**_env(), "ZENMAIL_MIGRATION_BATCH_MESSAGES": "40"}
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    assert p.stdin is not None
    p.stdin.write((SRC_PASSWORD + "\n").encode())
    p.stdin.close()

    def copied() -> int:
        c = IMAPClient("127.0.0.1", zstack.ports["imap"], ssl=False)
        c.starttls(zstack.tls)
        c.login(address, PASSWORD)
        try:
            return sum(c.folder_status(f, [b"MESSAGES"])[b"MESSAGES"]
                       for f in ("INBOX", "Archive/2019") if c.folder_exists(f))
        finally:
            c.logout()

    wait_for(lambda: copied() >= 200, "the migration to be under way")
    os.killpg(p.pid, signal.SIGKILL)  # the command and its doveadm children, mid-batch
    p.wait(30)
    partial = copied()
    assert 0 < partial < 1500 + 9

    code, report, err = migrate(zstack, address, source, user, tls="none")
    assert code == 0, err
    assert report["totals"]["extras"] == 0
    assert target_contents(zstack, address) == {k: v for k, v in want.items()}


def test_failures_are_named(zstack: MailStack, source: SourceImap) -> None:
    address = zstack.account("fail", quota="1M")
    user = "dora@old.test"
    seeded(source, user, [mailgen.Msg("INBOX", b"Subject: small\r\n\r\nx\r\n"),
                          mailgen.Msg("INBOX", mailgen.attachment("too big for 1M",
                                                                  2 << 20, 3))])
    code, report, err = migrate(zstack, address, source, user, "--source-insecure",
                                password="wrong-password")
    assert code == 1 and "wrong credentials" in report["error"]
    code, report, err = migrate(zstack, address, source, user)  # self-signed, not trusted
    assert code == 1 and "not trusted" in report["error"]
    assert "--source-insecure" in report["error"]
    code, report, err = migrate(zstack, address, source, user, tls="none",
                                port=_closed_port())
    assert code == 1 and "unreachable" in report["error"]

    code, report, err = migrate(zstack, address, source, user, tls="none")
    assert code == 1
    [lost] = report["missing"]
    assert lost["subject"] == "too big for 1M" and "OVERQUOTA" in lost["reason"].upper()
    assert report["totals"]["migrated_messages"] == 1  # the other one went in


def _closed_port() -> int:
    from zenmail.stack.ports import free_ports
    return free_ports(1)[0]


class _MxResolver:
    """A DNS server for the cut-over check: acme.test's MX still at the old provider."""

    def resolve(self, request, handler):  # type: ignore[no-untyped-def]
        from dnslib import MX, QTYPE, RR
        reply = request.reply()
        if request.q.qtype == QTYPE.MX:
            reply.add_answer(RR(request.q.qname, QTYPE.MX, rdata=MX("mx.old.example."),
                                ttl=60))
        return reply


def test_a_project_runs_its_accounts_and_one_failure_stops_no_other(
        zstack: MailStack, source: SourceImap, tmp_path: Path) -> None:
    from dnslib.server import DNSServer

    good, bad = zstack.account("proj"), zstack.account("proj")
    seeded(source, "frida@old.test", mailgen.messy(big_attachment=0))
    seeded(source, "gus@old.test", mailgen.messy(big_attachment=0))
    url = f"imap://{{}}@127.0.0.1:{source.imap_port}"
    csv_file = tmp_path / "accounts.csv"
    csv_file.write_text(
        "source,source_tls,target,password,pilot\n"
        f"{url.format('frida@old.test')},none,{good},{SRC_PASSWORD},yes\n"
        f"{url.format('gus@old.test')},none,{bad},not-his-password,no\n")

    def zm(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "zenmail", *args, "--state",
                               str(zstack.state)], capture_output=True, text=True,
                              timeout=600, env=env)

    dns = DNSServer(_MxResolver(), address="127.0.0.1", port=_closed_port())
    dns.start_thread()
    env = {**_env(), "ZENMAIL_MIGRATION_DNS_SERVER": f"127.0.0.1:{dns.server.server_address[1]}"}
    try:
        p = zm("migrate", "project", "add", "move", str(csv_file), "--concurrency", "2",
               "--day-x", "2026-12-01", "--presync", "2026-11-29")
        assert p.returncode == 0, p.stderr
        assert SRC_PASSWORD not in (zstack.state / "db" / "directory.db").read_bytes().decode(
            "latin-1")  # stored encrypted

        p = zm("migrate", "run", "move", "--pilot")
        assert p.returncode == 0, p.stdout + p.stderr
        assert good in p.stdout and bad not in p.stdout
        # Standard error is a pipe, not a terminal: progress comes as plain lines with the
        # counts (rich bars only on a terminal), each account's last one complete.
        assert f"progress {good}: 14/14 messages" in p.stderr, p.stderr
        assert "progress all accounts: 14/14 messages" in p.stderr, p.stderr
        assert "\x1b[" not in p.stderr  # no terminal control codes in a log

        p = zm("migrate", "run", "move")
        assert p.returncode == 1
        assert f"{good}: zero loss" in p.stdout
        assert "wrong credentials" in p.stdout
        assert target_contents(zstack, good) == source_contents(source, "frida@old.test")

        p = zm("migrate", "status", "move", "--json")
        st = json.loads(p.stdout)
        verdicts = {a["account"]: (a["verdict"], a["error"]) for a in st["accounts"]}
        assert verdicts[good] == ("zero loss", None)
        assert "wrong credentials" in verdicts[bad][1]
        assert st["plan"] == {"day_x": "2026-12-01", "presync": ["2026-11-29"]}

        html = tmp_path / "report.html"
        p = zm("migrate", "report", "move", "--out", str(html), "--json")
        doc = json.loads(p.stdout)
        assert check_seal(doc) and doc["verdict"] == "not proven"
        assert "wrong credentials" in html.read_text() and good in html.read_text()

        p = zm("migrate", "cutover", "move")
        assert p.returncode == 1  # gus still fails
        assert "MX of acme.test points at mx.old.example" in p.stderr
    finally:
        dns.stop()


def test_a_crash_on_either_side_of_an_append_is_reconciled_by_content(
        zstack: MailStack, source: SourceImap) -> None:
    """The two moments a kill -9 can hit, made exact: the batch was appended but its rows
    not completed (must not be copied again), or the rows were written and the batch never
    arrived (must be copied). Then a renumbered folder and deletions at the source."""
    from sqlalchemy import select, update

    from zenmail.migration.models import MigrationFolder, MigrationJob, MigrationMessage

    address = zstack.account("crash")
    user = "hana@old.test"
    seeded(source, user, mailgen.messy(big_attachment=0))
    want = source_contents(source, user)
    assert migrate(zstack, address, source, user, tls="none")[0] == 0

    with zstack.db.transaction() as s:
        job = s.scalars(select(MigrationJob.id)
                        .where(MigrationJob.source_user == user)).one()
        rows = s.execute(select(MigrationMessage.id, MigrationMessage.target_uid)
                         .join(MigrationFolder)
                         .where(MigrationFolder.job_id == job,
                                MigrationFolder.source_name == "INBOX")
                         .order_by(MigrationMessage.uid)).all()
        landed, lost = rows[:4], rows[4:6]  # rows[2:4] are the exact duplicates
        for rid, tuid in landed:  # appended, rows not completed
            s.execute(update(MigrationMessage).where(MigrationMessage.id == rid)
                      .values(target_uid=None, pending_from=tuid))
        for rid, _ in lost:  # rows written, the batch never arrived
            s.execute(update(MigrationMessage).where(MigrationMessage.id == rid)
                      .values(target_uid=None, pending_from=10**6))
    c = IMAPClient("127.0.0.1", zstack.ports["imap"], ssl=False)
    c.starttls(zstack.tls)
    c.login(address, PASSWORD)
    c.select_folder("INBOX")
    c.add_flags([tuid for _, tuid in lost], [b"\\Deleted"])
    c.uid_expunge([tuid for _, tuid in lost])
    c.logout()

    code, report, err = migrate(zstack, address, source, user, tls="none")
    assert code == 0, (err, report.get("error"), report.get("missing"), report.get("run"))
    assert report["run"]["copied"] == 2 and report["totals"]["extras"] == 0
    assert target_contents(zstack, address) == want

    # The source renumbers a folder (deleted and made again, same mail): nothing is
    # copied twice.
    c = IMAPClient("127.0.0.1", source.imap_port, ssl=False)
    c.login(user, SRC_PASSWORD)
    c.normalise_times = False
    c.select_folder("Projekte/2024/Q1")
    [(uid, d)] = c.fetch(c.search("ALL"), [b"BODY.PEEK[]", b"FLAGS", b"INTERNALDATE"]).items()
    c.close_folder()
    c.delete_folder("Projekte/2024/Q1")
    c.create_folder("Projekte/2024/Q1")
    c.append("Projekte/2024/Q1", d[b"BODY[]"], [f for f in d[b"FLAGS"] if f != b"\\Recent"],
             d[b"INTERNALDATE"])
    # ... and deletes a message.
    c.select_folder("INBOX")
    gone = max(c.search("ALL"))
    c.delete_messages([gone])
    c.expunge()
    c.logout()
    code, report, err = migrate(zstack, address, source, user, tls="none")
    assert code == 0, (err, report.get("error"), report.get("missing"), report.get("run"))
    assert report["run"]["copied"] == 0
    assert report["totals"]["extras"] == 1  # the deleted one stays at zenmail by default
    code, report, err = migrate(zstack, address, source, user, "--sync-deletions", tls="none")
    assert code == 0, (err, report.get("error"), report.get("missing"), report.get("run"))
    assert report["run"]["deleted"] == 1 and report["totals"]["extras"] == 0
    assert target_contents(zstack, address) == source_contents(source, user)


@pytest.fixture(scope="module")
def pgstack(request: pytest.FixtureRequest) -> Iterator[MailStack]:
    """The directory on PostgreSQL, the production choice: the state rows behave the same."""
    if os.geteuid() != 0:
        pytest.skip("the mail stack starts Postfix and Dovecot, which needs root")
    yield from _start(request.getfixturevalue("pg_server").create_database())


def test_on_postgresql_too(pgstack: MailStack, source: SourceImap) -> None:
    address = pgstack.account("pg")
    user = "ivo@old.test"
    seeded(source, user, mailgen.messy(big_attachment=0))
    code, report, err = migrate(pgstack, address, source, user, tls="none")
    assert code == 0, err
    assert report["run"]["copied"] == 14
    assert target_contents(pgstack, address) == source_contents(source, user)
    code, report, err = migrate(pgstack, address, source, user, tls="none")
    assert code == 0 and report["run"]["copied"] == 0, err


def _api(stack: MailStack, settings_file: Path, port: int) -> subprocess.Popen[bytes]:
    """The API as the stack runs it (`python -m zenmail.web`), in a process of its own, so
    that the test can kill it like a crash would."""
    log = open(settings_file.parent / "api.log", "ab")  # noqa: SIM115 (the child's)
    p = subprocess.Popen([sys.executable, "-m", "zenmail.web", "--settings",
                          str(settings_file), "--host", "127.0.0.1", "--port", str(port)],
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    log.close()

    def up() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=3
                             ).status_code == 200
        except httpx.HTTPError:
            return False
    wait_for(up, "the API to answer")
    return p


def test_a_round_started_over_the_api_survives_a_killed_api(
        zstack: MailStack, source: SourceImap, tmp_path: Path) -> None:
    """An administrator of the tenant starts a pre-sync over the API, polls it; the API
    process is killed mid-copy; the next start takes the round up again and it ends with
    zero loss, nothing duplicated. Then the final round (day X) over the API too."""
    from zenmail.directory import admins
    from zenmail.migration.models import MigrationRun

    address = zstack.account("api")
    user = "jon@old.test"
    seeded(source, user, mailgen.realistic(1500, ["INBOX", "Archive/2020"], seed=5) +
           mailgen.messy(big_attachment=0))
    want = source_contents(source, user)
    csv_file = tmp_path / "accounts.csv"
    csv_file.write_text("source,source_tls,target,password\n"
                        f"imap://{user}@127.0.0.1:{source.imap_port},none,{address},"
                        f"{SRC_PASSWORD}\n")
    p = subprocess.run([sys.executable, "-m", "zenmail", "migrate", "project", "add",
                        "apimove", str(csv_file), "--max-msgs-per-s", "300", "--state",
                        str(zstack.state)], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    admins.add(zstack.ctx, "it-api@acme.test", tenant="acme")
    token = admins.create_token(zstack.ctx, "it-api@acme.test").token
    # Small batches, so the kill lands between many of them (like the CLI's kill test).
    settings = zstack.settings.model_copy(update={"migration": zstack.settings.migration
                                                  .model_copy(update={"batch_messages": 40,
                                                                      "retries": 1})})
    settings_file = tmp_path / "settings.json"
    settings_file.write_text(settings.model_dump_json())
    port = _closed_port()
    api = _api(zstack, settings_file, port)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=60,
                          headers={"Authorization": f"Bearer {token}"})
    try:
        r = client.post("/migrations/apimove/runs", json={"round": "presync"})
        assert r.status_code == 202, r.text
        run_id = r.json()["id"]
        # One round at a time per project.
        assert client.post("/migrations/apimove/runs",
                           json={"round": "verify"}).status_code == 409

        def copied() -> int:
            return int(client.get(f"/migrations/apimove/runs/{run_id}").json()
                       ["progress"]["messages_done"])
        wait_for(lambda: copied() >= 200, "the round to be under way")
        api.kill()  # SIGKILL: no goodbye, the run stays marked as running
        api.wait(30)
        with zstack.db.reading() as s:
            row = s.get(MigrationRun, run_id)
            assert row is not None and row.status == "running" and row.attempts == 1
        assert 0 < copied_at_target(zstack, address) < 1500 + 14

        api = _api(zstack, settings_file, port)  # the next start takes the round up again

        def finished() -> dict | None:
            got = client.get(f"/migrations/apimove/runs/{run_id}").json()
            return got if got["status"] in ("done", "failed") else None
        done = wait_for(finished, "the resumed round to end", timeout=600)
        assert isinstance(done, dict)
        assert done["status"] == "done" and done["attempts"] == 2, done
        assert done["verdict"] == "zero loss", done
        [acct] = done["result"]["accounts"]
        assert acct["account"] == address and acct["source_messages"] == 1514
        assert done["progress"]["messages_done"] == 1514
        assert target_contents(zstack, address) == want  # nothing lost, nothing twice

        # Day X over the API: the final delta, verified, with the MX check.
        r = client.post("/migrations/apimove/runs", json={"round": "final"})
        assert r.status_code == 202, r.text
        final = wait_for(lambda: (lambda g: g if g["status"] in ("done", "failed") else None)(
            client.get(f"/migrations/apimove/runs/{r.json()['id']}").json()),
            "the final round to end", timeout=600)
        assert isinstance(final, dict)
        assert final["verdict"] == "zero loss" and final["attempts"] == 1, final
        assert final["result"]["accounts"][0]["run"]["copied"] == 0
        assert [m["domain"] for m in final["result"]["mx"]] == ["acme.test"]
        listed = client.get("/migrations/apimove/runs").json()
        assert [x["round"] for x in listed] == ["final", "presync"]
    finally:
        client.close()
        api.kill()
        api.wait(30)


def copied_at_target(stack: MailStack, address: str) -> int:
    c = IMAPClient("127.0.0.1", stack.ports["imap"], ssl=False)
    c.starttls(stack.tls)
    c.login(address, PASSWORD)
    try:
        return sum(c.folder_status(name, [b"MESSAGES"])[b"MESSAGES"]
                   for flags, _, name in c.list_folders()
                   if name != "Expunged" and b"\\Noselect" not in flags)
    finally:
        c.logout()


def test_qresync_mirrors_a_deletion_only_when_asked_without_listing_the_folder(
        zstack: MailStack, source: SourceImap) -> None:
    """The delta of a source with QRESYNC (Dovecot has it): only what changed since the
    last complete run is listed (`run.listed`), the UIDs expunged since come as VANISHED;
    a deletion at the source reaches zenmail only with --sync-deletions."""
    address = zstack.account("qresync")
    user = "kim@old.test"
    seeded(source, user, mailgen.realistic(300, ["INBOX"], seed=9))
    code, report, err = migrate(zstack, address, source, user, tls="none")
    assert code == 0, err
    assert report["run"]["copied"] == report["run"]["listed"] == 300  # the first: a full list

    c = IMAPClient("127.0.0.1", source.imap_port, ssl=False)
    c.login(user, SRC_PASSWORD)
    c.select_folder("INBOX")
    uids = sorted(c.search("ALL"))
    c.add_flags([uids[10]], [b"\\Flagged"])
    c.delete_messages(uids[100:102])
    c.expunge()
    c.logout()
    want = source_contents(source, user)

    code, report, err = migrate(zstack, address, source, user, tls="none")
    assert code == 0, err
    run = report["run"]
    assert run["listed"] == 1 and run["flags_updated"] == 1  # the one flagged, not 300
    assert run["deleted"] == 0 and report["totals"]["extras"] == 2  # kept at zenmail
    assert report["totals"]["source_messages"] == 298
    assert len(target_contents(zstack, address)["INBOX"]) == 300

    code, report, err = migrate(zstack, address, source, user, "--sync-deletions",
                                tls="none")
    assert code == 0, err
    assert report["run"]["deleted"] == 2 and report["totals"]["extras"] == 0
    assert report["run"]["listed"] <= 1 and report["run"]["copied"] == 0
    assert target_contents(zstack, address) == want

    code, report, err = migrate(zstack, address, source, user, tls="none")
    assert code == 0 and report["run"]["listed"] == 0, err  # nothing changed: no listing


def test_an_oauth2_access_token_opens_the_source(zstack: MailStack) -> None:
    """XOAUTH2, as Microsoft 365 and Gmail want it: the source Dovecot checks signed access
    tokens itself (its oauth2 passdb, local validation); a good token copies everything,
    an expired one is refused by name, and neither shows in the output."""
    with SourceImap.start(oauth2_key=os.urandom(32)) as src:
        address = zstack.account("oauth")
        user = "lea@old.test"
        seeded(src, user, mailgen.messy(big_attachment=0))
        code, report, err = migrate(zstack, address, src, user, "--source-oauth2",
                                    password=src.oauth2_token(user), tls="none")
        assert code == 0, (err, report.get("error"))
        assert report["verdict"] == "zero loss" and report["run"]["copied"] == 14
        assert target_contents(zstack, address) == source_contents(src, user)

        code, report, err = migrate(zstack, address, src, user, "--source-oauth2",
                                    password=src.oauth2_token(user, lifetime=-60),
                                    tls="none")
        assert code == 1 and "OAuth2 access token" in report["error"]
