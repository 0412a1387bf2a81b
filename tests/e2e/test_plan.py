"""The rendered configuration, checked by the daemons' own parsers."""

from __future__ import annotations

import os
import shutil

import pytest

from zenmail.db import Database
from zenmail.devtools.stackdir import new_state
from zenmail.stack import generations
from zenmail.stack.manager import prepare
from zenmail.stack.registry import Stack

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("plan", ["dev", "standard"])
def test_rendered_configuration_passes_the_daemons_checks(plan: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("rendering sets owners for the postfix and mail users: needs root")
    settings = new_state("zenmail-e2e-render-").with_values({"ports.plan": plan})
    state = settings.state_dir
    try:
        db = Database(settings.db_url)
        db.migrate()
        db.dispose()
        stack = Stack(settings)
        prepare(settings, stack)
        staged = {s.name: s.stage() for s in stack.start_order()}  # each runs its checker
        assert staged["dovecot"] and staged["postfix"] and staged["redis"]
        main_cf = (staged["postfix"].directory / "main.cf").read_text()
        assert "smtpd_sender_login_maps = sqlite:" in main_cf
        assert f"lmtp:unix:{state.resolve()}/run/dovecot/lmtp" in main_cf
        master_cf = (staged["postfix"].directory / "master.cf").read_text()
        smtp = stack.plan["submission"]
        assert (f"\n{smtp} inet" if plan == "standard" else f"\n127.0.0.1:{smtp} inet") \
            in master_cf
        assert "{{" not in main_cf + master_cf
        assert (state / "tls" / "key.pem").stat().st_mode & 0o077 == 0
        # Once live, the same settings render the same generation: nothing to reload.
        generations.activate(staged["dovecot"])
        again = stack.services["dovecot"].stage()
        assert again is not None and not again.changed
    finally:
        shutil.rmtree(state, ignore_errors=True)
