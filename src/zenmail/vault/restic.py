"""restic, as zenmail drives it: one repository (format 2, zstd), its password generated once
into STATE/secrets/vault.key (0600, root), every call with the repository in the environment
so no secret is ever on a command line.

Debian 12's restic is 0.14: `backup --json` reports the snapshot's short id only (the full
one comes from `snapshots --json`), there is no `rewrite` and no `--set-path`; paths given
relative to the working directory are stored as they are (`/mail/...`, `/zenmail/...`).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from zenmail.config import Settings
from zenmail.errors import InvalidInput, StackError
from zenmail.stack.files import Layout, ensure_secret
from zenmail.vault import restic_key

Progress = Callable[[float], None]
log = logging.getLogger(__name__)


def vault_key(settings: Settings) -> Path:
    return Layout.of(settings.state_dir).secrets / "vault.key"


class Restic:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        state = Layout.of(settings.state_dir).state
        self.location = settings.vault.repository or str(state / "vault")
        self.local = not any(self.location.startswith(p) for p in
                             ("s3:", "sftp:", "rest:", "b2:", "azure:", "gs:", "swift:",
                              "rclone:"))
        self.cache = state / "vault-cache"
        self._key_hint: str | None = None

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RESTIC_", "AWS_"))}
        env.update(RESTIC_REPOSITORY=self.location,
                   RESTIC_PASSWORD_FILE=str(vault_key(self.settings)),
                   RESTIC_CACHE_DIR=str(self.cache))
        if self.local:
            # zenmail's cheaply stretched key (restic_key): restic tries it first.
            self._key_hint = self._key_hint or restic_key.find(Path(self.location))
            if self._key_hint:
                env["RESTIC_KEY_HINT"] = self._key_hint
        v = self.settings.vault
        if v.s3_access_key_id:
            env.update(AWS_ACCESS_KEY_ID=v.s3_access_key_id,
                       AWS_SECRET_ACCESS_KEY=v.s3_secret_access_key)
        return env

    def run(self, args: list[str], what: str, *, timeout: float = 3600,
            cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        for attempt in (1, 2):
            try:
                done = subprocess.run(_command(args), capture_output=True,
                                      env=self.env(), cwd=cwd, timeout=timeout,
                                      stdin=subprocess.DEVNULL)
            except FileNotFoundError as exc:
                raise StackError("restic is not installed; run `make install`") from exc
            except subprocess.TimeoutExpired as exc:
                raise StackError(f"{what}: restic did not finish in {timeout:.0f} s") from exc
            if not (attempt == 1 and _LOCKED in done.stderr and self.clear_dead_locks()):
                break
        if check and done.returncode != 0:
            raise StackError(f"{what} failed (restic exit {done.returncode}): "
                             f"{_last(done.stderr or done.stdout)}")
        return done

    # ---------------------------------------------------------------- the repository

    def exists(self) -> bool:
        if self.local:
            return (Path(self.location) / "config").exists()
        return self.run(["cat", "config"], "opening the vault", check=False).returncode == 0

    def ensure(self) -> None:
        """Create the repository (and its password) the first time; give a local one
        zenmail's fast key (restic_key), also one made before zenmail had it."""
        password = ensure_secret(vault_key(self.settings))
        if not self.exists():
            if self.local:
                Path(self.location).parent.mkdir(parents=True, exist_ok=True)
            self.run(["init", "--repository-version", "2"], f"creating the vault at "
                     f"{self.location}")
        if self.local:
            self._ensure_fast_key(password)

    def _ensure_fast_key(self, password: str) -> None:
        """zenmail's fast key in the repository, opening with the password (checked here,
        without a restic call). One that does not open (damaged) is replaced; a new one is
        checked by restic itself, and removed if restic does not open the repository with
        it (restic then goes on with the original key, half a second per command)."""
        repo = Path(self.location)
        kid = restic_key.find(repo)
        if kid is not None:
            if restic_key.opens(repo, kid, password):
                self._key_hint = kid
                return
            restic_key.remove(repo, kid)
        self._key_hint = None
        master = self.run(["cat", "masterkey"], "reading the vault's master key").stdout
        kid = restic_key.write(repo, restic_key.key_file(master, password))
        self._key_hint = kid
        if not self._opened_with(kid):
            restic_key.remove(repo, kid)
            self._key_hint = None
            log.warning("restic does not open the vault with zenmail's fast key; it goes on "
                        "with the original key (half a second per restic command)")

    def _opened_with(self, key_id: str) -> bool:
        """Whether restic, given the hint, opens the repository with key `key_id` (`key
        list` marks the key it opened with; it takes a lock, --no-lock or not)."""
        done = self.run(["key", "list", "--json"], "listing the vault's keys", check=False)
        try:
            keys = json.loads(done.stdout or b"[]") or []
            return any(k.get("current") and k.get("id") and key_id.startswith(str(k["id"]))
                       for k in keys)
        except (ValueError, AttributeError):
            return False

    def require(self) -> None:
        if not vault_key(self.settings).exists() or not self.exists():
            raise InvalidInput(f"no vault at {self.location} yet; take a first snapshot with "
                               "`zenmail snapshot`")

    # ---------------------------------------------------------------- snapshots

    def backup(self, cwd: Path, paths: list[str], tags: list[str],
               progress: Progress | None = None, at: datetime | None = None,
               parent: str | None = None) -> str:
        """Back up `paths` (relative to `cwd`); returns the new snapshot's short id. `at`:
        the snapshot's time (UTC, whole seconds), so restic's record and zenmail's index agree
        and a snapshot rebuilt by an erasure keeps it."""
        when = ["--time", at.astimezone().strftime("%Y-%m-%d %H:%M:%S")] if at else []  # local
        if parent:
            when += ["--parent", parent]
        cmd = ["restic", "--compression", self.settings.vault.compression, "backup", "--json",
               "--ignore-ctime", "--host", "zenmail", *when,
               *[a for t in tags for a in ("--tag", t)], *paths]
        for attempt in (1, 2):
            p = subprocess.Popen(cmd, cwd=cwd, env=self.env(), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
            assert p.stdout is not None and p.stderr is not None
            summary: dict[str, Any] = {}
            for line in p.stdout:
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                if msg.get("message_type") == "status" and progress:
                    progress(float(msg.get("percent_done", 0.0)))
                elif msg.get("message_type") == "summary":
                    summary = msg
            err = p.stderr.read()
            if p.wait() == 0 or not (attempt == 1 and _LOCKED in err
                                     and self.clear_dead_locks()):
                break
        if p.returncode != 0 or "snapshot_id" not in summary:
            raise StackError(f"snapshot failed (restic exit {p.returncode}): {_last(err)}")
        return str(summary["snapshot_id"])

    def snapshots(self, *ids: str) -> list[dict[str, Any]]:
        out = self.run(["snapshots", "--json", "--tag", "zenmail", *ids], "listing snapshots")
        return list(json.loads(out.stdout or b"[]") or [])

    def full_id(self, short: str) -> str:
        """The full id of a snapshot given by its short one (a local repository names its
        snapshot files by it, which spares a restic call)."""
        if self.local:
            found = list((Path(self.location) / "snapshots").glob(f"{short}*"))
            if len(found) == 1:
                return found[0].name
        [snap] = self.snapshots(short)
        return str(snap["id"])

    def dump(self, snapshot: str, path: str) -> bytes:
        return self.run(["dump", snapshot, path], f"reading {path} from snapshot "
                        f"{snapshot[:8]}").stdout

    @contextmanager
    def dumping(self, snapshot: str, path: str, timeout: float = 3600
                ) -> Iterator[Callable[[], bytes]]:
        """`dump`, started at once in the background: the caller does other work while
        restic reads, then calls what this yields for the bytes. A dump the caller did not
        wait for is stopped on leaving."""
        what = f"reading {path} from snapshot {snapshot[:8]}"
        try:
            p = subprocess.Popen(_command(["dump", snapshot, path]), env=self.env(),
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
        except FileNotFoundError as exc:
            raise StackError("restic is not installed; run `make install`") from exc

        def result() -> bytes:
            try:
                out, err = p.communicate(timeout=timeout)
            except subprocess.TimeoutExpired as exc:
                raise StackError(f"{what}: restic did not finish in {timeout:.0f} s") from exc
            if p.returncode != 0:
                raise StackError(f"{what} failed (restic exit {p.returncode}): "
                                 f"{_last(err or out)}")
            return out

        try:
            yield result
        finally:
            if p.returncode is None:
                p.kill()
                p.communicate()

    def ls(self, snapshot: str) -> dict[str, int]:
        """path -> size of every file the snapshot holds."""
        out = self.run(["ls", "--json", snapshot], f"listing snapshot {snapshot[:8]}")
        files: dict[str, int] = {}
        for line in out.stdout.splitlines():
            node = json.loads(line)
            if node.get("struct_type") == "node" and node.get("type") == "file":
                files[node["path"]] = int(node.get("size", 0))
        return files

    def restore(self, snapshot: str, target: Path, includes: list[str]) -> None:
        self.run(["restore", snapshot, "--target", str(target),
                  *[a for i in includes for a in ("--include", i)]],
                 f"reading snapshot {snapshot[:8]}")

    def forget(self, tags: list[str], keep: dict[str, int], prune: bool = True) -> str:
        args = ["forget", "--tag", ",".join(tags), "--group-by", "tags"]
        for k, n in keep.items():
            if n > 0:
                args += [f"--keep-{k}", str(n)]
        if prune:
            args.append("--prune")
        return self.run(args, "applying the retention").stdout.decode(errors="replace")

    def forget_ids(self, ids: list[str], prune: bool = True) -> None:
        if ids:
            self.run(["forget", *(["--prune"] if prune else []), *ids], "forgetting snapshots")

    def unlock(self) -> None:
        """Remove locks left by a restic that was killed (stale ones only)."""
        self.run(["unlock"], "removing stale locks", check=False)

    def clear_dead_locks(self) -> bool:
        """Remove the locks of restics that died; True if there was one. restic keeps a dead
        restic's lock until `restic unlock` (a snapshot cut by a reboot would stop every
        later prune), and `unlock` keeps the lock of a killed restic that is a zombie on
        this host (restic sees its PID as alive; under a PID 1 that reaps nothing, as in
        some containers, it stays so). Locks of live restics, or of other hosts, stay."""
        before = self._locks()
        self.unlock()
        dead, alive = [], 0
        for lock_id in self._locks():
            done = self.run(["cat", "lock", lock_id], "reading a lock", check=False)
            try:
                lock = json.loads(done.stdout)
                zombie = (lock.get("hostname") == socket.gethostname()
                          and _is_zombie(int(lock.get("pid", 0))))
            except (ValueError, TypeError, AttributeError):
                zombie = False
            if zombie:
                dead.append(lock_id)
            else:
                alive += 1
        if dead and self.local:
            for lock_id in dead:
                (Path(self.location) / "locks" / lock_id).unlink(missing_ok=True)
        elif dead and not alive:  # restic removes a remote lock only with all the others
            self.run(["unlock", "--remove-all"], "removing dead locks", check=False)
        cleared = len(before - self._locks())
        if cleared:
            log.warning("removed %d lock(s) of restic processes that died", cleared)
        return cleared > 0

    def _locks(self) -> set[str]:
        done = self.run(["list", "locks"], "listing locks", check=False)
        return set(done.stdout.decode(errors="replace").split()) if done.returncode == 0 else set()

    def check(self, read_data_subset: str | None) -> tuple[bool, str]:
        args = ["check"] + ([f"--read-data-subset={read_data_subset}"]
                            if read_data_subset else [])
        done = self.run(args, "checking the vault", check=False)
        text = (done.stdout + done.stderr).decode(errors="replace")
        return done.returncode == 0, text

    def stats(self) -> dict[str, Any]:
        out = self.run(["stats", "--json", "--mode", "raw-data"], "measuring the vault")
        return dict(json.loads(out.stdout))


# Commands that only read: no lock, so a finder never waits for a running snapshot.
_NO_LOCK = {"dump", "snapshots", "cat", "ls", "list"}
# What restic says when another restic holds the repository's lock.
_LOCKED = b"already locked"


def _is_zombie(pid: int) -> bool:
    """Whether `pid` is a process of this host that died and was not reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return pid > 0 and stat.rpartition(")")[2].split()[:1] == ["Z"]


def _command(args: list[str]) -> list[str]:
    return ["restic", "--no-lock", *args] if args[0] in _NO_LOCK else ["restic", *args]


def _last(raw: bytes) -> str:
    lines = [ln for ln in raw.decode(errors="replace").splitlines() if ln.strip()]
    return " / ".join(lines[-3:]) if lines else "no output"
