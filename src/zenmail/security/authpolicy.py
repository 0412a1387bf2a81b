"""The login-failure policy as a process: Dovecot's auth policy protocol over HTTP.

    python -m zenmail.security.authpolicy --settings STATE/run/settings.json \\
        --listen 127.0.0.1:PORT --key-file STATE/secrets/auth-policy.key

Dovecot (`auth_policy_server_url`) POSTs JSON before every login, `?command=allow`, with
`login`, `remote` (the client address), `protocol` and `pwhash` (a keyed hash of the
password, truncated to 12 bits), and after it, `?command=report`, with `success` and
`policy_reject` too. The answer to `allow` is `{"status": 0}` (go on) or `{"status": -1,
"msg": ...}` (refuse; Dovecot fails the login with that reason, which Postfix passes to the
SMTP client). The rules are zenmail.security.lockout's; a lockout that begins is logged here
and written to the audit log.

Loopback only, and every request must carry the key Dovecot was configured with (header
`X-Zenmail-Policy-Key`): another local user can neither read lockouts nor forge failures.
Failing open is deliberate (`auth_policy_reject_on_fail = no` in Dovecot): with this process or
Redis down, logins work as they did without it.
"""

from __future__ import annotations

import argparse
import hmac
import json
import logging
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from zenmail.config import Settings
from zenmail.db import Database
from zenmail.directory import apppasswords
from zenmail.errors import ZenmailError
from zenmail.security import authcache
from zenmail.security.lockout import Guard, RedisStore, record_lock

KEY_HEADER = "X-Zenmail-Policy-Key"
MAX_BODY = 64 * 1024  # a policy request is a few hundred bytes
log = logging.getLogger("zenmail.authpolicy")


class LastUse:
    """Which app password logged in, written to the directory in the background: at most
    once a minute per credential, so a phone reconnecting all day costs no write per login
    and a login never waits for the database."""

    EVERY = 60.0

    def __init__(self, db: Database | None) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._pending: set[int] = set()
        self._written: dict[int, float] = {}
        self._wake = threading.Event()

    def seen(self, credential: str) -> None:
        if self.db is None or not credential.isdigit():
            return  # "main" or nothing: only app passwords keep a last use
        ident, now = int(credential), time.monotonic()
        with self._lock:
            if now - self._written.get(ident, -self.EVERY) < self.EVERY:
                return
            self._written[ident] = now
            self._pending.add(ident)
        self._wake.set()

    def run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            with self._lock:
                ids, self._pending = sorted(self._pending), set()
            if not ids or self.db is None:
                continue
            try:
                apppasswords.record_use(self.db, ids)
            except Exception as exc:  # a lost stamp is not worth a failed login
                log.error("last use of app passwords %s not recorded: %s", ids, exc)


class PolicyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], guard: Guard, db: Database | None,
                 key: str) -> None:
        super().__init__(address, PolicyHandler)
        self.guard = guard
        self.db = db
        self.key = key
        self.last_use = LastUse(db)
        threading.Thread(target=self.last_use.run, name="last-use", daemon=True).start()


class PolicyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # Dovecot keeps its connections open
    server: PolicyServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass  # one line per login would drown the log; decisions that matter are logged

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if urlsplit(self.path).path != "/health":
            self._answer(404, {"error": "not found"})
            return
        store = self.server.guard.store
        redis_ok = store.ping() if isinstance(store, RedisStore) else True
        self._answer(200, {"status": "ok", "redis": redis_ok})

    def do_POST(self) -> None:
        presented = (self.headers.get(KEY_HEADER) or "").strip()
        if not hmac.compare_digest(presented.encode(), self.server.key.encode()):
            self._answer(403, {"error": f"missing or wrong {KEY_HEADER}"})
            return
        length = self.headers.get("Content-Length", "")
        if not length.isdigit() or int(length) > MAX_BODY:
            self._answer(413, {"error": "a policy request has a small JSON body"})
            return
        try:
            request = json.loads(self.rfile.read(int(length)) or b"{}")
            if not isinstance(request, dict):
                raise ValueError("not an object")
        except ValueError:
            self._answer(400, {"error": "the body is not a JSON object"})
            return
        command = parse_qs(urlsplit(self.path).query).get("command", [""])[0]
        if command == "allow":
            self._answer(200, self._allow(request))
        elif command == "report":
            self._report(request)
            self._answer(200, {"status": 0})
        else:
            self._answer(400, {"error": "command must be allow or report"})

    def _allow(self, req: dict[str, Any]) -> dict[str, Any]:
        login, remote = str(req.get("login") or ""), str(req.get("remote") or "")
        try:
            decision = self.server.guard.allow(login, remote)
        except ZenmailError as exc:
            log.error("allowing %s from %s without a check: %s", login, remote, exc)
            return {"status": 0}
        if decision.allowed:
            return {"status": 0}
        log.info("refused %s from %s (%s): locked out", login, remote, req.get("protocol", ""))
        return {"status": -1, "msg": decision.reason}

    def _report(self, req: dict[str, Any]) -> None:
        login, remote = str(req.get("login") or ""), str(req.get("remote") or "")
        protocol = str(req.get("protocol") or "")
        if req.get("success") is True:
            self.server.last_use.seen(str(req.get("credential") or ""))
        try:
            events = self.server.guard.report(
                login, remote, success=req.get("success") is True,
                password_hash=str(req.get("pwhash") or ""),
                refused_by_policy=req.get("policy_reject") is True)
        except ZenmailError as exc:
            log.error("login of %s from %s not counted: %s", login, remote, exc)
            return
        for event in events:
            log.warning("locked out for %d minutes after %d failures: %s %s%s", event.minutes,
                        event.failures, event.kind, event.account or event.client,
                        f" from {event.client}" if event.kind == "pair" else "")
            if self.server.db is None:
                continue
            try:
                record_lock(self.server.db, event, protocol)
            except Exception as exc:  # the lockout holds even if the audit log is unreachable
                log.error("audit entry for the lockout of %s not written: %s",
                          event.account or event.client, exc)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--settings", required=True, type=Path,
                        help="JSON settings, as `zenmail up` saves them in STATE/run")
    parser.add_argument("--listen", required=True, help="HOST:PORT (loopback)")
    parser.add_argument("--key-file", required=True, type=Path,
                        help="the key Dovecot sends in " + KEY_HEADER)
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                        format="%(asctime)s authpolicy: %(levelname)s %(message)s")
    settings = Settings.model_validate_json(args.settings.read_text())
    host, _, port = args.listen.rpartition(":")
    guard = Guard(RedisStore(settings.redis_endpoint), settings.lockout)
    db = Database(settings.db_url)
    server = PolicyServer((host.strip("[]"), int(port)), guard, db,
                          args.key_file.read_text().strip())
    # This node's Dovecot forgets cached logins of accounts whose credentials changed,
    # wherever the change was made (zenmail.security.authcache).
    drain = authcache.Drain(db, authcache.dovecot_conf(settings.state_dir))
    threading.Thread(target=drain.run, name="auth-cache-drain", daemon=True).start()
    log.info("listening on %s, Redis at %s", args.listen, settings.redis_endpoint)
    server.serve_forever()


if __name__ == "__main__":
    main()
