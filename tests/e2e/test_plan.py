"""The port plan and the rendered configuration, checked by the daemons' own parsers."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from zenmail.config import Settings
from zenmail.errors import InvalidInput
from zenmail.stack.dovecot import Dovecot
from zenmail.stack.manager import prepare
from zenmail.stack.ports import plan, write_port_overrides
from zenmail.stack.postfix import Postfix

pytestmark = pytest.mark.e2e


def test_dev_plan_derives_from_base_and_pins(tmp_path: Path) -> None:
    p = plan(Settings(state_dir=tmp_path))
    assert (p.smtp, p.submission, p.imap, p.imaps, p.lmtp) == (10025, 10587, 10143, 10993, 10024)
    assert p.bind == "127.0.0.1"
    write_port_overrides(tmp_path, {"base": 20000, "imap": 31143})
    p = plan(Settings(state_dir=tmp_path))
    assert (p.smtp, p.submission, p.imap) == (20025, 20587, 31143)


def test_standard_plan_uses_well_known_ports_everywhere(tmp_path: Path) -> None:
    p = plan(Settings(state_dir=tmp_path, ports="standard"))
    assert (p.smtp, p.submission, p.imap, p.imaps) == (25, 587, 143, 993)
    assert p.bind == "0.0.0.0"


def test_conflicting_ports_refused(tmp_path: Path) -> None:
    write_port_overrides(tmp_path, {"imap": 2525, "smtp": 2525})
    with pytest.raises(InvalidInput, match="2525 is planned for both"):
        plan(Settings(state_dir=tmp_path))
    (tmp_path / "stack.toml").write_text("[ports]\nimapp = 1\n")
    with pytest.raises(InvalidInput, match="unknown port name"):
        plan(Settings(state_dir=tmp_path))


@pytest.mark.parametrize("ports", ["dev", "standard"])
def test_rendered_configuration_passes_the_daemons_checks(ports: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("rendering sets owners for the postfix and mail users: needs root")
    state = Path(tempfile.mkdtemp(prefix="zenmail-e2e-render-", dir="/tmp"))
    os.chmod(state, 0o755)
    try:
        settings = Settings(state_dir=state, ports=ports)  # type: ignore[arg-type]
        prepare(settings)
        Dovecot(settings).render()   # runs `doveconf -n` on the result
        Postfix(settings).render()   # runs `postfix check` / `postconf` on the result
        main_cf = (state / "postfix" / "etc" / "main.cf").read_text()
        assert "smtpd_sender_login_maps = sqlite:" in main_cf
        master_cf = (state / "postfix" / "etc" / "master.cf").read_text()
        expected = "0.0.0.0:587" if ports == "standard" else "127.0.0.1:10587"
        assert expected in master_cf
        assert "{{" not in main_cf + master_cf
        assert (state / "tls" / "key.pem").stat().st_mode & 0o077 == 0
    finally:
        shutil.rmtree(state, ignore_errors=True)
