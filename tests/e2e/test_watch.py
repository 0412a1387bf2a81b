"""Live watch on a real stack (API included): a real Prometheus scrapes /metrics and
promtool finds nothing wrong with it."""

from __future__ import annotations

import email
import json
import os
import shutil
import signal
import smtplib
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import HASHER, PASSWORD, MailStack, wait_for
from zenmail.db import Database
from zenmail.devtools.stackdir import new_state
from zenmail.directory import accounts, admins, domains, tenants
from zenmail.directory.context import Actor, Ctx
from zenmail.stack import manager, proc
from zenmail.stack.ports import free_ports
from zenmail.stack.registry import Stack
from zenmail.stack.supervisor import SupervisorProcess, read_events

pytestmark = pytest.mark.e2e

DOMAIN = "acme.test"
ADMIN_MAILBOX = "alice@acme.test"


class Webhook:
    """A test webhook receiver: records every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.received.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def notices(self, key: str) -> list[str]:
        return [n["state"] for n in self.received if n["key"] == key]


@dataclass
class WatchStack(MailStack):
    token: str = ""
    tenant_token: str = ""
    webhook: Webhook | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.ports['http']}"

    def get(self, path: str, token: str | None = None, **params: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return httpx.get(self.api + path, headers=headers, params=params, timeout=60)


@pytest.fixture(scope="module")
def wstack() -> Iterator[WatchStack]:
    if os.geteuid() != 0:
        pytest.skip("the mail stack starts Postfix and Dovecot, which needs root")
    # Quick rounds and checks, so the runner's work shows within seconds; alerts to a test
    # webhook and to alice's mailbox; one deferred message is already too many.
    hook = Webhook()
    settings = new_state(prefix="zenmail-watch-",
                         watch={"probe_every_s": 5, "health_every_s": 2, "hung_after": 2,
                                "webhook_url": hook.url, "admin_email": ADMIN_MAILBOX},
                         alerts={"deferred_queue": 0})
    state = settings.state_dir
    db = Database(settings.db_url)
    db.migrate()
    ctx = Ctx(db, Actor("test:e2e"), HASHER)
    tenants.add(ctx, "acme", "10G")
    domains.add(ctx, "acme", DOMAIN)
    tenants.add(ctx, "other", "5G")
    domains.add(ctx, "other", "other.test")
    accounts.add(ctx, ADMIN_MAILBOX, password=PASSWORD, quota="1G")
    admins.add(ctx, "root@ops.test")
    admins.add(ctx, "it@acme.test", tenant="acme")
    token = admins.create_token(ctx, "root@ops.test").token
    tenant_token = admins.create_token(ctx, "it@acme.test").token
    try:
        manager.up(settings, with_api=True)
        tls = ssl.create_default_context(cafile=str(state / "tls" / "cert.pem"))
        yield WatchStack(settings, db, ctx, Stack(settings).plan.ports(), tls, token=token,
                         tenant_token=tenant_token, webhook=hook)
    finally:
        manager.down(settings)
        hook.server.shutdown()
        db.dispose()
        shutil.rmtree(state, ignore_errors=True)


def _series(text: str, name: str) -> dict[str, float]:
    """{labels: value} of one metric in the exposition text."""
    out = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            key, _, value = line.rpartition(" ")
            out[key[len(name):]] = float(value)
    return out


def test_metrics_carry_the_nodes_figures_and_pass_promtool(wstack: WatchStack) -> None:
    r = wstack.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    up = _series(text, "zenmail_service_up")
    assert up['{service="dovecot"}'] == 1.0 and up['{service="postfix"}'] == 1.0
    assert set(_series(text, "zenmail_postfix_queue_messages")) == {
        '{queue="incoming"}', '{queue="active"}', '{queue="deferred"}', '{queue="hold"}'}
    allocated = _series(text, "zenmail_tenant_quota_allocated_bytes")
    assert allocated['{tenant="acme"}'] == 1024**3 and allocated['{tenant="other"}'] == 0
    assert _series(text, "zenmail_disk_free_bytes")['{volume="mail"}'] > 0
    assert _series(text, "zenmail_tls_certificate_expiry_timestamp_seconds")
    assert "zenmail_service_restarts_total" in text

    lint = subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                          capture_output=True, timeout=60)
    assert lint.returncode == 0 and not lint.stdout.strip() and not lint.stderr.strip(), (
        lint.stdout + lint.stderr)

    # A tenant administrator scrapes its own tenant's series only.
    mine = wstack.get("/metrics", token=wstack.tenant_token).text
    assert '{tenant="acme"}' in mine and "other" not in mine
    assert httpx.get(wstack.api + "/metrics", timeout=30).status_code == 401


def test_a_real_prometheus_scrapes_the_metrics(wstack: WatchStack) -> None:
    port = free_ports(1)[0]
    work = Path(tempfile.mkdtemp(prefix="zenmail-prom-"))
    (work / "token").write_text(wstack.token)
    (work / "prometheus.yml").write_text(json.dumps({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{
            "job_name": "zenmail", "metrics_path": "/metrics",
            "authorization": {"type": "Bearer", "credentials_file": str(work / "token")},
            "static_configs": [{"targets": [f"127.0.0.1:{wstack.ports['http']}"]}],
        }],
    }))
    log = open(work / "prometheus.log", "wb")
    prom = subprocess.Popen(["prometheus", f"--config.file={work / 'prometheus.yml'}",
                             f"--storage.tsdb.path={work / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}"],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        def query(q: str) -> list[dict[str, object]]:
            url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": q})
            try:
                with urllib.request.urlopen(url, timeout=10) as resp:
                    return json.load(resp)["data"]["result"]  # type: ignore[no-any-return]
            except OSError:
                return []

        found = wait_for(lambda: query('zenmail_service_up{service="postfix"}'),
                         "Prometheus to scrape zenmail")
        assert found[0]["value"][1] == "1"  # type: ignore[index]
        targets = wait_for(lambda: (lambda t: t if t and t[0]["health"] == "up" else None)(
            _targets(port)), "the scrape target to be up")
        assert targets[0]["lastError"] == ""  # type: ignore[index]
    finally:
        prom.terminate()
        prom.wait(timeout=30)
        log.close()
        shutil.rmtree(work, ignore_errors=True)


def _targets(port: int) -> list[dict[str, object]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/targets", timeout=10) as r:
            return json.load(r)["data"]["activeTargets"]  # type: ignore[no-any-return]
    except OSError:
        return []


def zenmail_cli(stack: MailStack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).parent / "zenmail"), "--state",
                           str(stack.state), *args], capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL)


def test_probe_run_goes_end_to_end_and_shows_in_metrics(wstack: WatchStack) -> None:
    r = zenmail_cli(wstack, "probe", "run", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    outcomes = {o["probe"]: o for o in json.loads(r.stdout)}
    assert set(outcomes) == {"roundtrip", "inbound", "imap_login", "caldav"}
    for o in outcomes.values():
        assert o["ok"] and o["latency_s"] > 0, o

    text = wstack.get("/metrics").text
    latency = _series(text, "zenmail_probe_latency_seconds")
    assert latency['{probe="roundtrip"}'] > 0 and latency['{probe="inbound"}'] > 0
    assert _series(text, "zenmail_probe_success")['{probe="roundtrip"}'] == 1.0
    assert _series(text, "zenmail_probe_slo_ratio")['{probe="roundtrip",window="24h"}'] == 1.0

    # The probe account is nobody's: no tenant lists it, no customer's quota counts it.
    listed = zenmail_cli(wstack, "--json", "account", "list")
    assert listed.returncode == 0 and "zenmail-probe" not in listed.stdout
    assert "zenmail-probe" not in wstack.get("/api/v1/accounts").text
    used = _series(text, "zenmail_tenant_quota_used_bytes")
    assert used['{tenant="acme"}'] == 0 and used['{tenant="other"}'] == 0


def test_the_runner_probes_on_its_own(wstack: WatchStack) -> None:
    """The supervised runner ran a round after `up` (no CLI): its history is in the DB."""
    from zenmail.watch import history
    wait_for(lambda: wstack.daemon("watch").pid(), "the watch runner to run")

    def rounds() -> int:
        with wstack.db.reading() as s:
            return sum(x.runs for x in history.slo(s, 60) if x.window == "24h"
                       and x.probe == "roundtrip")
    before = rounds()
    wait_for(lambda: rounds() > before, "a probe round by the runner", timeout=120)


def _subjects(stack: WatchStack) -> list[str]:
    return [str(email.message_from_bytes(m)["Subject"]) for m in stack.messages(ADMIN_MAILBOX)]


def test_a_hung_daemon_is_restarted_recorded_alerted_once_and_resolved(
        wstack: WatchStack) -> None:
    assert wstack.webhook is not None
    dovecot = wstack.daemon("dovecot")
    pid = dovecot.pid()
    assert pid is not None
    seen = len(read_events(wstack.state))
    # The whole daemon hangs: its master and every worker stopped, the process still there.
    tree = [pid, *proc.children(pid)]
    for p in tree:
        os.kill(p, signal.SIGSTOP)

    new = wait_for(lambda: (lambda p: p if p and p != pid else None)(dovecot.pid()),
                   "the supervisor to restart the hung Dovecot", timeout=120)
    assert new
    wait_for(dovecot.healthy, "Dovecot to answer again")

    def events() -> list[tuple[str, str]]:
        return [(e["service"], e["event"]) for e in read_events(wstack.state)[seen:]]
    wait_for(lambda: ("dovecot", "restarted") in events(), "the restart in the event log")
    assert ("dovecot", "hung") in events()  # the incident, with what failed
    hung = next(e for e in read_events(wstack.state)[seen:] if e["event"] == "hung")
    assert hung["error"] and hung["pid"] == pid

    hook = wstack.webhook
    key = "incident:dovecot"
    wait_for(lambda: "firing" in hook.notices(key), "the alert at the webhook", timeout=120)
    wait_for(lambda: "resolved" in hook.notices(key), "the resolved notice at the webhook",
             timeout=120)
    time.sleep(3 * wstack.settings.watch.health_every_s)  # more evaluations: no repeat
    assert hook.notices(key) == ["firing", "resolved"]
    firing = next(n for n in hook.received if n["key"] == key)
    assert "hung" in firing["summary"] and firing["node"] == wstack.settings.hostname

    wait_for(lambda: any("[zenmail FIRING] incident:dovecot" in x for x in _subjects(wstack)),
             "the alert in the admin's mailbox")
    wait_for(lambda: any("[zenmail RESOLVED] incident:dovecot" in x
                         for x in _subjects(wstack)), "the resolved notice in the mailbox")

    listed = zenmail_cli(wstack, "--json", "alerts", "list")
    assert listed.returncode == 0, listed.stderr
    mine = [a for a in json.loads(listed.stdout) if a["key"] == key]
    assert len(mine) == 1 and mine[0]["state"] == "resolved"


def test_the_runner_restarts_a_dead_supervisor(wstack: WatchStack) -> None:
    supervisor = SupervisorProcess(Stack(wstack.settings))
    pid = supervisor.pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: (lambda p: p and p != pid)(supervisor.pid()),
             "the watch runner to restart the supervisor", timeout=60)
    assert ("supervisor", "restarted") in [(e["service"], e["event"])
                                           for e in read_events(wstack.state)]


def test_trace_finds_delivered_rejected_and_deferred_mail(wstack: WatchStack) -> None:
    run = f"{os.getpid()}-{time.monotonic_ns()}"
    delivered, deferred = f"<ok-{run}@example.org>", f"<out-{run}@acme.test>"
    with wstack.smtp() as c:
        c.sendmail("sender@example.org", [ADMIN_MAILBOX],
                   f"From: sender@example.org\r\nMessage-ID: {delivered}\r\n"
                   "Subject: hello\r\n\r\nhello\r\n")
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            c.sendmail(f"rejected-{run}@example.org", [f"nobody-{run}@acme.test"],
                       b"Subject: x\r\n\r\nx\r\n")
    with wstack.submission(ADMIN_MAILBOX) as c:  # the dev plan holds outside mail back
        c.sendmail(ADMIN_MAILBOX, ["someone@elsewhere.example"],
                   f"From: {ADMIN_MAILBOX}\r\nMessage-ID: {deferred}\r\n"
                   "Subject: out\r\n\r\nout\r\n")

    def traced(*args: str) -> list[dict[str, Any]]:
        r = zenmail_cli(wstack, "--json", "trace", *args)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)  # type: ignore[no-any-return]

    ok = wait_for(lambda: (lambda t: t if t and t[0]["status"] == "sent" else None)(
        traced("--message-id", delivered)), "the delivery in the trace")
    [d] = ok[0]["deliveries"]  # type: ignore[index]
    assert d["recipient"] == ADMIN_MAILBOX and d["dsn"] == "2.0.0" and d["folder"] == "INBOX"

    [refused] = wait_for(lambda: traced("--from", f"rejected-{run}@example.org"),
                         "the refusal in the trace")  # type: ignore[misc]
    assert refused["status"] == "rejected" and refused["queue_id"] == ""
    assert "550 5.1.1" in refused["deliveries"][0]["reason"]
    assert "User unknown" in refused["deliveries"][0]["reason"]

    [out] = wait_for(lambda: (lambda t: t if t and t[0]["deliveries"] else None)(
        traced("--message-id", deferred, "--since", "1h")), "the deferral")  # type: ignore[misc]
    assert out["status"] == "deferred" and out["login"] == ADMIN_MAILBOX
    assert out["deliveries"][0]["dsn"].startswith("4.")
    assert out["deliveries"][0]["reason"] == "deferred transport"

    # Over the API, acme's administrator sees acme's mail; another tenant's domain is 404.
    api = wstack.get("/api/v1/trace", token=wstack.tenant_token,
                     message_id=delivered.strip("<>"))
    assert api.status_code == 200 and api.json()[0]["deliveries"][0]["folder"] == "INBOX"
    assert wstack.get("/api/v1/trace", token=wstack.tenant_token,
                      to="x@other.test").status_code == 404
    # The same outcomes, counted in /metrics.
    counted = _series(wstack.get("/metrics").text, "zenmail_mail_messages_total")
    for outcome in ("accepted", "delivered", "rejected", "deferred"):
        assert counted[f'{{outcome="{outcome}"}}'] >= 1, counted
    # Probe mail is left out unless asked for.
    assert all("zenmail-probe" not in json.dumps(t) for t in traced("--since", "1h"))
    # The deferred message is over the fixture's threshold (0): the runner's rule fires.
    assert wstack.webhook is not None
    wait_for(lambda: "firing" in wstack.webhook.notices("deferred_queue"),  # type: ignore[union-attr]
             "the deferred-queue alert at the webhook")
    fired = next(n for n in wstack.webhook.received if n["key"] == "deferred_queue")
    assert "messages wait in Postfix's deferred queue (more than 0)" in fired["summary"]


def test_status_page(wstack: WatchStack) -> None:
    snap = wait_for(lambda: (lambda j: j if j["status"] == "ok" else None)(
        httpx.get(wstack.api + "/status.json", timeout=30).json()), "a healthy status")
    assert {p["probe"] for p in snap["probes"]} == {  # type: ignore[index]
        "roundtrip", "inbound", "imap_login", "caldav"}
    assert {s["name"] for s in snap["services"]} >= {"postfix", "dovecot", "watch"}  # type: ignore[index]
    page = httpx.get(wstack.api + "/status", timeout=30)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "roundtrip" in page.text and "acme" not in page.text
