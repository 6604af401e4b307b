"""Webchat operations: widget settings, visitors and who they are, their conversation, pre-chat contact
details, offline hand-over to email, and receipts.

Visitors are anonymous (a ``webchat_visitor`` identity on a customer of their own) until the company's
page signs them in. An anonymous visitor is only an id until they first write or identify (a message, an
upload, the pre-chat form, a sign-in): opening a page with the widget stores nothing, so a site's traffic
does not fill the record with empty customers. A verified user (hello with ``user_hash``) identifies at
once: ``user_hash`` = hex HMAC-SHA256 of ``user_id`` keyed with the tenant's identity secret
makes them the customer with the external identity ``app:<user_id>`` (an anonymous visitor who signs in
later keeps their chat: see ``sign_in``). The same applies to the in-app channel, whose visitors are the
company's signed-in app users.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.orm import Session

from cxstack.backbone.unit_of_work import Context, UnitOfWork
from cxstack.channels.webchat import repository
from cxstack.channels.webchat.hours import check_business_hours, is_open
from cxstack.channels.webchat.models import WebchatSettings, WebchatVisitor
from cxstack.channels.webchat.repository import WebchatRepository
from cxstack.channels.webchat.schemas import ChatDelivered, ChatRead, WebchatSettingsIn, WebchatSettingsOut
from cxstack.governance.audit.service import record_audit
from cxstack.kit.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from cxstack.kit.ids import new_id
from cxstack.records.conversations import service as conversations
from cxstack.records.conversations.schemas import (
    Attachment,
    ConversationCreate,
    ConversationUpdate,
    MessageOut,
    shown_to_customer,
)
from cxstack.records.customers import service as customers
from cxstack.records.customers.schemas import CustomerCreate, CustomerUpdate, IdentityIn
from cxstack.records.files import service as files

SOURCE = "cxstack/channels/webchat"
#: The external system of a company's own user ids (verified with ``user_hash``).
USER_SYSTEM = "app"
LiveChannel = Literal["webchat", "inapp"]
KEY_PREFIX = {"webchat": "wk_", "inapp": "ak_"}
IDENTITY_KIND = {"webchat": "webchat_visitor", "inapp": "inapp_user"}
DEFAULT_GREETING = "Hi! How can we help?"
DEFAULT_OFFLINE = "We're away right now. Leave your email and we'll answer there."
#: Messages sent to a visitor's socket when it comes back: the newest this many at most.
HISTORY_LIMIT = 200


class IdentityRejected(Forbidden):
    code = "identity_invalid"
    title = "Identity verification failed"


class PrechatRequired(DomainError):
    status = 422
    code = "prechat_required"
    title = "Pre-chat form required"


@dataclass(frozen=True, slots=True)
class WidgetConfig:
    """A tenant's widget settings as a socket uses them."""

    tenant_id: str
    channel: str
    widget_key: str
    identity_secret: str
    require_verified: bool
    greeting: str
    offline_message: str
    prechat: dict[str, str]
    business_hours: dict[str, Any]

    def online(self, at: datetime) -> bool:
        return is_open(self.business_hours, at)

    def missing_prechat(self, visitor: VisitorOut | None) -> list[str]:
        """The required pre-chat fields this visitor (None: one not stored yet) has not given."""
        given = {"name": visitor.name, "email": visitor.email} if visitor is not None else {}
        return [name for name, rule in self.prechat.items() if rule == "required" and not given.get(name)]


@dataclass(frozen=True, slots=True)
class VisitorOut:
    id: str
    tenant_id: str
    channel: str
    customer_id: str
    user_id: str | None
    conversation_id: str | None
    name: str | None
    email: str | None


def visitor_customer_id(session: Session, visitor: WebchatVisitor) -> str:
    """The customer a visitor's chats belong to now: the one it was created with, or the customer that one
    was merged into since (an agent merging an anonymous visitor into a known customer)."""
    return customers.current_customer_id(
        session, tenant_id=visitor.tenant_id, customer_id=visitor.customer_id
    )


