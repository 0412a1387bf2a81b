"""The `zenmail` command. Thin: parses, calls a service, prints. No business logic here.

Every command takes `--state DIR` (or ZENMAIL_STATE); every read command takes `--json`.
Errors are one line on stderr and exit code 2; a traceback never reaches the user.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import click
from sqlalchemy.engine import make_url

from zenmail import __version__
from zenmail.config import Settings, init_state, load_settings
from zenmail.db import Database
from zenmail.directory import (
    accounts,
    admins,
    aliases,
    auditlog,
    bulk,
    domains,
    quota,
    tenants,
)
from zenmail.directory.context import Actor, Ctx
from zenmail.directory.passwords import Hasher
from zenmail.directory.views import View
from zenmail.errors import InvalidInput, ZenmailError
from zenmail.sizes import format_size


class App:
    """What a command needs, built lazily from --state: settings, database, context."""

    def __init__(self) -> None:
        self.state: str | None = None
        self.as_json = False
        self._settings: Settings | None = None
        self._db: Database | None = None

    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.state)
        return self._settings

    def database(self, *, require_init: bool = True) -> Database:
        if self._db is None:
            self._db = Database(self.settings().db_url)
            if require_init and not self._db.is_initialised():
                raise InvalidInput(f"state directory {self.settings().state_dir} is not "
                                   "initialised; run `zenmail init` first")
        return self._db

    def ctx(self) -> Ctx:
        s = self.settings()
        return Ctx(self.database(), Actor(f"cli:{_user()}"),
                   Hasher(s.argon2_memory_kib, s.argon2_time_cost))

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def _set_state(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.ensure_object(App).state = value


def _set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(App).as_json = True


_state_option = click.option("--state", metavar="DIR", expose_value=False, callback=_set_state,
                             is_eager=True, help="State directory (default ./.zenmail, or "
                             "$ZENMAIL_STATE).")
_json_option = click.option("--json", "json_", is_flag=True, expose_value=False,
                            callback=_set_json, help="Print JSON instead of text.")


def command(group: click.Group, name: str, *, read: bool = False, **kw: Any) -> Callable:
    """A subcommand of `group` with --state (and --json for read commands) built in."""

    def wrap(fn: Callable) -> click.Command:
        fn = _state_option(fn)
        if read:
            fn = _json_option(fn)
        return group.command(name, **kw)(fn)

    return wrap


pass_app = click.make_pass_decorator(App, ensure=True)


# ---------------------------------------------------------------- output helpers

def emit(app: App, data: View | Sequence[View] | dict[str, Any], text: Callable[[], None]) -> None:
    if app.as_json:
        if isinstance(data, View):
            payload: Any = data.to_dict()
        elif isinstance(data, dict):
            payload = data
        else:
            payload = [d.to_dict() for d in data]
        click.echo(json.dumps(payload, indent=2, sort_keys=True))
    else:
        text()


def table(rows: Iterable[Sequence[Any]], headers: Sequence[str]) -> None:
    cells = [[str(c) for c in r] for r in rows]
    if not cells:
        click.echo("(none)")
        return
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for r in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def read_password(from_stdin: bool) -> str:
    """First line of stdin with --password-stdin, else an interactive prompt typed twice."""
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise InvalidInput("--password-stdin given but standard input is empty")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise InvalidInput("no terminal to ask for a password; pipe it in with --password-stdin")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


# ---------------------------------------------------------------- root

@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@_state_option
@click.version_option(__version__, prog_name="zenmail")
def cli() -> None:
    """zenmail: mail, calendars and contacts for a company, with the guarantees built in."""


@command(cli, "init")
@pass_app
def init_cmd(app: App) -> None:
    """Create the state directory and the directory database (safe to run again)."""
    settings = app.settings()
    config_file = init_state(settings)
    db = app.database(require_init=False)
    db.migrate()
    click.echo(f"state directory: {settings.state_dir.resolve()}")
    click.echo(f"settings file:   {config_file.resolve()}")
    click.echo(f"database:        {_safe_url(settings.db_url)} (schema up to date)")
    click.echo("next: zenmail tenant add NAME --pool 10G")


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


@command(cli, "config", read=True)
@pass_app
def config_cmd(app: App) -> None:
    """Show every setting: its value, where the value came from, and what it means."""
    rows = app.settings().fields()

    def shown(key: str, value: Any) -> Any:
        if key == "database.url" and value:
            return _safe_url(value)
        return str(value) if isinstance(value, Path) else value

    if app.as_json:
        click.echo(json.dumps({k: {"value": shown(k, v), "source": src}
                               for k, v, _, src in rows}, indent=2, sort_keys=True))
        return
    for key, value, description, source in rows:
        click.echo(f"{key} = {shown(key, value)!r}    ({source})")
        click.echo(f"    {description}")


# ---------------------------------------------------------------- tenants

@cli.group("tenant")
def tenant_group() -> None:
    """Customers: each has a storage pool shared by its accounts."""


def _tenant_text(t: Any) -> None:
    click.echo(f"tenant:    {t.name}")
    click.echo(f"pool:      {format_size(t.pool_bytes)} ({format_size(t.allocated_bytes)} "
               f"allocated, {format_size(t.pool_bytes - t.allocated_bytes)} free)")
    limit = t.max_accounts if t.max_accounts is not None else "no limit"
    click.echo(f"accounts:  {t.accounts} (max: {limit})")
    click.echo(f"domains:   {', '.join(t.domains) or '(none)'}")


@command(tenant_group, "add")
@click.argument("name")
@click.option("--pool", required=True, help="Storage pool, e.g. 50G.")
@click.option("--max-accounts", type=click.IntRange(min=0), default=None)
@pass_app
def tenant_add(app: App, name: str, pool: str, max_accounts: int | None) -> None:
    """Create a tenant with a storage pool."""
    t = tenants.add(app.ctx(), name, pool, max_accounts)
    click.echo(f"tenant {t.name} created with a pool of {format_size(t.pool_bytes)}")


@command(tenant_group, "list", read=True)
@pass_app
def tenant_list(app: App) -> None:
    rows = tenants.list_all(app.ctx())
    emit(app, rows, lambda: table(
        [(t.name, format_size(t.pool_bytes), format_size(t.allocated_bytes), t.accounts,
          ",".join(t.domains)) for t in rows], ["TENANT", "POOL", "ALLOCATED", "ACCOUNTS",
                                                 "DOMAINS"]))


@command(tenant_group, "show", read=True)
@click.argument("name")
@pass_app
def tenant_show(app: App, name: str) -> None:
    t = tenants.show(app.ctx(), name)
    emit(app, t, lambda: _tenant_text(t))


@command(tenant_group, "set-pool")
@click.argument("name")
@click.argument("size")
@pass_app
def tenant_set_pool(app: App, name: str, size: str) -> None:
    """Change a tenant's storage pool (never below what is allocated)."""
    t = tenants.set_pool(app.ctx(), name, size)
    click.echo(f"tenant {t.name}: pool {format_size(t.pool_bytes)}, "
               f"{format_size(t.pool_bytes - t.allocated_bytes)} free")


