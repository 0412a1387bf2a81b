"""Account password hashes are verified by Dovecot's own `doveadm pw`, not just by us."""

import shutil
import subprocess

import pytest

from zenmail.directory.passwords import URL_SAFE, Hasher, check_imported_hash, generate_password
from zenmail.errors import InvalidInput

DOVEADM = shutil.which("doveadm") or "/usr/bin/doveadm"


def doveadm_verifies(stored: str, password: str) -> bool:
    p = subprocess.run([DOVEADM, "pw", "-t", stored, "-p", password], capture_output=True,
                       text=True, timeout=30)
    return p.returncode == 0 and "(verified)" in p.stdout


def test_dovecot_verifies_our_argon2id_hashes():
    stored = Hasher().hash("correct horse battery")
    assert stored.startswith("{ARGON2ID}$argon2id$v=19$m=19456,t=2,p=1$")
    assert doveadm_verifies(stored, "correct horse battery")
    assert not doveadm_verifies(stored, "correct horse batterY")


def test_same_password_hashes_differently_each_time():
    h = Hasher(1024, 1)
    assert h.hash("correct horse battery") != h.hash("correct horse battery")


@pytest.mark.parametrize("bad", ["short", " leading space pw", "trailing space pw ",
                                 "line\nbreak password"])
def test_weak_or_odd_passwords_refused(bad):
    with pytest.raises(InvalidInput):
        Hasher(1024, 1).hash(bad)


def test_imported_hash_must_be_a_scheme_dovecot_knows():
    assert check_imported_hash("{BLF-CRYPT}$2y$05$abc").startswith("{BLF-CRYPT}")
    with pytest.raises(InvalidInput, match="must start with"):
        check_imported_hash("{PLAIN}secret")


def test_generated_passwords_are_url_safe_and_never_look_like_an_option():
    """swaks and other tools read a password that starts with `-` as an option."""
    made = [generate_password() for _ in range(5000)]  # 1/64 of them started with "-" before
    assert not [p for p in made if p.startswith("-")]
    assert all(len(p) >= 20 and set(p) <= set(URL_SAFE) for p in made)
    assert len(set(made)) == len(made)
    # Still the whole url-safe alphabet after the first character, and good enough to use.
    assert {"-", "_"} <= set("".join(p[1:] for p in made))
    Hasher(1024, 1).hash(made[0])
