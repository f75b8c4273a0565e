"""SQLModel tables shared by every family.

One schema serves SQLite (embedded) and PostgreSQL (distributed). Timestamps are stored as
timezone-aware UTC; SQLite hands them back naive, so readers go through ``as_utc``.
Money-like columns are integers: a unit is whatever the wallet counts (credits, books, pings).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    LargeBinary,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _ts(nullable: bool = False, index: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    return Field(
        default_factory=utcnow,
        sa_column=Column(DateTime(timezone=True), nullable=False, index=index),
    )


class Account(SQLModel, table=True):
    __tablename__ = "accounts"
    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=200)
    profile: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _ts()
    # An operator's stop: every key of a disabled account is refused, in every family.
    disabled_at: datetime | None = _ts(nullable=True)


class AccountPlan(SQLModel, table=True):
    """The plan an account holds in one family (an account has at most one per family)."""

    __tablename__ = "account_plans"
    account_id: str = Field(primary_key=True, foreign_key="accounts.id", max_length=40)
    family: str = Field(primary_key=True, max_length=20)
    plan: str = Field(max_length=40)
    # An operator's per-minute request limit for this account in this family (``accounts
    # set-rate``): NULL = the plan's figure, 0 = no per-minute limit.
    per_minute: int | None = Field(default=None)
    updated_at: datetime = _ts()


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"
    id: str = Field(primary_key=True, max_length=40)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=40)
    family: str = Field(max_length=20)
    # SHA-256 hex of the raw key; the raw key itself is never stored.
    key_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=32)
    label: str = Field(default="", max_length=200)
    scopes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    ip_allowlist: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _ts()
    last_used_at: datetime | None = _ts(nullable=True)
    expires_at: datetime | None = _ts(nullable=True)
    revoked_at: datetime | None = _ts(nullable=True)
    # A higher request rate (SleeperHit's "elevated" keys: 600 a minute instead of 120).
    elevated: bool = Field(default=False)


class Wallet(SQLModel, table=True):
    """Balance of one unit for one account: a monthly bucket plus a perpetual balance.

    ``monthly_remaining`` and ``perpetual`` are kept in step with the ledger entries in the
    same transaction so that admission can be a single conditional UPDATE; the entries stay
    the record of truth and ``Ledger.audit`` re-derives the balance from them.
    ``monthly_allocation`` NULL means unlimited.
    """

    __tablename__ = "wallets"
    __table_args__ = (UniqueConstraint("account_id", "unit", name="uq_wallet_account_unit"),)
    id: str = Field(primary_key=True, max_length=40)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=40)
    unit: str = Field(max_length=60)
    monthly_allocation: int | None = Field(default=0, sa_type=BigInteger)
    monthly_remaining: int = Field(default=0, sa_type=BigInteger)
    perpetual: int = Field(default=0, sa_type=BigInteger)
    cycle_start: date
    updated_at: datetime = _ts()


class LedgerEntry(SQLModel, table=True):
    """Append-only: grant, reserve, capture, release, reset (monthly roll-over)."""

    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_wallet_created", "wallet_id", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    wallet_id: str = Field(foreign_key="wallets.id", max_length=40)
    account_id: str = Field(max_length=40, index=True)
    kind: str = Field(max_length=12)
    # Signed change to the spendable balance, split by bucket.
    monthly_delta: int = Field(default=0, sa_type=BigInteger)
    perpetual_delta: int = Field(default=0, sa_type=BigInteger)
    reservation_id: str | None = Field(default=None, max_length=40, index=True)
    job_id: str | None = Field(default=None, max_length=64)
    note: str = Field(default="", max_length=200)
    created_at: datetime = _ts()


class Reservation(SQLModel, table=True):
    """A hold on a wallet, settled exactly once (captured or released) by compare-and-swap."""

    __tablename__ = "reservations"
    id: str = Field(primary_key=True, max_length=40)
    wallet_id: str = Field(foreign_key="wallets.id", index=True, max_length=40)
    account_id: str = Field(max_length=40, index=True)
    job_id: str | None = Field(default=None, max_length=64, index=True)
    amount: int = Field(sa_type=BigInteger)
    monthly_part: int = Field(default=0, sa_type=BigInteger)
    perpetual_part: int = Field(default=0, sa_type=BigInteger)
    cycle_start: date
    state: str = Field(default="held", max_length=10, index=True)
    expires_at: datetime = _ts(index=True)
    created_at: datetime = _ts()
    settled_at: datetime | None = _ts(nullable=True)


class Job(SQLModel, table=True):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_status_runner", "status", "runner"),
        # Cursor pages and daily counts walk one account's jobs in (created_at, id) order.
        Index("ix_jobs_account_created", "account_id", "created_at", "id"),
    )
    id: str = Field(primary_key=True, max_length=64)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=40)
    family: str = Field(max_length=20)
    kind: str = Field(max_length=60)
    # The job another job works on (a chat edit or an audiobook names its book).
    subject_id: str | None = Field(default=None, max_length=64, index=True)
    status: str = Field(default="queued", max_length=12)
    runner: str = Field(default="inprocess", max_length=12)
    pct: int = 0
    step: str = Field(default="", max_length=200)
    message: str = Field(default="", max_length=1000)
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    progress: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    error_code: str | None = Field(default=None, max_length=60)
    error_message: str | None = Field(default=None, max_length=2000)
    attempts: int = 0
    # Bumped by every change to a finished job's result (edits compare-and-swap on it).
    revision: int = 0
    # Until when one editor holds the right to change the result (a lease, so a crash frees it).
    edit_until: datetime | None = _ts(nullable=True)
    # The last beat of the worker running the job; a running job whose beat stopped is dead.
    heartbeat_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    started_at: datetime | None = _ts(nullable=True)
    finished_at: datetime | None = _ts(nullable=True)


class Project(SQLModel, table=True):
    """A named folder of one account's generations in one family (StoryNote's projects); the
    jobs made in it name it as their ``subject_id``."""

    __tablename__ = "projects"
    __table_args__ = (Index("ix_projects_account_created", "account_id", "created_at", "id"),)
    id: str = Field(primary_key=True, max_length=64)
    account_id: str = Field(foreign_key="accounts.id", max_length=40)
    family: str = Field(max_length=20)
    name: str = Field(max_length=200)
    created_at: datetime = _ts()
    # SleeperHit's workspaces say more about themselves, and are archived or deleted softly.
    description: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    meta: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    updated_at: datetime | None = _ts(nullable=True)
    archived_at: datetime | None = _ts(nullable=True)
    deleted_at: datetime | None = _ts(nullable=True)


class StorySource(SQLModel, table=True):
    """Material a SleeperHit project's plans draw on. Inline text is measured when it arrives;
    a URL or PDF is read by the source's job, whose result carries what was extracted."""

    __tablename__ = "story_sources"
    __table_args__ = (Index("ix_story_sources_project", "project_id", "created_at", "id"),)
    id: str = Field(primary_key=True, max_length=64)
    account_id: str = Field(foreign_key="accounts.id", max_length=40)
    project_id: str = Field(max_length=64)
    type: str = Field(max_length=10)
    label: str | None = Field(default=None, max_length=200)
    uri: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    retention: str = Field(max_length=20)
    meta: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # What was extracted, when known at creation (inline text); else the job's result says.
    extraction: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    job_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    deleted_at: datetime | None = _ts(nullable=True)


