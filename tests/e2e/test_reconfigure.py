"""`up` on a live stack: a good change goes live without a restart; a bad one is refused
before anything running changes, and the stack goes on delivering mail."""

from __future__ import annotations

import imaplib
import os
import shutil
import smtplib
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import MailStack
from zenmail.errors import InvalidInput, StackError
from zenmail.stack import generations, manager
from zenmail.stack.registry import Stack

pytestmark = pytest.mark.e2e


def _pids(stack: MailStack) -> dict[str, int | None]:
    return {s.name: s.pid for s in manager.status(stack.settings).services}


def _live(stack: MailStack) -> dict[str, Path | None]:
    return {name: generations.live(stack.daemon(name).conf_dir)
            for name in ("dovecot", "postfix", "redis")}


def _delivers(stack: MailStack, name: str) -> None:
    user = stack.account(name)
    msg = stack.message("partner@example.org", user, f"still delivering ({name})")
    with stack.smtp() as c:
        c.sendmail("partner@example.org", [user], msg)
    [got] = stack.wait_messages(user, 1)
    assert got.endswith(msg)


def _self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
                    f"/CN={name}", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_a_mismatched_certificate_is_refused_and_the_stack_keeps_delivering(
        stack: MailStack, tmp_path: Path) -> None:
    pids, live = _pids(stack), _live(stack)
    cert, _ = _self_signed(tmp_path, "one")
    _, other_key = _self_signed(tmp_path, "two")
    broken = stack.settings.with_values({"tls.cert": str(cert), "tls.key": str(other_key)})
    with pytest.raises(InvalidInput, match="do not belong together") as err:
        manager.up(broken, with_api=False)
    assert "Nothing running was changed" in str(err.value)
    assert _pids(stack) == pids and _live(stack) == live
    _delivers(stack, "tls")


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_a_listener_moved_onto_a_busy_port_is_refused(stack: MailStack) -> None:
    pids, live = _pids(stack), _live(stack)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        moved = stack.settings.with_values({"ports.imap": busy})
        with pytest.raises(StackError, match=f"port {busy} \\(imap\\)"):
            manager.up(moved, with_api=False)
    assert _pids(stack) == pids and _live(stack) == live
    _delivers(stack, "port")


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_the_daemons_own_checkers_refuse_a_broken_generation(stack: MailStack) -> None:
    live = _live(stack)
    for name, conf, bad_line in [("dovecot", "dovecot.conf", "no_such_setting = 1"),
                                 ("postfix", "master.cf", "half-a-service inet n"),
                                 ("redis", "redis.conf", "no-such-directive yes"),
                                 ("radicale", "radicale.conf", "no_such_option = 1")]:
        daemon = Stack(stack.settings).services[name]

        def broken(directory: Path, daemon=daemon, conf=conf, bad_line=bad_line) -> None:
            daemon.render(directory)
            path = directory / conf
            path.write_text(path.read_text() + f"\n{bad_line}\n")

        staged = generations.stage(daemon.conf_dir, broken)
        with pytest.raises(StackError, match=name.capitalize()):
            daemon.check(staged.directory)
        generations.discard(staged)
        assert not staged.directory.exists()
    assert _live(stack) == live
    _delivers(stack, "checkers")


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_a_good_change_goes_live_by_reload_and_an_unchanged_up_touches_nothing(
        stack: MailStack) -> None:
    pids, live = _pids(stack), _live(stack)
    manager.up(stack.settings, with_api=False)
    assert _live(stack) == live
    assert {k: v for k, v in _pids(stack).items() if k != "supervisor"} == {
        k: v for k, v in pids.items() if k != "supervisor"}

    renamed = stack.settings.with_values({"hostname": "mx.renamed.test"})
    try:
        manager.up(renamed, with_api=False)
        with stack.smtp() as c:
            assert c.ehlo()[1].startswith(b"mx.renamed.test")
        after = _live(stack)
        assert after["postfix"] != live["postfix"] and after["dovecot"] != live["dovecot"]
        assert after["redis"] == live["redis"]
        # Reloaded in place: same masters, and the old generations are gone.
        assert _pids(stack)["dovecot"] == pids["dovecot"]
        assert _pids(stack)["postfix"] == pids["postfix"]
        assert live["postfix"] is not None and not live["postfix"].exists()
        _delivers(stack, "renamed")
    finally:
        manager.up(stack.settings, with_api=False)


def _served(stack: MailStack) -> tuple[bytes, bytes]:
    """The certificates IMAP (STARTTLS) and submission (STARTTLS) present, DER-encoded."""
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    m = imaplib.IMAP4("127.0.0.1", stack.ports["imap"], timeout=10)
    try:
        m.starttls(unverified)
        imap = m.sock.getpeercert(binary_form=True)
    finally:
        m.logout()
    with smtplib.SMTP("127.0.0.1", stack.ports["submission"], timeout=10) as c:
        c.starttls(context=unverified)
        smtp = c.sock.getpeercert(binary_form=True)
    assert imap and smtp
    return imap, smtp


def _der(cert: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(cert.read_text())


def _clients_meanwhile(stack: MailStack, action: Callable[[], object]) -> None:
    """Run `action` while clients keep connecting over STARTTLS; none may be refused."""
    stop, tries, failures = threading.Event(), [0], []

    def clients() -> None:
        while not stop.is_set():
            try:
                _served(stack)
                tries[0] += 1
            except (OSError, imaplib.IMAP4.error, smtplib.SMTPException) as exc:
                failures.append(repr(exc))

    worker = threading.Thread(target=clients)
    worker.start()
    try:
        action()
        time.sleep(0.5)  # a few more connections after the reload
    finally:
        stop.set()
        worker.join()
    assert failures == [] and tries[0] > 0


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_a_renewed_certificate_is_served_after_up_without_a_restart_or_a_refusal(
        stack: MailStack, tmp_path: Path) -> None:
    # certbot's layout: live/ holds symlinks into archive/, switched at each renewal.
    live, archive = tmp_path / "live", tmp_path / "archive"
    live.mkdir()
    archive.mkdir()
    cert, key = live / "fullchain.pem", live / "privkey.pem"

    def issue(n: int) -> Path:
        made = _self_signed(archive, f"issue{n}")
        for src, link in zip(made, (cert, key), strict=True):
            tmp = link.with_suffix(".new")
            tmp.symlink_to(os.path.relpath(src, live))
            os.replace(tmp, link)
        return made[0]

    issue(1)
    settings = stack.settings.with_values({"tls.cert": str(cert), "tls.key": str(key)})
    try:
        manager.up(settings, with_api=False)
        assert _served(stack) == (_der(cert), _der(cert))
        pids = _pids(stack)
        # A renewal (as certbot does it), then `zenmail up` as its deploy hook runs it.
        second = issue(2)
        _clients_meanwhile(stack, lambda: manager.up(settings, with_api=False))
        assert _served(stack) == (_der(second), _der(second))
        # Files overwritten in place (same paths, new content) are taken just the same.
        third = _self_signed(tmp_path, "issue3")
        for src, dst in zip(third, (cert.resolve(), key.resolve()), strict=True):
            shutil.copy(src, dst.with_suffix(".tmp"))
            os.replace(dst.with_suffix(".tmp"), dst)
        _clients_meanwhile(stack, lambda: manager.up(settings, with_api=False))
        assert _served(stack) == (_der(third[0]), _der(third[0]))
        after = _pids(stack)
        assert (after["dovecot"], after["postfix"]) == (pids["dovecot"], pids["postfix"])
    finally:
        manager.up(stack.settings, with_api=False)
