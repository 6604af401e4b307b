"""In-app operations: app users' devices, the tenant's push credentials, and queueing push notifications of
replies for users with no open socket (performed by the ``inapp.push`` effect after the queueing
transaction commits).

A device whose platform has a provider the tenant configured is pushed to directly, one effect per device
(``ios`` through APNs, ``android`` and ``web`` through FCM), so a retry resends to that device only. The
user's other devices go, in one effect per user, to the tenant's own push service (``push_url``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import orjson
import structlog
from sqlalchemy.orm import Session

from cxstack.backbone.effects import EffectFailed, EffectJob, Reader, enqueue_effect
from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.channels.inapp.models import InappDevice, InappPushSettings
from cxstack.channels.inapp.plugins.apns import check_signing_key
from cxstack.channels.inapp.plugins.base import (
    Device,
    DeviceUnregistered,
    PushNotification,
    PushProvider,
    PushRejected,
    PushResult,
)
from cxstack.channels.inapp.plugins.fcm import DEFAULT_TOKEN_URL, parse_service_account
from cxstack.channels.inapp.repository import InappRepository
from cxstack.channels.inapp.schemas import (
    MASKED,
    AppDevices,
    DeviceIn,
    DeviceOut,
    DeviceRemoved,
    PushFailed,
    PushSent,
    PushSettingsIn,
    PushSettingsOut,
)
from cxstack.channels.webchat.repository import WebchatRepository
from cxstack.channels.webchat.service import VisitorOut
from cxstack.governance.audit.service import record_audit
from cxstack.kit.errors import ValidationFailed
from cxstack.kit.ids import new_id
from cxstack.records.conversations.schemas import MessageSent, shown_to_customer

log = structlog.get_logger("cxstack.inapp")

SOURCE = "cxstack/channels/inapp"
PUSH_EFFECT = "inapp.push"
#: A socket count older than this is not trusted (a process that died never counted its sockets down).
PRESENCE_TTL = timedelta(hours=12)
#: The most characters of a reply a notification shows.
PREVIEW_CHARS = 160
#: The service that issues a platform's push tokens unless the app says otherwise (an iOS app using Firebase
#: Cloud Messaging registers FCM tokens).
PLATFORM_PROVIDERS = {"ios": "apns", "android": "fcm", "web": "fcm"}
#: ``EffectFailed.code`` of a push whose device token the provider declared dead.
DEVICE_UNREGISTERED = "device_unregistered"


# -- devices ---------------------------------------------------------------------------------------


def register_device(uow: UnitOfWork, *, visitor: VisitorOut, data: DeviceIn) -> DeviceOut:
    """Keep a device's push token for the app user and return it; registering it again changes nothing
    else (a token moves to the user who registers it last)."""
    repo = InappRepository(uow.session, visitor.tenant_id)
    provider = data.provider or PLATFORM_PROVIDERS[data.platform]
    device = repo.device_by_token(data.token)
    if device is None:
        device = InappDevice(
            id=new_id("dev"),
            tenant_id=visitor.tenant_id,
            visitor_id=visitor.id,
            platform=data.platform,
            provider=provider,
            token=data.token,
            topic=data.topic or "",
            created_at=uow.clock.now(),
        )
        uow.session.add(device)
    else:
        device.visitor_id = visitor.id
        device.platform = data.platform
        device.provider = provider
        if data.topic is not None:
            device.topic = data.topic
    uow.session.flush()
    return DeviceOut.model_validate(device)


def unregister_device(uow: UnitOfWork, *, visitor: VisitorOut, token: str) -> bool:
    """Forget the app user's device with ``token``; return whether it was theirs (another user's device,
    or none, is left as it is)."""
    device = InappRepository(uow.session, visitor.tenant_id).device_by_token(token)
    if device is None or device.visitor_id != visitor.id:
        return False
    uow.session.delete(device)
    uow.session.flush()
    return True


def list_devices(session: Session, *, visitor: VisitorOut) -> AppDevices:
    """Return the app user's devices, oldest first."""
    devices = InappRepository(session, visitor.tenant_id).devices_of(visitor.id)
    return AppDevices(data=[DeviceOut.model_validate(device) for device in devices])


