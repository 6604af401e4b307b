"""The in-app channel's tables: the devices of app users, where reply notifications are pushed, and each
tenant's push-provider credentials."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cxstack.kit.orm import Base, TenantScoped


class InappDevice(TenantScoped, Base):
    """A device of an app user (a visitor of the in-app channel) with its push token."""

    __tablename__ = "inapp_devices"
    __table_args__ = (
        UniqueConstraint("tenant_id", "token"),
        Index("ix_inapp_devices_visitor", "tenant_id", "visitor_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    visitor_id: Mapped[str] = mapped_column(String(64))
    platform: Mapped[str] = mapped_column(String(16))
    #: The service that issued the token and pushes to it: ``apns`` or ``fcm``.
    provider: Mapped[str] = mapped_column(String(16))
    token: Mapped[str] = mapped_column(String(512))
    #: The app's bundle id or APNs topic the token belongs to; empty: the tenant's default topic.
    topic: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime]


class InappPushSettings(TenantScoped, Base):
    """A tenant's credentials at the push providers cxstack pushes to directly: FCM (Android and web
    tokens) and APNs (iOS tokens). The secrets are kept in clear because signing needs them; the API
    never returns them."""

    __tablename__ = "inapp_push_settings"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: Secret: the Google service-account key file (JSON) of the Firebase project; None: no FCM.
    fcm_service_account: Mapped[str | None] = mapped_column(Text)
    fcm_project_id: Mapped[str | None] = mapped_column(String(128))
    fcm_client_email: Mapped[str | None] = mapped_column(String(320))
    apns_key_id: Mapped[str | None] = mapped_column(String(16))
    apns_team_id: Mapped[str | None] = mapped_column(String(16))
    #: Secret: the APNs signing key (.p8, PEM); None: no APNs.
    apns_private_key: Mapped[str | None] = mapped_column(Text)
    #: The app's bundle id, the ``apns-topic`` of devices registered without one.
    apns_topic: Mapped[str | None] = mapped_column(String(255))
    #: Push to APNs' development endpoint (apps built for development).
    apns_sandbox: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
