"""Tenant-scoped queries of the in-app channel's tables."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cxstack.channels.inapp.models import InappDevice, InappPushSettings


class InappRepository:
    def __init__(self, session: Session, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def devices_of(self, visitor_id: str) -> list[InappDevice]:
        """The visitor's devices, oldest registration first."""
        return list(
            self.session.scalars(
                select(InappDevice)
                .where(InappDevice.tenant_id == self.tenant_id, InappDevice.visitor_id == visitor_id)
                .order_by(InappDevice.created_at, InappDevice.id)
            )
        )

    def device(self, device_id: str) -> InappDevice | None:
        return self.session.scalars(
            select(InappDevice).where(InappDevice.tenant_id == self.tenant_id, InappDevice.id == device_id)
        ).first()

    def device_by_token(self, token: str) -> InappDevice | None:
        return self.session.scalars(
            select(InappDevice).where(InappDevice.tenant_id == self.tenant_id, InappDevice.token == token)
        ).first()

    def push_settings(self) -> InappPushSettings | None:
        return self.session.scalars(
            select(InappPushSettings).where(InappPushSettings.tenant_id == self.tenant_id)
        ).first()
