"""Tag and tagging queries, each scoped to one tenant by construction."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from cxstack.kit.pagination import Page, paginate
from cxstack.records.tags.models import Tag, Tagging


def tagged_target_ids(*, tenant_id: str, target_type: str, tag: str) -> Select[str]:
    """Return a subquery of the ids of ``target_type`` targets carrying the (normalised) ``tag``.

    Other domains' repositories filter with it: ``Customer.id.in_(tagged_target_ids(...))``.
    """
    return (
        select(Tagging.target_id)
        .join(Tag, Tag.id == Tagging.tag_id)
        .where(Tagging.tenant_id == tenant_id, Tagging.target_type == target_type, Tag.name == tag)
    )


class TagRepository:
    def __init__(self, session: Session, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def find_by_name(self, name: str) -> Tag | None:
        return self.session.scalar(select(Tag).where(Tag.tenant_id == self.tenant_id, Tag.name == name))

    def list_page(self, *, cursor: str | None, limit: int) -> Page[Tag]:
        query = select(Tag).where(Tag.tenant_id == self.tenant_id)
        return paginate(self.session, query, id_column=Tag.id, cursor=cursor, limit=limit)

    def find_tagging(self, *, tag_id: str, target_type: str, target_id: str) -> Tagging | None:
        return self.session.scalar(
            select(Tagging).where(
                Tagging.tenant_id == self.tenant_id,
                Tagging.tag_id == tag_id,
                Tagging.target_type == target_type,
                Tagging.target_id == target_id,
            )
        )

    def tags_of(self, *, target_type: str, target_ids: Sequence[str]) -> dict[str, list[Tag]]:
        """Return each target's tags, by name."""
        found: dict[str, list[Tag]] = {target_id: [] for target_id in target_ids}
        if not target_ids:
            return found
        rows = self.session.execute(
            select(Tagging.target_id, Tag)
            .join(Tag, Tag.id == Tagging.tag_id)
            .where(
                Tagging.tenant_id == self.tenant_id,
                Tagging.target_type == target_type,
                Tagging.target_id.in_(target_ids),
            )
            .order_by(Tag.name)
        )
        for target_id, tag in rows:
            found[target_id].append(tag)
        return found
