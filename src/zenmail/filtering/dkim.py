"""DKIM keys, one per domain and selector, made by zenmail: RSA 2048 by default, Ed25519
(RFC 8463) with [filter] dkim_algorithm = "ed25519" or `zenmail dkim rotate --algorithm`.

    STATE/dkim/<domain>.<selector>.key   the private key, root:_rspamd 0640: PEM (RSA), or
                                         base64 of seed and public key (Ed25519), the form
                                         `rspamadm dkim_keygen -t ed25519` writes
    STATE/dkim/selectors.map             "<domain> <selector>": the key rspamd signs with
    STATE/dkim/retiring.map              "<domain> <selector> <unix time>": previous keys,
                                         still published until that time, then retired

rspamd's dkim_signing reads the first two (templates/rspamd/dkim_signing.conf): outbound
mail of an authenticated user (or of the local listener) is signed with its From domain's
current key. A selector is `zm` + the date and time the key was made, so a rotation
(`rotate`, by hand or when [filter] dkim_rotate_days have passed) makes a new selector; the
previous one stays published ([filter] dkim_overlap_days) so mail signed with it before the
rotation still verifies, then `retire` deletes its key and `zenmail dns` stops listing it.
"""

from __future__ import annotations

import base64
import grp
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

GROUP = "_rspamd"
MAP = "selectors.map"
RETIRING = "retiring.map"
ALGORITHMS = ("rsa", "ed25519")


@dataclass(frozen=True)
class DkimKey:
    domain: str
    selector: str
    path: Path

    @property
    def algorithm(self) -> str:
        return "rsa" if self.path.read_bytes().startswith(b"-----BEGIN") else "ed25519"

    def public_record(self) -> str:
        """The TXT value to publish at <selector>._domainkey.<domain>."""
        data = self.path.read_bytes()
        if self.algorithm == "ed25519":
            public = base64.b64decode(data)[32:]  # seed, then the public key
            return f"v=DKIM1; k=ed25519; p={base64.b64encode(public).decode()}"
        key = serialization.load_pem_private_key(data, password=None)
        der = key.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
        return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"

    @property
    def made(self) -> datetime:
        """When the key was made (its selector says; the file's time for another name)."""
        try:
            return datetime.strptime(self.selector, "zm%Y%m%d%H%M%S").replace(tzinfo=UTC)
        except ValueError:
            return datetime.fromtimestamp(self.path.stat().st_mtime, UTC)


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


def _key_bytes(algorithm: str) -> bytes:
    if algorithm == "ed25519":
        e = ed25519.Ed25519PrivateKey.generate()
        raw = serialization.Encoding.Raw
        seed = e.private_bytes(raw, serialization.PrivateFormat.Raw,
                               serialization.NoEncryption())
        return base64.b64encode(seed + e.public_key().public_bytes(
            raw, serialization.PublicFormat.Raw)) + b"\n"
    if algorithm != "rsa":
        raise ValueError(f"DKIM algorithm {algorithm!r} is not one of {ALGORITHMS}")
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())


def _new_key(state_dir: Path, domain: str, algorithm: str = "rsa",
             now: datetime | None = None) -> str:
    when = now or datetime.now(UTC)
    selector = "zm" + when.strftime("%Y%m%d%H%M%S")
    while (key_dir(state_dir) / f"{domain}.{selector}.key").exists():
        when += timedelta(seconds=1)  # two rotations within a second
        selector = "zm" + when.strftime("%Y%m%d%H%M%S")
    pem = _key_bytes(algorithm)
    path = key_dir(state_dir) / f"{domain}.{selector}.key"
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    os.chown(tmp, -1, _gid())
    tmp.replace(path)
    return selector


def ensure(state_dir: Path, domains: list[str], prune: bool = True,
           algorithm: str = "rsa") -> list[str]:
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
            selectors[d] = _new_key(state_dir, d, algorithm)
            made.append(d)
    wanted = {d: selectors[d] for d in domains}
    if made or wanted != current(state_dir):
        _write_map(state_dir, wanted)
    return made


def retiring(state_dir: Path) -> list[tuple[str, str, float]]:
    """(domain, selector, retire at) of the previous keys still published."""
    path = key_dir(state_dir) / RETIRING
    if not path.exists():
        return []
    rows = (line.split() for line in path.read_text().splitlines() if line.strip())
    return [(r[0], r[1], float(r[2])) for r in rows if len(r) == 3]


def _write_retiring(state_dir: Path, rows: list[tuple[str, str, float]]) -> None:
    directory = key_dir(state_dir)
    tmp = directory / f".{RETIRING}.tmp"
    tmp.write_text("".join(f"{d} {s} {int(t)}\n" for d, s, t in sorted(rows)))
    os.chmod(tmp, 0o644)
    tmp.replace(directory / RETIRING)


def published(state_dir: Path, domain: str) -> list[DkimKey]:
    """The keys whose records `domain` publishes: the current one, then those retiring."""
    found = [k for k in [key(state_dir, domain)] if k is not None]
    for d, selector, _ in retiring(state_dir):
        path = key_dir(state_dir) / f"{d}.{selector}.key"
        if d == domain and path.exists():
            found.append(DkimKey(d, selector, path))
    return found


def rotate(state_dir: Path, domain: str, algorithm: str = "rsa", overlap_days: int = 7,
           now: datetime | None = None) -> DkimKey:
    """A new key (and selector) for `domain`; rspamd signs with it from its next map check.
    The previous key stays published for `overlap_days`, then `retire` removes it."""
    now = now or datetime.now(UTC)
    _prepare(key_dir(state_dir))
    selectors = current(state_dir)
    old = selectors.get(domain)
    selectors[domain] = _new_key(state_dir, domain, algorithm, now)
    if old is not None:
        until = (now + timedelta(days=overlap_days)).timestamp()
        _write_retiring(state_dir, [*retiring(state_dir), (domain, old, until)])
    _write_map(state_dir, selectors)
    found = key(state_dir, domain)
    assert found is not None
    return found


def due(state_dir: Path, rotate_days: int, now: datetime | None = None) -> list[str]:
    """The domains whose current key is older than `rotate_days` (0: none)."""
    if rotate_days <= 0:
        return []
    cutoff = (now or datetime.now(UTC)) - timedelta(days=rotate_days)
    return sorted(d for d in current(state_dir)
                  if (k := key(state_dir, d)) is not None and k.path.exists()
                  and k.made < cutoff)


def retire(state_dir: Path, now: datetime | None = None) -> list[tuple[str, str]]:
    """Delete the previous keys whose overlap has passed; returns (domain, selector)."""
    at = (now or datetime.now(UTC)).timestamp()
    rows = retiring(state_dir)
    gone = [(d, s) for d, s, t in rows if t <= at]
    if not gone:
        return []
    for d, s in gone:
        (key_dir(state_dir) / f"{d}.{s}.key").unlink(missing_ok=True)
    _write_retiring(state_dir, [r for r in rows if r[2] > at])
    return gone
