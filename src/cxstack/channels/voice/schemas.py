"""Voice payloads for the API, the provider's callbacks as read, and the events this channel publishes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cxstack.backbone.events import EventPayload
from cxstack.kit.models import StrictModel
from cxstack.records.conversations.schemas import ConversationOut, MessageOut
from cxstack.records.customers.schemas import CustomerOut

#: How far a call has come; a provider's report never moves a call back down this order.
PROVIDER_STATUS_RANK: dict[str, int] = {
    "queued": 0,
    "initiated": 0,
    "ringing": 1,
    "in-progress": 2,
    "completed": 3,
    "busy": 3,
    "no-answer": 3,
    "failed": 3,
    "canceled": 3,
}
#: The provider statuses that end a call, and the state cxstack gives the call for each.
FINAL_STATUSES: dict[str, str] = {
    "completed": "completed",
    "busy": "busy",
    "no-answer": "no_answer",
    "failed": "failed",
    "canceled": "canceled",
}
_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")


# -- the IVR ---------------------------------------------------------------------------------------


class IvrOption(StrictModel):
    """One menu option: a keypad digit and spoken keywords that choose it, and what it does."""

    key: str = Field(description="A short name for the option (billing, sales), lowercase.", max_length=80)
    digit: str = Field(pattern=r"^[0-9*#]$", description="The keypad key that picks it.")
    keywords: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="Words or phrases that pick it when spoken (matched case-insensitively).",
    )
    prompt: str = Field(min_length=1, max_length=500, description="What the menu says for it.")
    action: Literal["queue", "voicemail"] = "queue"
    queue: str | None = Field(default=None, max_length=80, description="The queue a queue option joins.")
    skill: str | None = Field(default=None, max_length=80, description="The skill routing should look for.")

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not _KEY.match(value):
            raise ValueError(
                "a key is lowercase letters, digits, '-' and '_', starting with a letter or digit"
            )
        return value

    @field_validator("keywords")
    @classmethod
    def _keywords(cls, value: list[str]) -> list[str]:
        cleaned = [" ".join(word.lower().split()) for word in value]
        if any(not word or len(word) > 80 for word in cleaned):
            raise ValueError("a keyword is 1 to 80 characters")
        return cleaned

    @model_validator(mode="after")
    def _queue_named(self) -> IvrOption:
        if self.action == "queue" and not self.queue:
            raise ValueError("a queue option names its queue")
        return self


class IvrDefinition(StrictModel):
    greeting: str = Field(min_length=1, max_length=1000, description="Said before the menu.")
    options: list[IvrOption] = Field(min_length=1, max_length=12)
    voicemail_prompt: str = Field(
        default="Please leave a message after the tone. Press the pound key when you are done.",
        min_length=1,
        max_length=500,
    )

    @model_validator(mode="after")
    def _distinct(self) -> IvrDefinition:
        for attribute in ("digit", "key"):
            seen: set[str] = set()
            for option in self.options:
                value = getattr(option, attribute)
                if value in seen:
                    raise ValueError(f"two options share the {attribute} {value!r}")
                seen.add(value)
        return self


class IvrOut(IvrDefinition):
    model_config = ConfigDict(from_attributes=True)

    #: False while the tenant has not set a menu of its own (callers hear this default one).
    configured: bool
    updated_at: datetime | None


# -- calls -----------------------------------------------------------------------------------------


class CallOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    #: The provider's id; None while an outgoing call is not yet created at the provider.
    call_sid: str | None
    #: The tenant's number (called, or calling out from).
    number: str
    from_number: str
    to_number: str
    direction: str
    customer_id: str
    conversation_id: str
    escalation_id: str | None
    status: str
    provider_status: str
    ivr: dict[str, Any]
    queue: str | None
    skill: str | None
    agent_id: str | None
    agent_name: str | None
    duration_s: int | None
    conference_sid: str | None
    participants: list[dict[str, Any]]
    error_code: str | None
    error_message: str | None
    created_at: datetime
    updated_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None


class OutboundCallIn(StrictModel):
    """Call a customer back: ``customer_id`` (their phone) or ``phone``, optionally in an open
    conversation, from one of the tenant's numbers, for the agent who asks (connected when the customer
    answers; without one the answered call waits in ``queue``)."""

    customer_id: str | None = Field(default=None, min_length=1, max_length=32)
    phone: str | None = Field(
        default=None,
        min_length=1,
        max_length=40,
        description="The number to call (any format; E.164 stored). With customer_id, one of the "
        "customer's phones or a new one linked to them; alone, the customer is found (or created) by it.",
    )
    region: str = Field(default="US", min_length=2, max_length=2)
    conversation_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        description="The conversation the call continues (the customer's open chat...); defaults to "
        "their newest open conversation, or a new voice one.",
    )
    from_number: str | None = Field(
        default=None,
        min_length=1,
        max_length=40,
        description="One of the tenant's numbers (default: its first).",
    )
    agent_id: str | None = Field(default=None, min_length=1, max_length=80)
    agent_name: str | None = Field(default=None, min_length=1, max_length=200)
    agent_phone: str | None = Field(default=None, max_length=40)
    queue: str = Field(default="support", min_length=1, max_length=80)

    @model_validator(mode="after")
    def _who(self) -> OutboundCallIn:
        if self.customer_id is None and self.phone is None:
            raise ValueError("a call names the customer (customer_id) or the number to call (phone)")
        if self.agent_id is not None and self.agent_name is None:
            raise ValueError("a call for an agent names the agent (agent_name)")
        return self


class RecordingOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    call_id: str
    conversation_id: str
    recording_sid: str
    #: ``copying`` (only at the provider yet), ``stored`` (served by cxstack), ``failed``.
    status: str
    #: Where to fetch it: cxstack's own route once stored, the provider's URL until then.
    url: str
    provider_url: str
    #: The file the stored copy is, served by the file API (``/v1/files/{id}``) too; null until stored.
    file_id: str | None = None
    duration_s: int | None
    size: int | None
    content_type: str
    voicemail: bool
    message_id: str | None
    error: str | None
    deleted_at_provider: bool
    created_at: datetime
    updated_at: datetime


class AgentIn(StrictModel):
    agent_id: str = Field(min_length=1, max_length=80)
    agent_name: str = Field(min_length=1, max_length=200)
    agent_phone: str | None = Field(
        default=None,
        max_length=40,
        description="Dial the agent at this phone number; without it, the agent's client (agent_id).",
    )


class TransferIn(StrictModel):
    """Transfer to an agent (``agent_id``, ``agent_name``) or back to a queue (``queue``)."""

    agent_id: str | None = Field(default=None, min_length=1, max_length=80)
    agent_name: str | None = Field(default=None, min_length=1, max_length=200)
    agent_phone: str | None = Field(default=None, max_length=40)
    queue: str | None = Field(default=None, min_length=1, max_length=80)
    skill: str | None = Field(default=None, max_length=80)

    @model_validator(mode="after")
    def _one_target(self) -> TransferIn:
        if (self.agent_id is None) == (self.queue is None):
            raise ValueError("a transfer names either an agent (agent_id, agent_name) or a queue")
        if self.agent_id is not None and self.agent_name is None:
            raise ValueError("a transfer to an agent names the agent (agent_name)")
        return self


class EscalationIn(StrictModel):
    conversation_id: str = Field(min_length=1, max_length=32)
    phone: str | None = Field(
        default=None,
        max_length=40,
        description="The phone the customer will call from (any format); linked to the customer. Defaults "
        "to the customer's phone.",
    )
    region: str = Field(default="US", min_length=2, max_length=2)
    reason: str = Field(default="", max_length=500)


class EscalationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    conversation_id: str
    customer_id: str
    phone: str
    reason: str
    status: str
    call_id: str | None
    created_at: datetime
    updated_at: datetime


class CallContext(BaseModel):
    """What an agent taking the call needs: who calls, everything said so far on every channel, what was
    collected, and what the caller chose in the menu."""

    call: CallOut
    customer: CustomerOut
    conversation: ConversationOut
    #: The conversation's attributes: what a bot or an agent collected before the call.
    collected: dict[str, Any]
    #: Every message of the conversation, on every channel, oldest first.
    transcript: list[MessageOut]
    ivr: dict[str, Any]


# -- the provider's callbacks, as read -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IncomingCall:
    call_sid: str
    account_sid: str
    from_number: str
    to_number: str
    status: str
    direction: str


@dataclass(frozen=True, slots=True)
class MenuInput:
    call_sid: str
    account_sid: str
    digits: str | None
    speech: str | None
    confidence: float | None


@dataclass(frozen=True, slots=True)
class CallStatusReport:
    call_sid: str
    account_sid: str
    status: str
    duration_s: int | None


@dataclass(frozen=True, slots=True)
class AnsweredCall:
    """An outgoing call the callee answered (its ``Url`` webhook)."""

    call_sid: str
    account_sid: str
    status: str


@dataclass(frozen=True, slots=True)
class ConferenceReport:
    """A conference status callback."""

    account_sid: str
    conference_sid: str
    friendly_name: str
    #: conference-start, conference-end, participant-join, participant-leave, participant-hold...
    event: str
    call_sid: str | None
    label: str | None
    hold: bool | None
    sequence: str


@dataclass(frozen=True, slots=True)
class RecordingReport:
    #: None for a conference's recording (its callback names the conference, not a call).
    call_sid: str | None
    account_sid: str
    recording_sid: str
    url: str
    status: str
    duration_s: int | None


@dataclass(frozen=True, slots=True)
class TranscriptionReport:
    call_sid: str
    account_sid: str
    transcription_sid: str
    recording_sid: str | None
    status: str
    text: str


# -- event payloads --------------------------------------------------------------------------------


class CallEvent(EventPayload):
    """The call an event of a call is about (a base: it names no event type)."""

    call_id: str
    #: None while an outgoing call is not yet created at the provider.
    call_sid: str | None
    customer_id: str
    conversation_id: str


class CallRinging(CallEvent, type="call.ringing"):
    """A call arrived and joined a conversation."""

    from_number: str
    to_number: str
    direction: str
    escalation_id: str | None


class CallQueued(CallEvent, type="call.queued"):
    """The menu chose a queue; the call waits for an agent."""

    queue: str
    skill: str | None
    #: What the menu collected: ``option``, ``digits``, ``speech``, ``confidence``.
    ivr: dict[str, Any]
    #: The escalation the call answers, when it continues a conversation from another channel (routing
    #: offers it first to the agent who had that conversation).
    escalation_id: str | None = None


class CallAnswered(CallEvent, type="call.answered"):
    """An agent took the call."""

    agent_id: str
    agent_name: str
    #: Seconds from the call's arrival to the agent taking it.
    waited_s: int


class CallHeld(CallEvent, type="call.held"):
    """The agent put the caller on hold."""

    agent_id: str | None


class CallResumed(CallEvent, type="call.resumed"):
    """The caller was taken off hold."""

    agent_id: str | None


class CallTransferred(CallEvent, type="call.transferred"):
    """The call went to another agent or queue."""

    from_agent_id: str | None
    to_agent_id: str | None
    to_agent_name: str | None
    to_queue: str | None


class CallCompleted(CallEvent, type="call.completed"):
    """The call ended (however it ended)."""

    #: completed, busy, no_answer, failed or canceled.
    status: str
    duration_s: int | None
    agent_id: str | None
    #: Why the provider would not place an outgoing call.
    error_code: str | None = None
    error_message: str | None = None


class CallPlaced(CallEvent, type="call.placed"):
    """An outgoing call to a customer was asked of the provider."""

    from_number: str
    to_number: str
    #: The agent who asked for the call (connected when the customer answers), if any.
    agent_id: str | None


class RecordingStored(CallEvent, type="call.recording_stored"):
    """A call's recording was copied into cxstack's file store and is served by cxstack."""

    recording_id: str
    recording_sid: str
    #: cxstack's route serving the recording.
    url: str
    size: int
    message_id: str
    #: The file the stored copy is (``/v1/files/{id}``).
    file_id: str | None = None


class VoicemailStarted(CallEvent, type="call.voicemail_started"):
    """The caller is leaving a voicemail."""

    ivr: dict[str, Any]


class RecordingAttached(CallEvent):
    """A call's recording was attached to its conversation as a message."""

    recording_sid: str
    url: str
    duration_s: int | None
    message_id: str
    voicemail: bool


