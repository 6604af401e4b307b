"""The shapes of the demo's data: accounts, customers and, around each customer, their conversations on
any channel with messages, internal notes and a case. Seeding (``seeding``) turns them into records through
the services the API calls; people are named by their demo email and become user ids there."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Channel = Literal["webchat", "email", "sms", "voice", "inapp"]
Direction = Literal["inbound", "outbound"]
Author = Literal["customer", "agent", "bot", "system"]
Priority = Literal["low", "normal", "high", "urgent"]

#: The demo's people, by the email they sign in with (``staff.DEMO_STAFF``).
MORGAN = "morgan@demo.example"
SAM = "sam@demo.example"
PRIYA = "priya@demo.example"
LEO = "leo@demo.example"
#: The author id of the chat bot's messages.
BOT = "bot"


@dataclass(frozen=True)
class DemoAccount:
    name: str
    domain: str
    plan: str
    annual_revenue_cents: int


@dataclass(frozen=True)
class DemoMessage:
    minutes: int  # after the conversation started
    direction: Direction
    body: str
    author: Author | None = None
    #: A demo person's email (their user id once seeded) or ``BOT``.
    author_id: str | None = None
    channel: Channel | None = None  # another channel than the conversation's moves it there


@dataclass(frozen=True)
class DemoNote:
    """An internal note on a conversation; ``@someone@demo.example`` in it mentions that person."""

    minutes: int  # after the conversation's last message
    author: str
    body: str


@dataclass(frozen=True)
class DemoCase:
    subject: str
    description: str
    priority: Priority
    status: Literal["new", "open", "pending", "on_hold", "solved"]
    assignee: str | None
    tags: tuple[str, ...] = ()
    note: str | None = None
    due_in_hours: int | None = None  # from now, for cases still open


@dataclass(frozen=True)
class DemoConversation:
    hours: int  # after the customer's first contact
    channel: Channel
    subject: str
    messages: tuple[DemoMessage, ...]
    #: A demo person's email; None leaves it to routing (queued for the Support team).
    assignee: str | None = None
    priority: Priority = "normal"
    status: Literal["open", "pending", "closed"] = "open"
    tags: tuple[str, ...] = ()
    case: DemoCase | None = None
    notes: tuple[DemoNote, ...] = ()


@dataclass(frozen=True)
class DemoCustomer:
    name: str
    email: str
    phone: str
    crm_id: str
    days_ago: int  # of the first contact
    account_domain: str | None = None
    identities: tuple[tuple[Literal["webchat_visitor", "inapp_user"], str], ...] = ()
    attributes: dict[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    note: str | None = None
    conversations: tuple[DemoConversation, ...] = ()
    #: Minutes before now of the first contact, for customers who wrote in today (``days_ago`` is 0).
    minutes_ago: int = 0