def visitor_out(session: Session, visitor: WebchatVisitor, *, customer_id: str | None = None) -> VisitorOut:
    """Return a visitor row as the sockets and the API use it, with the customer it belongs to now
    (``customer_id`` where the caller has looked it up already)."""
    return VisitorOut(
        id=visitor.id,
        tenant_id=visitor.tenant_id,
        channel=visitor.channel,
        customer_id=customer_id or visitor_customer_id(session, visitor),
        user_id=visitor.user_id,
        conversation_id=visitor.conversation_id,
        name=visitor.name,
        email=visitor.email,
    )


def _config(row: WebchatSettings) -> WidgetConfig:
    return WidgetConfig(
        tenant_id=row.tenant_id,
        channel=row.channel,
        widget_key=row.widget_key,
        identity_secret=row.identity_secret,
        require_verified=row.require_verified,
        greeting=row.greeting,
        offline_message=row.offline_message,
        prechat=dict(row.prechat),
        business_hours=dict(row.business_hours),
    )


# -- settings ------------------------------------------------------------------------------------


def get_settings(session: Session, *, tenant_id: str, channel: LiveChannel) -> WebchatSettingsOut:
    """Return the tenant's settings of ``channel``; raises NotFound before the first write."""
    row = WebchatRepository(session, tenant_id).settings(channel)
    if row is None:
        raise NotFound(f"no {channel} settings yet: PUT them first", field="channel")
    return WebchatSettingsOut.model_validate(row)


def put_settings(
    uow: UnitOfWork, *, tenant_id: str, channel: LiveChannel, data: WebchatSettingsIn
) -> WebchatSettingsOut:
    """Create or change the tenant's settings of ``channel`` (a new one gets its public key and identity
    secret); return them. Raises ValidationFailed for bad business hours; records an audit entry."""
    hours = check_business_hours(data.business_hours) if data.business_hours is not None else None
    repo = WebchatRepository(uow.session, tenant_id)
    row = repo.settings(channel)
    now = uow.clock.now()
    if row is None:
        row = WebchatSettings(
            id=new_id("wcs"),
            tenant_id=tenant_id,
            channel=channel,
            widget_key=KEY_PREFIX[channel] + secrets.token_urlsafe(18),
            identity_secret=secrets.token_hex(32),
            require_verified=channel == "inapp",
            greeting=DEFAULT_GREETING,
            offline_message=DEFAULT_OFFLINE,
            prechat={"name": "off", "email": "off"},
            business_hours={},
            push_url=None,
            created_at=now,
            updated_at=now,
        )
        uow.session.add(row)
    if data.greeting is not None:
        row.greeting = data.greeting
    if data.offline_message is not None:
        row.offline_message = data.offline_message
    if data.prechat is not None:
        row.prechat = data.prechat.model_dump()
    if hours is not None:
        row.business_hours = hours
    if data.require_verified is not None:
        row.require_verified = data.require_verified
    if "push_url" in data.model_fields_set:
        row.push_url = data.push_url or None
    if data.rotate_secret:
        row.identity_secret = secrets.token_hex(32)
    row.updated_at = now
    record_audit(
        uow,
        tenant_id=tenant_id,
        action=f"{channel}.settings_changed",
        target_type=f"{channel}_settings",
        target_id=row.id,
        detail={"rotated_secret": data.rotate_secret},
    )
    uow.session.flush()
    return WebchatSettingsOut.model_validate(row)


def widget_config(session: Session, *, widget_key: str, channel: LiveChannel) -> WidgetConfig | None:
    """Return the settings behind a public widget (or app) key, or None for an unknown key."""
    row = repository.settings_by_key(session, widget_key)
    if row is None or row.channel != channel:
        return None
    return _config(row)


# -- visitors ------------------------------------------------------------------------------------


