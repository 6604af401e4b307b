"""The live-chat hub of a process: the live hub (``cxstack.channels.live.hub``) fed the events the chat
sockets show, with the widget settings behind public keys (cached) and the typing indicators. Typing
indicators are not stored: they go out as the feed's signals, which reach the sockets of every serve
process (``LiveFeed.signal``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from functools import partial

from cxstack.backbone.database import Database
from cxstack.backbone.live import LiveFeed
from cxstack.channels.live.hub import LiveHub
from cxstack.channels.webchat import service
from cxstack.channels.webchat.service import LiveChannel, WidgetConfig
from cxstack.records.conversations import service as conversations

#: A conversation's teams and assignee: who sees it (``Visibility.allows``).
Audience = tuple[list[str], str | None]

#: The event types live sockets show (an API key's revocation closes the agent sockets it opened).
LIVE_TYPES = frozenset(
    {
        "message.received",
        "message.sent",
        "chat.delivered",
        "chat.read",
        "chat.typing",
        "conversation.created",
        "conversation.channel_changed",
        "conversation.closed",
        "conversation.reopened",
        "customer.merged",
        "api_key.revoked",
    }
)
TYPING = "chat.typing"
CONFIG_CACHE_SECONDS = 10.0


class ChatHub(LiveHub):
    """Open live-chat sockets of this process, by tenant and conversation."""

    def __init__(self, db: Database, live: LiveFeed) -> None:
        super().__init__(live, types=LIVE_TYPES)
        self.db = db
        self._configs: dict[tuple[str, str], tuple[WidgetConfig | None, float]] = {}
        #: The audience reads about to run, by tenant: the ids asked so far and the answer to wait for.
        self._rounds: dict[str, tuple[set[str], asyncio.Future[dict[str, Audience]]]] = {}
        self._reads: set[asyncio.Task[None]] = set()

    async def audiences(self, tenant_id: str, conversation_ids: Sequence[str]) -> dict[str, Audience]:
        """Return the teams and assignee of the tenant's conversations among ``conversation_ids`` (those
        that exist). The sockets shown the same events ask together: every socket's question that comes
        before the read starts goes into the same one query, so an event shown to 200 people's sockets
        costs one read, not 200."""
        round_ = self._rounds.get(tenant_id)
        if round_ is None:
            round_ = (set(), asyncio.get_running_loop().create_future())
            self._rounds[tenant_id] = round_
            task = asyncio.get_running_loop().create_task(self._read_audiences(tenant_id))
            self._reads.add(task)
            task.add_done_callback(self._reads.discard)
        asked, answer = round_
        asked.update(conversation_ids)
        found = await answer
        return {
            conversation_id: found[conversation_id]
            for conversation_id in conversation_ids
            if conversation_id in found
        }

    async def _read_audiences(self, tenant_id: str) -> None:
        await asyncio.sleep(0)  # the sockets shown the same events ask in this turn of the loop
        asked, answer = self._rounds.pop(tenant_id)
        try:
            found = await self.db.read(
                partial(
                    conversations.conversation_audiences, tenant_id=tenant_id, conversation_ids=sorted(asked)
                )
            )
        except Exception as error:
            answer.set_exception(error)
        else:
            answer.set_result(found)

    async def typing(self, *, tenant_id: str, conversation_id: str, by: str, actor: str, state: bool) -> None:
        """Show a typing indicator to the conversation's other side, on whichever serve process its sockets
        are (a signal of the live feed: not stored, it matters only now)."""
        await self.live.signal(
            tenant_id=tenant_id,
            subject=conversation_id,
            type=TYPING,
            data={"conversation_id": conversation_id, "by": by, "actor": actor, "state": state},
            source=service.SOURCE,
        )

    async def config(self, widget_key: str, channel: LiveChannel) -> WidgetConfig | None:
        """Return the settings behind a public key (read again every ``CONFIG_CACHE_SECONDS``)."""
        cached = self._configs.get((widget_key, channel))
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        found = await self.db.read(
            lambda session: service.widget_config(session, widget_key=widget_key, channel=channel)
        )
        if len(self._configs) > 10_000:
            self._configs.clear()
        self._configs[(widget_key, channel)] = (found, time.monotonic() + CONFIG_CACHE_SECONDS)
        return found

    def forget_configs(self) -> None:
        self._configs.clear()
