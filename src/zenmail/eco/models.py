"""The eco engine's table: one policy per tenant (migration 0010)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from zenmail.directory.models import Base, UTCDateTime, utcnow


class EcoPolicy(Base):
    __tablename__ = "eco_policies"

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"),
                                           primary_key=True)
    archive_after_months: Mapped[int | None] = mapped_column(Integer, nullable=True)
    trash_after_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reduce_images: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