def user_hash(secret: str, user_id: str) -> str:
    """Return the hex HMAC-SHA256 of ``user_id`` keyed with ``secret`` (the company's server computes it)."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def identity_verified(config: WidgetConfig, *, user_id: str, presented_hash: str) -> bool:
    return hmac.compare_digest(user_hash(config.identity_secret, user_id), presented_hash.strip().lower())


def record_rejected_identity(
    uow: UnitOfWork, *, config: WidgetConfig, user_id: str | None, visitor_id: str | None, reason: str
) -> None:
    """Write the audit entry of a refused sign-in (a wrong ``user_hash``, or none where one is required)."""
    record_audit(
        uow,
        tenant_id=config.tenant_id,
        action=f"{config.channel}.identity_rejected",
        target_type=f"{config.channel}_visitor",
        target_id=(user_id or visitor_id or "unknown")[:32],  # the whole id is in the detail
        detail={"user_id": user_id, "visitor_id": visitor_id, "reason": reason},
    )


def _new_visitor(
    uow: UnitOfWork, config: WidgetConfig, *, customer_id: str, user_id: str | None, visitor_id: str
) -> WebchatVisitor:
    now = uow.clock.now()
    visitor = WebchatVisitor(
        id=visitor_id,
        tenant_id=config.tenant_id,
        channel=config.channel,
        customer_id=customer_id,
        user_id=user_id,
        conversation_id=None,
        name=None,
        email=None,
        open_sockets=0,
        socket_seen_at=None,
        created_at=now,
        last_seen_at=now,
    )
    uow.session.add(visitor)
    return visitor


def find_visitor(session: Session, *, tenant_id: str, visitor_id: str, channel: str) -> VisitorOut | None:
    """Return a visitor of the tenant's ``channel``, or None."""
    row = WebchatRepository(session, tenant_id).visitor(visitor_id, channel)
    return None if row is None else visitor_out(session, row)


def mark_sockets(uow: UnitOfWork, *, tenant_id: str, visitor_id: str, channel: str, change: int) -> None:
    """Count a socket of the visitor opened (``change`` 1) or closed (-1): who is reachable live."""
    visitor = WebchatRepository(uow.session, tenant_id).visitor(visitor_id, channel, for_update=True)
    if visitor is None:
        return
    visitor.open_sockets = max(0, visitor.open_sockets + change)
    visitor.socket_seen_at = uow.clock.now()


def check_attachments(
    session: Session, *, tenant_id: str, conversation_id: str | None, attachments: Sequence[Attachment]
) -> None:
    """Raise AttachmentUnknown (422, naming the attachment) unless each attachment is a file of the tenant
    uploaded for this conversation (or for none yet), or a link; checked before a conversation is started
    for a visitor's first message, so a refused one starts nothing."""
    files.resolve_attachments(
        session, tenant_id=tenant_id, conversation_id=conversation_id, attachments=attachments
    )


def find_user_visitor(session: Session, *, tenant_id: str, channel: str, user_id: str) -> VisitorOut | None:
    """Return the visitor of a verified user on ``channel``, or None before their first visit."""
    row = WebchatRepository(session, tenant_id).visitor_of_user(user_id, channel)
    return None if row is None else visitor_out(session, row)


_VISITOR_ID = re.compile(r"^v_[A-Za-z0-9_-]{32}$")


def new_visitor_id() -> str:
    return "v_" + secrets.token_urlsafe(24)


def visitor_id_free(session: Session, *, tenant_id: str, channel: str, visitor_id: str) -> bool:
    """Whether a new anonymous visitor may be stored under ``visitor_id``: it has the form of the ids
    ``new_visitor_id`` hands out (a welcome gave it before anything was stored), and no visitor or customer
    identity of the tenant has it (one signed in and taken over keeps its identity on the user)."""
    if not _VISITOR_ID.match(visitor_id):
        return False
    if WebchatRepository(session, tenant_id).visitor(visitor_id, channel) is not None:
        return False
    try:
        customers.lookup_customer(session, tenant_id=tenant_id, kind=IDENTITY_KIND[channel], value=visitor_id)
    except NotFound:
        return True
    return False