# -- push settings ---------------------------------------------------------------------------------


def _settings_out(row: InappPushSettings | None) -> PushSettingsOut:
    if row is None:
        return PushSettingsOut(
            fcm_service_account=None,
            fcm_project_id=None,
            fcm_client_email=None,
            apns_key_id=None,
            apns_team_id=None,
            apns_private_key=None,
            apns_topic=None,
            apns_sandbox=False,
            updated_at=None,
        )
    return PushSettingsOut(
        fcm_service_account=MASKED if row.fcm_service_account else None,
        fcm_project_id=row.fcm_project_id,
        fcm_client_email=row.fcm_client_email,
        apns_key_id=row.apns_key_id,
        apns_team_id=row.apns_team_id,
        apns_private_key=MASKED if row.apns_private_key else None,
        apns_topic=row.apns_topic,
        apns_sandbox=row.apns_sandbox,
        updated_at=row.updated_at,
    )


def get_push_settings(session: Session, *, tenant_id: str) -> PushSettingsOut:
    """Return the tenant's push settings, secrets masked (all empty before the first write)."""
    return _settings_out(InappRepository(session, tenant_id).push_settings())


def put_push_settings(
    uow: UnitOfWork, *, tenant_id: str, data: PushSettingsIn, token_url: str = DEFAULT_TOKEN_URL
) -> PushSettingsOut:
    """Create or change the tenant's push settings (fields left out keep their value; null removes one)
    and return them, secrets masked. Raises ValidationFailed naming the field for a service account that
    is not one (or names a token endpoint other than ``token_url``), a key that does not parse, or an APNs
    key without its key id and team id; nothing is written then. Records an audit entry naming the fields
    changed."""
    given = data.model_fields_set
    service_account: str | None = None
    account = None
    if "fcm_service_account" in given and data.fcm_service_account is not None:
        raw = data.fcm_service_account
        service_account = raw if isinstance(raw, str) else orjson.dumps(raw).decode()
        try:
            account = parse_service_account(service_account, token_url=token_url)
        except ValueError as error:
            raise ValidationFailed(str(error), field="fcm_service_account") from None
    if "apns_private_key" in given and data.apns_private_key is not None:
        try:
            check_signing_key(data.apns_private_key)
        except ValueError as error:
            raise ValidationFailed(str(error), field="apns_private_key") from None
    repo = InappRepository(uow.session, tenant_id)
    row = repo.push_settings()
    now = uow.clock.now()
    if row is None:
        row = InappPushSettings(
            id=new_id("ips"),
            tenant_id=tenant_id,
            fcm_service_account=None,
            fcm_project_id=None,
            fcm_client_email=None,
            apns_key_id=None,
            apns_team_id=None,
            apns_private_key=None,
            apns_topic=None,
            apns_sandbox=False,
            created_at=now,
            updated_at=now,
        )
        uow.session.add(row)
    if "fcm_service_account" in given:
        row.fcm_service_account = service_account
        row.fcm_project_id = account.project_id if account else None
        row.fcm_client_email = account.client_email if account else None
    for name in ("apns_key_id", "apns_team_id", "apns_private_key", "apns_topic"):
        if name in given:
            setattr(row, name, getattr(data, name) or None)
    if data.apns_sandbox is not None:
        row.apns_sandbox = data.apns_sandbox
    if row.apns_private_key and not (row.apns_key_id and row.apns_team_id):
        missing = "apns_key_id" if not row.apns_key_id else "apns_team_id"
        raise ValidationFailed(f"an APNs key needs its {missing}", field=missing)
    row.updated_at = now
    record_audit(
        uow,
        tenant_id=tenant_id,
        action="inapp.push_settings_changed",
        target_type="inapp_push_settings",
        target_id=row.id,
        detail={"fields": sorted(given)},
    )
    uow.session.flush()
    return _settings_out(row)


