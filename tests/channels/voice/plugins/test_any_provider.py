"""The voice channel works with any provider behind the base class: an outgoing call placed and answered
through an in-process provider that is not Twilio, with the effects it runs performed by that provider."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from starlette.requests import Request
from tests.channels.voice.support import ACCOUNT_SID, CALLER, NUMBER, PUBLIC_URL, events_of, settle
from tests.conftest import TenantKey

from cxstack.backbone.effects import EffectRegistry
from cxstack.channels.providers import FormParams, MalformedWebhook, ProviderAccount
from cxstack.channels.voice.calls.outbound import answer_outbound, place_call
from cxstack.channels.voice.calls.service import get_call
from cxstack.channels.voice.handlers import register_effects
from cxstack.channels.voice.plugins.base import AgentLeg, PlacedCall, VoiceProvider
from cxstack.channels.voice.schemas import (
    AnsweredCall,
    CallOut,
    CallStatusReport,
    ConferenceReport,
    IncomingCall,
    IvrDefinition,
    MenuInput,
    OutboundCallIn,
    RecordingReport,
    TranscriptionReport,
)
from cxstack.config import VoiceSettings
from cxstack.kit.files import local_file_store
from cxstack.runtime import Runtime

pytestmark = pytest.mark.usefixtures("number")


def _field(params: FormParams, name: str) -> str:
    value = dict(params).get(name)
    if not value:
        raise MalformedWebhook(f"the webhook has no {name}", field=name)
    return value


@dataclass
class EchoVoiceProvider(VoiceProvider):
    """A provider that keeps the requests made of it and renders instructions as plain words; its webhooks
    are forms of ``call``, ``account``, ``status``, ``from`` and ``to``, signed by naming the auth token."""

    name = "echo"
    signature_header = "X-Echo-Token"
    placed: list[dict[str, str]] = field(default_factory=list)
    bridged: list[dict[str, str]] = field(default_factory=list)

    async def read_form(self, request: Request) -> FormParams:
        return list((await request.form()).items())  # type: ignore[arg-type]

    def signed_url(self, request: Request) -> str:
        return str(request.url)

    def signature_problem(
        self, request: Request, params: FormParams, *, auth_token: str
    ) -> tuple[str, str] | None:
        if request.headers.get(self.signature_header) == auth_token:
            return None
        return "signature_invalid", "the token does not match"

    def account_of(self, params: FormParams) -> str:
        return _field(params, "account")

    def called_number(self, params: FormParams) -> str:
        return _field(params, "to")

    def call_named(self, params: FormParams) -> str | None:
        return dict(params).get("call")

    def call_sid_of(self, params: FormParams) -> str:
        return _field(params, "call")

    def conference_name(self, params: FormParams) -> str:
        return _field(params, "conference")

    def parse_incoming(self, params: FormParams) -> IncomingCall:
        return IncomingCall(
            call_sid=self.call_sid_of(params),
            account_sid=self.account_of(params),
            from_number=_field(params, "from"),
            to_number=self.called_number(params),
            status="ringing",
            direction="inbound",
        )

    def parse_menu_input(self, params: FormParams) -> MenuInput:
        return MenuInput(
            call_sid=self.call_sid_of(params),
            account_sid=self.account_of(params),
            digits=dict(params).get("digits"),
            speech=None,
            confidence=None,
        )

    def parse_status(self, params: FormParams) -> CallStatusReport:
        return CallStatusReport(
            call_sid=self.call_sid_of(params),
            account_sid=self.account_of(params),
            status=_field(params, "status"),
            duration_s=None,
        )

    def parse_answered(self, params: FormParams) -> AnsweredCall:
        return AnsweredCall(
            call_sid=self.call_sid_of(params), account_sid=self.account_of(params), status="in-progress"
        )

    def parse_recording(self, params: FormParams) -> RecordingReport:
        return RecordingReport(
            call_sid=self.call_sid_of(params),
            account_sid=self.account_of(params),
            recording_sid=_field(params, "recording"),
            url=_field(params, "url"),
            status="completed",
            duration_s=None,
        )

    def parse_transcription(self, params: FormParams) -> TranscriptionReport:
        return TranscriptionReport(
            call_sid=self.call_sid_of(params),
            account_sid=self.account_of(params),
            transcription_sid=_field(params, "transcription"),
            recording_sid=None,
            status="completed",
            text=_field(params, "text"),
        )

    def parse_conference(self, params: FormParams) -> ConferenceReport:
        return ConferenceReport(
            account_sid=self.account_of(params),
            conference_sid=_field(params, "conference_id"),
            friendly_name=self.conference_name(params),
            event=_field(params, "event"),
            call_sid=dict(params).get("call"),
            label=dict(params).get("label"),
            hold=None,
            sequence=dict(params).get("sequence", ""),
        )

    async def place_call(
        self, account: ProviderAccount, *, to: str, from_: str, url: str, status_callback: str
    ) -> PlacedCall:
        self.placed.append({"account": account.account_sid, "to": to, "from": from_, "url": url})
        return PlacedCall(call_sid=f"echo-call-{len(self.placed)}", status="queued")

    async def redirect_call(self, account: ProviderAccount, *, call_sid: str, instructions: str) -> str:
        return "in-progress"

    async def bridge_agent(
        self, account: ProviderAccount, *, conference: str, from_: str, to: str, agent_id: str
    ) -> AgentLeg:
        self.bridged.append({"conference": conference, "from": from_, "to": to, "agent_id": agent_id})
        return AgentLeg(conference_sid=f"echo-conference-{conference}", call_sid=f"echo-agent-{agent_id}")

    async def hold_participant(
        self,
        account: ProviderAccount,
        *,
        conference_sid: str,
        participant: str,
        hold: bool,
        hold_music_url: str,
    ) -> None:
        return None

    async def hang_up_participant(
        self, account: ProviderAccount, *, conference_sid: str, participant: str
    ) -> None:
        return None

    async def fetch_recording(
        self, account: ProviderAccount, *, recording_sid: str, reported_url: str
    ) -> bytes:
        return b"ID3 echo"

    async def delete_recording(self, account: ProviderAccount, *, recording_sid: str) -> None:
        return None

    def menu(self, ivr: IvrDefinition, *, attempt: int, apology: str | None = None) -> str:
        return f"menu {attempt}: {apology or ivr.greeting}"

    def enqueue(self, *, queue: str, announcement: str, wait_url: str | None) -> str:
        return f"queue {queue}: {announcement}"

    def hold_loop(self, *, hold_music_url: str) -> str:
        return f"play {hold_music_url}"

    def voicemail(self, *, prompt: str) -> str:
        return f"record: {prompt}"

    def goodbye(self, text: str) -> str:
        return f"hang up: {text}"

    def conference(
        self, *, name: str, public_url: str | None, hold_music_url: str, announcement: str | None = None
    ) -> str:
        return f"conference {name}"


PROVIDER = EchoVoiceProvider()
SETTINGS = VoiceSettings(public_url=PUBLIC_URL)


@pytest.fixture
def effects(tmp_path: Path) -> EffectRegistry:
    """The voice effects, performed by the echo provider."""
    PROVIDER.placed.clear()
    PROVIDER.bridged.clear()
    registry = EffectRegistry()
    register_effects(registry, SETTINGS, store=local_file_store(tmp_path), provider=PROVIDER)
    return registry


async def test_an_outgoing_call_is_placed_and_answered_through_any_provider(
    runtime: Runtime, tenant: TenantKey
) -> None:
    tenant_id = tenant.tenant_id
    placed = await runtime.db.write(
        lambda uow: place_call(
            uow,
            tenant_id=tenant_id,
            data=OutboundCallIn(phone=CALLER, agent_id="ag_1", agent_name="Ada"),
            settings=SETTINGS,
            provider=PROVIDER,
        )
    )
    assert placed.status == "dialing"
    await settle(runtime, until=lambda: bool(PROVIDER.placed))
    assert PROVIDER.placed == [
        {
            "account": ACCOUNT_SID,
            "to": CALLER,
            "from": NUMBER,
            "url": f"{PUBLIC_URL}/hooks/voice/echo/outbound?call={placed.id}",
        }
    ]

    answered = PROVIDER.parse_answered([("call", "echo-call-1"), ("account", ACCOUNT_SID)])
    instructions = await runtime.db.write(
        lambda uow: answer_outbound(
            uow,
            tenant_id=tenant_id,
            call_id=placed.id,
            answered=answered,
            settings=SETTINGS,
            provider=PROVIDER,
        )
    )
    assert instructions == f"conference {placed.id}"
    await settle(runtime, until=lambda: bool(PROVIDER.bridged))
    assert PROVIDER.bridged == [
        {"conference": placed.id, "from": NUMBER, "to": "client:ag_1", "agent_id": "ag_1"}
    ]

    call: CallOut = await runtime.db.read(
        lambda session: get_call(session, tenant_id=tenant_id, call_id=placed.id)
    )
    assert (call.status, call.call_sid, call.agent_name) == ("in_progress", "echo-call-1", "Ada")
    types = [event.type for event in await events_of(runtime, "call.placed", "call.answered")]
    assert types == ["call.placed", "call.answered"]
