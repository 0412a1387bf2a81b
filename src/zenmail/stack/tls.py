"""A self-signed certificate for STARTTLS, made with `openssl` on first start.

Self-signed is right for dev and for a first production start; an operator replaces
STATE/tls/cert.pem and key.pem with a real certificate and restarts, and zenmail leaves
existing files alone.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
from pathlib import Path

from zenmail.errors import StackError

DAYS = 825  # the longest validity Apple clients still accept for a server certificate


def ensure_certificate(tls_dir: Path, hostname: str, extra_names: list[str] | None = None
                       ) -> tuple[Path, Path]:
    """Return (cert, key), generating an EC P-256 self-signed pair if either is missing."""
    cert, key = tls_dir / "cert.pem", tls_dir / "key.pem"
    if cert.exists() and key.exists():
        return cert, key
    tls_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(tls_dir, 0o755)
    names = [hostname, "localhost", "127.0.0.1", *(extra_names or [])]
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
