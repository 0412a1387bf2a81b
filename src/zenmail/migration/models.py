"""Migration state in the directory database: what was copied, from where, to where.

A message is identified by its place at the source — (job, folder, UIDVALIDITY, UID) — and
its content (SHA-256 of the raw bytes); never by a header. A row is written *before* its
batch is appended at the target (`pending_from` = the target folder's UIDNEXT then) and
completed after (`target_uid`), so a run killed between the two is reconciled on resume by
content: what the target holds from `pending_from` on is matched against the pending rows.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from zenmail.directory.models import Base, UTCDateTime, utcnow


class MigrationProject(Base):
    """A group of accounts migrated together, with limits and a plan (day X)."""

    __tablename__ = "migration_projects"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"),
                                           index=True)
    name: Mapped[str] = mapped_column(String(100))
    concurrency: Mapped[int] = mapped_column(Integer, default=4)
    max_msgs_per_s: Mapped[float] = mapped_column(Float, default=0.0)
    max_bytes_per_s: Mapped[int] = mapped_column(BigInteger, default=0)
    plan: Mapped[str] = mapped_column(Text, default="{}")  # JSON: pre-sync dates, day X
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class MigrationJob(Base):
    """One source mailbox into one zenmail account: its progress and last verdict."""

    __tablename__ = "migration_jobs"
    __table_args__ = (UniqueConstraint("account_id", "source_host", "source_port",
                                       "source_user"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"),
                                           index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"),
                                            index=True)
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("migration_projects.id", ondelete="CASCADE"), index=True, nullable=True)
    source_host: Mapped[str] = mapped_column(String(255))
    source_port: Mapped[int] = mapped_column(Integer)
    source_user: Mapped[str] = mapped_column(String(320))
    source_tls: Mapped[str] = mapped_column(String(10), default="tls")
    source_insecure: Mapped[bool] = mapped_column(Boolean, default=False)
    master_user: Mapped[str | None] = mapped_column(String(320), nullable=True)
    # The source password (the user's or the master's), encrypted with the state
    # directory's migration key (secrets.py): a project runs again on day X without asking.
    secret: Mapped[str | None] = mapped_column(Text, nullable=True)
    pilot: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default="new")
    verdict: Mapped[str | None] = mapped_column(String(40), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    report: Mapped[str | None] = mapped_column(Text, nullable=True)  # the last report, JSON
    messages_total: Mapped[int] = mapped_column(BigInteger, default=0)
    messages_done: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_total: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_done: Mapped[int] = mapped_column(BigInteger, default=0)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class MigrationFolder(Base):
    """A source folder as last seen, and where it goes at the target."""

    __tablename__ = "migration_folders"
    __table_args__ = (UniqueConstraint("job_id", "source_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("migration_jobs.id", ondelete="CASCADE"),
                                        index=True)
    source_name: Mapped[str] = mapped_column(String(1000))
    target_name: Mapped[str] = mapped_column(String(1000))
    uidvalidity: Mapped[int] = mapped_column(BigInteger, default=0)
    highest_modseq: Mapped[int] = mapped_column(BigInteger, default=0)


class MigrationMessage(Base):
    """One source message: its identity, what it carried, and its copy at the target."""

    __tablename__ = "migration_messages"
    __table_args__ = (UniqueConstraint("folder_id", "uid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    folder_id: Mapped[int] = mapped_column(
        ForeignKey("migration_folders.id", ondelete="CASCADE"), index=True)
    uid: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    flags: Mapped[str] = mapped_column(Text, default="")  # space-separated, sorted
    internal_date: Mapped[int] = mapped_column(BigInteger)  # seconds since the epoch
    summary: Mapped[str] = mapped_column(Text, default="{}")  # JSON: from, subject, msgid
    target_uid: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    pending_from: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class MigrationRun(Base):
    """One round of a project started from the API (pre-sync, final, verify), run in the
    background by the API process: who asked, where it stands, and how it ended. A run whose
    process died (`owner_pid` gone) is taken up again when the API next starts."""

    __tablename__ = "migration_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"),
                                           index=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("migration_projects.id", ondelete="CASCADE"), index=True)
    round: Mapped[str] = mapped_column(String(20))  # presync, final, verify
    account: Mapped[str | None] = mapped_column(String(320), nullable=True)
    pilot: Mapped[bool] = mapped_column(Boolean, default=False)
    sync_deletions: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    owner_pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    requested_by: Mapped[str] = mapped_column(String(400))
    verdict: Mapped[str | None] = mapped_column(String(40), nullable=True)
    result: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON, when finished
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
