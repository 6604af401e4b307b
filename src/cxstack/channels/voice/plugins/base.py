"""The base class of a voice provider: place, answer, bridge and hang up calls, run a call's conference,
fetch and delete recordings, check and read the provider's webhooks, and render the instructions a call
follows (what the caller hears, where the call goes next).

One instance serves every tenant; the credentials of the number a call is on come with each request to
the provider. Requests are made outside any transaction (by the voice effects); webhooks are read and
instructions rendered inside the request that answers the provider.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from starlette.requests import Request

from cxstack.channels.providers import FormParams, ProviderAccount
from cxstack.channels.voice.schemas import (
    AnsweredCall,
    CallStatusReport,
    ConferenceReport,
    IncomingCall,
    IvrDefinition,
    MenuInput,
    RecordingReport,
    TranscriptionReport,
)


class CallRejected(Exception):
    """The provider refused a request for good (the call is over or unknown, a number it will not call,
    instructions it cannot follow): do not retry. ``code`` is the provider's error code."""

    def __init__(self, message: str, *, code: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class ProviderUnavailable(Exception):
    """The provider could not be reached, failed on its side, or is not ready for the request yet: the
    request may be retried."""


@dataclass(frozen=True, slots=True)
class PlacedCall:
    """An outgoing call the provider created: its id there and its first status."""

    call_sid: str
    status: str


@dataclass(frozen=True, slots=True)
class AgentLeg:
    """An agent dialled into a call's conference: the conference's and the agent's call's provider ids
    (empty when the provider did not say)."""

    conference_sid: str
    call_sid: str


class VoiceProvider(ABC):
    """A voice provider."""

    #: The provider's name: its webhooks are served under ``/hooks/voice/<name>``.
    name: ClassVar[str]
    #: The header whose signature proves a webhook came from the provider (named by a refusal).
    signature_header: ClassVar[str]
    #: The label of the customer's leg in a call's conference.
    customer_label: ClassVar[str] = "customer"

    @property
    def hooks(self) -> str:
        """The path the provider's webhooks are served under; instructions name the callbacks under it."""
        return f"/hooks/voice/{self.name}"

    def agent_label(self, agent_id: str) -> str:
        """The label of an agent's leg in a call's conference."""
        return f"agent:{agent_id}"

    # -- webhooks -------------------------------------------------------------------------------------

    @abstractmethod
    async def read_form(self, request: Request) -> FormParams:
        """Return a webhook's form; raises a DomainError for a body the provider does not post
        (MalformedWebhook: 400, naming the field)."""

    @abstractmethod
    def signed_url(self, request: Request) -> str:
        """The URL the provider posted a webhook to, as it signed it."""

    @abstractmethod
    def signature_problem(
        self, request: Request, params: FormParams, *, auth_token: str
    ) -> tuple[str, str] | None:
        """Return (reason, detail) when the webhook's signature is missing or does not match the one keyed
        with ``auth_token``; None when it matches."""

    @abstractmethod
    def account_of(self, params: FormParams) -> str:
        """The provider account a webhook is for; raises MalformedWebhook when it names none."""

    @abstractmethod
    def called_number(self, params: FormParams) -> str:
        """The number an incoming call dialled, in E.164; raises MalformedWebhook."""

    @abstractmethod
    def call_named(self, params: FormParams) -> str | None:
        """The provider's id of the call a webhook names, as given (unchecked); None when it names none."""

    @abstractmethod
    def call_sid_of(self, params: FormParams) -> str:
        """The provider's id of the call a webhook is about; raises MalformedWebhook."""

    @abstractmethod
    def conference_name(self, params: FormParams) -> str:
        """The name cxstack gave the conference a conference callback is about; raises MalformedWebhook."""

    @abstractmethod
    def parse_incoming(self, params: FormParams) -> IncomingCall:
        """Read the incoming-call webhook; raises MalformedWebhook naming the field at fault."""

    @abstractmethod
    def parse_menu_input(self, params: FormParams) -> MenuInput:
        """Read the caller's answer to the menu (keys or speech, neither when they said nothing)."""

    @abstractmethod
    def parse_status(self, params: FormParams) -> CallStatusReport:
        """Read a call status callback; raises MalformedWebhook."""

    @abstractmethod
    def parse_answered(self, params: FormParams) -> AnsweredCall:
        """Read the webhook of an outgoing call the callee answered; raises MalformedWebhook."""

    @abstractmethod
    def parse_recording(self, params: FormParams) -> RecordingReport:
        """Read a recording status callback; raises MalformedWebhook."""

    @abstractmethod
    def parse_transcription(self, params: FormParams) -> TranscriptionReport:
        """Read a transcription callback; raises MalformedWebhook."""

    @abstractmethod
    def parse_conference(self, params: FormParams) -> ConferenceReport:
        """Read a conference status callback; raises MalformedWebhook."""

    # -- requests to the provider -----------------------------------------------------------------------
    # Each raises CallRejected (a refusal for good) or ProviderUnavailable (may be retried).

    @abstractmethod
    async def place_call(
        self, account: ProviderAccount, *, to: str, from_: str, url: str, status_callback: str
    ) -> PlacedCall:
        """Create an outgoing call that asks ``url`` for its instructions once answered and reports its
        progress (initiated, ringing, answered, completed) to ``status_callback``."""

    @abstractmethod
    async def redirect_call(self, account: ProviderAccount, *, call_sid: str, instructions: str) -> str:
        """Give a live call new instructions (answer it into a conference, queue it); return its status."""

    @abstractmethod
    async def bridge_agent(
        self, account: ProviderAccount, *, conference: str, from_: str, to: str, agent_id: str
    ) -> AgentLeg:
        """Dial an agent (``to``: a phone or a client) into the conference named ``conference`` (started
        when none of that name runs), labelled ``agent_label(agent_id)``."""

    @abstractmethod
    async def hold_participant(
        self,
        account: ProviderAccount,
        *,
        conference_sid: str,
        participant: str,
        hold: bool,
        hold_music_url: str,
    ) -> None:
        """Hold (hold music for them) or unhold a participant of a running conference, by call id."""

    @abstractmethod
    async def hang_up_participant(
        self, account: ProviderAccount, *, conference_sid: str, participant: str
    ) -> None:
        """Hang up a participant of a running conference (by call id or label); one already gone counts
        as hung up."""

    @abstractmethod
    async def fetch_recording(
        self, account: ProviderAccount, *, recording_sid: str, reported_url: str
    ) -> bytes:
        """Return a recording's audio as MP3 (``reported_url``: where its callback said it is)."""

    @abstractmethod
    async def delete_recording(self, account: ProviderAccount, *, recording_sid: str) -> None:
        """Delete the provider's copy of a recording; one already gone counts as deleted."""

    # -- call instructions ------------------------------------------------------------------------------

    @abstractmethod
    def menu(self, ivr: IvrDefinition, *, attempt: int, apology: str | None = None) -> str:
        """The greeting (first time) or an apology, then the options, gathered by keypad or speech; the
        answer goes to the ``gather`` callback with ``attempt``."""

    @abstractmethod
    def enqueue(self, *, queue: str, announcement: str, wait_url: str | None) -> str:
        """Put the caller in ``queue``; ``wait_url`` answers with what they hear while waiting."""

    @abstractmethod
    def hold_loop(self, *, hold_music_url: str) -> str:
        """What a queued caller hears while waiting (the answer of the ``wait`` callback)."""

    @abstractmethod
    def voicemail(self, *, prompt: str) -> str:
        """Prompt the caller and record their message (transcribed), reported to the ``voicemail``,
        ``recording`` and ``transcription`` callbacks."""

    @abstractmethod
    def goodbye(self, text: str) -> str:
        """Say ``text`` and hang up."""

    @abstractmethod
    def conference(
        self, *, name: str, public_url: str | None, hold_music_url: str, announcement: str | None = None
    ) -> str:
        """Put the customer's leg in the call's conference ``name``: hold music until an agent joins, the
        conference ending when they leave. With ``public_url`` the conference reports its events to the
        ``conference`` callback and is recorded from its start (to the ``recording`` callback, naming the
        call)."""
