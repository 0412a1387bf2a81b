"""zenmail's own key to the vault (restic_key): the real restic opens the repository with it,
reads the same data through it, and a damaged one costs time, never access — restic falls
back to the original key and the next `ensure` puts a good one back."""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from zenmail.config import Settings
from zenmail.devtools.stackdir import new_state
from zenmail.vault import restic_key
from zenmail.vault.restic import Restic

MESSAGE = b"From: a@example.org\r\nSubject: kept\r\n\r\n" + os.urandom(3000)


@pytest.fixture
def vault() -> Iterator[Settings]:
    settings = new_state(prefix="zenmail-e2e-vaultkey-")
    try:
        yield settings
    finally:
        shutil.rmtree(settings.state_dir, ignore_errors=True)


def keys(restic: Restic) -> list[dict[str, Any]]:
    done = restic.run(["key", "list", "--json"], "listing keys")
    return list(json.loads(done.stdout))


def stored(restic: Restic, tmp: Path) -> str:
    """A snapshot holding MESSAGE as /m.eml; its full id."""
    tmp.mkdir()
    (tmp / "m.eml").write_bytes(MESSAGE)
    return restic.full_id(restic.backup(tmp, ["m.eml"], ["zenmail"]))


def tampered(restic: Restic, change: Callable[[dict[str, Any]], None]) -> tuple[str, Path]:
    """zenmail's key file in the vault, rewritten with `change` applied to its JSON: its
    id and path."""
    repo = Path(restic.location)
    key_id = restic_key.find(repo)
    assert key_id is not None
    path = repo / "keys" / key_id
    key = json.loads(path.read_bytes())
    change(key)
    os.chmod(path, 0o600)
    path.write_bytes(json.dumps(key).encode())
    return key_id, path


def test_restic_opens_the_vault_with_zenmails_cheap_key(vault: Settings,
                                                         tmp_path: Path) -> None:
    restic = Restic(vault)
    restic.ensure()
    repo = Path(restic.location)
    fast = restic_key.find(repo)
    assert fast is not None
    listed = keys(restic)
    # Two keys to the same data: restic's own (its calibrated scrypt) and zenmail's.
    assert sorted(k["hostName"] == restic_key.HOSTNAME for k in listed) == [False, True]
    assert [k["id"] for k in listed if k["current"]] == [fast[:8]]
    files = {n: json.loads((repo / "keys" / n).read_bytes()) for n in os.listdir(repo / "keys")}
    assert files[fast]["N"] * files[fast]["p"] == restic_key.N * restic_key.P
    original = next(v for n, v in files.items() if n != fast)
    # restic calibrates its own to the machine, never below scrypt's N=2^14, p=1.
    assert original["N"] * original["p"] >= 4 * restic_key.N * restic_key.P
    sid = stored(restic, tmp_path / "src")
    assert Restic(vault).dump(sid, "/m.eml") == MESSAGE
    restic.ensure()  # again: the key is kept, not replaced
    assert restic_key.find(repo) == fast


def test_a_damaged_or_missing_fast_key_costs_time_never_access(vault: Settings,
                                                               tmp_path: Path) -> None:
    restic = Restic(vault)
    restic.ensure()
    repo = Path(restic.location)
    sid = stored(restic, tmp_path / "src")

    def break_mac(key: dict[str, Any]) -> None:
        data = bytearray(base64.b64decode(key["data"]))
        data[-1] ^= 0xFF  # its MAC no longer matches: restic cannot open it
        key["data"] = base64.b64encode(bytes(data)).decode()

    damaged, path = tampered(restic, break_mac)

    fresh = Restic(vault)
    assert fresh.dump(sid, "/m.eml") == MESSAGE   # through the original key
    assert [k["hostName"] for k in keys(fresh) if k["current"]] != [restic_key.HOSTNAME]
    fresh.ensure()
    mended = restic_key.find(repo)
    assert mended is not None and mended != damaged and not path.exists()
    assert [k["id"] for k in keys(fresh) if k["current"]] == [mended[:8]]

    # A vault made before zenmail had the key (none in keys/) gets one at the next ensure.
    restic_key.remove(repo, mended)
    older = Restic(vault)
    assert older.dump(sid, "/m.eml") == MESSAGE
    older.ensure()
    added = restic_key.find(repo)
    assert added is not None and added != mended
    assert Restic(vault).dump(sid, "/m.eml") == MESSAGE
    assert [k["id"] for k in keys(Restic(vault)) if k["current"]] == [added[:8]]


def test_a_fast_key_restic_cannot_even_read_is_replaced(vault: Settings,
                                                        tmp_path: Path) -> None:
    """restic stops at a key file it cannot parse (as it would at a garbled key of its own);
    the next `ensure` (every snapshot) replaces zenmail's."""
    restic = Restic(vault)
    restic.ensure()
    repo = Path(restic.location)
    sid = stored(restic, tmp_path / "src")
    garbled, path = tampered(restic, lambda key: key.update(salt="*not base64*"))
    Restic(vault).ensure()
    mended = restic_key.find(repo)
    assert mended is not None and mended != garbled and not path.exists()
    assert Restic(vault).dump(sid, "/m.eml") == MESSAGE
