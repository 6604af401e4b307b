"""Email channel operations: manage the inboxes that receive a tenant's mail, and find the inbox of an
address. Inbound email is taken in by ``intake`` (one email is a batch of one); replies go
out through ``replies``."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.orm import Session

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.channels.email.models import EmailInbox
from cxstack.channels.email.repository import EmailRepository, inbox_by_address
from cxstack.channels.email.schemas import InboxCreate, InboxCreated, InboxDeleted, InboxOut
from cxstack.kit.errors import Conflict, DomainError, ValidationFailed
from cxstack.kit.ids import new_id
from cxstack.kit.pagination import Page

SOURCE = "cxstack/channels/email"


class EmailTooLarge(DomainError):
    status = 413
    code = "email_too_large"
    title = "Email too large"


class UnknownRecipient(DomainError):
    """No inbox receives mail at the address. 406: inbound-parse providers (Mailgun) do not retry it."""

    status = 406
    code = "unknown_recipient"
    title = "Unknown recipient"


# -- inboxes ---------------------------------------------------------------------------------------


def normalise_inbox_address(address: str, *, field: str = "address") -> str:
    """Return an inbox address lower-cased; raises ValidationFailed for an invalid one or one with ``+``."""
    try:
        valid = validate_email(address.strip(), check_deliverability=False)
    except EmailNotValidError as error:
        raise ValidationFailed(f"{address!r} is not a valid email address: {error}", field=field) from None
    normalised = valid.normalized.lower()
    if "+" in normalised.split("@", 1)[0]:
        raise ValidationFailed(
            "an inbox address cannot contain '+': cxstack puts the reply token after it", field=field
        )
    return normalised


def _inbox_out(inbox: EmailInbox) -> InboxOut:
    return InboxOut(
        id=inbox.id,
        address=inbox.address,
        name=inbox.name,
        has_signing_key=inbox.signing_key is not None,
        created_at=inbox.created_at,
    )


def create_inbox(uow: UnitOfWork, *, tenant_id: str, data: InboxCreate) -> InboxOut:
    """Receive mail for the tenant at an address; raises ValidationFailed, Conflict (the address is taken,
    by this tenant or another). Publishes ``email_inbox.created``."""
    address = normalise_inbox_address(data.address)
    if inbox_by_address(uow.session, address) is not None:
        raise Conflict(f"{address} is already an inbox", field="address")
    inbox = EmailInbox(
        id=new_id("ibx"),
        tenant_id=tenant_id,
        address=address,
        name=data.name,
        signing_key=data.signing_key,
        created_at=uow.clock.now(),
    )
    uow.session.add(inbox)
    uow.session.flush()
    uow.publish(
        InboxCreated(inbox_id=inbox.id, address=address), tenant_id=tenant_id, subject=inbox.id, source=SOURCE
    )
    return _inbox_out(inbox)


def get_inbox(session: Session, *, tenant_id: str, inbox_id: str) -> InboxOut:
    """Return an inbox; raises NotFound (also for another tenant's)."""
    return _inbox_out(EmailRepository(session, tenant_id).get_inbox(inbox_id))


def list_inboxes(session: Session, *, tenant_id: str, cursor: str | None, limit: int) -> Page[InboxOut]:
    """Return a page of the tenant's inboxes, oldest first."""
    page = EmailRepository(session, tenant_id).inboxes_page(cursor=cursor, limit=limit)
    return Page(items=[_inbox_out(inbox) for inbox in page.items], next_cursor=page.next_cursor)


def delete_inbox(uow: UnitOfWork, *, tenant_id: str, inbox_id: str) -> None:
    """Stop receiving mail at an inbox's address; raises NotFound. Publishes ``email_inbox.deleted``."""
    inbox = EmailRepository(uow.session, tenant_id).get_inbox(inbox_id)
    uow.session.delete(inbox)
    uow.publish(
        InboxDeleted(inbox_id=inbox.id, address=inbox.address),
        tenant_id=tenant_id,
        subject=inbox.id,
        source=SOURCE,
    )


def find_inbox(session: Session, *, address: str) -> tuple[str, str, str | None] | None:
    """Return ``(tenant_id, inbox_id, signing_key)`` of the inbox at ``address`` (its ``+tag`` ignored)."""
    local, _, domain = address.strip().lower().rpartition("@")
    inbox = inbox_by_address(session, f"{local.partition('+')[0]}@{domain}")
    return None if inbox is None else (inbox.tenant_id, inbox.id, inbox.signing_key)
