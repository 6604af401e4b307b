"""Tags: naming them, putting them on customers, conversations and cases, and taking them off.

A tag name is normalised to lowercase and is 1-64 ASCII letters, digits or ``- _ : /`` (``vip``,
``billing/refund``, ``tier:gold``). Putting a tag on a target creates the tag if the tenant does not have
it yet. Adding a tag a target already has, or removing one it does not have, changes nothing.
The target (a customer, conversation or case) must exist in the tenant.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy.orm import Session

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.kit.errors import NotFound, ValidationFailed
from cxstack.kit.ids import new_id
from cxstack.kit.pagination import Page
from cxstack.records.cases.repository import CaseRepository
from cxstack.records.conversations.repository import ConversationRepository
from cxstack.records.customers.repository import CustomerRepository
from cxstack.records.tags.models import Tag, Tagging
from cxstack.records.tags.repository import TagRepository
from cxstack.records.tags.schemas import TARGET_TYPES, TagAdded, TagOut, TagRemoved, TargetTagsOut

SOURCE = "cxstack/records"
_TAG_NAME = re.compile(r"^[a-z0-9_:/-]{1,64}$")


def normalise_tag(name: str, *, field: str = "tag") -> str:
    """Return the tag name lowercased; raises ValidationFailed for a name that is not a tag name."""
    normalised = name.strip().lower()
    if not _TAG_NAME.match(normalised):
        raise ValidationFailed(
            f"{name!r} is not a tag name: use 1-64 letters, digits, '-', '_', ':' or '/'", field=field
        )
    return normalised


def require_target(
    session: Session, *, tenant_id: str, target_type: str, target_id: str, field: str | None = None
) -> None:
    """Check that a tag or note target exists.

    Raises NotFound for an unknown (or another tenant's) customer, case or conversation, naming ``field``
    (by default ``customer_id``, ``case_id`` or ``conversation_id``), and ValidationFailed for an unknown
    target type.
    """
    if target_type == "customer":
        found = CustomerRepository(session, tenant_id).find(target_id) is not None
    elif target_type == "case":
        found = CaseRepository(session, tenant_id).find(target_id) is not None
    elif target_type == "conversation":
        found = ConversationRepository(session, tenant_id).find(target_id) is not None
    else:
        raise ValidationFailed(
            f"target type {target_type!r} is not one of {', '.join(TARGET_TYPES)}", field="target_type"
        )
    if not found:
        raise NotFound(f"{target_type} {target_id} does not exist", field=field or f"{target_type}_id")


def _tags_out(session: Session, *, tenant_id: str, target_type: str, target_id: str) -> TargetTagsOut:
    tags = TagRepository(session, tenant_id).tags_of(target_type=target_type, target_ids=[target_id])
    return TargetTagsOut(
        target_type=target_type,
        target_id=target_id,
        tags=[TagOut.model_validate(tag) for tag in tags[target_id]],
    )


def _get_or_create(uow: UnitOfWork, repo: TagRepository, name: str) -> Tag:
    tag = repo.find_by_name(name)
    if tag is None:
        tag = Tag(
            id=new_id("tag"), tenant_id=repo.tenant_id, name=name, colour=None, created_at=uow.clock.now()
        )
        uow.session.add(tag)
    return tag


def add_tag(uow: UnitOfWork, *, tenant_id: str, target_type: str, target_id: str, tag: str) -> TargetTagsOut:
    """Put ``tag`` on a target (creating the tag if new) and return the target's tags.

    Raises ValidationFailed, NotFound. Publishes ``tag.added`` unless the target had the tag already.
    """
    name = normalise_tag(tag)
    require_target(uow.session, tenant_id=tenant_id, target_type=target_type, target_id=target_id)
    repo = TagRepository(uow.session, tenant_id)
    found = _get_or_create(uow, repo, name)
    if repo.find_tagging(tag_id=found.id, target_type=target_type, target_id=target_id) is None:
        uow.session.add(
            Tagging(
                tenant_id=tenant_id,
                tag_id=found.id,
                target_type=target_type,
                target_id=target_id,
                created_at=uow.clock.now(),
            )
        )
        uow.publish(
            TagAdded(tag_id=found.id, tag=name, target_type=target_type, target_id=target_id),
            tenant_id=tenant_id,
            subject=target_id,
            source=SOURCE,
        )
    uow.session.flush()
    return _tags_out(uow.session, tenant_id=tenant_id, target_type=target_type, target_id=target_id)


def remove_tag(uow: UnitOfWork, *, tenant_id: str, target_type: str, target_id: str, tag: str) -> None:
    """Take ``tag`` off a target; raises ValidationFailed, NotFound.

    Publishes ``tag.removed`` if the target had the tag.
    """
    name = normalise_tag(tag)
    require_target(uow.session, tenant_id=tenant_id, target_type=target_type, target_id=target_id)
    repo = TagRepository(uow.session, tenant_id)
    found = repo.find_by_name(name)
    if found is None:
        return
    tagging = repo.find_tagging(tag_id=found.id, target_type=target_type, target_id=target_id)
    if tagging is None:
        return
    uow.session.delete(tagging)
    uow.publish(
        TagRemoved(tag_id=found.id, tag=name, target_type=target_type, target_id=target_id),
        tenant_id=tenant_id,
        subject=target_id,
        source=SOURCE,
    )


def target_tags(session: Session, *, tenant_id: str, target_type: str, target_id: str) -> TargetTagsOut:
    """Return the tags on a target, by name; raises ValidationFailed, NotFound."""
    require_target(session, tenant_id=tenant_id, target_type=target_type, target_id=target_id)
    return _tags_out(session, tenant_id=tenant_id, target_type=target_type, target_id=target_id)


def tag_names_of(
    session: Session, *, tenant_id: str, target_type: str, target_ids: Sequence[str]
) -> dict[str, list[str]]:
    """Return the tag names of each of ``target_ids``, sorted (an empty list for untagged targets)."""
    found = TagRepository(session, tenant_id).tags_of(target_type=target_type, target_ids=target_ids)
    return {target_id: [tag.name for tag in tags] for target_id, tags in found.items()}


def list_tags(session: Session, *, tenant_id: str, cursor: str | None, limit: int) -> Page[TagOut]:
    """Return a page of the tenant's tags, oldest first."""
    page = TagRepository(session, tenant_id).list_page(cursor=cursor, limit=limit)
    return Page(items=[TagOut.model_validate(tag) for tag in page.items], next_cursor=page.next_cursor)


def put_tag(uow: UnitOfWork, *, tenant_id: str, tag: str, colour: str | None) -> TagOut:
    """Create the tag if new and set its colour (``#rrggbb`` or none); raises ValidationFailed."""
    repo = TagRepository(uow.session, tenant_id)
    found = _get_or_create(uow, repo, normalise_tag(tag))
    found.colour = colour.lower() if colour else None
    uow.session.flush()
    return TagOut.model_validate(found)
