"""A call's conference as the provider reports it: its id while it runs, and who is in it.

The conference is named after the call's id, so its callbacks (``FriendlyName``) find the call. Each
callback is processed once (by conference id and sequence number): the conference's start records its
provider id (which holding the customer needs), its end forgets it, and participants' joining, leaving and
hold are recorded on the call; the agent of a ``connecting`` call joining answers it.
"""

from __future__ import annotations

import hashlib

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.channels.voice.calls.control import CONNECTING, agent_connected, upsert_participant
from cxstack.channels.voice.calls.service import record_callback
from cxstack.channels.voice.plugins.base import VoiceProvider
from cxstack.channels.voice.repository import VoiceRepository
from cxstack.channels.voice.schemas import ConferenceReport

#: States in which the call's customer is in its conference (or on the way there).
CONFERENCING = (CONNECTING, "in_progress", "held")


def _receipt(report: ConferenceReport) -> str:
    """The key a conference callback is processed once under (at most 64 characters)."""
    if report.sequence:
        return f"{report.conference_sid}:{report.sequence}"
    detail = f"{report.event}:{report.call_sid or ''}:{report.hold}"
    return f"{report.conference_sid}:{hashlib.sha256(detail.encode()).hexdigest()[:24]}"


def record_conference_event(
    uow: UnitOfWork, *, tenant_id: str, call_id: str, report: ConferenceReport, provider: VoiceProvider
) -> bool:
    """Record a conference callback about the call ``call_id``, once; return whether it changed anything.
    Raises NotFound for a call the tenant does not have."""
    call = VoiceRepository(uow.session, tenant_id).get_call(call_id, for_update=True)
    if not record_callback(uow, call, "conference", _receipt(report)):
        return False
    now = uow.clock.now()
    event = report.event
    if event == "conference-start":
        if call.status in CONFERENCING:
            call.conference_sid = report.conference_sid
    elif event == "conference-end":
        if call.conference_sid == report.conference_sid:
            call.conference_sid = None
        participants = [dict(p) for p in call.participants]
        for participant in participants:
            if participant.get("conference_sid") == report.conference_sid and not participant.get("left_at"):
                participant["left_at"] = now.isoformat()
        call.participants = participants
    elif report.call_sid is not None:
        customer = report.call_sid == call.call_sid or report.label == provider.customer_label
        if event == "participant-join":
            if call.conference_sid is None and call.status in CONFERENCING:
                call.conference_sid = report.conference_sid
            label = report.label
            upsert_participant(
                call,
                report.call_sid,
                role="customer" if customer else "agent",
                label=label,
                agent_id=label.removeprefix("agent:") if label and label.startswith("agent:") else None,
                conference_sid=report.conference_sid,
                joined_at=now.isoformat(),
                hold=bool(report.hold),
            )
            if not customer and label and label.startswith("agent:"):
                agent_connected(uow, call, agent_id=label.removeprefix("agent:"))
        elif event == "participant-leave":
            upsert_participant(
                call, report.call_sid, conference_sid=report.conference_sid, left_at=now.isoformat()
            )
        elif event in ("participant-hold", "participant-unhold"):
            upsert_participant(call, report.call_sid, hold=event == "participant-hold")
    call.updated_at = now
    uow.session.flush()
    return True
