"""In-app operations: app users' devices, and queueing push notifications of replies for users with no
open socket (performed by the ``inapp.push`` effect after the queueing transaction commits)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cxstack.backbone.effects import EffectFailed, EffectJob, Reader, enqueue_effect
from cxstack.backbone.ids import new_id
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.channels.inapp.models import InappDevice
from cxstack.channels.inapp.plugins.base import Device, PushNotification, PushProvider, PushRejected
from cxstack.channels.inapp.schemas import DeviceIn, PushFailed, PushSent
from cxstack.channels.webchat.repository import WebchatRepository
from cxstack.channels.webchat.service import VisitorOut
from cxstack.records.conversations.schemas import MessageSent

SOURCE = "cxstack/channels/inapp"
PUSH_EFFECT = "inapp.push"
#: A socket count older than this is not trusted (a process that died never counted its sockets down).
PRESENCE_TTL = timedelta(hours=12)
#: The most characters of a reply a notification shows.
PREVIEW_CHARS = 160


def register_device(uow: UnitOfWork, *, visitor: VisitorOut, data: DeviceIn) -> None:
    """Keep a device's push token for the app user (a token moves to the user who registers it last)."""
    existing = uow.session.scalars(
        select(InappDevice).where(InappDevice.tenant_id == visitor.tenant_id, InappDevice.token == data.token)
    ).first()
    if existing is not None:
        existing.visitor_id = visitor.id
        existing.platform = data.platform
        return
    uow.session.add(
        InappDevice(
            id=new_id("dev"),
            tenant_id=visitor.tenant_id,
            visitor_id=visitor.id,
            platform=data.platform,
            token=data.token,
            created_at=uow.clock.now(),
        )
    )


def _devices(session: Session, tenant_id: str, visitor_id: str) -> list[InappDevice]:
    return list(
        session.scalars(
            select(InappDevice)
            .where(InappDevice.tenant_id == tenant_id, InappDevice.visitor_id == visitor_id)
            .order_by(InappDevice.id)
        )
    )


def queue_pushes(uow: UnitOfWork, *, tenant_id: str, message: MessageSent) -> int:
    """Queue a push of an outbound in-app message to each of the conversation's app users who has no socket
    open, has a device, and whose tenant has a push URL; return how many were queued (a redelivered event
    queues none again)."""
    if message.channel != "inapp" or message.direction != "outbound":
        return 0
    repo = WebchatRepository(uow.session, tenant_id)
    settings = repo.settings("inapp")
    if settings is None or not settings.push_url:
        return 0
    now = uow.clock.now()
    queued = 0
    for visitor in repo.visitors_of_conversation(message.conversation_id):
        if visitor.channel != "inapp" or visitor.user_id is None:
            continue
        live = (
            visitor.open_sockets > 0
            and visitor.socket_seen_at is not None
            and visitor.socket_seen_at > now - PRESENCE_TTL
        )
        if live or not _devices(uow.session, tenant_id, visitor.id):
            continue
        queued += enqueue_effect(
            uow,
            tenant_id=tenant_id,
            kind=PUSH_EFFECT,
            key=f"{message.message_id}:{visitor.id}",
            payload={
                "conversation_id": message.conversation_id,
                "message_id": message.message_id,
                "visitor_id": visitor.id,
                "user_id": visitor.user_id,
                "body": message.body[:PREVIEW_CHARS],
            },
        )
    return queued


class PushSender:
    """Performs ``inapp.push`` effects with a provider plugin."""

    def __init__(self, provider: PushProvider) -> None:
        self.provider = provider

    async def perform(self, job: EffectJob, read: Reader) -> dict[str, Any]:
        payload = job.payload

        def load(session: Session) -> tuple[str | None, str, list[Device]]:
            settings = WebchatRepository(session, job.tenant_id).settings("inapp")
            devices = [
                Device(platform=d.platform, token=d.token)
                for d in _devices(session, job.tenant_id, payload["visitor_id"])
            ]
            if settings is None:
                return None, "", devices
            return settings.push_url, settings.identity_secret, devices

        push_url, key, devices = await read(load)
        if not devices:
            raise EffectFailed("the user has no device any more")
        try:
            result = await self.provider.send(
                PushNotification(
                    tenant_id=job.tenant_id,
                    user_id=payload["user_id"],
                    conversation_id=payload["conversation_id"],
                    message_id=payload["message_id"],
                    title="New reply",
                    body=payload["body"],
                    devices=tuple(devices),
                    push_url=push_url,
                    signing_key=key,
                )
            )
        except PushRejected as rejected:
            raise EffectFailed(str(rejected)) from None
        return {"provider_id": result.provider_id, "devices": result.delivered_to}

    def on_done(self, uow: UnitOfWork, job: EffectJob, result: dict[str, Any]) -> None:
        uow.publish(
            "inapp.push_sent",
            tenant_id=job.tenant_id,
            subject=job.payload["conversation_id"],
            source=SOURCE,
            data=PushSent(
                conversation_id=job.payload["conversation_id"],
                message_id=job.payload["message_id"],
                user_id=job.payload["user_id"],
                devices=int(result.get("devices", 0)),
                provider=self.provider.name,
            ),
        )

    def on_failed(self, uow: UnitOfWork, job: EffectJob, failure: EffectFailed) -> None:
        uow.publish(
            "inapp.push_failed",
            tenant_id=job.tenant_id,
            subject=job.payload["conversation_id"],
            source=SOURCE,
            data=PushFailed(
                conversation_id=job.payload["conversation_id"],
                message_id=job.payload["message_id"],
                user_id=job.payload["user_id"],
                reason=str(failure),
            ),
        )
