"""The stack's CLI commands: `up`, `down`, `status [--json]`, `demo`.

`register(group)` adds them to the `zenmail` group. Each gets its settings from
`ctx.obj.settings()`; errors are raised as ZenmailError for the CLI's one-line handler.
"""

from __future__ import annotations

import json
from typing import Any

import click

from zenmail.config import Settings
from zenmail.stack import manager
from zenmail.stack.manager import StackStatus


def _settings(ctx: click.Context, **overrides: Any) -> Settings:
    settings: Settings = ctx.obj.settings()
    changes = {k: v for k, v in overrides.items() if v is not None}
    return settings.with_values(changes) if changes else settings


def _set_state(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    # Also accept `zenmail up --state DIR`, like the CLI's other commands do.
    if value and ctx.obj is not None and hasattr(ctx.obj, "state"):
        ctx.obj.state = value


_state = click.option("--state", metavar="DIR", expose_value=False, callback=_set_state,
                      is_eager=True, help="State directory (default ./.zenmail).")


def print_status(st: StackStatus) -> None:
    click.echo(st.text())


def register(group: click.Group) -> None:
    @group.command("up")
    @_state
    @click.option("--ports", type=click.Choice(["dev", "standard"]), default=None,
                  help="dev: high loopback ports (default); standard: 25/587/143/993.")
    @click.option("--no-api", is_flag=True, help="Start only the mail daemons.")
    @click.pass_context
    def up_cmd(ctx: click.Context, ports: str | None, no_api: bool) -> None:
        """Render the daemons' configuration and start the stack; returns when it answers."""
        st = manager.up(_settings(ctx, **{"ports.plan": ports}), with_api=not no_api)
        print_status(st)

    @group.command("down")
    @_state
    @click.pass_context
    def down_cmd(ctx: click.Context) -> None:
        """Stop the supervisor, the API, Postfix and Dovecot."""
        settings = _settings(ctx)
        manager.down(settings)
        click.echo(f"stack in {settings.state_dir.resolve()} stopped")

    @group.command("status")
    @_state
    @click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
    @click.pass_context
    def status_cmd(ctx: click.Context, as_json: bool) -> None:
        """Each service: pid, health and endpoints (host:port)."""
        st = manager.status(_settings(ctx))
        if as_json:
            click.echo(json.dumps(st.to_dict(), indent=2, sort_keys=True))
        else:
            print_status(st)

    @group.command("demo")
    @_state
    @click.pass_context
    def demo_cmd(ctx: click.Context) -> None:
        """Start everything with a demo tenant and mail; Ctrl-C stops it all."""
        from zenmail.demo import run_demo

        run_demo(_settings(ctx))
