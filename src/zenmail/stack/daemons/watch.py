"""The watch runner as a supervised process of the stack: the end-to-end probes every
`[watch] probe_every_s`, the alert rules, and a guard that restarts the supervisor if it
died. Started from its import path (`python -m zenmail.watch.runner --state DIR`), so the
stack never imports the watch engine. It runs with the API (`up --no-api` leaves both out).
"""

from __future__ import annotations

from zenmail.stack.base import PythonService


class Watch(PythonService):
    name = "watch"
    module = "zenmail.watch.runner"
    depends_on = ("postfix",)
    optional = True
    start_timeout = 30.0
