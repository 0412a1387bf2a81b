"""Seconds per phase of an operation, for benchmarks (bench/vault.py prints them)."""

from __future__ import annotations

import time


class Laps:
    """`lap(phase)` adds the time since the previous lap to `into[phase]`; with `into`
    None it does nothing, so callers time themselves only when asked."""

    def __init__(self, into: dict[str, float] | None) -> None:
        self.into = into
        self.clock = time.perf_counter()

    def __call__(self, phase: str) -> None:
        if self.into is not None:
            now = time.perf_counter()
            self.into[phase] = self.into.get(phase, 0.0) + now - self.clock
            self.clock = now
