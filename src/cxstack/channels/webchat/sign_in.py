"""Signing in a visitor who chatted anonymously: the chat becomes the known customer's.

An anonymous visitor has a customer of their own (the ``webchat_visitor`` identity). When the company's
page signs them in (``user_id`` with a valid ``user_hash``, on a hello that also names their anonymous
``visitor_id``, or in an ``auth`` frame on the open socket):

- a customer with the external identity ``app:<user_id>`` exists: the anonymous customer is merged into it
  (``records.merges``: identities, conversations, cases and notes move; the merge is audited, published as
  ``customer.merged`` and can be undone);
- none does: the identity ``app:<user_id>`` (verified) is linked to the anonymous customer, who becomes
  the known one.

The visitor becomes the user's visitor and keeps the conversation they were in. Where the user already
has a visitor of this channel (they chatted signed in before), that visitor takes the conversation over
and the anonymous one is removed, so that its id (which sits in the browser) opens nothing any more.
"""

from __future__ import annotations

from dataclasses import dataclass

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.channels.webchat.models import WebchatVisitor
from cxstack.channels.webchat.repository import WebchatRepository
from cxstack.channels.webchat.service import (
    USER_SYSTEM,
    VisitorOut,
    WidgetConfig,
    visitor_customer_id,
    visitor_out,
)
from cxstack.governance.audit.service import record_audit
from cxstack.kit.errors import Conflict, NotFound
from cxstack.records.customers import service as customers
from cxstack.records.customers.schemas import IdentityIn
from cxstack.records.merges import service as merges


class AlreadySignedIn(Conflict):
    code = "already_signed_in"
    title = "Signed in as another user"


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A sign-in's outcome: the visitor now, the anonymous visitor it was, and the merge of the anonymous
    customer into the known one (None when the anonymous customer became the known one)."""

    visitor: VisitorOut
    anonymous_visitor_id: str
    merge_id: str | None


def sign_in_visitor(uow: UnitOfWork, *, config: WidgetConfig, visitor_id: str, user_id: str) -> SignedIn:
    """Make the anonymous visitor ``visitor_id`` the verified user ``user_id`` (the caller has checked the
    ``user_hash``), keeping their conversation; return the outcome.

    A visitor already signed in as ``user_id`` is returned as it is. An anonymous customer an agent merged
    into another customer meanwhile signs in as that one: it gets the identity, or is merged into the
    user's customer (nothing to merge when it is that customer already). Raises NotFound (no such
    visitor), AlreadySignedIn (signed in as another user), Conflict (a merge of either customer raced this
    one). Publishes ``customer.merged`` (known user) or ``identity.linked`` (new user); writes an audit
    entry.
    """
    tenant_id = config.tenant_id
    repo = WebchatRepository(uow.session, tenant_id)
    anonymous = repo.visitor(visitor_id, config.channel, for_update=True)
    if anonymous is None:
        raise NotFound(f"visitor {visitor_id} does not exist", field="visitor_id")
    if anonymous.user_id == user_id:
        return SignedIn(
            visitor=visitor_out(uow.session, anonymous), anonymous_visitor_id=visitor_id, merge_id=None
        )
    if anonymous.user_id is not None:
        raise AlreadySignedIn(
            "this visitor is signed in as another user: open a new chat to sign in as someone else",
            field="user_id",
        )
    # An agent may have merged the anonymous customer into another since: that one is signed in.
    anonymous_customer_id = visitor_customer_id(uow.session, anonymous)
    try:
        known_id: str | None = customers.lookup_customer(
            uow.session, tenant_id=tenant_id, kind="external", value=user_id, system=USER_SYSTEM
        ).id
    except NotFound:
        known_id = None
    merge_id: str | None = None
    if known_id is None:
        customers.link_identity(
            uow,
            tenant_id=tenant_id,
            customer_id=anonymous_customer_id,
            data=IdentityIn(kind="external", system=USER_SYSTEM, value=user_id, verified=True),
        )
        customer_id = anonymous_customer_id
    else:
        if known_id != anonymous_customer_id:
            merge_id = merges.merge_customers(
                uow,
                tenant_id=tenant_id,
                target_customer_id=known_id,
                source_customer_id=anonymous_customer_id,
            ).id
        customer_id = known_id
    existing = repo.visitor_of_user(user_id, config.channel)
    signed_in: WebchatVisitor
    if existing is None:
        anonymous.user_id = user_id
        anonymous.customer_id = customer_id
        signed_in = anonymous
    else:
        existing.customer_id = customer_id
        if anonymous.conversation_id is not None:
            existing.conversation_id = anonymous.conversation_id
        existing.name = existing.name or anonymous.name
        existing.email = existing.email or anonymous.email
        existing.last_seen_at = uow.clock.now()
        uow.session.delete(anonymous)
        signed_in = existing
    record_audit(
        uow,
        tenant_id=tenant_id,
        action=f"{config.channel}.visitor_signed_in",
        target_type="customer",
        target_id=customer_id,
        detail={
            "visitor_id": signed_in.id,
            "user_id": user_id,
            "anonymous_visitor_id": visitor_id,
            "customer_id": customer_id,
            "merge_id": merge_id,
            "conversation_id": signed_in.conversation_id,
        },
    )
    uow.session.flush()
    return SignedIn(
        visitor=visitor_out(uow.session, signed_in), anonymous_visitor_id=visitor_id, merge_id=merge_id
    )
