"""The `zenmail` command. Thin: parses, calls a service, prints. No business logic here.

    app.py      App (settings, database, the actor's Ctx); --state/--json/--as, defined once
    output.py   emit (JSON or text), table, read_password, safe_url
    root.py     the root group, MODULES (one line per command module), run/main: the boundary
    setup.py    init, config, serve         stack.py   up, down, status, demo
    tenant.py   domain.py   account.py   quota.py   alias.py   admin.py (admin, token)   audit.py

Errors are one line on stderr and exit code 2; a traceback never reaches the user.
"""

from zenmail.cli.root import cli, main, run

__all__ = ["cli", "main", "run"]
