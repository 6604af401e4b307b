"""Merging two customers into one, and undoing it.

A merge moves the source customer's identities, conversations, cases and notes to the target, fills the
target's empty fields from the source, and marks the source as merged (it stays, so lookups of old ids
still resolve and the merge can be undone). The merge row records exactly what moved; undoing it moves
those back. Both are audited and published as events.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.governance.audit.service import record_audit
from cxstack.kit.errors import Conflict, NotFound, ValidationFailed
from cxstack.kit.ids import new_id
from cxstack.records.cases import service as cases
from cxstack.records.conversations import service as conversations
from cxstack.records.customers.models import Identity
from cxstack.records.customers.repository import CustomerRepository
from cxstack.records.customers.service import record_change
from cxstack.records.merges.models import CustomerMerge
from cxstack.records.merges.schemas import CustomerMerged, CustomerUnmerged, MergeOut
from cxstack.records.notes import service as notes

SOURCE = "cxstack/records"
FILLABLE = ("name", "email", "phone", "account_id")


def _move_identities(
    uow: UnitOfWork, *, tenant_id: str, from_customer_id: str, to_customer_id: str, ids: Sequence[str] | None
) -> list[str]:
    query = select(Identity.id).where(
        Identity.tenant_id == tenant_id, Identity.customer_id == from_customer_id
    )
    if ids is not None:
        query = query.where(Identity.id.in_(ids))
    moving = list(uow.session.scalars(query))
    if moving:
        uow.session.execute(
            update(Identity)
            .where(Identity.tenant_id == tenant_id, Identity.id.in_(moving))
            .values(customer_id=to_customer_id)
        )
    return moving


def merge_customers(
    uow: UnitOfWork, *, tenant_id: str, target_customer_id: str, source_customer_id: str
) -> MergeOut:
    """Merge ``source`` into ``target``; return the merge.

    Raises ValidationFailed (same customer), NotFound, Conflict (either side already merged away).
    Publishes ``customer.merged``; writes an audit entry.
    """
    if target_customer_id == source_customer_id:
        raise ValidationFailed("a customer cannot be merged into itself", field="source_customer_id")
    repo = CustomerRepository(uow.session, tenant_id)
    target = repo.get(target_customer_id)
    source = repo.find(source_customer_id)
    if source is None:
        raise NotFound(f"customer {source_customer_id} does not exist", field="source_customer_id")
    for side, customer in (("target", target), ("source", source)):
        if customer.merged_into_id is not None:
            raise Conflict(
                f"{side} customer {customer.id} was already merged into {customer.merged_into_id}",
                field="source_customer_id" if side == "source" else "customer_id",
            )
    moved: dict[str, list[str]] = {
        "identities": _move_identities(
            uow, tenant_id=tenant_id, from_customer_id=source.id, to_customer_id=target.id, ids=None
        ),
        "conversations": conversations.move_customer(
            uow, tenant_id=tenant_id, from_customer_id=source.id, to_customer_id=target.id
        ),
        "cases": cases.move_customer(
            uow, tenant_id=tenant_id, from_customer_id=source.id, to_customer_id=target.id
        ),
        "notes": notes.move_customer(
            uow, tenant_id=tenant_id, from_customer_id=source.id, to_customer_id=target.id
        ),
    }
    filled: dict[str, Any] = {}
    for field in FILLABLE:
        if getattr(target, field) is None and getattr(source, field) is not None:
            filled[field] = getattr(source, field)
            setattr(target, field, getattr(source, field))
    added_attributes = {k: v for k, v in source.attributes.items() if k not in target.attributes}
    if added_attributes:
        filled["attributes"] = sorted(added_attributes)
        target.attributes = {**target.attributes, **added_attributes}
    now = uow.clock.now()
    record_change(target, at=now)
    source.merged_into_id = target.id
    record_change(source, at=now)
    merge = CustomerMerge(
        id=new_id("mrg"),
        tenant_id=tenant_id,
        source_customer_id=source.id,
        target_customer_id=target.id,
        moved=moved,
        filled=filled,
        merged_by=uow.context.actor,
        merged_at=now,
        undone_by=None,
        undone_at=None,
    )
    uow.session.add(merge)
    record_audit(
        uow,
        tenant_id=tenant_id,
        action="customer.merged",
        target_type="customer",
        target_id=target.id,
        detail={"merge_id": merge.id, "source_customer_id": source.id, "moved": moved, "filled": filled},
    )
    uow.publish(
        CustomerMerged(
            merge_id=merge.id, source_customer_id=source.id, target_customer_id=target.id, moved=moved
        ),
        tenant_id=tenant_id,
        subject=target.id,
        source=SOURCE,
    )
    uow.session.flush()
    return MergeOut.model_validate(merge)


def undo_merge(uow: UnitOfWork, *, tenant_id: str, merge_id: str) -> MergeOut:
    """Undo a merge: move back what it moved and restore the target's filled fields; return the merge.

    Raises NotFound; Conflict if it was already undone or the target has since been merged away.
    Publishes ``customer.unmerged``; writes an audit entry.
    """
    merge = uow.session.scalar(
        select(CustomerMerge).where(CustomerMerge.tenant_id == tenant_id, CustomerMerge.id == merge_id)
    )
    if merge is None:
        raise NotFound(f"merge {merge_id} does not exist", field="merge_id")
    if merge.undone_at is not None:
        raise Conflict(f"merge {merge_id} was already undone at {merge.undone_at.isoformat()}")
    repo = CustomerRepository(uow.session, tenant_id)
    target = repo.get(merge.target_customer_id)
    source = repo.get(merge.source_customer_id)
    if target.merged_into_id is not None:
        raise Conflict(
            f"customer {target.id} was merged into {target.merged_into_id} afterwards; undo that merge first"
        )
    moved: dict[str, list[str]] = merge.moved
    back = {"from_customer_id": target.id, "to_customer_id": source.id}
    moved_back: dict[str, list[str]] = {
        "identities": _move_identities(uow, tenant_id=tenant_id, ids=moved.get("identities", []), **back),
        "conversations": conversations.move_customer(
            uow, tenant_id=tenant_id, conversation_ids=moved.get("conversations", []), **back
        ),
        "cases": cases.move_customer(uow, tenant_id=tenant_id, case_ids=moved.get("cases", []), **back),
        "notes": notes.move_customer(uow, tenant_id=tenant_id, note_ids=moved.get("notes", []), **back),
    }
    for field, value in merge.filled.items():
        if field == "attributes":
            target.attributes = {k: v for k, v in target.attributes.items() if k not in value}
        elif getattr(target, field) == value:
            setattr(target, field, None)
    now = uow.clock.now()
    source.merged_into_id = None
    record_change(source, at=now)
    record_change(target, at=now)
    merge.undone_at = now
    merge.undone_by = uow.context.actor
    record_audit(
        uow,
        tenant_id=tenant_id,
        action="customer.unmerged",
        target_type="customer",
        target_id=target.id,
        detail={"merge_id": merge.id, "source_customer_id": source.id, "moved_back": moved_back},
    )
    uow.publish(
        CustomerUnmerged(
            merge_id=merge.id,
            source_customer_id=source.id,
            target_customer_id=target.id,
            moved_back=moved_back,
        ),
        tenant_id=tenant_id,
        subject=target.id,
        source=SOURCE,
    )
    uow.session.flush()
    return MergeOut.model_validate(merge)


def list_merges(session: Session, *, tenant_id: str, customer_id: str) -> list[MergeOut]:
    """Return the merges a customer took part in (either side), newest first; raises NotFound."""
    CustomerRepository(session, tenant_id).get(customer_id)
    rows = session.scalars(
        select(CustomerMerge)
        .where(
            CustomerMerge.tenant_id == tenant_id,
            (CustomerMerge.target_customer_id == customer_id)
            | (CustomerMerge.source_customer_id == customer_id),
        )
        .order_by(CustomerMerge.id.desc())
    )
    return [MergeOut.model_validate(row) for row in rows]
