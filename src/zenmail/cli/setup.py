"""`zenmail init`, `zenmail config`, `zenmail serve`: the installation itself.

None of them acts on the directory's contents, so none takes `--as`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from zenmail.cli.app import App, Command, pass_app
from zenmail.cli.output import safe_url
from zenmail.config import init_state


@click.command("init", cls=Command, acts=False)
@pass_app
def init(app: App) -> None:
    """Create the state directory and the directory database (safe to run again)."""
    settings = app.settings()
    config_file = init_state(settings)
    app.database(require_init=False).migrate()
    click.echo(f"state directory: {settings.state_dir.resolve()}")
    click.echo(f"settings file:   {config_file.resolve()}")
    click.echo(f"database:        {safe_url(settings.db_url)} (schema up to date)")
    click.echo("next: zenmail tenant add NAME --pool 10G")


@click.command("config", cls=Command, reads=True, acts=False)
@pass_app
def config(app: App) -> None:
    """Show every setting: its value, where the value came from, and what it means."""
    rows = app.settings().fields()

    def shown(key: str, value: Any) -> Any:
        if key == "database.url" and value:
            return safe_url(value)
        return str(value) if isinstance(value, Path) else value

    if app.as_json:
        click.echo(json.dumps({k: {"value": shown(k, v), "source": src}
                               for k, v, _, src in rows}, indent=2, sort_keys=True))
        return
    for key, value, description, source in rows:
        click.echo(f"{key} = {shown(key, value)!r}    ({source})")
        click.echo(f"    {description}")


@click.command("serve", cls=Command, acts=False)
@click.option("--host", default=None, help="Listen address (default: the [api] host setting).")
@click.option("--port", type=int, default=None,
              help="Listen port (default: the stack's API port, 18080 in dev).")
@pass_app
def serve(app: App, host: str | None, port: int | None) -> None:
    """Run the REST API in the foreground."""
    import uvicorn  # only this command needs the server

    from zenmail.stack.registry import port_plan
    from zenmail.web.app import create_app

    settings = app.settings()
    app.database()  # refuse early if not initialised
    # The same port `zenmail up` gives the API, so docs and clients need to know only one.
    uvicorn.run(create_app(settings), host=host or settings.api.host,
                port=port if port is not None else port_plan(settings)["http"],
                log_level="warning")


COMMANDS: list[click.Command] = [init, config, serve]
