"""The watch engine's own tables: probe history and alerts (migration 0008). Incidents of
the daemons are the supervisor's events (STATE/log/events.jsonl and the audit log)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from zenmail.directory.models import Base, UTCDateTime, utcnow


class ProbeResult(Base):
    """One run of one probe: its outcome and, when it worked, how long it took."""

    __tablename__ = "probe_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    probe: Mapped[str] = mapped_column(String(32))
    ok: Mapped[bool] = mapped_column(Boolean)
    latency_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")


class Alert(Base):
    """One alert: fired once when its rule starts to hold, resolved once when it stops.
    `key` names the rule and its subject (`probe_failing:roundtrip`); at most one alert per
    key is open (resolved_at NULL) at a time — that is the de-duplication."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), index=True)
    rule: Mapped[str] = mapped_column(String(64))
    summary: Mapped[str] = mapped_column(Text)
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