class StoryPlan(SQLModel, table=True):
    """A plan's ownership and the client's decision on it; its id is its planning job's id, whose
    parameters hold the request and whose result holds the envelope."""

    __tablename__ = "story_plans"
    __table_args__ = (Index("ix_story_plans_project", "project_id", "created_at", "id"),)
    id: str = Field(primary_key=True, max_length=64)
    account_id: str = Field(foreign_key="accounts.id", max_length=40)
    project_id: str = Field(max_length=64)
    # APPROVED, REJECTED or SUPERSEDED once decided; NULL while the job decides the status.
    decision: str | None = Field(default=None, max_length=12)
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    approved_at: datetime | None = _ts(nullable=True)
    rejected_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class StoryArtifact(SQLModel, table=True):
    """Where an artifact lives: the story job that makes it, at which position. Its status and
    content are that job's progress and result."""

    __tablename__ = "story_artifacts"
    id: str = Field(primary_key=True, max_length=64)
    account_id: str = Field(foreign_key="accounts.id", max_length=40)
    job_id: str = Field(max_length=64, index=True)
    project_id: str = Field(max_length=64)
    type: str = Field(max_length=30)
    position: int = 0
    created_at: datetime = _ts()
    # What the client changed on the artifact since its job made it (voices for now; see
    # gateway.core.story_plans), versioned for compare-and-set.
    state: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    state_version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class IdempotencyRecord(SQLModel, table=True):
    __tablename__ = "idempotency_records"
    account_id: str = Field(primary_key=True, max_length=40)
    family: str = Field(primary_key=True, max_length=20)
    key: str = Field(primary_key=True, max_length=255)
    fingerprint: str = Field(max_length=64)
    state: str = Field(default="pending", max_length=10)
    # Owner token of the request that holds the key while it runs.
    owner: str = Field(default="", max_length=40)
    status_code: int | None = None
    headers: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    body: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    locked_until: datetime = _ts()
    expires_at: datetime = _ts(index=True)
    created_at: datetime = _ts()


