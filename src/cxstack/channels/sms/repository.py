"""SMS queries, each scoped to one tenant by construction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, insert, select
from sqlalchemy.orm import Session

from cxstack.channels.sms.models import (
    SmsInboundReceipt,
    SmsOptOut,
    SmsOutbound,
    SmsStatusReceipt,
)
from cxstack.kit.pagination import Page, paginate

# The inbound path runs these Core statements, built once: each webhook then costs the database work and
# not the construction of ORM queries.
_receipts = cast(Table, SmsInboundReceipt.__table__)
_RECEIPT_BY_SID = select(
    _receipts.c.customer_id, _receipts.c.conversation_id, _receipts.c.message_id, _receipts.c.keyword
).where(_receipts.c.tenant_id == bindparam("tenant_id"), _receipts.c.message_sid == bindparam("message_sid"))
_INSERT_RECEIPT = insert(_receipts)
_RECEIPTS_BY_SIDS = select(
    _receipts.c.message_sid,
    _receipts.c.customer_id,
    _receipts.c.conversation_id,
    _receipts.c.message_id,
    _receipts.c.keyword,
).where(
    _receipts.c.tenant_id == bindparam("tenant_id"),
    _receipts.c.message_sid.in_(bindparam("message_sids", expanding=True)),
)


class SmsRepository:
    def __init__(self, session: Session, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    # -- inbound -----------------------------------------------------------------------------------

    def inbound_receipt(self, message_sid: str) -> Row[Any, Any, Any, Any] | None:
        """Return (customer_id, conversation_id, message_id, keyword) of a message received before."""
        return self.session.execute(
            _RECEIPT_BY_SID, {"tenant_id": self.tenant_id, "message_sid": message_sid}
        ).first()

    def add_inbound_receipt(self, values: dict[str, Any]) -> None:
        self.session.execute(_INSERT_RECEIPT, {**values, "tenant_id": self.tenant_id})

    def inbound_receipts(self, message_sids: Sequence[str]) -> dict[str, tuple[str, str, str, str]]:
        """Return {message sid: (customer_id, conversation_id, message_id, keyword)} of those received
        before, in one query."""
        if not message_sids:
            return {}
        rows = self.session.execute(
            _RECEIPTS_BY_SIDS, {"tenant_id": self.tenant_id, "message_sids": list(message_sids)}
        )
        return {
            sid: (customer, conversation, message, keyword)
            for sid, customer, conversation, message, keyword in rows
        }

    def add_inbound_receipts(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert receipts (dicts of their columns) in one statement."""
        if rows:
            self.session.execute(_INSERT_RECEIPT, [{**row, "tenant_id": self.tenant_id} for row in rows])

    def last_number_id_texted_by(self, phone: str) -> str | None:
        """Return the id of the number ``phone`` last wrote to, if it ever wrote."""
        found: str | None = self.session.scalar(
            select(SmsInboundReceipt.number_id)
            .where(SmsInboundReceipt.tenant_id == self.tenant_id, SmsInboundReceipt.from_number == phone)
            .order_by(SmsInboundReceipt.id.desc())
            .limit(1)
        )
        return found

    # -- opt-outs ----------------------------------------------------------------------------------

    def opt_out(self, phone: str) -> SmsOptOut | None:
        return self.session.scalar(
            select(SmsOptOut).where(SmsOptOut.tenant_id == self.tenant_id, SmsOptOut.phone == phone)
        )

    def opt_outs_page(self, *, cursor: str | None, limit: int, opted_out: bool | None) -> Page[SmsOptOut]:
        query = select(SmsOptOut).where(SmsOptOut.tenant_id == self.tenant_id)
        if opted_out is not None:
            query = query.where(SmsOptOut.opted_out.is_(opted_out))
        return paginate(self.session, query, id_column=SmsOptOut.id, cursor=cursor, limit=limit)

    # -- outbound ----------------------------------------------------------------------------------

    def outbound_of_message(self, message_id: str) -> SmsOutbound | None:
        return self.session.scalar(
            select(SmsOutbound).where(
                SmsOutbound.tenant_id == self.tenant_id, SmsOutbound.message_id == message_id
            )
        )

    def outbound_by_id(self, outbound_id: str) -> SmsOutbound | None:
        return self.session.scalar(
            select(SmsOutbound).where(SmsOutbound.tenant_id == self.tenant_id, SmsOutbound.id == outbound_id)
        )

    def outbound_by_provider_sid(self, provider_sid: str) -> SmsOutbound | None:
        return self.session.scalar(
            select(SmsOutbound)
            .where(SmsOutbound.tenant_id == self.tenant_id, SmsOutbound.provider_sid == provider_sid)
            .with_for_update()
        )

    def status_receipt(self, provider_sid: str, status: str) -> SmsStatusReceipt | None:
        return self.session.scalar(
            select(SmsStatusReceipt).where(
                SmsStatusReceipt.tenant_id == self.tenant_id,
                SmsStatusReceipt.provider_sid == provider_sid,
                SmsStatusReceipt.status == status,
            )
        )

    def unmatched_status_receipts(self, provider_sid: str) -> list[SmsStatusReceipt]:
        return list(
            self.session.scalars(
                select(SmsStatusReceipt)
                .where(
                    SmsStatusReceipt.tenant_id == self.tenant_id,
                    SmsStatusReceipt.provider_sid == provider_sid,
                    SmsStatusReceipt.outbound_id.is_(None),
                )
                .order_by(SmsStatusReceipt.id)
            )
        )
