"""Probe history: recording runs, the last result of each probe, and the SLO figures.

The SLO is the share of probe runs that succeeded in under `[watch] slo_seconds` (60 s by
default) over the last 24 hours and the last 30 days; a failed run counts as bad. History
older than KEEP is pruned by the runner.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, func, select
from sqlalchemy.orm import Session

from zenmail.watch.models import ProbeResult

KEEP = timedelta(days=35)
WINDOWS = {"24h": timedelta(hours=24), "30d": timedelta(days=30)}


@dataclass
class Run:
    probe: str
    ok: bool
    latency_s: float | None
    error: str
    at: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def record(s: Session, probe: str, ok: bool, latency_s: float | None, error: str = "") -> None:
    s.add(ProbeResult(probe=probe, ok=ok, latency_s=latency_s, error=error[:2000]))


def prune(s: Session, now: datetime | None = None) -> None:
    s.execute(delete(ProbeResult).where(ProbeResult.at < (now or datetime.now(UTC)) - KEEP))


def last(s: Session) -> dict[str, Run]:
    """The latest run of every probe that ever ran."""
    newest = (select(ProbeResult.probe, func.max(ProbeResult.id).label("id"))
              .group_by(ProbeResult.probe).subquery())
    rows = s.scalars(select(ProbeResult).join(newest, ProbeResult.id == newest.c.id))
    return {r.probe: Run(r.probe, r.ok, r.latency_s, r.error, r.at.isoformat()) for r in rows}


def failing_streak(s: Session, probe: str, limit: int) -> int:
    """How many of the latest runs of `probe` (at most `limit`) failed in a row."""
    oks = s.scalars(select(ProbeResult.ok).where(ProbeResult.probe == probe)
                    .order_by(ProbeResult.id.desc()).limit(limit))
    n = 0
    for ok in oks:
        if ok:
            break
        n += 1
    return n


@dataclass
class Slo:
    probe: str
    window: str
    runs: int
    good: int

    @property
    def ratio(self) -> float | None:
        return self.good / self.runs if self.runs else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


def slo(s: Session, threshold_s: float, now: datetime | None = None) -> list[Slo]:
    """Per probe and window: runs, and good runs (succeeded under `threshold_s`)."""
    now = now or datetime.now(UTC)
    out = []
    for window, span in WINDOWS.items():
        good = and_(ProbeResult.ok, ProbeResult.latency_s < threshold_s)
        rows = s.execute(select(ProbeResult.probe, func.count(),
                                func.sum(case((good, 1), else_=0)))
                         .where(ProbeResult.at >= now - span).group_by(ProbeResult.probe)
                         .order_by(ProbeResult.probe))
        out += [Slo(p, window, int(n), int(g or 0)) for p, n, g in rows]
    return out
