"""The port plan and the registry's ordering: pure, no daemon runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from zenmail.config import load_settings
from zenmail.devtools.stackdir import write_settings
from zenmail.errors import InvalidInput, StackError
from zenmail.stack.ports import Port, make_plan
from zenmail.stack.registry import DAEMONS, Stack, ordered, port_plan


def test_dev_plan_derives_from_base_and_pins(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("ZENMAIL_PORTS_BASE", raising=False)
    p = port_plan(load_settings(tmp_path))
    assert (p["smtp"], p["submission"], p["imap"], p["imaps"], p["lmtp"]) == (
        10025, 10587, 10143, 10993, 10024)
    assert p.listen == ("127.0.0.1",)
    write_settings(tmp_path, {"ports": {"base": 20000, "imap": 31143}})
    p = port_plan(load_settings(tmp_path))
    assert (p["smtp"], p["submission"], p["imap"]) == (20025, 20587, 31143)


def test_environment_moves_the_whole_dev_plan(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ZENMAIL_PORTS_BASE", "30000")
    p = port_plan(load_settings(tmp_path))
    assert (p["smtp"], p["submission"], p["imap"], p["http"]) == (30025, 30587, 30143, 38080)


def test_standard_plan_uses_well_known_ports_everywhere(tmp_path: Path) -> None:
    p = port_plan(load_settings(tmp_path, {"ports.plan": "standard"}))
    assert (p["smtp"], p["submission"], p["imap"], p["imaps"]) == (25, 587, 143, 993)
    assert p.listen == ("0.0.0.0", "::")
    assert p.connect_host() == "127.0.0.1"
    assert p.hosts("lmtp") == ["127.0.0.1"]  # LMTP has no authentication: never public


def test_ipv6_listeners(tmp_path: Path) -> None:
    p = port_plan(load_settings(tmp_path, {"listen.addresses": ["::1", "127.0.0.1"]}))
    assert p.connect_host() == "::1"
    assert p.endpoints()["imap"] == "[::1]:10143"
    assert p.hosts("imap") == ["::1", "127.0.0.1"]


def test_conflicting_and_unknown_ports_refused(tmp_path: Path) -> None:
    write_settings(tmp_path, {"ports": {"imap": 2525, "smtp": 2525}})
    with pytest.raises(InvalidInput, match="2525 is planned for both"):
        port_plan(load_settings(tmp_path))
    write_settings(tmp_path, {"ports": {"imapp": 1}})
    with pytest.raises(InvalidInput, match=r"unknown listener\(s\) \['imapp'\]"):
        port_plan(load_settings(tmp_path))
    write_settings(tmp_path, {"ports": {"base": 64000}})
    with pytest.raises(InvalidInput, match="out of range"):
        port_plan(load_settings(tmp_path))


def test_every_daemon_declares_distinct_listeners() -> None:
    names = [p.name for c in DAEMONS for p in c.ports]
    assert len(names) == len(set(names))
    assert {"smtp", "submission", "submissions", "imap", "imaps", "lmtp", "sieve",
            "http"} <= set(names)


def test_start_order_puts_dependencies_first_and_stop_order_reverses_it(tmp_path) -> None:
    stack = Stack(load_settings(tmp_path))
    start = [s.name for s in stack.start_order()]
    assert start.index("dovecot") < start.index("postfix")
    assert [s.name for s in stack.stop_order()] == start[::-1]
    assert [s.name for s in Stack(load_settings(tmp_path), ["postfix", "dovecot"])
            .start_order()] == ["dovecot", "postfix"]


def test_ordering_refuses_a_missing_dependency_and_a_circle() -> None:
    class A(DAEMONS[0]):  # type: ignore[misc, valid-type]
        name = "a"
        depends_on = ("b",)

    class B(DAEMONS[0]):  # type: ignore[misc, valid-type]
        name = "b"
        depends_on = ("a",)

    with pytest.raises(StackError, match="a depends on b"):
        ordered([A])
    with pytest.raises(StackError, match="circle"):
        ordered([A, B])


def test_wiring_comes_from_the_provider_or_from_settings(tmp_path: Path) -> None:
    stack = Stack(load_settings(tmp_path))
    assert stack.endpoint("lmtp") == f"unix:{tmp_path.resolve()}/run/dovecot/lmtp"
    remote = Stack(load_settings(tmp_path, {"endpoints.lmtp": "inet:10.0.0.2:24"}))
    assert remote.endpoint("lmtp") == "inet:10.0.0.2:24"
    assert [s.name for s in stack.reacting_to("dovecot")] == ["postfix"]
    with pytest.raises(StackError, match="provides 'webmail'"):
        stack.endpoint("webmail")


def test_make_plan_is_pure_over_declared_ports(tmp_path: Path) -> None:
    p = make_plan(load_settings(tmp_path), [Port("x", 100), Port("y", 200, "loopback")])
    assert p.ports() == {"x": 10100, "y": 10200}
    assert p.endpoints() == {"x": "127.0.0.1:10100", "y": "127.0.0.1:10200"}
