"""Voice queries, each scoped to one tenant by construction (but for finding a call by its provider id,
which is how callbacks name it)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cxstack.channels.voice.models import (
    VoiceCall,
    VoiceCallbackReceipt,
    VoiceEscalation,
    VoiceIvr,
    VoiceRecording,
)
from cxstack.kit.errors import NotFound
from cxstack.kit.pagination import Page, paginate


def call_by_sid(session: Session, call_sid: str) -> VoiceCall | None:
    """Return the call with the provider id ``call_sid``, whichever tenant it belongs to."""
    return session.scalar(select(VoiceCall).where(VoiceCall.call_sid == call_sid))


def call_by_id(session: Session, call_id: str) -> VoiceCall | None:
    """Return the call ``call_id``, whichever tenant it belongs to (callbacks whose URL names the call)."""
    return session.scalar(select(VoiceCall).where(VoiceCall.id == call_id))


class VoiceRepository:
    def __init__(self, session: Session, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def ivr(self) -> VoiceIvr | None:
        return self.session.scalar(select(VoiceIvr).where(VoiceIvr.tenant_id == self.tenant_id))

    def get_call(self, call_id: str, *, for_update: bool = False) -> VoiceCall:
        """Return the tenant's call; raises NotFound (also for another tenant's id)."""
        query = select(VoiceCall).where(VoiceCall.tenant_id == self.tenant_id, VoiceCall.id == call_id)
        if for_update:
            query = query.with_for_update()
        found = self.session.scalar(query)
        if found is None:
            raise NotFound(f"call {call_id} does not exist", field="call_id")
        return found

    def calls_page(
        self, *, cursor: str | None, limit: int, status: str | None, customer_id: str | None
    ) -> Page[VoiceCall]:
        query = select(VoiceCall).where(VoiceCall.tenant_id == self.tenant_id)
        if status is not None:
            query = query.where(VoiceCall.status == status)
        if customer_id is not None:
            query = query.where(VoiceCall.customer_id == customer_id)
        return paginate(
            self.session, query, id_column=VoiceCall.id, cursor=cursor, limit=limit, descending=True
        )

    def seen_callback(self, call_sid: str, kind: str, value: str) -> bool:
        found = self.session.scalar(
            select(VoiceCallbackReceipt.id).where(
                VoiceCallbackReceipt.tenant_id == self.tenant_id,
                VoiceCallbackReceipt.call_sid == call_sid,
                VoiceCallbackReceipt.kind == kind,
                VoiceCallbackReceipt.value == value,
            )
        )
        return found is not None

    def waiting_escalation(self, customer_id: str) -> VoiceEscalation | None:
        """The customer's newest request to be called that no call has answered yet."""
        return self.session.scalar(
            select(VoiceEscalation)
            .where(
                VoiceEscalation.tenant_id == self.tenant_id,
                VoiceEscalation.customer_id == customer_id,
                VoiceEscalation.status == "waiting",
            )
            .order_by(VoiceEscalation.id.desc())
            .limit(1)
        )

    def get_escalation(self, escalation_id: str) -> VoiceEscalation:
        found = self.session.scalar(
            select(VoiceEscalation).where(
                VoiceEscalation.tenant_id == self.tenant_id, VoiceEscalation.id == escalation_id
            )
        )
        if found is None:
            raise NotFound(f"escalation {escalation_id} does not exist", field="escalation_id")
        return found

    def recording(self, recording_id: str) -> VoiceRecording:
        """Return the tenant's recording; raises NotFound."""
        found = self.session.scalar(
            select(VoiceRecording).where(
                VoiceRecording.tenant_id == self.tenant_id, VoiceRecording.id == recording_id
            )
        )
        if found is None:
            raise NotFound(f"recording {recording_id} does not exist", field="recording_id")
        return found

    def recording_by_sid(self, recording_sid: str) -> VoiceRecording | None:
        return self.session.scalar(
            select(VoiceRecording).where(
                VoiceRecording.tenant_id == self.tenant_id, VoiceRecording.recording_sid == recording_sid
            )
        )

    def recordings_of(self, call_id: str) -> list[VoiceRecording]:
        return list(
            self.session.scalars(
                select(VoiceRecording)
                .where(VoiceRecording.tenant_id == self.tenant_id, VoiceRecording.call_id == call_id)
                .order_by(VoiceRecording.id)
            )
        )
