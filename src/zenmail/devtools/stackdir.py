"""State directories for tests and benchmarks: a stack that starts beside any other.

`new_state(prefix)` makes a directory under /tmp (pytest's tmp dirs are 0700: the postfix
and mail users could not enter them) and pins every listener the registry knows to a port
the kernel reports free, in the directory's own zenmail.toml, so `zenmail` commands run
in a subprocess on that directory see the same plan.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from zenmail.config import CONFIG_FILE, Settings, load_settings
from zenmail.stack.ports import free_ports
from zenmail.stack.registry import DAEMONS

# Cheap hashes keep logins fast; the {ARGON2ID} scheme Dovecot verifies is the real one.
CHEAP_HASHES = {"argon2_memory_kib": 1024, "argon2_time_cost": 1}


def _toml(value: Any) -> str:
    return json.dumps(value)  # strings, numbers and lists of strings read the same in TOML


def write_settings(state: Path, values: dict[str, Any]) -> None:
    """Write `values` ({"hostname": ..., "ports": {"imap": 20143}}) as STATE/zenmail.toml."""
    top = [f"{k} = {_toml(v)}" for k, v in values.items() if not isinstance(v, dict)]
    tables = [f"\n[{k}]\n" + "\n".join(f"{kk} = {_toml(vv)}" for kk, vv in v.items())
              for k, v in values.items() if isinstance(v, dict)]
    (state / CONFIG_FILE).write_text("# Written by zenmail.devtools.stackdir.\n"
                                     + "\n".join(top) + "\n" + "\n".join(tables) + "\n")


def new_state(prefix: str = "zenmail-e2e-", database_url: str = "",
              **values: Any) -> Settings:
    """A fresh state directory on free ports; returns its settings (file values only)."""
    state = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    os.chmod(state, 0o755)
    names = [p.name for c in DAEMONS for p in c.ports]
    pins = dict(zip(names, free_ports(len(names)), strict=True))
    # Test stacks run the bare path unless they ask for filtering (`filter={...}`): rspamd
    # costs every e2e module ≈1 s warm and ≈150 MB; tests/e2e/test_filtering.py runs it.
    settings: dict[str, Any] = {**CHEAP_HASHES, "filter": {"enabled": False}, **values,
                                "ports": pins}
    if database_url:
        settings["database"] = {"url": database_url}
    write_settings(state, settings)
    return load_settings(state)
