"""A private Redis on a unix socket, for what the filters learn (Bayes, rate limits,
reputation). The smallest daemon of the stack, and the worked example of adding one
(docs/architecture.md): this module, its template and one line in the registry.

Redis cannot drop privileges itself, so it is started as the `redis` user (setpriv); its
data, socket, pid and log live in directories that user owns.
"""

from __future__ import annotations

import grp
import os
import socket
import subprocess
import tempfile
from pathlib import Path

from zenmail.errors import StackError
from zenmail.stack import proc
from zenmail.stack.base import Service, run
from zenmail.stack.files import ensure_dir, render, template, uid, write_atomic

USER = "redis"
CLIENT_GROUP = "_rspamd"  # rspamd keeps Bayes, counters and limits here
MAXMEMORY = "256mb"


def _client_group() -> str:
    """The group allowed to reach the socket: rspamd's, where rspamd is installed."""
    try:
        grp.getgrnam(CLIENT_GROUP)
        return CLIENT_GROUP
    except KeyError:
        return USER


class Redis(Service):
    name = "redis"
    process_name = "redis-server"
    binaries = ("redis-server", "setpriv")

    @property
    def run_dir(self) -> Path:
        return self.layout.run / "redis"

    @property
    def socket(self) -> Path:
        return self.run_dir / "redis.sock"

    @property
    def logfile(self) -> Path:
        return self.layout.log / "redis.log"

    def pidfile(self) -> Path:
        return self.run_dir / "redis.pid"

    def provides(self) -> dict[str, str]:
        return {"redis": f"unix:{self.socket}"}

    def prepare(self) -> None:
        ensure_dir(self.layout.log)
        # The socket is open to all (unixsocketperm 777: Redis gives it its own group, which
        # rspamd's user is not in); the directory is the lock: redis owns it, rspamd's
        # group may pass through (root always may), nobody else gets to the socket.
        ensure_dir(self.run_dir, 0o710, owner=USER, group=_client_group())
        ensure_dir(self.home / "data", 0o750, owner=USER, group=USER)
        self.logfile.touch(0o640)  # Redis writes its log as `redis`, into a root directory
        os.chown(self.logfile, uid(USER), -1)

    def render(self, directory: Path) -> None:
        values = {"pidfile": self.pidfile(), "socket": self.socket,
                  "data_dir": self.home / "data", "logfile": self.logfile,
                  "maxmemory": MAXMEMORY}
        write_atomic(directory / "redis.conf", render(template("redis/redis.conf"), values))

    def check(self, directory: Path) -> None:
        # Redis has no "check only" switch: run the staged file for a moment on a scratch
        # socket, with nothing saved. A bad directive ends it at once with its reason.
        with tempfile.TemporaryDirectory(dir=self.run_dir, prefix="check-") as scratch:
            os.chown(scratch, uid(USER), -1)
            probe = Path(scratch) / "s"
            p = subprocess.Popen(
                [*self._as_redis(), "redis-server", str(directory / "redis.conf"),
                 "--daemonize", "no", "--unixsocket", str(probe), "--dir", scratch,
                 "--pidfile", str(Path(scratch) / "pid"), "--logfile", "", "--save", ""],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            try:
                if not proc.wait_until(lambda: p.poll() is not None or _ping(probe), 10):
                    raise StackError("checking the Redis configuration: no answer in 10 s")
                if p.poll() is not None:
                    out = (p.stdout.read() if p.stdout else b"").decode(errors="replace")
                    raise StackError("the Redis configuration is refused: "
                                     + " ".join(out.strip().splitlines()[-3:]))
            finally:
                if p.poll() is None:
                    p.terminate()
                p.wait(10)
                if p.stdout:
                    p.stdout.close()

    def _as_redis(self) -> list[str]:
        return ["setpriv", f"--reuid={USER}", f"--regid={USER}", "--init-groups"]

    def _launch(self) -> None:
        run([*self._as_redis(), "redis-server", str(self.conf_dir / "redis.conf")],
            "starting Redis")

    def healthy(self) -> bool:
        return self.pid() is not None and _ping(self.socket)


def _ping(path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            s.connect(str(path))
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False
