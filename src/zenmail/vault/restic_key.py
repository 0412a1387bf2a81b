"""zenmail's own key to a local restic repository: the same password, stretched cheaply.

Why: restic stretches the password of every command with scrypt, at the cost it measured at
`init` (here N=2^15, r=8, p=6: 0.5-0.8 s, 200 MB of memory traffic). That was 80-90 % of a
one-message restore and most of a snapshot with no change. The stretching guards a password
a person chose against guessing; zenmail's is 32 random bytes (STATE/secrets/vault.key),
which no guessing reaches at any cost, so a key with a cheap scrypt gives nothing away.
restic 0.14 takes no KDF cost on its command line (it calibrates `init` and `key add` to
half a second), so zenmail writes that one key file itself, in restic's documented format
(restic's design document, "Keys, Encryption and MAC"):

  JSON {created, username, hostname, kdf: "scrypt", N, r, p, salt, data}, named by the
  SHA-256 of its bytes; scrypt(password, salt) gives 64 bytes: an AES-256 key, then the
  Poly1305-AES key (k, r); `data` is IV || AES-256-CTR(master key JSON) || MAC, where the
  MAC is Poly1305 over the ciphertext with r and AES_k(IV).

The master key it wraps is the repository's own (`restic cat masterkey`, read with the
original key), so both keys open the same data, and the original key stays. restic is
pointed at this one by RESTIC_KEY_HINT; a key that does not open (wrong MAC: damaged) makes
restic try the others, at the old cost. A key file restic cannot even parse stops it, as a
garbled key of its own would. So `Restic.ensure` (every snapshot) checks zenmail's key as
restic would (`opens`: no restic call, which would take a lock) and replaces one that does
not open; a new one is checked by restic itself (`key list` names the key it opened with).
Local repositories only: zenmail writes the file into keys/.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.poly1305 import Poly1305

# How zenmail's key is told from the others in `restic key list` (and here).
HOSTNAME = "zenmail-fast-kdf"
USERNAME = "zenmail"
# scrypt at 4 MiB and a few milliseconds: plenty for a 256-bit random password.
N, R, P = 2 ** 12, 8, 1
SALT_BYTES = 64  # restic's salt length


def find(repository: Path) -> str | None:
    """The id of zenmail's key in a local repository, if it has one."""
    try:
        names = sorted(os.listdir(repository / "keys"))
    except OSError:
        return None
    for name in names:
        if len(name) != 64:  # a key file is named by its SHA-256; a temporary file is not
            continue
        try:
            key = json.loads((repository / "keys" / name).read_bytes())
        except (OSError, ValueError):
            continue
        if isinstance(key, dict) and key.get("hostname") == HOSTNAME:
            return name
    return None


def key_file(master: bytes, password: str) -> bytes:
    """A restic key file wrapping `master` (the master key's JSON, as `restic cat masterkey`
    prints it) with `password` under a cheap scrypt."""
    json.loads(master)  # a master key, not an error text: refuse to wrap anything else
    salt = secrets.token_bytes(SALT_BYTES)
    stretched = hashlib.scrypt(password.encode(), salt=salt, n=N, r=R, p=P, dklen=64,
                               maxmem=64 * 1024 * 1024)
    return json.dumps({
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "username": USERNAME, "hostname": HOSTNAME, "kdf": "scrypt", "N": N, "r": R, "p": P,
        "salt": base64.b64encode(salt).decode(),
        "data": base64.b64encode(_seal(stretched, master)).decode(),
    }).encode()


def write(repository: Path, data: bytes) -> str:
    """Put key file `data` into the repository's keys/ (read-only, as restic leaves its
    files; renamed into place, so restic never reads half of it); returns its id."""
    name = hashlib.sha256(data).hexdigest()
    keys = repository / "keys"
    tmp = keys / f".{name}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o400)
    os.replace(tmp, keys / name)
    return name


def opens(repository: Path, key_id: str, password: str) -> bool:
    """Whether key file `key_id` is zenmail's, well formed, and opens with `password`: its
    MAC holds and it wraps a master key (what restic checks, without a restic call)."""
    try:
        key = json.loads((repository / "keys" / key_id).read_bytes())
        salt = base64.b64decode(key["salt"], validate=True)
        data = base64.b64decode(key["data"], validate=True)
        n, r, p = int(key["N"]), int(key["r"]), int(key["p"])
        if (key.get("hostname") != HOSTNAME or key.get("kdf") != "scrypt"
                or len(salt) != SALT_BYTES or len(data) < 33 or n * r * p > N * R * P):
            return False  # not zenmail's, or not cheap (then it is not worth keeping)
        stretched = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=64,
                                   maxmem=64 * 1024 * 1024)
        master = json.loads(_unseal(stretched, data))
        return isinstance(master, dict) and bool(master.get("encrypt")) and "mac" in master
    except (OSError, ValueError, KeyError, TypeError, InvalidSignature):
        return False


def remove(repository: Path, key_id: str) -> None:
    (repository / "keys" / key_id).unlink(missing_ok=True)


def _seal(stretched: bytes, plain: bytes) -> bytes:
    """restic's authenticated encryption: IV || AES-256-CTR || Poly1305-AES over the
    ciphertext (the 64 stretched bytes: encryption key, MAC k, MAC r)."""
    iv = secrets.token_bytes(16)
    ctr = Cipher(algorithms.AES(stretched[:32]), modes.CTR(iv)).encryptor()
    body = ctr.update(plain) + ctr.finalize()
    return iv + body + Poly1305.generate_tag(_mac_key(stretched, iv), body)


def _unseal(stretched: bytes, sealed: bytes) -> bytes:
    """The plaintext of `_seal`'s output; InvalidSignature if its MAC does not hold."""
    iv, body, tag = sealed[:16], sealed[16:-16], sealed[-16:]
    Poly1305.verify_tag(_mac_key(stretched, iv), body, tag)
    ctr = Cipher(algorithms.AES(stretched[:32]), modes.CTR(iv)).decryptor()
    return ctr.update(body) + ctr.finalize()


def _mac_key(stretched: bytes, iv: bytes) -> bytes:
    """Poly1305-AES's one-time key for this IV: r, then AES_k(IV) (Poly1305 clamps r
    itself, as restic's masking does)."""
    ecb = Cipher(algorithms.AES(stretched[32:48]), modes.ECB()).encryptor()
    return stretched[48:64] + ecb.update(iv) + ecb.finalize()