def open_visitor(
    uow: UnitOfWork, *, config: WidgetConfig, visitor_id: str | None, user_id: str | None
) -> VisitorOut:
    """Return the visitor a socket speaks for, stored: the verified user ``user_id`` (the customer with the
    external identity ``app:<user_id>``, created if new), else the known anonymous ``visitor_id``, else a
    new anonymous visitor with a customer of its own (stored under ``visitor_id`` when that is an id the
    widget was handed and nobody has it). The caller has verified ``user_id``; it calls this when the
    visitor first writes or identifies, never for merely opening the chat."""
    repo = WebchatRepository(uow.session, config.tenant_id)
    tenant_id = config.tenant_id
    if user_id is not None:
        found = repo.visitor_of_user(user_id, config.channel)
        if found is not None:
            return visitor_out(uow.session, found)
        try:
            customer_id = customers.lookup_customer(
                uow.session, tenant_id=tenant_id, kind="external", value=user_id, system=USER_SYSTEM
            ).id
        except NotFound:
            customer_id = customers.create_customer(
                uow,
                tenant_id=tenant_id,
                data=CustomerCreate(
                    identities=[IdentityIn(kind="external", system=USER_SYSTEM, value=user_id, verified=True)]
                ),
            ).id
        visitor = _new_visitor(
            uow, config, customer_id=customer_id, user_id=user_id, visitor_id=new_visitor_id()
        )
        uow.session.flush()
        return visitor_out(uow.session, visitor)
    fresh = new_visitor_id()
    if visitor_id is not None:
        known = repo.visitor(visitor_id, config.channel)
        if known is not None and known.user_id is None:
            return visitor_out(uow.session, known)
        if known is None and visitor_id_free(
            uow.session, tenant_id=tenant_id, channel=config.channel, visitor_id=visitor_id
        ):
            fresh = visitor_id
    visitor_id = fresh
    customer = customers.create_customer(
        uow,
        tenant_id=tenant_id,
        data=CustomerCreate(identities=[IdentityIn(kind=IDENTITY_KIND[config.channel], value=visitor_id)]),
    )
    visitor = _new_visitor(uow, config, customer_id=customer.id, user_id=None, visitor_id=visitor_id)
    uow.session.flush()
    return visitor_out(uow.session, visitor)


def ensure_conversation(uow: UnitOfWork, *, config: WidgetConfig, visitor_id: str) -> VisitorOut:
    """Return the visitor with a conversation to write to, starting one on the channel if it has none."""
    repo = WebchatRepository(uow.session, config.tenant_id)
    visitor = repo.visitor(visitor_id, config.channel, for_update=True)
    if visitor is None:
        raise NotFound(f"visitor {visitor_id} does not exist", field="visitor_id")
    customer_id = visitor_customer_id(uow.session, visitor)
    if visitor.conversation_id is None:
        conversation = conversations.create_conversation(
            uow,
            tenant_id=config.tenant_id,
            data=ConversationCreate(customer_id=customer_id, channel=config.channel),
        )
        visitor.conversation_id = conversation.id
        uow.session.flush()
    return visitor_out(uow.session, visitor, customer_id=customer_id)


def normalised_email(value: str) -> str:
    """Return ``value`` as the email address cxstack keeps; raises ValidationFailed naming ``email``."""
    try:
        result = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as error:
        raise ValidationFailed(f"{value!r} is not a valid email address: {error}", field="email") from None
    local, _, domain = result.normalized.rpartition("@")
    return f"{local.lower()}@{domain.lower()}"


