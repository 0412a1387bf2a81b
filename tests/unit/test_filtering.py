"""The parts of filtering that need no daemon: look-alike domains, names, DNS records, DKIM
keys, the report's period, and that the paths and ports agree with the stack's."""

from __future__ import annotations

import base64
from datetime import date, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from zenmail.config import load_settings
from zenmail.errors import InvalidInput
from zenmail.filtering import dkim, maps, quarantine, records, report
from zenmail.stack.registry import Stack


def test_lookalikes_cover_the_usual_tricks() -> None:
    found = maps.lookalikes("acme.example")
    for fake in ("acrne.example", "acme.com", "acm.example", "acmee.example", "amce.example",
                 "4cme.example", "acme-secure.example", "xn--cme-5cd.example"):  # Cyrillic а
        assert fake in found, fake
    assert "acme.example" not in found
    assert "globex.example" not in found


def test_names_compare_without_case_accents_or_spacing() -> None:
    assert maps.normal_name("  Carla   BOSS ") == maps.normal_name("carla boss") == "carla_boss"
    assert maps.normal_name("Zoë O'Brien") == "zoe_o_brien"


def test_dkim_keys_are_made_once_rotated_and_published(tmp_path: Path) -> None:
    assert dkim.ensure(tmp_path, ["acme.example", "globex.example"]) == ["acme.example",
                                                                        "globex.example"]
    assert dkim.ensure(tmp_path, ["acme.example", "globex.example"]) == []
    key = dkim.key(tmp_path, "acme.example")
    assert key is not None and (key.path.stat().st_mode & 0o777) == 0o640
    private = serialization.load_pem_private_key(key.path.read_bytes(), password=None)
    assert private.key_size == 2048  # type: ignore[union-attr]
    record = key.public_record()
    der = base64.b64decode(record.split("p=")[1])
    assert der == private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    dkim.ensure(tmp_path, ["acme.example"])  # globex removed: no longer signed for
    assert set(dkim.current(tmp_path)) == {"acme.example"}
    rotated = dkim.rotate(tmp_path, "acme.example")
    assert rotated.path.exists() and key.path.exists()  # the old key stays for a while


def test_records_name_every_kind(tmp_path: Path) -> None:
    advice = records.records("acme.example", "mail.host.example",
                             {"submission": 587, "submissions": 465, "imap": 143,
                              "imaps": 993}, "zm1", "v=DKIM1; k=rsa; p=" + "A" * 400)
    kinds = {(r.name, r.type) for r in advice.records}
    assert ("acme.example.", "MX") in kinds and ("zm1._domainkey.acme.example.", "TXT") in kinds
    assert ("_dmarc.acme.example.", "TXT") in kinds and ("_smtp._tls.acme.example.", "TXT") in kinds
    assert ("_submissions._tcp.acme.example.", "SRV") in kinds
    long_line = next(r for r in advice.records if r.name.startswith("zm1.")).zone_line()
    assert long_line.count('"') == 4  # split in strings of at most 255 bytes
    assert "mx: mail.host.example" in advice.mta_sts_policy


@pytest.mark.parametrize("plan", ["dev", "standard"])
def test_paths_and_ports_agree_with_the_stack(tmp_path: Path, plan: str) -> None:
    settings = load_settings(tmp_path, {"ports.plan": plan, "ports.pins": {"imaps": 30993}})
    stack = Stack(settings)
    assert records.listener_ports(settings) == {
        n: stack.plan[n] for n in records.CLIENT_PORTS}
    assert quarantine.Queue.of(tmp_path).conf_dir == stack.services["postfix"].conf_dir


def test_report_period() -> None:
    today = date(2026, 11, 28)
    assert report.parse_since(None, today) == date(2026, 10, 29)
    assert report.parse_since("7d", today) == date(2026, 11, 21)
    assert report.parse_since("2026-11-01", today) == date(2026, 11, 1)
    for bad in ("yesterday", "2026-12-01"):
        with pytest.raises(InvalidInput):
            report.parse_since(bad, today)


def test_dkim_rotation_keeps_the_previous_selector_for_the_overlap_then_retires_it(
        tmp_path: Path) -> None:
    dkim.ensure(tmp_path, ["acme.example"])
    first = dkim.key(tmp_path, "acme.example")
    assert first is not None and first.algorithm == "rsa"
    assert dkim.due(tmp_path, 30, now=first.made + timedelta(days=29)) == []
    later = first.made + timedelta(days=31)
    assert dkim.due(tmp_path, 30, now=later) == ["acme.example"]
    assert dkim.due(tmp_path, 0, now=later) == []  # 0: no scheduled rotation
    new = dkim.rotate(tmp_path, "acme.example", "ed25519", overlap_days=7, now=later)
    assert dkim.current(tmp_path) == {"acme.example": new.selector} != first.selector
    # The Ed25519 record is the public half of the key rspamd signs with (RFC 8463).
    raw = base64.b64decode(new.path.read_bytes())
    public = ed25519.Ed25519PrivateKey.from_private_bytes(raw[:32]).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert new.public_record() == f"v=DKIM1; k=ed25519; p={base64.b64encode(public).decode()}"
    assert [k.selector for k in dkim.published(tmp_path, "acme.example")] == \
        [new.selector, first.selector]
    assert dkim.retire(tmp_path, later + timedelta(days=6)) == []
    assert first.path.exists()
    assert dkim.retire(tmp_path, later + timedelta(days=7)) == [("acme.example",
                                                                 first.selector)]
    assert not first.path.exists()
    assert [k.selector for k in dkim.published(tmp_path, "acme.example")] == [new.selector]
    advice = records.records("acme.example", "mail.host.example", {}, new.selector,
                             new.public_record(), [(first.selector, "v=DKIM1; k=rsa; p=x")])
    assert [r.name for r in advice.records if "._domainkey." in r.name] == [
        f"{new.selector}._domainkey.acme.example.", f"{first.selector}._domainkey.acme.example."]


def test_postscreen_settings_reach_main_cf_and_its_resolver(tmp_path: Path) -> None:
    from zenmail.stack.daemons import postscreen

    s = load_settings(tmp_path, {"filter.dnsbl_sites": ["bl.example*2", "zen.example"],
                                 "filter.dnsbl_threshold": 2,
                                 "filter.nameservers": ["127.53.1.2:53", "10.0.0.1",
                                                        "[::1]:53", "127.0.0.1:5353"]})
    main_cf = postscreen.main_cf(s, tmp_path)
    assert "postscreen_dnsbl_sites = bl.example*2, zen.example" in main_cf
    assert "postscreen_dnsbl_threshold = 2" in main_cf
    # resolv.conf has no port: a server elsewhere than on 53 cannot be named there.
    assert postscreen.port53_nameservers(s) == ["127.53.1.2", "10.0.0.1", "::1"]
    bare = s.with_values({"filter.enabled": False})
    assert not postscreen.enabled(bare) and "postscreen_" not in postscreen.main_cf(bare,
                                                                                    tmp_path)
