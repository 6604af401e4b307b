"""Process settings, read from the environment (prefix ``CXSTACK_``)."""

from __future__ import annotations

from pathlib import Path

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
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("./var")
    log_level: str = "info"
    #: Processes that run handlers and timers. The embedded driver runs them inside ``serve``.
    run_workers_in_server: bool = True
    dispatch_batch_size: int = 500
    handler_max_attempts: int = 5
    handler_retry_base_seconds: float = 0.5
    timer_poll_seconds: float = 0.5
    partitions: int = 16

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
