"""A self-signed certificate for STARTTLS, made with `openssl` on first start.

Self-signed is right for dev and for a first production start; an operator points
`[tls] cert` and `key` at a real certificate (or replaces STATE/tls/cert.pem and key.pem)
and runs `zenmail up` again; zenmail leaves existing files alone.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import subprocess
from pathlib import Path

from zenmail.config import Settings
from zenmail.errors import InvalidInput, StackError

DAYS = 825  # the longest validity Apple clients still accept for a server certificate


def ensure_certificate(tls_dir: Path, hostname: str, extra_names: list[str] | None = None
                       ) -> tuple[Path, Path]:
    """Return (cert, key), generating an EC P-256 self-signed pair if either is missing."""
    cert, key = tls_dir / "cert.pem", tls_dir / "key.pem"
    if cert.exists() and key.exists():
        return cert, key
    tls_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(tls_dir, 0o755)
    names = [hostname, "localhost", "127.0.0.1", "::1", *(extra_names or [])]
    alt = []
    for n in dict.fromkeys(names):
        try:
            ipaddress.ip_address(n)
            alt.append(f"IP:{n}")
        except ValueError:
            alt.append(f"DNS:{n}")
    tmp_key, tmp_cert = key.with_suffix(".tmp"), cert.with_suffix(".tmp")
    cmd = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
           "-nodes", "-days", str(DAYS), "-subj", f"/CN={hostname}/O=zenmail",
           "-addext", "subjectAltName=" + ",".join(alt),
           "-keyout", str(tmp_key), "-out", str(tmp_cert)]
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60)
    except FileNotFoundError as exc:
        raise StackError("openssl is not installed; run `make install`") from exc
    except subprocess.CalledProcessError as exc:
        raise StackError(f"openssl could not make a certificate: {exc.stderr.strip()}") from exc
    os.chmod(tmp_key, 0o600)
    os.chmod(tmp_cert, 0o644)
    os.replace(tmp_key, key)
    os.replace(tmp_cert, cert)
    return cert, key


def certificate_paths(settings: Settings) -> tuple[Path, Path]:
    """(cert, key) the daemons use: the configured pair, or the self-signed one in STATE."""
    if settings.tls.cert:
        return Path(settings.tls.cert).resolve(), Path(settings.tls.key).resolve()
    tls_dir = settings.state_dir.resolve() / "tls"
    return tls_dir / "cert.pem", tls_dir / "key.pem"


def fingerprint(settings: Settings) -> str:
    """A short digest of the certificate and key in use. Rendered into the daemons'
    configuration, so that a certificate replaced in place makes a new generation and
    `zenmail up` reloads the daemons that read it."""
    h = hashlib.sha256()
    for path in certificate_paths(settings):
        try:
            h.update(path.read_bytes())
        except OSError:
            h.update(b"missing")
    return h.hexdigest()[:16]


def _public_key(cmd: list[str], what: Path) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError as exc:
        raise StackError("openssl is not installed; run `make install`") from exc
    if done.returncode != 0:
        raise InvalidInput(f"{what} is not a readable PEM file ({done.stderr.strip()}); "
                           "point [tls] cert and key at the PEM certificate and its key")
    return done.stdout


def check_pair(cert: Path, key: Path) -> None:
    """The certificate and the key must belong together: a mismatched pair makes every TLS
    handshake fail while the daemons look healthy."""
    for path in (cert, key):
        if not path.is_file():
            raise InvalidInput(f"{path} does not exist or is not a file; point [tls] cert and "
                               "key at the PEM files")
    from_cert = _public_key(["openssl", "x509", "-in", str(cert), "-noout", "-pubkey"], cert)
    from_key = _public_key(["openssl", "pkey", "-in", str(key), "-pubout"], key)
    if from_cert != from_key:
        raise InvalidInput(f"the certificate {cert} and the key {key} do not belong together "
                           "(their public keys differ); give the key the certificate was "
                           "issued for")
