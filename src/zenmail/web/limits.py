"""Limits of the API, answered in its own error format: a cap on request bodies, and a
brake on wrong bearer tokens per client address.

The largest legitimate body (an alias with thousands of targets) is far below the cap; it
keeps any client, authenticated or not, from making the server buffer arbitrary amounts.
FastAPI's own limit answers in plain text, hence this small middleware.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zenmail.web.errors import too_large_response

MAX_BODY_BYTES = 1024 * 1024


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            # Refused before a byte of the body is read.
            await too_large_response()(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            # Chunked bodies declare no length: count them as they arrive. The exception
            # travels through FastAPI's body parsing to the API's HTTP error handler.
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(status_code=413)
            return message

        await self.app(scope, counting_receive, send)


class TokenFailures:
    """Wrong bearer tokens per client address over a sliding minute. Past `limit` of them the
    API answers 429 with Retry-After instead of 401 — but still checks each token, so a valid
    one from the same address (an administrator behind the same NAT) always works. Tokens are
    256-bit random, so this is not what keeps them from being guessed: it keeps a scanner from
    having the API look up tokens and log failures as fast as it can send them.

    In memory, per API process: a restart forgets, which a one-minute brake can afford. At
    most `max_clients` addresses are tracked (the longest-quiet is dropped first)."""

    def __init__(self, limit: int, window: float = 60.0, max_clients: int = 10_000,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.max_clients, self.now = limit, window, max_clients, now
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()  # FastAPI runs sync dependencies in a thread pool

    def failed(self, client: str) -> int:
        """Record one wrong token; returns the failures of `client` in the window."""
        with self._lock:
            now = self.now()
            times = self._seen.pop(client, None) or deque()
            while times and times[0] <= now - self.window:
                times.popleft()
            times.append(now)
            self._seen[client] = times
            while len(self._seen) > self.max_clients:
                self._seen.popitem(last=False)
            return len(times)

    def retry_after(self, client: str) -> int:
        """Seconds until `client` is back under the limit (0: it is)."""
        with self._lock:
            times = self._seen.get(client)
            now = self.now()
            live = [t for t in times or () if t > now - self.window]
            if len(live) <= self.limit:
                return 0
            # Back under the limit once all but `limit` of the failures have aged out.
            return max(1, int(live[len(live) - self.limit - 1] + self.window - now) + 1)