class VoicemailLeft(RecordingAttached, type="call.voicemail_left"):
    """A caller's voicemail was attached to the conversation."""


class CallRecordingAttached(RecordingAttached, type="call.recording_attached"):
    """A recording of a call with an agent was attached to the conversation."""


class TranscriptAttached(CallEvent, type="call.transcript_attached"):
    """A recording's transcript was attached to the conversation."""

    transcription_sid: str
    recording_sid: str | None
    message_id: str
    voicemail: bool


class CallUpdateFailed(CallEvent, type="call.update_failed"):
    """The provider refused to change a call (connect, hold, transfer)."""

    action: str
    reason: str
    error_code: str | None


class CallRequested(EventPayload, type="call.requested"):
    """A customer asked to continue by phone."""

    escalation_id: str
    conversation_id: str
    customer_id: str
    phone: str
    reason: str


#: The events this domain publishes.
EVENT_TYPES: tuple[type[EventPayload], ...] = (
    CallRequested,
    CallPlaced,
    CallRinging,
    CallQueued,
    CallAnswered,
    CallHeld,
    CallResumed,
    CallTransferred,
    CallCompleted,
    VoicemailStarted,
    VoicemailLeft,
    CallRecordingAttached,
    RecordingStored,
    TranscriptAttached,
    CallUpdateFailed,
)
