"""Conversation and message queries, each scoped to one tenant by construction."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Integer, Table, TextClause, bindparam, insert, select, text, update
from sqlalchemy.orm import Session

from cxstack.backbone.prepared import PreparedRead, Rows
from cxstack.governance.staff.visibility import Visibility
from cxstack.kit.errors import NotFound
from cxstack.kit.pagination import Page, paginate
from cxstack.records.conversations.models import Conversation, Message
from cxstack.records.conversations.visibility import seen_by

#: Ids per statement when updating many rows (well under every driver's parameter limit).
_CHUNK = 500

# The message intake path runs these prepared Core statements: built once, so each message costs the
# database work and not the construction and caching of ORM queries.
_conversations = cast(Table, Conversation.__table__)
_messages = cast(Table, Message.__table__)
_MESSAGE_TARGET = select(
    _conversations.c.id, _conversations.c.customer_id, _conversations.c.channel, _conversations.c.status
).where(
    _conversations.c.tenant_id == bindparam("tenant_id"), _conversations.c.id == bindparam("conversation_id")
)
#: On PostgreSQL writers of one conversation queue here, so counters and client ids stay consistent;
#: SQLite has one writer already and leaves the clause out.
_MESSAGE_TARGET_LOCKED = _MESSAGE_TARGET.with_for_update()
_MESSAGE_BY_CLIENT_ID = select(_messages.c.id).where(
    _messages.c.conversation_id == bindparam("conversation_id"),
    _messages.c.client_id == bindparam("client_id"),
    _messages.c.tenant_id == bindparam("tenant_id"),
)
#: By id alone, the tenant checked on each row found: the primary key answers it whatever SQLite makes of
#: the tenant's indexes (it has no statistics to go by, and given ``tenant_id = ? AND id IN (...)`` with
#: more than a few ids it once read every conversation of the tenant instead of looking the ids up).
_MESSAGE_TARGETS = (
    select(
        _conversations.c.id,
        _conversations.c.tenant_id,
        _conversations.c.customer_id,
        _conversations.c.channel,
        _conversations.c.status,
    )
    .where(_conversations.c.id.in_(bindparam("conversation_ids", expanding=True)))
    .order_by(_conversations.c.id)
)
_MESSAGE_TARGETS_LOCKED = _MESSAGE_TARGETS.with_for_update()
#: Pairs per statement when looking client ids up (well under every driver's parameter limit).
_PAIRS_CHUNK = 256
_OPEN_CONVERSATIONS = (
    select(_conversations.c.customer_id, _conversations.c.id, _conversations.c.channel)
    .where(
        _conversations.c.tenant_id == bindparam("tenant_id"),
        _conversations.c.customer_id.in_(bindparam("customer_ids", expanding=True)),
        _conversations.c.status != "closed",
    )
    .order_by(_conversations.c.id.desc())
)
_INSERT_MESSAGE = insert(_messages)
_INSERT_CONVERSATION = insert(_conversations)
_COUNT_MESSAGES = (
    update(_conversations)
    .where(_conversations.c.id == bindparam("conversation_id"))
    .values(
        message_count=_conversations.c.message_count + bindparam("added", type_=Integer),
        last_message_at=bindparam("at", type_=_conversations.c.updated_at.type),
        updated_at=bindparam("at", type_=_conversations.c.updated_at.type),
    )
)


@functools.lru_cache(maxsize=16)
def _messages_by_client_ids(pairs: int) -> TextClause:
    """The messages with one of ``pairs`` (conversation id, client id) pairs, bound as ``c<n>`` and
    ``k<n>``. A join from a list of values: one look-up in the unique index per pair, where
    ``conversation_id IN (...) AND client_id IN (...)`` probes every combination of the two lists."""
    wanted = ", ".join(f"(:c{index}, :k{index})" for index in range(pairs))
    return text(
        f"WITH wanted(conversation_id, client_id) AS (VALUES {wanted}) "
        "SELECT m.conversation_id, m.client_id, m.id FROM wanted JOIN messages AS m "
        "ON m.tenant_id = :tenant_id AND m.conversation_id = wanted.conversation_id "
        "AND m.client_id = wanted.client_id"
    )


_READ_CONVERSATION = PreparedRead(
    select(*[c for c in _conversations.c if c.key != "tenant_id"]).where(
        _conversations.c.tenant_id == bindparam("tenant_id"),
        _conversations.c.id == bindparam("conversation_id"),
    )
)


class ConversationReads:
    """The prepared reads of one tenant's conversations (see ``cxstack.backbone.prepared``)."""

    def __init__(self, rows: Rows, tenant_id: str) -> None:
        self.rows = rows
        self.tenant_id = tenant_id

    def conversation(self, conversation_id: str, *, visibility: Visibility | None = None) -> dict[str, Any]:
        """Return the conversation's row (no ``tenant_id``); raises NotFound (also for another tenant's, and
        for one ``visibility`` does not see)."""
        row = self.rows.first(_READ_CONVERSATION, tenant_id=self.tenant_id, conversation_id=conversation_id)
        if row is None or (
            visibility is not None
            and not visibility.allows(team_ids=row["team_ids"], assignee=row["assignee"])
        ):
            raise not_found(conversation_id)
        return row


