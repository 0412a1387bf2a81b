"""`zenmail init`, `zenmail config`, `zenmail serve`: the installation itself.

None of them acts on the directory's contents, so none takes `--as`.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from zenmail.cli.app import App, Command, pass_app
from zenmail.cli.output import safe_url
from zenmail.config import Settings, init_state


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
    """Show the effective settings and what each one means."""
    s = app.settings()
    values = {k: (str(v) if isinstance(v, Path) else v) for k, v in s.model_dump().items()}
    values["database_url"] = safe_url(s.db_url)
    if app.as_json:
        click.echo(json.dumps(values, indent=2, sort_keys=True))
        return
    for name, field in Settings.model_fields.items():
        click.echo(f"{name} = {values[name]!r}")
        click.echo(f"    {field.description}")


@click.command("serve", cls=Command, acts=False)
@click.option("--host", default=None, help="Listen address (default: settings.api_host).")
@click.option("--port", type=int, default=None,
              help="Listen port (default: the stack's API port, 18080 in dev).")
@pass_app
def serve(app: App, host: str | None, port: int | None) -> None:
    """Run the REST API in the foreground."""
    import uvicorn  # only this command needs the server

    from zenmail.stack.ports import plan
    from zenmail.web.app import create_app

    settings = app.settings()
    app.database()  # refuse early if not initialised
    # The same port `zenmail up` gives the API, so docs and clients need to know only one.
    uvicorn.run(create_app(settings), host=host or settings.api_host,
                port=port if port is not None else plan(settings).http, log_level="warning")


COMMANDS: list[click.Command] = [init, config, serve]
