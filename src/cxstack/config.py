"""Process settings, read from the environment (prefix ``CXSTACK_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything a cxstack process needs to know about where it runs."""

    model_config = SettingsConfigDict(env_prefix="CXSTACK_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./var/cxstack.db",
        description="sqlite:///path for the embedded driver, postgresql://... for scale-out.",
    )
    nats_url: str | None = Field(
        default=None, description="nats://host:port; set it to run the scale-out bus on NATS JetStream."
    )
    #: Embedded driver: ``FULL`` (the default) syncs the WAL at every commit, so an acknowledged write
    #: survives a power loss as well as a killed process; with group commit that is one fsync per group of
    #: writes. ``NORMAL`` syncs only at checkpoints: a killed process still loses nothing, but a power loss
    #: can take the last acknowledged commits.
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    #: Embedded driver: how much of the database file SQLite reads through memory-mapped I/O instead of a
    #: read call per page (reads of a warm page cost about half); 0 turns it off. SQLite caps it at its
    #: build's limit (2 GiB for most builds); the pages are the operating system's file cache, not memory
    #: of the process's own.
    sqlite_mmap_bytes: int = Field(default=2 * 1024**3, ge=0)
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("./var")
    log_level: str = "info"
    #: Whether ``serve`` runs the event handlers and timers too. Unset: yes on the embedded driver, no on the
    #: scale-out driver (where ``cxstack worker`` processes run them).
    run_workers_in_server: bool | None = None
    dispatch_batch_size: int = 500
    #: After a delivery round that read events, how long a subscription waits before the next, so that the
    #: commits landing meanwhile are read in one round (fewer, larger rounds cost less per event).
    dispatch_round_gap_seconds: float = Field(default=0.02, ge=0)
    handler_max_attempts: int = 5
    handler_retry_base_seconds: float = 0.5
    timer_poll_seconds: float = 0.5
    partitions: int = 16
    #: Scale-out driver: the JetStream stream is ``<prefix>_EVENTS``, its subjects ``<prefix>.events.>``.
    stream_prefix: str = Field(default="CXSTACK", pattern=r"^[A-Za-z0-9_-]+$")
    #: Scale-out driver: how long a worker's claim on a subscription's partition lasts without renewal
    #: (renewed every sixth of it): a worker that dies stalls its partitions about this long.
    lease_seconds: float = Field(default=6.0, gt=0)
    #: Scale-out driver: how often the relay looks for events committed by other processes.
    relay_poll_seconds: float = Field(default=0.1, gt=0)
    #: Effects (calls to the outside world after commit): attempts before an effect is dead, the first
    #: retry's delay (doubling after each), how long a claim lasts, and how often due effects are looked for.
    effect_max_attempts: int = Field(default=8, ge=1)
    effect_retry_base_seconds: float = Field(default=2.0, gt=0)
    effect_lease_seconds: float = Field(default=60.0, gt=0)
    effect_poll_seconds: float = Field(default=0.1, gt=0)
    #: Effects: how many of one kind a process performs at once, for the kinds that should differ from their
    #: default (32, or what the kind is registered with), e.g. ``{"email.send": 4}`` (JSON in the
    #: environment). Each kind has its own slots: a slow one never holds up another.
    effect_concurrency: dict[str, Annotated[int, Field(ge=1)]] = Field(default_factory=dict)
    #: Email channel: where ``cxstack smtp`` listens for inbound mail.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=2525, ge=0, le=65535)
    #: Email channel: the relay replies are sent through (unset: replies are recorded as not sent).
    smtp_relay_host: str | None = None
    smtp_relay_port: int = Field(default=587, ge=1, le=65535)
    smtp_relay_username: str | None = None
    smtp_relay_password: str | None = None
    smtp_relay_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_relay_timeout_seconds: float = Field(default=30.0, gt=0)
    #: Email channel: the largest raw message accepted, and the largest single attachment, in bytes.
    email_max_message_bytes: int = Field(default=25 * 1024 * 1024, gt=0)
    email_max_attachment_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    #: Email channel: how old an inbound-parse webhook's signed timestamp may be.
    email_webhook_max_age_seconds: int = Field(default=900, gt=0)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def is_scale_out(self) -> bool:
        """True on the scale-out driver: PostgreSQL with NATS JetStream as the bus's transport."""
        return bool(self.nats_url) and not self.is_sqlite

    @property
    def server_runs_handlers(self) -> bool:
        """Whether ``serve`` runs handlers and timers itself (see ``run_workers_in_server``)."""
        if self.run_workers_in_server is not None:
            return self.run_workers_in_server
        return not self.is_scale_out