@command(tenant_group, "set-max-accounts")
@click.argument("name")
@click.argument("limit", type=click.IntRange(min=0), required=False)
@pass_app
def tenant_set_max(app: App, name: str, limit: int | None) -> None:
    """Limit the number of accounts (no LIMIT: unlimited)."""
    t = tenants.set_max_accounts(app.ctx(), name, limit)
    click.echo(f"tenant {t.name}: max accounts {t.max_accounts if limit is not None else 'none'}")


@command(tenant_group, "remove")
@click.argument("name")
@pass_app
def tenant_remove(app: App, name: str) -> None:
    """Remove an empty tenant."""
    tenants.remove(app.ctx(), name)
    click.echo(f"tenant {name} removed")


# ---------------------------------------------------------------- domains

@cli.group("domain")
def domain_group() -> None:
    """Mail domains, each owned by one tenant."""


@command(domain_group, "add")
@click.argument("tenant")
@click.argument("domain")
@pass_app
def domain_add(app: App, tenant: str, domain: str) -> None:
    d = domains.add(app.ctx(), tenant, domain)
    click.echo(f"domain {d.name} added to tenant {d.tenant}")


@command(domain_group, "list", read=True)
@click.option("--tenant", default=None)
@pass_app
def domain_list(app: App, tenant: str | None) -> None:
    rows = domains.list_all(app.ctx(), tenant)
    emit(app, rows, lambda: table([(d.name, d.tenant, d.accounts) for d in rows],
                                  ["DOMAIN", "TENANT", "ACCOUNTS"]))


