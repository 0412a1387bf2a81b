"""DKIM keys, one RSA 2048 key per domain and selector, made by zenmail.

    STATE/dkim/<domain>.<selector>.key   the private key (PEM), root:_rspamd 0640
    STATE/dkim/selectors.map             "<domain> <selector>": the key rspamd signs with

rspamd's dkim_signing reads both (templates/rspamd/dkim_signing.conf): outbound mail of an
authenticated user (or of the local listener) is signed with its From domain's current key.
A selector is `zm` + the date and time the key was made, so a rotation (`rotate`) makes a
new selector: the old key stays on disk and its record may stay published until mail signed
with it has been delivered; `records` shows only the current one.
"""

from __future__ import annotations

import base64
import grp
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

GROUP = "_rspamd"
MAP = "selectors.map"


@dataclass(frozen=True)
class DkimKey:
    domain: str
    selector: str
    path: Path

    def public_record(self) -> str:
        """The TXT value to publish at <selector>._domainkey.<domain>."""
        key = serialization.load_pem_private_key(self.path.read_bytes(), password=None)
        der = key.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
        return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"


def key_dir(state_dir: Path) -> Path:
    return state_dir.resolve() / "dkim"


def _prepare(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o750)
    os.chown(directory, -1, _gid())


def _gid() -> int:
    try:
        return grp.getgrnam(GROUP).gr_gid
    except KeyError:
        return -1  # no rspamd on this machine: the keys stay root's


def current(state_dir: Path) -> dict[str, str]:
    """domain -> the selector rspamd signs with."""
    path = key_dir(state_dir) / MAP
    if not path.exists():
        return {}
    pairs = (line.split() for line in path.read_text().splitlines() if line.strip())
    return {p[0]: p[1] for p in pairs if len(p) == 2}


def key(state_dir: Path, domain: str) -> DkimKey | None:
    selector = current(state_dir).get(domain)
    if selector is None:
        return None
    return DkimKey(domain, selector, key_dir(state_dir) / f"{domain}.{selector}.key")


def _write_map(state_dir: Path, selectors: dict[str, str]) -> None:
    directory = key_dir(state_dir)
    tmp = directory / f".{MAP}.tmp"
    tmp.write_text("".join(f"{d} {s}\n" for d, s in sorted(selectors.items())))
    os.chmod(tmp, 0o644)
    tmp.replace(directory / MAP)


def _new_key(state_dir: Path, domain: str) -> str:
    selector = "zm" + datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    path = key_dir(state_dir) / f"{domain}.{selector}.key"
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    os.chown(tmp, -1, _gid())
    tmp.replace(path)
    return selector


def ensure(state_dir: Path, domains: list[str], prune: bool = True) -> list[str]:
    """A key for every domain that has none (the others keep theirs); with `prune` the map
    then names exactly `domains` (a removed domain is no longer signed for). Returns the
    domains that got a new key."""
    _prepare(key_dir(state_dir))
    selectors = current(state_dir)
    if not prune:
        domains = sorted(set(domains) | set(selectors))
    made = []
    for d in domains:
        if d not in selectors or not (key_dir(state_dir) / f"{d}.{selectors[d]}.key").exists():
            selectors[d] = _new_key(state_dir, d)
            made.append(d)
    wanted = {d: selectors[d] for d in domains}
    if made or wanted != current(state_dir):
        _write_map(state_dir, wanted)
    return made


def rotate(state_dir: Path, domain: str) -> DkimKey:
    """A new key (and selector) for `domain`; rspamd signs with it from its next map check."""
    _prepare(key_dir(state_dir))
    selectors = current(state_dir)
    selectors[domain] = _new_key(state_dir, domain)
    _write_map(state_dir, selectors)
    found = key(state_dir, domain)
    assert found is not None
    return found
