"""Process settings, read from the environment (prefix ``CXSTACK_``) once, by the process's entry point.

The channels' settings are nested: ``settings.sms.public_url`` is ``CXSTACK_SMS_PUBLIC_URL``,
``settings.voice.twilio_api_url`` is ``CXSTACK_VOICE_TWILIO_API_URL``. Nothing else in cxstack reads the
environment: the settings are passed to what needs them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "CXSTACK_"
#: Base URL of Twilio's REST API, for SMS and calls alike.
TWILIO_API_URL = "https://api.twilio.com"


class SmsSettings(BaseModel):
    """The SMS channel (``CXSTACK_SMS_*``): the providers' APIs, and where they reach cxstack back."""

    model_config = ConfigDict(frozen=True)

    twilio_api_url: str = Field(
        default=TWILIO_API_URL, description="Base URL of Twilio's REST API (a test double in tests)."
    )
    public_url: str | None = Field(
        default=None,
        description=(
            "The URL at which the provider reaches this cxstack (https://cx.example.com). Set, outbound "
            "messages ask for delivery status callbacks at <public_url>/hooks/sms/twilio/status."
        ),
    )
    send_timeout_seconds: float = Field(default=10.0, gt=0)


class VoiceSettings(BaseModel):
    """The voice channel (``CXSTACK_VOICE_*``): Twilio's API, where it reaches cxstack back, hold music."""

    model_config = ConfigDict(frozen=True)

    twilio_api_url: str = Field(
        default=TWILIO_API_URL, description="Base URL of Twilio's REST API (a test double in tests)."
    )
    public_url: str | None = Field(
        default=None,
        description=(
            "The URL at which Twilio reaches this cxstack (https://cx.example.com). Set, calls connected to "
            "an agent are recorded and their recordings attached to the conversation, and conference events "
            "are reported; outgoing calls need it (Twilio fetches the answered call's TwiML there)."
        ),
    )
    hold_music_url: str = Field(default="http://com.twilio.music.classical.s3.amazonaws.com/BusyStrings.mp3")
    update_timeout_seconds: float = Field(default=10.0, gt=0)
    download_timeout_seconds: float = Field(default=60.0, gt=0)
    delete_recordings_after_copy: bool = Field(
        default=False,
        description="Delete a recording at Twilio once it is copied into cxstack's file store.",
    )


class InappSettings(BaseModel):
    """The in-app channel (``CXSTACK_INAPP_*``): where the push providers' APIs are. Each tenant's own push
    credentials are stored per tenant, not here."""

    model_config = ConfigDict(frozen=True)

    fcm_api_url: str = Field(
        default="https://fcm.googleapis.com",
        description="Base URL of FCM's HTTP v1 API (a test double in tests).",
    )
    fcm_token_url: str = Field(
        default="https://oauth2.googleapis.com/token",
        description="Google's OAuth 2.0 token endpoint: the only token_uri a service account may name.",
    )
    apns_url: str = Field(default="https://api.push.apple.com", description="APNs' production endpoint.")
    apns_sandbox_url: str = Field(
        default="https://api.sandbox.push.apple.com",
        description="APNs' development endpoint, for tenants whose apns_sandbox is set.",
    )
    apns_ca_file: str | None = Field(
        default=None,
        description="A PEM bundle of the certificate authorities APNs connections trust instead of the "
        "system's (a TLS-inspecting proxy, or a test double).",
    )
    push_timeout_seconds: float = Field(default=10.0, gt=0)


class RoutingSettings(BaseModel):
    """Routing (``CXSTACK_ROUTING_*``)."""

    model_config = ConfigDict(frozen=True)

    away_after_seconds: float = Field(
        default=30.0,
        gt=0,
        description="An available agent whose routing sockets have all closed is set away after this long.",
    )
    heartbeat_seconds: float = Field(
        default=10.0,
        gt=0,
        description="How often a process renews its agents' routing sockets in the database and sweeps "
        "those of processes that stopped (a socket not renewed for three heartbeats is gone).",
    )


class AuthSettings(BaseModel):
    """Staff sign-in (``CXSTACK_AUTH_*``): sessions, their cookie, lock-out, password reset links and the
    requests to tenants' OIDC providers."""

    model_config = ConfigDict(frozen=True)

    session_idle_minutes: int = Field(
        default=120, gt=0, description="A session not used for this long ends (the user signs in again)."
    )
    session_absolute_hours: int = Field(
        default=12, gt=0, description="A session ends this long after sign-in, however much it is used."
    )
    cookie_secure: bool = Field(
        default=True,
        description="Mark the session cookie Secure (sent over HTTPS only); false for plain-HTTP trials.",
    )
    lockout_attempts: int = Field(
        default=5, ge=1, description="Failed sign-ins in a row after which the account is locked."
    )
    lockout_minutes: int = Field(default=15, gt=0, description="How long a locked account stays locked.")
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The URL people reach cxstack at; password reset links point there, and OIDC providers "
        "send people back to <public_url>/v1/auth/oidc/callback.",
    )
    mail_from: str = Field(
        default="cxstack <no-reply@localhost>",
        description="The sender of password reset mail (sent through CXSTACK_SMTP_RELAY_HOST).",
    )
    oidc_timeout_seconds: float = Field(
        default=10.0, gt=0, description="How long a request to a tenant's OIDC provider may take."
    )
    oidc_allow_http: bool = Field(
        default=False,
        description="Take OIDC providers at plain-HTTP addresses (a provider on a private network, a test "
        "double); otherwise an issuer must be HTTPS.",
    )


class Settings(BaseSettings):
    """Everything a cxstack process needs to know about where it runs."""

    # A nested model's fields are read from ``CXSTACK_<MODEL>_<FIELD>``: the name splits once, after the
    # model's name, so that field names keep their underscores.
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", env_nested_delimiter="_", env_nested_max_split=1
    )

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
    #: How much ``serve``, ``worker`` and the other commands log (``cxstack.kit.logs``).
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    #: The event loop ``serve`` runs on. ``asyncio`` (the standard one) answers requests in the order they
    #: came; ``uvloop`` does about 8% more message intake, but when the server is saturated it reads new
    #: requests before it finishes those it has, so some wait far longer (a read's p99 at 64 connections:
    #: 250-430 ms against 20-65 ms). Workers, which serve no HTTP, run on uvloop either way.
    event_loop: Literal["asyncio", "uvloop"] = "asyncio"
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
    sms: SmsSettings = Field(default_factory=SmsSettings)
    voice: VoiceSettings = Field(default_factory=VoiceSettings)
    inapp: InappSettings = Field(default_factory=InappSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)

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


class InvalidSettings(ValueError):
    """The environment sets a variable to a value its setting refuses; the message names each variable."""


def load_settings() -> Settings:
    """Return the settings the environment gives; raises InvalidSettings naming every variable refused."""
    try:
        return Settings()
    except ValidationError as error:
        problems = [f"{variable_of(problem['loc'])}: {problem['msg']}" for problem in error.errors()]
        raise InvalidSettings("invalid settings: " + "; ".join(problems)) from None


def variable_of(location: Sequence[int | str]) -> str:
    """Return the environment variable of a setting by its place in ``Settings`` (``("sms",
    "public_url")`` is ``CXSTACK_SMS_PUBLIC_URL``); a place inside a value (a key of a dict) counts as the
    setting's own."""
    model: type[BaseModel] = Settings
    names: list[str] = []
    for part in location:
        field = model.model_fields.get(str(part))
        if field is None:
            break
        names.append(str(part))
        annotation = field.annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            break
        model = annotation
    return (ENV_PREFIX + "_".join(names)).upper()
