"""What every command shares: the `App` (settings, database, context) and the three options
the root owns — `--state`, `--json`, `--as` — defined here once.

Each option is accepted before the command (`zenmail --state DIR --json tenant list`) and
after it (`zenmail tenant list --state DIR --json`): the root declares it, and `Command` adds
it to every command it applies to. Both positions write to the same `App`; the later one wins.

- `--state DIR` (or `$ZENMAIL_STATE`): every command.
- `--json`: commands that print data (`Command(reads=True)`); elsewhere it is an error.
- `--as ADMIN` (or `$ZENMAIL_AS`): commands that act on the directory
  (`Command(acts=True)`, the default); they then run with that administrator's rights.
"""

from __future__ import annotations

import getpass
import os
from typing import Any

import click
from click.core import ParameterSource

from zenmail.config import Settings, load_settings
from zenmail.db import Database
from zenmail.directory import names
from zenmail.directory.context import Actor, Ctx, Platform
from zenmail.directory.models import Admin
from zenmail.directory.passwords import Hasher
from zenmail.errors import InvalidInput, NotFound
from zenmail.security import authcache


class App:
    """What a command needs, built lazily from the options: settings, database, context.

    `settings` may be given up front (tests and embedders that already hold them); otherwise
    they are loaded from `--state` on first use.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.state: str | None = None
        self.as_json = False
        self.as_admin: str | None = None
        self.as_admin_on_command_line = False  # not only inherited from $ZENMAIL_AS
        self._settings = settings
        self._db: Database | None = None
        self._ctx: Ctx | None = None

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
        """The directory context of this run: who acts (see `actor`), with which hasher."""
        if self._ctx is None:
            s = self.settings()
            db = self.database()
            self._ctx = Ctx(db, actor(db, self.as_admin),
                            Hasher(s.argon2_memory_kib, s.argon2_time_cost), Platform.of(s),
                            on_auth_change=authcache.flusher(s.state_dir))
        return self._ctx

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()
            self._db = None
            self._ctx = None


def unix_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def actor(db: Database, as_admin: str | None) -> Actor:
    """Who a CLI command acts as; the one place the CLI builds an `Actor`.

    Without `--as`: a global actor named `cli:<unix user>` (whoever can read the state
    directory is trusted with all of it). With `--as ADMIN`: that administrator's scope, as
    `admins.authenticate` gives it to an API token — a tenant administrator sees and changes
    only its tenant — under a name that keeps both people in the audit log.
    """
    user = f"cli:{unix_user()}"
    if as_admin is None:
        return Actor(user)
    operator = Ctx(db, Actor(user))  # whoever runs the CLI may read the whole directory
    with operator.reading() as s:
        admin = operator.get(s, Admin, as_admin)
        if admin is None:
            raise NotFound(f"no administrator {as_admin!r} to act as (--as / ZENMAIL_AS); "
                           "`zenmail admin list` shows them")
        return Actor(name=f"{user} as {admin.name}", tenant_id=admin.tenant_id,
                     admin_id=admin.id)


# ---------------------------------------------------------------- the shared options

def _set_state(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.ensure_object(App).state = value


def _set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(App).as_json = True


def _set_as(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value:
        app = ctx.ensure_object(App)
        app.as_admin = value
        if param.name and ctx.get_parameter_source(param.name) is ParameterSource.COMMANDLINE:
            app.as_admin_on_command_line = True


def state_option() -> click.Option:
    return click.Option(["--state"], metavar="DIR", expose_value=False, is_eager=True,
                        callback=_set_state,
                        help="State directory (default ./.zenmail, or $ZENMAIL_STATE).")


def json_option() -> click.Option:
    return click.Option(["--json", "json_"], is_flag=True, expose_value=False,
                        callback=_set_json, help="Print JSON instead of text.")


def as_option(*, envvar: bool = False) -> click.Option:
    return click.Option(["--as", "as_admin"], metavar="ADMIN", expose_value=False,
                        callback=_set_as, envvar="ZENMAIL_AS" if envvar else None,
                        help="Act as this administrator, with its rights: a tenant "
                        "administrator sees and changes only its tenant. Default: "
                        "$ZENMAIL_AS, else a global administrator.")


class Command(click.Command):
    """A zenmail command: `--state` always, `--json` if it `reads`, `--as` if it `acts`.

    `reads`: it prints data that `--json` can format. `acts`: it acts on the directory through
    a `Ctx`, so `--as` changes what it may see and do; commands that do not (the stack, `init`,
    `config`, `serve`) refuse an explicit `--as` instead of ignoring it.
    """

    def __init__(self, *args: Any, reads: bool = False, acts: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reads = reads
        self.acts = acts
        self.params.append(state_option())
        if reads:
            self.params.append(json_option())
        if acts:
            self.params.append(as_option())

    def invoke(self, ctx: click.Context) -> Any:
        app = ctx.ensure_object(App)
        if app.as_json and not self.reads:
            raise click.UsageError(f"--json: `{ctx.command_path}` prints no data to format",
                                   ctx)
        if app.as_admin_on_command_line and not self.acts:
            raise click.UsageError(f"--as: `{ctx.command_path}` does not act on the "
                                   "directory, so it cannot act as an administrator", ctx)
        return super().invoke(ctx)


class Group(click.Group):
    """A group of zenmail commands; `@group.command(...)` makes a `Command`."""

    command_class = Command
    group_class = type  # subgroups are Groups as well


pass_app = click.make_pass_decorator(App, ensure=True)


class WholeNumber(click.ParamType):
    """A count on the command line, in the one spelling the API takes too: ASCII digits
    without sign or leading zero (`int()` would also take "９", "+5" and "1_000"). The range
    is the service's to check, so both ways in refuse the same values in the same words."""

    name = "number"

    def __init__(self, minimum: int | None = None, maximum: int | None = None) -> None:
        self.minimum, self.maximum = minimum, maximum  # for options the service clamps

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> int:
        number = (value if isinstance(value, int) and not isinstance(value, bool)
                  else names.decimal(str(value)))
        if number is None:
            self.fail(f"{value!r} is not a whole number written in ASCII digits (e.g. 25)",
                      param, ctx)
        if ((self.minimum is not None and number < self.minimum)
                or (self.maximum is not None and number > self.maximum)):
            self.fail(f"{number} is not in the range {self.minimum}-{self.maximum}", param, ctx)
        return number


WHOLE_NUMBER = WholeNumber()