def provider_credentials(row: InappPushSettings | None) -> dict[str, dict[str, str]]:
    """Return the credentials of each direct provider the tenant configured, by provider name."""
    found: dict[str, dict[str, str]] = {}
    if row is None:
        return found
    if row.fcm_service_account:
        found["fcm"] = {"service_account": row.fcm_service_account}
    if row.apns_private_key and row.apns_key_id and row.apns_team_id:
        found["apns"] = {
            "key_id": row.apns_key_id,
            "team_id": row.apns_team_id,
            "private_key": row.apns_private_key,
            "topic": row.apns_topic or "",
            "sandbox": "true" if row.apns_sandbox else "false",
        }
    return found


# -- queueing and performing pushes ----------------------------------------------------------------


def queue_pushes(uow: UnitOfWork, *, tenant_id: str, message: MessageSent) -> int:
    """Queue pushes of an outbound in-app message for each of the conversation's app users who has no
    socket open: one per device whose platform's provider the tenant configured, and one for the user's
    other devices when the tenant has a push URL. Return how many were queued (a redelivered event queues
    none again)."""
    if (
        message.channel != "inapp"
        or message.direction != "outbound"
        or not shown_to_customer(message.visibility)
    ):
        return 0
    repo = WebchatRepository(uow.session, tenant_id)
    settings = repo.settings("inapp")
    if settings is None:
        return 0
    inapp = InappRepository(uow.session, tenant_id)
    direct = provider_credentials(inapp.push_settings())
    if not direct and not settings.push_url:
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
        devices = [] if live else inapp.devices_of(visitor.id)
        base = {
            "conversation_id": message.conversation_id,
            "message_id": message.message_id,
            "visitor_id": visitor.id,
            "user_id": visitor.user_id,
            "body": message.body[:PREVIEW_CHARS],
        }
        others: list[str] = []
        for device in devices:
            provider = device.provider
            if provider not in direct:
                others.append(device.id)
                continue
            queued += enqueue_effect(
                uow,
                tenant_id=tenant_id,
                kind=PUSH_EFFECT,
                key=f"{message.message_id}:{device.id}",
                payload={**base, "device_id": device.id, "provider": provider},
            )
        if others and settings.push_url:
            queued += enqueue_effect(
                uow,
                tenant_id=tenant_id,
                kind=PUSH_EFFECT,
                key=f"{message.message_id}:{visitor.id}",
                payload={**base, "device_ids": others},
            )
    return queued


def _device(row: InappDevice) -> Device:
    return Device(platform=row.platform, token=row.token, provider=row.provider, topic=row.topic, id=row.id)