def save_contact(
    uow: UnitOfWork,
    *,
    config: WidgetConfig,
    visitor_id: str,
    name: str | None,
    email: str | None,
    continue_by_email: bool,
) -> tuple[VisitorOut, bool]:
    """Keep the name and email a visitor gave (pre-chat form or offline form) on the visitor and their
    customer (the email becomes an email identity); with ``continue_by_email``, move the visitor's
    conversation to the email channel so that replies go out by email. Return the visitor and whether the
    conversation moved.

    An email that already identifies another customer is kept on the visitor and the conversation only
    (an anonymous visitor cannot take over a known customer). Raises ValidationFailed for a bad address.
    """
    repo = WebchatRepository(uow.session, config.tenant_id)
    visitor = repo.visitor(visitor_id, config.channel, for_update=True)
    if visitor is None:
        raise NotFound(f"visitor {visitor_id} does not exist", field="visitor_id")
    normalised = normalised_email(email) if email else None
    customer_id = visitor_customer_id(uow.session, visitor)
    if name:
        visitor.name = name
    if normalised:
        visitor.email = normalised
    try:
        with uow.session.begin_nested():
            customers.update_customer(
                uow,
                tenant_id=config.tenant_id,
                customer_id=customer_id,
                data=CustomerUpdate(name=name or None, email=normalised),
            )
    except Conflict:
        # The address is someone else's; the update rolled back to its savepoint.
        if name:
            with uow.session.begin_nested():
                customers.update_customer(
                    uow,
                    tenant_id=config.tenant_id,
                    customer_id=customer_id,
                    data=CustomerUpdate(name=name),
                )
    moved = False
    if visitor.conversation_id is not None:
        attributes: dict[str, Any] = {}
        if normalised:
            attributes["contact_email"] = normalised
        if name:
            attributes["contact_name"] = name
        update = ConversationUpdate(attributes=attributes or None)
        if continue_by_email and normalised:
            current = conversations.get_conversation(
                uow.session, tenant_id=config.tenant_id, conversation_id=visitor.conversation_id
            )
            if current.channel != "email":
                update = ConversationUpdate(attributes=attributes or None, channel="email")
                moved = True
        conversations.update_conversation(
            uow, tenant_id=config.tenant_id, conversation_id=visitor.conversation_id, data=update
        )
    uow.session.flush()
    return visitor_out(uow.session, visitor, customer_id=customer_id), moved


def history(session: Session, *, tenant_id: str, conversation_id: str, after: str | None) -> list[MessageOut]:
    """Return the messages of a conversation the customer sees (``shown_to_customer``: no internal ones)
    after the message ``after`` (all when None or unknown), oldest first, the newest ``HISTORY_LIMIT`` at
    most."""
    messages: list[MessageOut] = []
    cursor: str | None = None
    while True:
        page = conversations.list_messages(
            session, tenant_id=tenant_id, conversation_id=conversation_id, cursor=cursor, limit=200
        )
        messages.extend(message for message in page.items if shown_to_customer(message.visibility))
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    if after is not None:
        for index, message in enumerate(messages):
            if message.id == after:
                messages = messages[index + 1 :]
                break
    return messages[-HISTORY_LIMIT:]


# -- receipts ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReceiptPost:
    """One receipt for ``record_receipts``: ``kind`` ``delivered`` or ``read``, ``by`` visitor or agent."""

    tenant_id: str
    conversation_id: str
    message_id: str
    channel: str
    kind: str
    by: str
    actor: str


def record_receipts(
    uow: UnitOfWork, requests: Sequence[tuple[Context, ReceiptPost]]
) -> list[DomainError | None]:
    """Publish each receipt (``chat.delivered`` or ``chat.read``); return None for each, or the
    ValidationFailed of a receipt of an unknown kind. Many callers' receipts go in one transaction."""
    outcomes: list[DomainError | None] = []
    for context, receipt in requests:
        if receipt.kind not in ("delivered", "read"):
            outcomes.append(ValidationFailed(f"{receipt.kind!r} is not delivered or read", field="type"))
            continue
        uow.publish(
            (ChatDelivered if receipt.kind == "delivered" else ChatRead)(
                conversation_id=receipt.conversation_id,
                message_id=receipt.message_id,
                channel=receipt.channel,
                by=receipt.by,
                actor=receipt.actor,
            ),
            tenant_id=receipt.tenant_id,
            subject=receipt.conversation_id,
            source=SOURCE,
            context=context,
        )
        outcomes.append(None)
    return outcomes