@command(domain_group, "remove")
@click.argument("domain")
@pass_app
def domain_remove(app: App, domain: str) -> None:
    domains.remove(app.ctx(), domain)
    click.echo(f"domain {domain} removed")


# ---------------------------------------------------------------- accounts

@cli.group("account")
def account_group() -> None:
    """Mail accounts."""


def _account_text(a: Any) -> None:
    click.echo(f"address:   {a.address}")
    click.echo(f"name:      {a.display_name or '-'}")
    click.echo(f"tenant:    {a.tenant}")
    click.echo(f"quota:     {format_size(a.quota_bytes)}")
    click.echo(f"enabled:   {'yes' if a.enabled else 'no'}")
    click.echo(f"created:   {a.created_at:%Y-%m-%d %H:%M} UTC")


@command(account_group, "add")
@click.argument("address")
@click.option("--quota", default=accounts.DEFAULT_QUOTA, show_default=True,
              help="Quota carved from the tenant's pool.")
@click.option("--name", "display_name", default="", help="Display name.")
@click.option("--tenant", default=None, help="Check that the domain belongs to this tenant.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@pass_app
def account_add(app: App, address: str, quota: str, display_name: str, tenant: str | None,
                password_stdin: bool) -> None:
    password = read_password(password_stdin)
    a = accounts.add(app.ctx(), address, password=password, quota=quota,
                     display_name=display_name, tenant=tenant)
    click.echo(f"account {a.address} created with a quota of {format_size(a.quota_bytes)}")


@command(account_group, "import")
@click.argument("csv_file", metavar="FILE.csv", type=click.Path(path_type=Path))
@click.option("--tenant", default=None, help="Check that every domain belongs to this tenant.")
@pass_app
def account_import(app: App, csv_file: Path, tenant: str | None) -> None:
    """Create many accounts from a CSV file, all or none.

    The header names `address` and any of `quota`, `display_name`, `password`,
    `password_hash` (an existing {ARGON2ID}/{BLF-CRYPT}/{SHA512-CRYPT} hash).
    """
    rows = bulk.read_csv(csv_file)

    def progress(stage: str, done: int, total: int) -> None:
        if done == total or done % 100 == 0:
            click.echo(f"\r{stage}: {done}/{total}", err=True, nl=done == total)

    created = bulk.add_many(app.ctx(), rows, tenant=tenant, progress=progress)
    click.echo(f"{created} accounts created")


@command(account_group, "list", read=True)
@click.option("--tenant", default=None)
@click.option("--domain", default=None)
@pass_app
def account_list(app: App, tenant: str | None, domain: str | None) -> None:
    rows = accounts.list_all(app.ctx(), tenant, domain)
    emit(app, rows, lambda: table(
        [(a.address, a.tenant, format_size(a.quota_bytes), "yes" if a.enabled else "no",
          a.display_name) for a in rows], ["ADDRESS", "TENANT", "QUOTA", "ENABLED", "NAME"]))


@command(account_group, "show", read=True)
@click.argument("address")
@pass_app
def account_show(app: App, address: str) -> None:
    a = accounts.show(app.ctx(), address)
    emit(app, a, lambda: _account_text(a))


@command(account_group, "set-quota")
@click.argument("address")
@click.argument("size")
@pass_app
def account_set_quota(app: App, address: str, size: str) -> None:
    a = quota.set_quota(app.ctx(), address, size)
    click.echo(f"account {a.address}: quota {format_size(a.quota_bytes)}")


@command(account_group, "set-password")
@click.argument("address")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@pass_app
def account_set_password(app: App, address: str, password_stdin: bool) -> None:
    accounts.set_password(app.ctx(), address, read_password(password_stdin))
    click.echo(f"account {address}: password changed")


@command(account_group, "disable")
@click.argument("address")
@pass_app
def account_disable(app: App, address: str) -> None:
    """Refuse logins and new mail for an account; its mail is kept."""
    accounts.set_enabled(app.ctx(), address, False)
    click.echo(f"account {address} disabled")


@command(account_group, "enable")
@click.argument("address")
@pass_app
def account_enable(app: App, address: str) -> None:
    accounts.set_enabled(app.ctx(), address, True)
    click.echo(f"account {address} enabled")


@command(account_group, "remove")
@click.argument("address")
@pass_app
def account_remove(app: App, address: str) -> None:
    """Remove an account from the directory (its mail store stays on disk)."""
    accounts.remove(app.ctx(), address)
    click.echo(f"account {address} removed; its quota went back to the tenant's pool")


# ---------------------------------------------------------------- quota

@cli.group("quota")
def quota_group() -> None:
    """The tenant's storage pool and how it is split."""


@command(quota_group, "move")
@click.argument("source", metavar="FROM")
@click.argument("target", metavar="TO")
@click.argument("size")
@pass_app
def quota_move(app: App, source: str, target: str, size: str) -> None:
    """Move SIZE of quota from one account to another, in one step."""
    p = quota.move(app.ctx(), source, target, size)
    mine = {a.address: a.quota_bytes for a in p.accounts}
    src, dst = source.strip().lower(), target.strip().lower()
    click.echo(f"moved; {src}: {format_size(mine[src])}, {dst}: {format_size(mine[dst])}")


@command(quota_group, "show", read=True)
@click.argument("tenant")
@pass_app
def quota_show(app: App, tenant: str) -> None:
    """The pool: size, allocated, free, and each account's share."""
    p = quota.pool(app.ctx(), tenant)

    def text() -> None:
        click.echo(f"pool {format_size(p.pool_bytes)}: {format_size(p.allocated_bytes)} "
                   f"allocated, {format_size(p.free_bytes)} free")
        table([(a.address, format_size(a.quota_bytes)) for a in p.accounts],
              ["ACCOUNT", "QUOTA"])

    emit(app, p, text)


# ---------------------------------------------------------------- aliases

@cli.group("alias")
def alias_group() -> None:
    """Aliases and catch-alls (@domain)."""


@command(alias_group, "add")
@click.argument("address")
@click.argument("targets", nargs=-1, required=True)
@pass_app
def alias_add(app: App, address: str, targets: tuple[str, ...]) -> None:
    a = aliases.add(app.ctx(), address, list(targets))
    click.echo(f"alias {a.address} -> {', '.join(a.targets)}")


@command(alias_group, "list", read=True)
@click.option("--tenant", default=None)
@click.option("--domain", default=None)
@pass_app
def alias_list(app: App, tenant: str | None, domain: str | None) -> None:
    rows = aliases.list_all(app.ctx(), tenant, domain)
    emit(app, rows, lambda: table([(a.address, a.tenant, ", ".join(a.targets)) for a in rows],
                                  ["ALIAS", "TENANT", "TARGETS"]))


@command(alias_group, "remove")
@click.argument("address")
@click.argument("target", required=False)
@pass_app
def alias_remove(app: App, address: str, target: str | None) -> None:
    """Remove one TARGET of an alias, or the whole alias."""
    left = aliases.remove(app.ctx(), address, target)
    if left is None:
        click.echo(f"alias {address} removed")
    else:
        click.echo(f"alias {left.address} -> {', '.join(left.targets)}")


# ---------------------------------------------------------------- admins, tokens, audit

@cli.group("admin")
def admin_group() -> None:
    """Administrators: global, or scoped to one tenant."""


@command(admin_group, "add")
@click.argument("name")
@click.option("--tenant", default=None, help="Scope to this tenant (default: global).")
@pass_app
def admin_add(app: App, name: str, tenant: str | None) -> None:
    a = admins.add(app.ctx(), name, tenant)
    click.echo(f"administrator {a.name} ({'tenant ' + a.tenant if a.tenant else 'global'}) "
               f"created; give them a token: zenmail token create {a.name}")


@command(admin_group, "remove")
@click.argument("name")
@pass_app
def admin_remove(app: App, name: str) -> None:
    """Remove an administrator and revoke all their tokens."""
    admins.remove(app.ctx(), name)
    click.echo(f"administrator {name} removed, with their tokens")


@command(admin_group, "list", read=True)
@pass_app
def admin_list(app: App) -> None:
    rows = admins.list_all(app.ctx())
    emit(app, rows, lambda: table([(a.name, a.tenant or "(global)") for a in rows],
                                  ["ADMIN", "SCOPE"]))


@cli.group("token")
def token_group() -> None:
    """API tokens (stored hashed; shown once)."""


@command(token_group, "create", read=True)
@click.argument("admin")
@click.option("--name", default="default", help="What the token is for.")
@pass_app
def token_create(app: App, admin: str, name: str) -> None:
    t = admins.create_token(app.ctx(), admin, name)

    def text() -> None:
        click.echo(t.token)
        click.echo(f"(token #{t.info.id} for {t.info.admin}; shown once, store it now)",
                   err=True)

    emit(app, t, text)


@command(token_group, "list", read=True)
@pass_app
def token_list(app: App) -> None:
    rows = admins.list_tokens(app.ctx())
    emit(app, rows, lambda: table(
        [(t.id, t.admin, t.name, f"{t.created_at:%Y-%m-%d %H:%M}", "revoked" if t.revoked
          else "active") for t in rows], ["ID", "ADMIN", "NAME", "CREATED", "STATE"]))


@command(token_group, "revoke")
@click.argument("token_id", type=int)
@pass_app
def token_revoke(app: App, token_id: int) -> None:
    admins.revoke_token(app.ctx(), token_id)
    click.echo(f"token {token_id} revoked")


@command(cli, "audit", read=True)
@click.option("--tenant", default=None)
@click.option("--limit", type=click.IntRange(1, 10000), default=50, show_default=True)
@pass_app
def audit_cmd(app: App, tenant: str | None, limit: int) -> None:
    """Who changed what, newest first."""
    rows = auditlog.entries(app.ctx(), tenant, limit)

    def change(e: Any) -> str:
        parts = []
        if e.before:
            parts.append(json.dumps(e.before, sort_keys=True))
        if e.after:
            parts.append(json.dumps(e.after, sort_keys=True))
        return " -> ".join(parts)

    emit(app, rows, lambda: table(
        [(f"{e.at:%Y-%m-%d %H:%M:%S}", e.actor, e.action, e.target, change(e)) for e in rows],
        ["WHEN (UTC)", "WHO", "WHAT", "TARGET", "CHANGE"]))


# ---------------------------------------------------------------- API server

@command(cli, "serve")
@click.option("--host", default=None, help="Listen address (default: settings.api_host).")
@click.option("--port", type=int, default=None,
              help="Listen port (default: the stack's API port, 18080 in dev).")
@pass_app
def serve_cmd(app: App, host: str | None, port: int | None) -> None:
    """Run the REST API (and console) in the foreground."""
    import uvicorn

    from zenmail.stack.registry import port_plan
    from zenmail.web.app import create_app

    settings = app.settings()
    app.database()  # refuse early if not initialised
    # The same port `zenmail up` gives the API, so docs and clients need to know only one.
    uvicorn.run(create_app(settings), host=host or settings.api.host,
                port=port if port is not None else port_plan(settings)["http"],
                log_level="warning")


def _register_optional() -> None:
    """Commands of packages that may be absent in a partial checkout (the mail stack)."""
    try:
        from zenmail.stack.commands import register
    except ImportError:
        return
    register(cli)


_register_optional()


def main(argv: list[str] | None = None) -> None:
    """Entry point: one line on stderr and exit 2 for every error a user can cause."""
    app = App()
    try:
        cli.main(args=argv, prog_name="zenmail", standalone_mode=False, obj=app)
    except ZenmailError as exc:
        click.echo(f"zenmail: error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("zenmail: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        click.echo(f"zenmail: error: {exc.format_message()}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # the last boundary: a bug, said in one line
        if os.environ.get("ZENMAIL_DEBUG"):
            raise
        click.echo(f"zenmail: internal error: {type(exc).__name__}: {exc} (rerun with "
                   "ZENMAIL_DEBUG=1 for details and report it)", err=True)
        sys.exit(1)
    finally:
        app.close()