class PushSender:
    """Performs ``inapp.push`` effects: with ``direct[name]`` for a device queued for provider ``name``,
    else with ``provider`` (the tenant's own push service) for a user's devices.

    A provider's ``429``/``5xx`` raises PushUnavailable, which the effect runner retries with its backoff,
    and not before the provider's ``Retry-After`` when it sent one.
    A dead device token fails the effect with ``DEVICE_UNREGISTERED``, and ``on_failed`` forgets the
    device and publishes ``inapp.device_removed``."""

    def __init__(self, provider: PushProvider, *, direct: Mapping[str, PushProvider] | None = None) -> None:
        self.provider = provider
        self.direct = dict(direct or {})

    async def aclose(self) -> None:
        """Close the providers' connections (the process is stopping)."""
        for provider in (self.provider, *self.direct.values()):
            await provider.aclose()

    def _notification(self, job: EffectJob, devices: tuple[Device, ...], **extra: Any) -> PushNotification:
        payload = job.payload
        return PushNotification(
            tenant_id=job.tenant_id,
            user_id=payload["user_id"],
            conversation_id=payload["conversation_id"],
            message_id=payload["message_id"],
            title="New reply",
            body=payload["body"],
            devices=devices,
            **extra,
        )

    async def perform(self, job: EffectJob, read: Reader) -> dict[str, Any]:
        if "device_id" in job.payload:
            return await self._perform_direct(job, read)
        payload = job.payload
        wanted = set(payload["device_ids"]) if "device_ids" in payload else None

        def load(session: Session) -> tuple[str | None, str, list[Device]]:
            settings = WebchatRepository(session, job.tenant_id).settings("inapp")
            devices = [
                _device(d)
                for d in InappRepository(session, job.tenant_id).devices_of(payload["visitor_id"])
                if wanted is None or d.id in wanted
            ]
            if settings is None:
                return None, "", devices
            return settings.push_url, settings.identity_secret, devices

        push_url, key, devices = await read(load)
        if not devices:
            raise EffectFailed("the user has no device any more")
        notification = self._notification(job, tuple(devices), push_url=push_url, signing_key=key)
        result = await _send(self.provider, notification)
        return {
            "provider_id": result.provider_id,
            "devices": result.delivered_to,
            "provider": self.provider.name,
        }

    async def _perform_direct(self, job: EffectJob, read: Reader) -> dict[str, Any]:
        payload = job.payload
        name = str(payload["provider"])

        def load(session: Session) -> tuple[Device | None, dict[str, str] | None]:
            inapp = InappRepository(session, job.tenant_id)
            row = inapp.device(payload["device_id"])
            device = _device(row) if row is not None and row.visitor_id == payload["visitor_id"] else None
            return device, provider_credentials(inapp.push_settings()).get(name)

        device, credentials = await read(load)
        provider = self.direct.get(name)
        if device is None:
            raise EffectFailed("the device is no longer registered")
        if provider is None:
            raise EffectFailed(f"this process has no {name} push provider")
        if credentials is None:
            raise EffectFailed(f"the tenant's {name} push settings were removed")
        result = await _send(provider, self._notification(job, (device,), credentials=credentials))
        return {"provider_id": result.provider_id, "devices": result.delivered_to, "provider": name}

    def on_done(self, uow: UnitOfWork, job: EffectJob, result: dict[str, Any]) -> None:
        uow.publish(
            PushSent(
                conversation_id=job.payload["conversation_id"],
                message_id=job.payload["message_id"],
                user_id=job.payload["user_id"],
                devices=int(result.get("devices", 0)),
                provider=str(result.get("provider", self.provider.name)),
            ),
            tenant_id=job.tenant_id,
            subject=job.payload["conversation_id"],
            source=SOURCE,
        )

    def on_failed(self, uow: UnitOfWork, job: EffectJob, failure: EffectFailed) -> None:
        if failure.code == DEVICE_UNREGISTERED:
            _forget_device(uow, job, failure.details)
        uow.publish(
            PushFailed(
                conversation_id=job.payload["conversation_id"],
                message_id=job.payload["message_id"],
                user_id=job.payload["user_id"],
                reason=str(failure),
            ),
            tenant_id=job.tenant_id,
            subject=job.payload["conversation_id"],
            source=SOURCE,
        )


async def _send(provider: PushProvider, notification: PushNotification) -> PushResult:
    """Send with ``provider``; a refusal for good becomes EffectFailed (with the dead device's details)."""
    try:
        return await provider.send(notification)
    except DeviceUnregistered as gone:
        raise EffectFailed(
            str(gone),
            code=DEVICE_UNREGISTERED,
            details={"device_id": gone.device.id, "token": gone.device.token, "reason": gone.reason},
        ) from None
    except PushRejected as rejected:
        raise EffectFailed(str(rejected)) from None


def _forget_device(uow: UnitOfWork, job: EffectJob, details: dict[str, Any]) -> None:
    repo = InappRepository(uow.session, job.tenant_id)
    device = repo.device(str(details.get("device_id", "")))
    if device is None or device.token != details.get("token"):
        return
    uow.session.delete(device)
    uow.session.flush()
    log.info(
        "inapp device token removed",
        tenant_id=job.tenant_id,
        device_id=device.id,
        platform=device.platform,
        reason=details.get("reason"),
    )
    uow.publish(
        DeviceRemoved(
            user_id=job.payload["user_id"],
            platform=device.platform,
            token_suffix=device.token[-6:],
            reason=str(details.get("reason", "")),
        ),
        tenant_id=job.tenant_id,
        subject=job.payload["conversation_id"],
        source=SOURCE,
    )
