"""The daemons of a stack: one explicit list, and what follows from it.

Adding a daemon is one module under `stack/daemons/` plus one line in DAEMONS (see
docs/architecture.md, "Adding a daemon"). From the daemons' declarations the registry
derives the start order (dependencies first) and the stop order (its reverse), the port
plan, the binaries `up` checks for, and the wiring between daemons (`Stack.endpoint`).
"""

from __future__ import annotations

from collections.abc import Iterable

from zenmail.config import Settings
from zenmail.errors import InvalidInput, StackError
from zenmail.stack.base import Service
from zenmail.stack.daemons.api import Api
from zenmail.stack.daemons.authpolicy import AuthPolicy
from zenmail.stack.daemons.clamav import ClamAV
from zenmail.stack.daemons.dovecot import Dovecot
from zenmail.stack.daemons.postfix import Postfix
from zenmail.stack.daemons.radicale import Radicale
from zenmail.stack.daemons.redis import Redis
from zenmail.stack.daemons.rspamd import Rspamd
from zenmail.stack.daemons.vault import Vault
from zenmail.stack.daemons.watch import Watch
from zenmail.stack.files import Layout
from zenmail.stack.ports import PortPlan, make_plan

# One daemon per line, so that engines landing together merge cleanly.
DAEMONS: tuple[type[Service], ...] = (
    Dovecot,
    Postfix,
    Redis,
    AuthPolicy,
    Radicale,
    Vault,
    ClamAV,
    Rspamd,
    Api,
    Watch,
)
# Left out of a stack under [filter] enabled = false (`up --no-filter`); ClamAV also under
# [filter] antivirus = false.
FILTERS = ("clamav", "rspamd")


def ordered(classes: Iterable[type[Service]]) -> list[type[Service]]:
    """`classes` with every daemon after the ones it depends on (ties: listed order)."""
    todo = list(classes)
    names = {c.name for c in todo}
    for c in todo:
        missing = [d for d in c.depends_on if d not in names]
        if missing:
            raise StackError(f"{c.name} depends on {', '.join(missing)}, which is not part of "
                             "this stack")
    done: list[type[Service]] = []
    placed: set[str] = set()
    while todo:
        ready = next((c for c in todo if set(c.depends_on) <= placed), None)
        if ready is None:
            raise StackError("the daemons' dependencies form a circle: "
                             + ", ".join(f"{c.name} -> {'/'.join(c.depends_on)}" for c in todo))
        todo.remove(ready)
        done.append(ready)
        placed.add(ready.name)
    return done


def port_plan(settings: Settings) -> PortPlan:
    """Where every listener of every daemon goes under `settings`."""
    return make_plan(settings, [p for c in DAEMONS for p in c.ports])


class Stack:
    """The daemons of one state directory under one set of settings, in start order.
    `names` limits the stack to some daemons (e.g. without the API)."""

    def __init__(self, settings: Settings, names: Iterable[str] | None = None) -> None:
        self.settings = settings
        self.layout = Layout.of(settings.state_dir)
        self.plan = port_plan(settings)
        self._all = {c.name: c(self) for c in ordered(DAEMONS)}
        wanted = list(self._all) if names is None else list(names)
        unknown = [n for n in wanted if n not in self._all]
        if unknown:
            raise InvalidInput(f"no daemon called {', '.join(unknown)}; known: "
                               + ", ".join(self._all))
        chosen = ordered(type(self._all[n]) for n in self._all if n in wanted)
        self.services: dict[str, Service] = {c.name: self._all[c.name] for c in chosen}

    def start_order(self) -> list[Service]:
        return list(self.services.values())

    def stop_order(self) -> list[Service]:
        return list(reversed(self.services.values()))

    def binaries(self) -> list[str]:
        return sorted({b for s in self.services.values() for b in s.binaries})

    def endpoint(self, name: str) -> str:
        """Where endpoint `name` ("lmtp", "sasl", ...) is reached: a setting in
        [endpoints] if given (a daemon on another node), else the daemon providing it."""
        configured = getattr(self.settings.endpoints, name.replace("-", "_"), "")
        if configured:
            return str(configured)
        for svc in self._all.values():
            provided = svc.provides()
            if name in provided:
                return provided[name]
        raise StackError(f"no daemon of this stack provides {name!r}")

    def reacting_to(self, name: str) -> list[Service]:
        """The daemons that react when `name` was restarted (its after-restart hooks)."""
        return [s for s in self.services.values() if name in s.after_restart_of]
