"""An in-process stand-in for Twilio's Voice REST API, speaking its wire format: form-encoded requests with
HTTP basic auth (AccountSid : AuthToken), JSON resources and Twilio's error JSON.

- ``POST /2010-04-01/Accounts/{AccountSid}/Calls.json`` (``To``, ``From``, ``Url`` or ``Twiml``,
  ``StatusCallback``...) creates an outgoing call: 201 with the call resource (``status`` queued), 400/21211
  for a ``To`` that is not a number, 400/21210 for a ``From`` that is not the account's.
- ``POST .../Calls/{CallSid}.json`` (``Twiml``, ``Url`` or ``Status``) changes a live call: 404/20404 for a
  call it does not know, 400/21220 for a call no longer in progress, 400/12100 for TwiML that does not
  parse. TwiML that dials a ``<Conference>`` puts the call in that conference (created on first use).
- ``POST .../Conferences/{ConferenceSid or FriendlyName}/Participants.json`` (``From``, ``To``,
  ``Label``...) dials a participant into a conference (created when named by a new friendly name).
- ``POST .../Conferences/{ConferenceSid}/Participants/{CallSid or Label}.json`` (``Hold``, ``HoldUrl``...)
  holds or unholds a participant; ``DELETE`` on it removes them (204).
- ``GET .../Recordings/{RecordingSid}.mp3`` serves a recording's bytes; ``DELETE .../Recordings/{sid}.json``
  deletes it (204).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element, ParseError, fromstring

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from tests.channels.twilio_fake import (
    API_VERSION,
    FakeServer,
    authenticated,
    new_sid,
    not_found,
    read_form,
    read_pairs,
    twilio_date,
    twilio_error,
)

ACCOUNTS = f"/{API_VERSION}/Accounts/{{account_sid}}"


@dataclass
class CallUpdate:
    account_sid: str
    call_sid: str
    form: dict[str, str]
    username: str
    password: str

    def twiml(self) -> Element:
        return fromstring(self.form["Twiml"])


@dataclass
class Request_:
    """One request the fake accepted: its method, path (after the account) and form."""

    method: str
    path: str
    form: dict[str, str]


@dataclass
class FakeCall:
    account_sid: str
    from_number: str
    to_number: str
    status: str = "in-progress"
    direction: str = "inbound"


@dataclass
class FakeParticipant:
    call_sid: str
    label: str | None
    hold: bool = False
    hold_url: str | None = None
    form: dict[str, str] = field(default_factory=dict)
    #: The conference ends when this participant leaves (``endConferenceOnExit``).
    ends_conference: bool = False


@dataclass
class FakeConference:
    sid: str
    account_sid: str
    friendly_name: str
    status: str = "in-progress"
    participants: dict[str, FakeParticipant] = field(default_factory=dict)

    def participant(self, key: str) -> FakeParticipant | None:
        """The participant with the call sid or label ``key``."""
        found = self.participants.get(key)
        if found is not None:
            return found
        return next((p for p in self.participants.values() if p.label == key), None)


@dataclass
class FakeTwilioCalls:
    accounts: dict[str, str] = field(default_factory=dict)
    #: The numbers each account may call from.
    numbers: dict[str, set[str]] = field(default_factory=dict)
    calls: dict[str, FakeCall] = field(default_factory=dict)
    updates: list[CallUpdate] = field(default_factory=list)
    #: Every request accepted, in order (call creations, updates, participant changes, downloads).
    requests: list[Request_] = field(default_factory=list)
    #: The forms of the calls created (``Calls.json``), in order, every value of each parameter.
    created: list[list[tuple[str, str]]] = field(default_factory=list)
    #: Sids to give the next created calls (fresh random ones once these run out).
    next_call_sids: list[str] = field(default_factory=list)
    conferences: dict[str, FakeConference] = field(default_factory=dict)
    #: Recording sid -> its bytes.
    recordings: dict[str, bytes] = field(default_factory=dict)
    deleted_recordings: list[str] = field(default_factory=list)
    #: (status, code, message) to answer the next requests with.
    failures: list[tuple[int, int, str]] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_account(self, account_sid: str, auth_token: str, *, numbers: tuple[str, ...] = ()) -> None:
        with self.lock:
            self.accounts[account_sid] = auth_token
            self.numbers.setdefault(account_sid, set()).update(numbers)

    def add_call(self, call_sid: str, *, account_sid: str, from_number: str, to_number: str) -> None:
        with self.lock:
            self.calls[call_sid] = FakeCall(account_sid, from_number, to_number)

    def add_recording(self, recording_sid: str, data: bytes) -> None:
        with self.lock:
            self.recordings[recording_sid] = data

    def end_call(self, call_sid: str) -> None:
        with self.lock:
            self.calls[call_sid].status = "completed"

    def answer(self, call_sid: str) -> None:
        """The callee picked up an outgoing call."""
        with self.lock:
            self.calls[call_sid].status = "in-progress"

    def fail_next(self, status: int, code: int, message: str) -> None:
        with self.lock:
            self.failures.append((status, code, message))

    def reset(self) -> None:
        with self.lock:
            self.accounts.clear()
            self.numbers.clear()
            self.calls.clear()
            self.updates.clear()
            self.requests.clear()
            self.created.clear()
            self.next_call_sids.clear()
            self.conferences.clear()
            self.recordings.clear()
            self.deleted_recordings.clear()
            self.failures.clear()

    def received(self) -> list[CallUpdate]:
        """The call updates accepted so far (``POST .../Calls/{CallSid}.json``), in order."""
        with self.lock:
            return list(self.updates)

    def log(self) -> list[Request_]:
        with self.lock:
            return list(self.requests)

    def conference(self, friendly_name: str) -> FakeConference | None:
        """The live conference named ``friendly_name``."""
        with self.lock:
            return next(
                (
                    c
                    for c in self.conferences.values()
                    if c.friendly_name == friendly_name and c.status == "in-progress"
                ),
                None,
            )

    # -- with the lock held ----------------------------------------------------------------------

    def _conference_named(self, account_sid: str, name: str) -> FakeConference:
        for conference in self.conferences.values():
            if conference.friendly_name == name and conference.status == "in-progress":
                return conference
        conference = FakeConference(new_sid("CF"), account_sid, name)
        self.conferences[conference.sid] = conference
        return conference

    def _leave_conferences(self, call_sid: str) -> None:
        """A call given new TwiML leaves its conference; a conference ends when its last participant or one
        that ends it on exit leaves, hanging up the others."""
        for conference in self.conferences.values():
            left = conference.participants.pop(call_sid, None)
            if left is not None and left.ends_conference:
                for other in conference.participants:
                    self.calls[other].status = "completed"
                conference.participants.clear()
            if not conference.participants:
                conference.status = "completed"


def _call_resource(account_sid: str, call_sid: str, call: FakeCall) -> dict[str, Any]:
    now = twilio_date()
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Calls/{call_sid}.json"
    return {
        "sid": call_sid,
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "date_created": now,
        "date_updated": now,
        "direction": call.direction,
        "from": call.from_number,
        "from_formatted": call.from_number,
        "to": call.to_number,
        "to_formatted": call.to_number,
        "status": call.status,
        "duration": None,
        "parent_call_sid": None,
        "price": None,
        "uri": uri,
        "subresource_uris": {"recordings": uri.replace(".json", "/Recordings.json")},
    }


def _participant_resource(conference: FakeConference, participant: FakeParticipant) -> dict[str, Any]:
    now = twilio_date()
    return {
        "account_sid": conference.account_sid,
        "call_sid": participant.call_sid,
        "conference_sid": conference.sid,
        "label": participant.label,
        "hold": participant.hold,
        "muted": False,
        "coaching": False,
        "end_conference_on_exit": participant.form.get("EndConferenceOnExit") == "true",
        "start_conference_on_enter": participant.form.get("StartConferenceOnEnter", "true") == "true",
        "status": "connected",
        "date_created": now,
        "date_updated": now,
        "uri": f"/{API_VERSION}/Accounts/{conference.account_sid}/Conferences/{conference.sid}/"
        f"Participants/{participant.call_sid}.json",
    }


def _is_endpoint(value: str) -> bool:
    if value.startswith("client:"):
        return len(value) > len("client:")
    return value.startswith("+") and value[1:].isdigit() and 8 <= len(value) <= 16


def build_app(state: FakeTwilioCalls) -> Starlette:
    def failure() -> JSONResponse | None:
        with state.lock:
            found = state.failures.pop(0) if state.failures else None
        return twilio_error(*found) if found is not None else None

    async def accepted(request: Request) -> tuple[str, dict[str, str], tuple[str, str]] | JSONResponse:
        credentials = authenticated(state, request)
        if isinstance(credentials, JSONResponse):
            return credentials
        form = await read_form(request) if request.method == "POST" else {}
        if isinstance(form, JSONResponse):
            return form
        failed = failure()
        if failed is not None:
            return failed
        return request.path_params["account_sid"], form, credentials

    def logged(request: Request, form: dict[str, str]) -> None:
        path = request.url.path.split(f"/{request.path_params['account_sid']}", 1)[1]
        state.requests.append(Request_(request.method, path, form))

    async def create_call(request: Request) -> JSONResponse:
        found = await accepted(request)
        if isinstance(found, JSONResponse):
            return found
        account_sid, form, _ = found
        pairs = await read_pairs(request)
        to, from_ = form.get("To", ""), form.get("From", "")
        if not _is_endpoint(to):
            return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        with state.lock:
            numbers = state.numbers.get(account_sid, set())
        if from_ not in numbers:
            return twilio_error(
                400,
                21210,
                f"The source phone number provided, {from_}, is not yet verified for your account.",
            )
        if not form.get("Url") and not form.get("Twiml"):
            return twilio_error(400, 21205, "Url parameter is required.")
        call = FakeCall(account_sid, from_, to, status="queued", direction="outbound-api")
        with state.lock:
            call_sid = state.next_call_sids.pop(0) if state.next_call_sids else new_sid("CA")
            state.calls[call_sid] = call
            state.created.append(pairs)
            logged(request, form)
            answer = _call_resource(account_sid, call_sid, call)
        return JSONResponse(answer, status_code=201)

    async def update_call(request: Request) -> JSONResponse:
        found = await accepted(request)
        if isinstance(found, JSONResponse):
            return found
        account_sid, form, credentials = found
        call_sid = request.path_params["call_sid"]
        with state.lock:
            call = state.calls.get(call_sid)
        if call is None or call.account_sid != account_sid:
            return not_found(f"/{API_VERSION}/Accounts/{account_sid}/Calls/{call_sid}.json")
        if call.status != "in-progress":
            return twilio_error(400, 21220, "Call is not in-progress. Cannot redirect.")
        root: Element | None = None
        if "Twiml" in form:
            try:
                root = fromstring(form["Twiml"])
            except ParseError:
                return twilio_error(400, 12100, "Document parse failure")
            if root.tag != "Response":
                return twilio_error(400, 12102, "The root element must be Response")
        elif not form.get("Url") and not form.get("Status"):
            return twilio_error(400, 21205, "Url, Twiml or Status is required")
        with state.lock:
            state.updates.append(CallUpdate(account_sid, call_sid, form, *credentials))
            logged(request, form)
            state._leave_conferences(call_sid)
            joined = root.find("Dial/Conference") if root is not None else None
            if joined is not None and joined.text:
                conference = state._conference_named(account_sid, joined.text)
                conference.participants[call_sid] = FakeParticipant(
                    call_sid,
                    joined.get("participantLabel"),
                    ends_conference=joined.get("endConferenceOnExit") == "true",
                )
            if form.get("Status") == "completed":
                call.status = "completed"
            answer = _call_resource(account_sid, call_sid, call)
        return JSONResponse(answer, status_code=200)

    async def add_participant(request: Request) -> JSONResponse:
        found = await accepted(request)
        if isinstance(found, JSONResponse):
            return found
        account_sid, form, _ = found
        key = request.path_params["conference"]
        to, from_ = form.get("To", ""), form.get("From", "")
        if not _is_endpoint(to):
            return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not from_:
            return twilio_error(400, 21603, "A 'From' phone number is required.")
        with state.lock:
            conference = state.conferences.get(key)
            if conference is None and key.startswith("CF"):
                return not_found(f"/{API_VERSION}/Accounts/{account_sid}/Conferences/{key}/Participants.json")
            if conference is None:
                conference = state._conference_named(account_sid, key)
            call_sid = new_sid("CA")
            state.calls[call_sid] = FakeCall(account_sid, from_, to, direction="outbound-api")
            participant = FakeParticipant(call_sid, form.get("Label") or None, form=form)
            conference.participants[call_sid] = participant
            logged(request, form)
            answer = _participant_resource(conference, participant)
        return JSONResponse(answer, status_code=201)

    async def participant(request: Request) -> Response:
        found = await accepted(request)
        if isinstance(found, JSONResponse):
            return found
        account_sid, form, _ = found
        conference_sid, key = request.path_params["conference_sid"], request.path_params["participant"]
        with state.lock:
            conference = state.conferences.get(conference_sid)
            member = (
                conference.participant(key) if conference and conference.status == "in-progress" else None
            )
            if conference is None or member is None:
                return not_found(
                    f"/{API_VERSION}/Accounts/{account_sid}/Conferences/{conference_sid}/Participants/{key}.json"
                )
            logged(request, form)
            if request.method == "DELETE":
                state.calls[member.call_sid].status = "completed"
                state._leave_conferences(member.call_sid)
                return Response(status_code=204)
            if "Hold" in form:
                if form["Hold"] not in ("true", "false"):
                    return twilio_error(400, 20001, f"Hold {form['Hold']!r} is not a boolean")
                member.hold = form["Hold"] == "true"
                member.hold_url = form.get("HoldUrl") or None
            answer = _participant_resource(conference, member)
        return JSONResponse(answer, status_code=200)

    async def recording_media(request: Request) -> Response:
        found = await accepted(request)
        if isinstance(found, JSONResponse):
            return found
        sid = request.path_params["recording_sid"]
        with state.lock:
            data = state.recordings.get(sid)
            if data is not None:
                logged(request, {})
        if data is None:
            return not_found(request.url.path)
        return Response(data, media_type="audio/mpeg")

    async def delete_recording(request: Request) -> Response:
        found = await accepted(request)
        if isinstance(found, JSONResponse):
            return found
        sid = request.path_params["recording_sid"]
        with state.lock:
            if state.recordings.pop(sid, None) is None:
                return not_found(request.url.path)
            state.deleted_recordings.append(sid)
            logged(request, {})
        return Response(status_code=204)

    return Starlette(
        routes=[
            Route(f"{ACCOUNTS}/Calls.json", create_call, methods=["POST"]),
            Route(f"{ACCOUNTS}/Calls/{{call_sid}}.json", update_call, methods=["POST"]),
            Route(
                f"{ACCOUNTS}/Conferences/{{conference}}/Participants.json", add_participant, methods=["POST"]
            ),
            Route(
                f"{ACCOUNTS}/Conferences/{{conference_sid}}/Participants/{{participant}}.json",
                participant,
                methods=["POST", "DELETE"],
            ),
            Route(f"{ACCOUNTS}/Recordings/{{recording_sid}}.mp3", recording_media, methods=["GET"]),
            Route(f"{ACCOUNTS}/Recordings/{{recording_sid}}.json", delete_recording, methods=["DELETE"]),
        ]
    )


class FakeTwilioCallsServer(FakeServer[FakeTwilioCalls]):
    """Serve a ``FakeTwilioCalls`` with uvicorn on 127.0.0.1 in a thread."""

    def __init__(self) -> None:
        super().__init__(FakeTwilioCalls(), build_app)
