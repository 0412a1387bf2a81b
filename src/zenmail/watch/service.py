"""`zenmail install-service`: a systemd unit that starts the stack at boot and brings the
supervisor back if it dies.

systemd follows the supervisor (PIDFile): `zenmail up` starts everything and returns
(Type=forking); if the supervisor dies, systemd runs `zenmail up` again, which is
idempotent: it restarts the supervisor and whatever else is not running. KillMode=process:
only the supervisor is killed then, never the mail daemons, so mail flows on meanwhile.
Where systemd does not run, the watch runner restarts a dead supervisor instead.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from zenmail.config import Settings
from zenmail.stack.files import Layout

UNIT_PATH = Path("/etc/systemd/system/zenmail.service")


def zenmail_executable() -> str:
    """The `zenmail` command of this installation (beside the running interpreter)."""
    beside = Path(sys.executable).parent / "zenmail"
    return str(beside) if beside.exists() else (shutil.which("zenmail") or str(beside))


def unit(settings: Settings, executable: str | None = None) -> str:
    exe = executable or zenmail_executable()
    state = settings.state_dir.resolve()
    pidfile = Layout.of(state).pidfile("supervisor")
    return f"""\
# Written by `zenmail install-service`; `zenmail install-service` again rewrites it.
[Unit]
Description=zenmail mail stack (state {state})
After=network-online.target
Wants=network-online.target

[Service]
Type=forking
ExecStart={exe} --state {state} up
ExecStop={exe} --state {state} down
PIDFile={pidfile}
# Only the supervisor is followed and restarted; the daemons keep running meanwhile.
KillMode=process
Restart=always
RestartSec=5
TimeoutStartSec=300

[Install]
WantedBy=multi-user.target
"""


def install(settings: Settings, path: Path = UNIT_PATH) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(unit(settings))
    path.chmod(0o644)
    return path