class StoredFile(SQLModel, table=True):
    __tablename__ = "stored_files"
    __table_args__ = (UniqueConstraint("account_id", "path", name="uq_file_account_path"),)
    id: str = Field(primary_key=True, max_length=40)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=40)
    job_id: str | None = Field(default=None, max_length=64, index=True)
    path: str = Field(max_length=500)
    content_type: str = Field(max_length=100)
    size: int = Field(sa_type=BigInteger)
    sha256: str = Field(max_length=64)
    created_at: datetime = _ts()


class Team(SQLModel, table=True):
    """A shared workspace (StoryMint Schools & Organizations) with seats and a common library."""

    __tablename__ = "teams"
    id: str = Field(primary_key=True, max_length=40)
    owner_account_id: str = Field(foreign_key="accounts.id", index=True, max_length=40)
    family: str = Field(max_length=20)
    name: str = Field(max_length=200)
    workspace_type: str = Field(max_length=40)
    max_seats: int
    created_at: datetime = _ts()


class TeamMember(SQLModel, table=True):
    __tablename__ = "team_members"
    team_id: str = Field(primary_key=True, foreign_key="teams.id", max_length=40)
    account_id: str = Field(primary_key=True, foreign_key="accounts.id", max_length=40)
    role: str = Field(max_length=20)
    joined_at: datetime = _ts()


class TeamInvite(SQLModel, table=True):
    __tablename__ = "team_invites"
    id: str = Field(primary_key=True, max_length=64)
    team_id: str = Field(foreign_key="teams.id", index=True, max_length=40)
    email: str = Field(max_length=320)
    status: str = Field(default="pending", max_length=12)
    invited_by: str = Field(max_length=40)
    accepted_by: str | None = Field(default=None, max_length=40)
    created_at: datetime = _ts()
    accepted_at: datetime | None = _ts(nullable=True)


class TeamBook(SQLModel, table=True):
    __tablename__ = "team_books"
    team_id: str = Field(primary_key=True, foreign_key="teams.id", max_length=40)
    job_id: str = Field(primary_key=True, foreign_key="jobs.id", max_length=64)
    shared_by: str = Field(max_length=40)
    shared_at: datetime = _ts()


ALL_TABLES = SQLModel.metadata
