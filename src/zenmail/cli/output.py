"""Printing and asking: JSON or text, tables, passwords. Every command prints through these."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import click
from sqlalchemy.engine import make_url

from zenmail.cli.app import App
from zenmail.directory.views import View
from zenmail.errors import InvalidInput
from zenmail.sizes import format_size


def emit(app: App, data: View | Sequence[View] | dict[str, Any],
         text: Callable[[], None]) -> None:
    """`data` as JSON with --json, else whatever `text` prints."""
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


def safe_url(url: str) -> str:
    """A database URL fit to print: the password replaced by ***."""
    return make_url(url).render_as_string(hide_password=True)


def person(canonical: str, unicode: str) -> str:
    """A name as people read it: Unicode, with the ASCII form the mail servers use beside
    it when the two differ (`user@bücher.example (user@xn--bcher-kva.example)`)."""
    return unicode if unicode == canonical else f"{unicode} ({canonical})"


def used(used_bytes: int | None) -> str:
    """An account's usage as people read it; "-" while Dovecot has not measured it yet."""
    return "-" if used_bytes is None else format_size(used_bytes)

