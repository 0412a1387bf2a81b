"""The `zenmail` command: the root group, the list of command modules, the error boundary.

The root owns `--state`, `--json` and `--as` (see `zenmail.cli.app`). Each module in
MODULES holds one group of commands and lists them in `COMMANDS`; a new engine adds its
module (`cli/migrate.py`, `cli/vault.py`, …) with one line there.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn

import click

from zenmail import __version__
from zenmail.cli import (
    account,
    admin,
    alias,
    apppassword,
    audit,
    dav,
    db,
    device,
    dns,
    domain,
    eco,
    lockout,
    migrate,
    quarantine,
    quota,
    setup,
    stack,
    tenant,
    vault,
    watch,
)
from zenmail.cli.app import App, Group, as_option, json_option, state_option
from zenmail.errors import ZenmailError

MODULES: tuple[ModuleType, ...] = (
    setup,    # init, config, serve
    db,       # db status, db upgrade
    tenant,
    domain,
    account,
    quota,
    alias,
    admin,    # admin, token
    audit,
    lockout,  # lockout list, lockout unlock
    dns,      # dns DOMAIN
    quarantine,  # quarantine list, release, delete
    dav,      # dav shared/export/import, migrate-dav account
    stack,    # up, down, status, demo
    vault,    # snapshot, restore, vault verify
    watch,    # probe run, alerts list, doctor, trace, install-service
    migrate,  # migrate account
    apppassword,  # app-password add, list, revoke, policy
    device,   # device profile, device link
    eco,      # eco analyze, compress, policy, apply, report
)


@click.group(cls=Group, params=[state_option(), json_option(), as_option(envvar=True)],
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="zenmail")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """zenmail: self-hosted business mail, with the hosting guarantees built in.

    --state, --json and --as are accepted here or after the command.
    """
    ctx.call_on_close(ctx.ensure_object(App).close)


for _module in MODULES:
    for _command in _module.COMMANDS:
        cli.add_command(_command)


def run(argv: Sequence[str] | None = None) -> int:
    """Run one command line; the CLI's one error boundary. Returns the exit code.

    ZenmailError and usage errors: one line on stderr, 2. Ctrl-C: 130. Anything else is a
    bug: one line saying so, 1 (ZENMAIL_DEBUG=1 shows the traceback instead).
    """
    try:
        code = cli.main(args=list(argv) if argv is not None else None, prog_name="zenmail",
                        standalone_mode=False)
    except ZenmailError as exc:
        click.echo(f"zenmail: error: {exc}", err=True)
        return 2
    except click.exceptions.Abort:
        click.echo("zenmail: aborted", err=True)
        return 130
    except click.ClickException as exc:
        click.echo(f"zenmail: error: {exc.format_message()}", err=True)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the last boundary: a bug, said in one line
        if os.environ.get("ZENMAIL_DEBUG"):
            raise
        click.echo(f"zenmail: internal error: {type(exc).__name__}: {exc} (rerun with "
                   "ZENMAIL_DEBUG=1 for details and report it)", err=True)
        return 1
    # Without standalone mode click returns the exit code of --help/--version/ctx.exit,
    # and a command's return value (None) otherwise.
    return code if isinstance(code, int) else 0


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Entry point of the `zenmail` script and of `python -m zenmail`."""
    sys.exit(run(argv))
