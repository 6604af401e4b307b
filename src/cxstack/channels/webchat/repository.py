"""Webchat queries; every one is scoped to a tenant, but the widget-key look-up that finds the tenant."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cxstack.channels.webchat.models import WebchatSettings, WebchatVisitor


def settings_by_key(session: Session, widget_key: str) -> WebchatSettings | None:
    """Return the settings a public widget (or app) key names, of whichever tenant."""
    return session.scalars(select(WebchatSettings).where(WebchatSettings.widget_key == widget_key)).first()


class WebchatRepository:
    def __init__(self, session: Session, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def settings(self, channel: str) -> WebchatSettings | None:
        return self.session.scalars(
            select(WebchatSettings).where(
                WebchatSettings.tenant_id == self.tenant_id, WebchatSettings.channel == channel
            )
        ).first()

    def visitor(self, visitor_id: str, channel: str, *, for_update: bool = False) -> WebchatVisitor | None:
        query = select(WebchatVisitor).where(
            WebchatVisitor.tenant_id == self.tenant_id,
            WebchatVisitor.id == visitor_id,
            WebchatVisitor.channel == channel,
        )
        if for_update:
            query = query.with_for_update()
        return self.session.scalars(query).first()

    def visitor_of_user(self, user_id: str, channel: str) -> WebchatVisitor | None:
        return self.session.scalars(
            select(WebchatVisitor).where(
                WebchatVisitor.tenant_id == self.tenant_id,
                WebchatVisitor.channel == channel,
                WebchatVisitor.user_id == user_id,
            )
        ).first()

    def visitors_of_conversation(self, conversation_id: str) -> list[WebchatVisitor]:
        return list(
            self.session.scalars(
                select(WebchatVisitor).where(
                    WebchatVisitor.tenant_id == self.tenant_id,
                    WebchatVisitor.conversation_id == conversation_id,
                )
            )
        )
