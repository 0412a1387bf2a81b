"""`zenmail up`, `down`, `status`, `demo`: the mail stack on this machine.

They act on daemons, not on the directory's contents, so none takes `--as`.
"""

from __future__ import annotations

import json
from typing import Any

import click

from zenmail import demo as demo_mod
from zenmail.cli.app import App, Command, pass_app
from zenmail.config import Settings
from zenmail.stack import manager
from zenmail.stack.manager import StackStatus


def _settings(app: App, **overrides: Any) -> Settings:
    settings = app.settings()
    changes = {k: v for k, v in overrides.items() if v is not None}
    return settings.model_copy(update=changes) if changes else settings


def status_text(st: StackStatus) -> str:
    """The stack's state and one line per service: pid, health, endpoints."""
    overall = ("healthy" if st.healthy else "running, not all healthy" if st.running
               else "stopped")
    lines = [f"stack in {st.state_dir}: {overall}"]
    for s in st.services:
        state = "healthy" if s.healthy else "unhealthy" if s.running else s.detail or "stopped"
        pid = f"pid {s.pid}" if s.pid else "-"
        endpoints = " ".join(f"{k}={v}" for k, v in s.endpoints.items())
        lines.append(f"  {s.name:<11} {pid:<11} {state:<12} {endpoints}".rstrip())
    return "\n".join(lines)


def print_status(st: StackStatus) -> None:
    click.echo(status_text(st))


@click.command("up", cls=Command, acts=False)
@click.option("--ports", type=click.Choice(["dev", "standard"]), default=None,
              help="dev: high loopback ports (default); standard: 25/587/143/993.")
@click.option("--no-api", is_flag=True, help="Start only the mail daemons.")
@pass_app
def up(app: App, ports: str | None, no_api: bool) -> None:
    """Render the daemons' configuration and start the stack; returns when it answers."""
    print_status(manager.up(_settings(app, ports=ports), with_api=not no_api))


@click.command("down", cls=Command, acts=False)
@pass_app
def down(app: App) -> None:
    """Stop the supervisor, the API, Postfix and Dovecot."""
    settings = _settings(app)
    manager.down(settings)
    click.echo(f"stack in {settings.state_dir.resolve()} stopped")


@click.command("status", cls=Command, reads=True, acts=False)
@pass_app
def status(app: App) -> None:
    """Each service: pid, health and endpoints (host:port)."""
    st = manager.status(_settings(app))
    if app.as_json:
        click.echo(json.dumps(st.to_dict(), indent=2, sort_keys=True))
    else:
        print_status(st)


@click.command("demo", cls=Command, acts=False)
@pass_app
def demo(app: App) -> None:
    """Start everything with a demo tenant and mail; Ctrl-C stops it all."""
    demo_mod.run_demo(_settings(app), show_status=print_status)


COMMANDS: list[click.Command] = [up, down, status, demo]