def not_found(conversation_id: str) -> NotFound:
    """The answer for a conversation that does not exist, is another tenant's, or is not the caller's to
    see: the same for all three, so that none gives away that it exists."""
    return NotFound(f"conversation {conversation_id} does not exist", field="conversation_id")


class ConversationRepository:
    def __init__(self, session: Session, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def insert_conversations(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert conversation rows (dicts of their columns but the tenant) in one statement."""
        if rows:
            self.session.execute(_INSERT_CONVERSATION, [{**row, "tenant_id": self.tenant_id} for row in rows])

    def find(self, conversation_id: str, *, for_update: bool = False) -> Conversation | None:
        # Fresh from the database even if loaded earlier in this session: message intake updates the
        # counters with a Core statement the loaded object does not see.
        query = (
            select(Conversation)
            .where(Conversation.tenant_id == self.tenant_id, Conversation.id == conversation_id)
            .execution_options(populate_existing=True)
        )
        if for_update:
            # On PostgreSQL writers of one conversation queue here, so counters and client ids stay
            # consistent; SQLite has one writer already and ignores the clause.
            query = query.with_for_update()
        return self.session.scalar(query)

    def get(self, conversation_id: str, *, for_update: bool = False) -> Conversation:
        """Return the conversation; raises NotFound (also for another tenant's id)."""
        conversation = self.find(conversation_id, for_update=for_update)
        if conversation is None:
            raise not_found(conversation_id)
        return conversation

    def _seen_by(self, visibility: Visibility) -> Any:
        return seen_by(visibility, dialect=self.session.get_bind().dialect.name)

    def seen_ids(self, conversation_ids: Sequence[str], visibility: Visibility) -> set[str]:
        """Return the ids among ``conversation_ids`` of this tenant's conversations ``visibility`` sees."""
        seen: set[str] = set()
        for start in range(0, len(conversation_ids), _CHUNK):
            chunk = list(conversation_ids[start : start + _CHUNK])
            seen.update(
                self.session.scalars(
                    select(Conversation.id).where(
                        Conversation.tenant_id == self.tenant_id,
                        Conversation.id.in_(chunk),
                        self._seen_by(visibility),
                    )
                )
            )
        return seen

    def audiences(self, conversation_ids: Sequence[str]) -> dict[str, tuple[list[str], str | None]]:
        """Return, by id, the teams and the assignee of this tenant's conversations among
        ``conversation_ids`` (what decides who sees each: ``Visibility.allows``)."""
        found: dict[str, tuple[list[str], str | None]] = {}
        for start in range(0, len(conversation_ids), _CHUNK):
            chunk = list(conversation_ids[start : start + _CHUNK])
            rows = self.session.execute(
                select(Conversation.id, Conversation.team_ids, Conversation.assignee).where(
                    Conversation.tenant_id == self.tenant_id, Conversation.id.in_(chunk)
                )
            )
            for conversation_id, team_ids, assignee in rows:
                found[conversation_id] = (list(team_ids or ()), assignee)
        return found

    def unseen_ids_of_customer(self, customer_id: str, visibility: Visibility) -> list[str]:
        """Return the ids of the customer's conversations that ``visibility`` does not see, in order."""
        query = select(Conversation.id).where(
            Conversation.tenant_id == self.tenant_id,
            Conversation.customer_id == customer_id,
            ~self._seen_by(visibility),
        )
        return list(self.session.scalars(query.order_by(Conversation.id)))

    def set_teams(self, conversation_id: str, team_ids: Sequence[str]) -> bool:
        """Set the conversation's teams; return whether it exists."""
        result = self.session.execute(
            update(Conversation)
            .where(Conversation.tenant_id == self.tenant_id, Conversation.id == conversation_id)
            .values(team_ids=list(team_ids))
            .execution_options(synchronize_session="fetch")
        )
        return bool(getattr(result, "rowcount", 0))

    def ids_of_customer(self, customer_id: str, *, among: Sequence[str] | None = None) -> list[str]:
        """Return the ids of the customer's conversations (only those in ``among`` when given), in order."""
        query = select(Conversation.id).where(
            Conversation.tenant_id == self.tenant_id, Conversation.customer_id == customer_id
        )
        if among is not None:
            query = query.where(Conversation.id.in_(among))
        return list(self.session.scalars(query.order_by(Conversation.id)))

    def open_of_customers(self, customer_ids: Sequence[str]) -> list[tuple[str, str, str]]:
        """Return (customer id, conversation id, channel) of the customers' conversations that are not
        closed, newest first, in one query."""
        if not customer_ids:
            return []
        rows = self.session.execute(
            _OPEN_CONVERSATIONS, {"tenant_id": self.tenant_id, "customer_ids": list(customer_ids)}
        )
        return [(customer_id, conversation_id, channel) for customer_id, conversation_id, channel in rows]

    def reassign_customer(self, conversation_ids: Sequence[str], *, customer_id: str, at: datetime) -> None:
        """Point the conversations and all their messages at another customer."""
        for start in range(0, len(conversation_ids), _CHUNK):
            chunk = list(conversation_ids[start : start + _CHUNK])
            self.session.execute(
                update(Conversation)
                .where(Conversation.tenant_id == self.tenant_id, Conversation.id.in_(chunk))
                .values(customer_id=customer_id, updated_at=at)
            )
            self.session.execute(
                update(Message)
                .where(Message.tenant_id == self.tenant_id, Message.conversation_id.in_(chunk))
                .values(customer_id=customer_id)
            )

    # -- messages ----------------------------------------------------------------------------------

    def message_target(self, conversation_id: str, *, for_update: bool) -> Any:
        """Return (id, customer_id, channel, status) of the conversation a message is posted to."""
        statement = _MESSAGE_TARGET_LOCKED if for_update else _MESSAGE_TARGET
        return self.session.execute(
            statement, {"tenant_id": self.tenant_id, "conversation_id": conversation_id}
        ).first()

    def message_id_by_client_id(self, conversation_id: str, client_id: str) -> str | None:
        found: str | None = self.session.execute(
            _MESSAGE_BY_CLIENT_ID,
            {"tenant_id": self.tenant_id, "conversation_id": conversation_id, "client_id": client_id},
        ).scalar()
        return found

    def get_message(self, message_id: str) -> Message:
        message = self.session.get(Message, message_id)
        if message is None or message.tenant_id != self.tenant_id:
            raise NotFound(f"message {message_id} does not exist", field="message_id")
        return message

    def message_targets(self, conversation_ids: Sequence[str], *, for_update: bool) -> dict[str, Any]:
        """Return {id: (id, tenant_id, customer_id, channel, status)} of this tenant's conversations among
        ``conversation_ids``; on PostgreSQL with ``for_update`` each is locked, in id order."""
        statement = _MESSAGE_TARGETS_LOCKED if for_update else _MESSAGE_TARGETS
        found = self.session.execute(statement, {"conversation_ids": list(conversation_ids)})
        return {row.id: row for row in found if row.tenant_id == self.tenant_id}

    def message_ids_by_client_ids(self, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """Return {(conversation id, client id): message id} of the messages among ``pairs``
        (conversation id, client id) that exist."""
        found: dict[tuple[str, str], str] = {}
        for start in range(0, len(pairs), _PAIRS_CHUNK):
            chunk = list(pairs[start : start + _PAIRS_CHUNK])
            # A few statement sizes rather than one per count (the last pair repeated to fill it), so
            # they stay in the engine's statement cache.
            size = 1 << (len(chunk) - 1).bit_length()
            chunk += [chunk[-1]] * (size - len(chunk))
            parameters: dict[str, str] = {"tenant_id": self.tenant_id}
            for index, (conversation_id, client_id) in enumerate(chunk):
                parameters[f"c{index}"] = conversation_id
                parameters[f"k{index}"] = client_id
            for conversation_id, client_id, message_id in self.session.execute(
                _messages_by_client_ids(size), parameters
            ):
                found[conversation_id, client_id] = message_id
        return found

    def append_messages(
        self, rows: Sequence[dict[str, Any]], *, counts: dict[str, int], at: datetime
    ) -> None:
        """Insert messages (each row holds every message column) and count them on their conversations
        (``counts``: how many each conversation gets).

        The caller has made sure no client id is taken (the unique index refuses one that is, failing the
        whole insert).
        """
        self.session.execute(_INSERT_MESSAGE, list(rows))
        self.session.execute(
            _COUNT_MESSAGES,
            [
                {"conversation_id": conversation, "added": added, "at": at}
                for conversation, added in counts.items()
            ],
        )

    def find_message_by_client_id(self, conversation_id: str, client_id: str) -> Message | None:
        return self.session.scalar(
            select(Message).where(
                Message.conversation_id == conversation_id,
                Message.client_id == client_id,
                Message.tenant_id == self.tenant_id,
            )
        )

    def messages_page(self, conversation_id: str, *, cursor: str | None, limit: int) -> Page[Message]:
        query = select(Message).where(
            Message.tenant_id == self.tenant_id, Message.conversation_id == conversation_id
        )
        return paginate(self.session, query, id_column=Message.id, cursor=cursor, limit=limit)
