"""`zenmail up`, `down`, `status`, `demo`: the mail stack on this machine.

They act on daemons, not on the directory's contents, so none takes `--as`.
"""

from __future__ import annotations

import json

import click

from zenmail import demo as demo_mod
from zenmail.cli.app import App, Command, pass_app
from zenmail.stack import manager
from zenmail.stack.manager import StackStatus


def print_status(st: StackStatus) -> None:
    click.echo(st.text())


@click.command("up", cls=Command, acts=False)
@click.option("--ports", type=click.Choice(["dev", "standard"]), default=None,
              help="dev: base (10000) + each standard port, on loopback; standard: 25, 465, "
                   "587, 143, 993, 4190 and the API's 8080. Default: [ports] plan in "
                   "STATE/zenmail.toml (dev unless set there).")
@click.option("--no-api", is_flag=True, help="Start only the mail daemons.")
@click.option("--no-filter", is_flag=True, help="The bare path: no rspamd, no ClamAV, no "
              "milter (for comparison and debugging; [filter] enabled = false).")
@pass_app
def up(app: App, ports: str | None, no_api: bool, no_filter: bool) -> None:
    """Check, render and start the stack, or reload a running one; returns when it answers."""
    settings = app.settings()
    if ports is not None:
        settings = settings.with_values({"ports.plan": ports})
    if no_filter:
        settings = settings.with_values({"filter.enabled": False})
    print_status(manager.up(settings, with_api=not no_api))


@click.command("down", cls=Command, acts=False)
@pass_app
def down(app: App) -> None:
    """Stop the supervisor and every daemon of the stack."""
    settings = app.settings()
    manager.down(settings)
    click.echo(f"stack in {settings.state_dir.resolve()} stopped")


@click.command("status", cls=Command, reads=True, acts=False)
@pass_app
def status(app: App) -> None:
    """Each service: pid, health and endpoints (host:port)."""
    st = manager.status(app.settings())
    if app.as_json:
        click.echo(json.dumps(st.to_dict(), indent=2, sort_keys=True))
    else:
        print_status(st)


@click.command("demo", cls=Command, acts=False)
@pass_app
def demo(app: App) -> None:
    """Start everything with a demo tenant and mail; Ctrl-C stops it all."""
    demo_mod.run_demo(app.settings())


COMMANDS: list[click.Command] = [up, down, status, demo]
