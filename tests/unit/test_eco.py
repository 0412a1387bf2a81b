"""The eco engine's pure parts: the CO2 model, durations, the raw-bytes MIME surgery of image
reduction. The parts that touch mail run on the real stack in tests/e2e/test_eco.py."""

from __future__ import annotations

import base64
import io
import json
from datetime import date
from pathlib import Path

import pytest
from PIL import Image

from zenmail.config import EcoSettings
from zenmail.eco import co2, images
from zenmail.eco.analyze import Usage
from zenmail.eco.policy import months_ago, parse_duration
from zenmail.errors import InvalidInput

GB = 1_000_000_000


def test_typical_account_lands_near_137_g_a_year_and_the_grid_matters() -> None:
    eco = EcoSettings()
    assert co2.typical(eco) == pytest.approx(137, abs=1.5)
    by_zone = {z: co2.typical(EcoSettings(grid_zone=z)) for z in co2.ZONES}
    assert by_zone["FR"] < by_zone["EU"] < by_zone["DE"] < by_zone["PL"]
    # An explicit intensity wins over the zone.
    assert co2.grid(EcoSettings(grid_zone="DE", grid_g_per_kwh=52)) == 52


def usage() -> Usage:
    return Usage(messages=20_000, bytes=4 * GB, disk_bytes=3 * GB, live_bytes=2 * GB,
                 dormant_bytes=GB, trash_bytes=GB // 2, junk_bytes=GB // 2,
                 compressed_messages=5_000, compressed_bytes=2 * GB,
                 compressed_disk_bytes=GB, received_last_year=12_000,
                 received_last_year_bytes=720_000_000, archivable_bytes=GB,
                 expirable_bytes=GB // 2, reducible_image_bytes=GB // 4)


def test_report_is_reproducible_and_adds_up() -> None:
    eco = EcoSettings()
    policy = co2.PolicyUsed(12, 30, True, "tenant")
    first = co2.report("tenant t", usage(), 2, eco, policy).to_dict()
    again = co2.report("tenant t", usage(), 2, eco, policy).to_dict()
    assert json.dumps(first, sort_keys=True) == json.dumps(again, sort_keys=True)
    names = [s["name"] for s in first["scenarios"]]
    assert names == ["raw Maildir", "now", "compression", "trash and junk expunge",
                     "archiving", "image reduction"]
    by = {s["name"]: s for s in first["scenarios"]}
    # Measured ratio 0.5: 1 GB compressed + 2 GB plain x 0.5 = 2 GB.
    assert by["compression"]["stored_bytes"] == 2 * GB
    assert by["trash and junk expunge"]["stored_bytes"] == 2 * GB - GB // 4
    assert by["archiving"]["saved_bytes"] == 0  # moving saves nothing by itself
    assert by["image reduction"]["saved_bytes"] == round(GB / 4 * 0.85)
    for s in first["scenarios"]:
        parts = s["storage_g"] + s["processing_g"] + s["transfer_g"] + s["embodied_g"]
        assert s["total_g"] == pytest.approx(parts, abs=0.2)
        assert s["per_account_g"] == pytest.approx(s["total_g"] / 2, abs=0.1)
    # Storage by hand: GB x (2 x 0.0105 + 0.0057) kWh x PUE 1.58 x 251 g.
    assert by["raw Maildir"]["storage_g"] == pytest.approx(4 * 0.0267 * 1.58 * 251, abs=0.1)
    assert {f["name"] for f in first["factors"]} >= {
        "grid_g_per_kwh", "pue", "storage_kwh_per_gb_year", "replicas", "backup_copies",
        "wh_per_message", "kwh_per_gb_transfer", "embodied_g_per_account_year"}
    assert first["storage_reduction_percent"] == pytest.approx(
        100 * (1 - by["image reduction"]["stored_bytes"] / (4 * GB)), abs=0.1)
    # A policy that is off adds no step; another grid changes every figure but embodied.
    off = co2.report("t", usage(), 2, eco, co2.PolicyUsed(0, 0, False, "tenant"))
    assert [s.name for s in off.scenarios] == ["raw Maildir", "now", "compression"]
    de = co2.report("t", usage(), 2, EcoSettings(grid_zone="DE"), policy)
    assert de.scenarios[0].storage_g > first["scenarios"][0]["storage_g"]
    assert de.scenarios[0].embodied_g == first["scenarios"][0]["embodied_g"]


@pytest.mark.parametrize(("text", "unit", "value"), [
    ("12m", "m", 12), ("2y", "m", 24), ("30d", "d", 30), ("1m", "d", 30), ("off", "m", None),
    ("0", "d", None)])
def test_durations(text: str, unit: str, value: int | None) -> None:
    assert parse_duration(text, unit) == value


@pytest.mark.parametrize("text", ["12", "30d", "-1m", "1w", "99999y"])
def test_bad_archive_durations_say_how_to_write_them(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_duration(text, "m")


def test_months_ago_is_calendar_months() -> None:
    assert months_ago(date(2026, 3, 31), 1) == date(2026, 2, 28)
    assert months_ago(date(2026, 11, 28), 12) == date(2025, 11, 28)


def jpeg(size: tuple[int, int]) -> bytes:
    w, h = size
    img = Image.merge("RGB", (Image.linear_gradient("L").resize(size),
                              Image.effect_noise(size, 40),
                              Image.radial_gradient("L").resize(size)))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=92)
    return out.getvalue()


@pytest.mark.parametrize("eol", [b"\r\n", b"\n"])
def test_image_surgery_keeps_every_other_byte(eol: bytes) -> None:
    big, small = jpeg((2000, 1500)), jpeg((300, 200))
    def b64(x: bytes) -> bytes:
        return base64.encodebytes(x).replace(b"\n", eol)
    parts = [b"From: a@example.org", b"Subject: two pictures",
             b'Content-Type: multipart/mixed; boundary="==x=="', b"",
             b"preamble", b"--==x==", b"Content-Type: text/plain", b"", b"hi  \t", b"",
             b"--==x==", b'Content-Type: image/jpeg; name="big.jpg"',
             b"Content-Transfer-Encoding: base64", b""]
    msg = eol.join(parts) + eol + b64(big) + b"--==x==" + eol + eol.join([
        b'Content-Type: image/jpeg; name="small.jpg"', b"Content-Transfer-Encoding: base64",
        b""]) + eol + b64(small) + b"--==x==--" + eol + b"epilogue" + eol
    out = images.reduce_message(msg, 100_000, 800, 75)
    assert out is not None
    new, done = out
    assert [d.name for d in done] == ["big.jpg"] and done[0].after[:2] == (800, 600)
    head, sep, _ = new.partition(eol + eol)
    assert head.split(eol)[-1].startswith(b"X-Zenmail-Eco-Reduced: big.jpg 2000x1500")
    before_big = msg.index(b'name="big.jpg"')
    assert new.replace(head.split(eol)[-1] + eol, b"")[:before_big] == msg[:before_big]
    assert new.endswith(b"--==x==" + eol + eol.join([
        b'Content-Type: image/jpeg; name="small.jpg"', b"Content-Transfer-Encoding: base64",
        b""]) + eol + b64(small) + b"--==x==--" + eol + b"epilogue" + eol)
    leaves = list(images.leaves(new))
    assert [x.headers.get_content_type() for x in leaves] == ["text/plain", "image/jpeg",
                                                              "image/jpeg"]
    reduced = base64.b64decode(new[leaves[1].body_start:leaves[1].body_end])
    assert Image.open(io.BytesIO(reduced)).size == (800, 600)
    assert images.reduce_message(new, 100_000, 800, 75) is None  # marked: never twice


def test_zstd_through_libzstd_reads_streamed_and_concatenated_frames() -> None:
    from zenmail.eco import zstd

    data = b"Subject: x\n\n" + b"hello world " * 50_000 + bytes(range(256)) * 100
    one = zstd.compress(data, 3)
    assert len(one) < len(data) // 20 and zstd.decompress(one) == data
    assert zstd.decompress(one + one) == data + data  # frames one after the other
    assert zstd.decompress(one, limit=1000).startswith(b"Subject: x\n\nhello")
    with pytest.raises(Exception, match="zstd"):
        zstd.decompress(one[:4] + b"garbage" * 10)


def test_no_image_is_reduced_when_the_originals_cannot_be_kept(tmp_path: Path) -> None:
    from zenmail.eco.safety import Kept
    from zenmail.errors import Conflict

    big = base64.encodebytes(jpeg((2000, 1500))).replace(b"\n", b"\r\n")
    msg = (b"From: a@example.org\r\nSubject: a picture\r\nMIME-Version: 1.0\r\n"
           b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
           b'Content-Type: image/jpeg; name="big.jpg"\r\n'
           b"Content-Transfer-Encoding: base64\r\n\r\n" + big + b"--b--\r\n")
    lf = msg.replace(b"\r\n", b"\n")
    folder = tmp_path / "acme.test" / "alice" / "Maildir" / ".Archive.INBOX"
    for sub in ("cur", "new", "tmp"):
        (folder / sub).mkdir(parents=True)
    path = folder / "cur" / f"1700000000.M1P1.host,S={len(lf)},W={len(msg)}:2,S"
    path.write_bytes(lf)
    asked: list[tuple[str, list[Path], bool]] = []

    def busy(address: str, paths: list[Path], hold: bool = False) -> Kept:
        asked.append((address, paths, hold))
        raise Conflict("the vault is busy; try again in a moment")

    for keep, why in ((None, "no vault to keep the originals in"), (busy, "vault is busy")):
        r = images.reduce_account(tmp_path, "alice@acme.test", 100_000, 800, 75, "zstd", 3,
                                  keep)
        assert r.images == 0 and why in r.refused and "alice@acme.test" in r.refused
        assert path.read_bytes() == lf and list(folder.glob("*/*")) == [path]  # untouched
    # Asked once, for the message about to change, to be held for good.
    assert asked == [("alice@acme.test", [path], True)]
    # A dry run needs no vault: it only counts.
    dry = images.reduce_account(tmp_path, "alice@acme.test", 100_000, 800, 75, "zstd", 3,
                                None, dry_run=True)
    assert dry.images == 1 and dry.refused == "" and path.read_bytes() == lf
