"""What the workspace's pages show that the server knows: who is signed in (with their tenant), how a
tenant's people may sign in, and the header of a conversation the person sees."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from cxstack.governance.staff.oidc import oidc_provider_of
from cxstack.governance.staff.service import get_user
from cxstack.governance.staff.sessions import SessionHolder, current_user
from cxstack.governance.tenants.service import find_tenant, get_tenant_by_slug
from cxstack.kit.errors import NotFound
from cxstack.records.conversations.schemas import ConversationOut
from cxstack.records.conversations.service import get_conversation
from cxstack.records.customers.service import get_customer


@dataclass(frozen=True, slots=True)
class SignedInHeader:
    """The workspace header of a signed-in person: their tenant, name and role, and the CSRF token the
    page's state-changing requests carry."""

    tenant_name: str
    tenant_slug: str
    user_id: str
    name: str
    email: str
    role: str
    csrf_token: str


@dataclass(frozen=True, slots=True)
class SignInOptions:
    """How people of a tenant may sign in: with a password always, through its OIDC provider when it has
    one (``oidc_start``: where that sign-in starts). ``tenant`` is the slug asked for, as typed."""

    tenant: str
    oidc_start: str | None


def header_of(session: Session, *, holder: SessionHolder) -> SignedInHeader:
    """Return the header of the person behind a valid session; raises Unauthorized when the user is gone."""
    signed_in = current_user(session, holder=holder)
    tenant = find_tenant(session, tenant=holder.tenant_id)
    return SignedInHeader(
        tenant_name=tenant.name,
        tenant_slug=tenant.slug,
        user_id=signed_in.user.id,
        name=signed_in.user.name,
        email=signed_in.user.email,
        role=signed_in.user.role,
        csrf_token=signed_in.csrf_token,
    )


def sign_in_options(session: Session, *, tenant: str | None, next_path: str) -> SignInOptions:
    """Return how people of the tenant with slug ``tenant`` sign in (an unknown slug or none: with a
    password, as for a tenant without OIDC, so that the page tells nobody which tenants exist)."""
    slug = (tenant or "").strip().lower()
    found = get_tenant_by_slug(session, slug=slug) if slug else None
    provider = oidc_provider_of(session, tenant_id=found.id) if found is not None else None
    start = f"/v1/auth/oidc/{found.slug}/start?next={next_path}" if found and provider else None
    return SignInOptions(tenant=slug, oidc_start=start)


@dataclass(frozen=True, slots=True)
class ConversationHeader:
    """The header of a conversation page: the conversation, its customer's name and who works on it
    (a person's name, "you" for the reader, or the assignee as stored when it names no one)."""

    conversation: ConversationOut
    customer_name: str
    assignee_name: str | None


def conversation_header(
    session: Session, *, holder: SessionHolder, conversation_id: str
) -> ConversationHeader:
    """Return the header of a conversation the person behind ``holder`` sees; raises NotFound for one they
    do not see exactly as for one that does not exist."""
    conversation = get_conversation(
        session, tenant_id=holder.tenant_id, conversation_id=conversation_id, visibility=holder.visibility
    )
    customer = get_customer(session, tenant_id=holder.tenant_id, customer_id=conversation.customer_id)
    customer_name = customer.name or customer.email or customer.phone or "Unnamed customer"
    return ConversationHeader(conversation, customer_name, _assignee_name(session, holder, conversation))


def _assignee_name(session: Session, holder: SessionHolder, conversation: ConversationOut) -> str | None:
    assignee = conversation.assignee
    if assignee is None or assignee == holder.user_id:
        return None if assignee is None else "you"
    try:
        return get_user(session, tenant_id=holder.tenant_id, user_id=assignee).name
    except NotFound:
        return assignee
