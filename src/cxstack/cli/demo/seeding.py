"""Seeding the demo tenant: its key, people, channels, accounts and customers with their history and
today's inbox, written through the services the API calls (so events, routing, SLA clocks and timelines
follow as for real traffic), in one transaction whose clock moves through the history.

Seeding is idempotent: each demo customer is recognised by its CRM id (an ``external`` identity) and
seeded with everything around it only when it is missing, so running the demo again writes nothing new.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import select

from cxstack.backbone.migrate import upgrade
from cxstack.backbone.unit_of_work import Context, UnitOfWork
from cxstack.cli.demo.channels import DemoChannels, ensure_channels
from cxstack.cli.demo.customers import DEMO_ACCOUNTS, DEMO_CUSTOMERS
from cxstack.cli.demo.model import BOT, PRIYA, SAM, DemoCase, DemoConversation, DemoCustomer
from cxstack.cli.demo.staff import demo_password_hashes, ensure_routing, ensure_staff, user_ids
from cxstack.config import Settings
from cxstack.governance.staff.passwords import PasswordHash
from cxstack.governance.tenants.models import ApiKey
from cxstack.governance.tenants.service import create_tenant, digest_of, get_tenant_by_slug, issue_api_key
from cxstack.kit.errors import NotFound
from cxstack.records.accounts.schemas import AccountCreate
from cxstack.records.accounts.service import create_account, list_accounts
from cxstack.records.cases.schemas import CaseCreate, CaseUpdate
from cxstack.records.cases.service import create_case, update_case
from cxstack.records.conversations.schemas import ConversationCreate, ConversationUpdate, MessageCreate
from cxstack.records.conversations.service import (
    close_conversation,
    create_conversation,
    list_conversations,
    post_message,
    update_conversation,
)
from cxstack.records.customers.schemas import CustomerCreate, IdentityIn
from cxstack.records.customers.service import create_customer, lookup_customer
from cxstack.records.notes.schemas import NoteCreate
from cxstack.records.notes.service import add_note
from cxstack.records.tags.service import add_tag
from cxstack.runtime import Runtime

DEMO_TENANT_SLUG = "demo"
DEMO_TENANT_NAME = "Demo Company"
#: The demo tenant's API key. It is printed and documented, so it is no secret: use the demo on your own
#: machine only, never on a database that holds real data.
DEMO_API_KEY = "cxk_demo_local_only_not_a_secret"
#: The external system whose ids recognise demo customers on a second run.
CRM_SYSTEM = "salesforce"
#: How far back the seeded history starts.
HISTORY_DAYS = 15


class ScriptedClock:
    """The wall clock, except while seeding sets it to a moment of the demo's history."""

    def __init__(self) -> None:
        self._at: datetime | None = None

    def now(self) -> datetime:
        return self._at if self._at is not None else datetime.now(UTC)

    def set(self, at: datetime | None) -> None:
        self._at = at


@dataclass
class SeedReport:
    tenant_id: str
    tenant_created: bool
    key_revoked: bool
    created: Counter[str]
    customers_present: int
    #: A seeded customer to show in the examples (the first one).
    showcase_customer_id: str
    #: The demo tenant's channels, ready to be tried.
    channels: DemoChannels
    #: An open conversation on the SMS channel, whose replies go out by SMS (None if agents closed them all).
    sms_conversation_id: str | None
    #: The user id of the demo agent (Sam), whom the inbox mentions and assigns work to.
    agent_id: str

    @property
    def widget_key(self) -> str:
        """The public key of the demo tenant's chat widget."""
        return self.channels.widget_key


def _ensure_accounts(uow: UnitOfWork, *, tenant_id: str, created: Counter[str]) -> dict[str, str]:
    ids: dict[str, str] = {}
    for account in DEMO_ACCOUNTS:
        page = list_accounts(uow.session, tenant_id=tenant_id, cursor=None, limit=1, domain=account.domain)
        if page.items:
            ids[account.domain] = page.items[0].id
            continue
        ids[account.domain] = create_account(
            uow,
            tenant_id=tenant_id,
            data=AccountCreate(
                name=account.name,
                domain=account.domain,
                plan=account.plan,
                annual_revenue_cents=account.annual_revenue_cents,
            ),
        ).id
        created["accounts"] += 1
    return ids


def _find_customer(uow: UnitOfWork, *, tenant_id: str, crm_id: str) -> str | None:
    try:
        found = lookup_customer(
            uow.session, tenant_id=tenant_id, kind="external", value=crm_id, system=CRM_SYSTEM
        )
    except NotFound:
        return None
    return found.id


@dataclass
class _Seeder:
    """Writes demo customers with everything around them in one unit of work, moving ``clock`` to the
    moment each thing happened; ``people`` maps the demo people's emails to their user ids."""

    uow: UnitOfWork
    clock: ScriptedClock
    tenant_id: str
    now: datetime
    people: dict[str, str]
    created: Counter[str]

    def person(self, email: str | None) -> str | None:
        """The user id of a demo person (the bot and nobody stay as they are)."""
        if email is None or email == BOT:
            return email
        return self.people[email]

    def customer(self, customer: DemoCustomer, *, account_ids: dict[str, str]) -> str:
        first_contact = self.now - timedelta(days=customer.days_ago, minutes=customer.minutes_ago)
        self.clock.set(first_contact - timedelta(minutes=5))
        out = create_customer(
            self.uow,
            tenant_id=self.tenant_id,
            data=CustomerCreate(
                name=customer.name,
                email=customer.email,
                phone=customer.phone,
                account_id=account_ids[customer.account_domain] if customer.account_domain else None,
                attributes=dict(customer.attributes),
                identities=[
                    IdentityIn(kind="external", system=CRM_SYSTEM, value=customer.crm_id, verified=True),
                    *(IdentityIn(kind=kind, value=value) for kind, value in customer.identities),
                ],
            ),
        )
        self.created["customers"] += 1
        self.created["identities"] += len(out.identities)
        for tag in customer.tags:
            add_tag(self.uow, tenant_id=self.tenant_id, target_type="customer", target_id=out.id, tag=tag)
            self.created["tags"] += 1
        if customer.note is not None:
            self._note("customer", out.id, body=customer.note, author=PRIYA)
        for conversation in customer.conversations:
            self.conversation(
                customer_id=out.id,
                conversation=conversation,
                started=first_contact + timedelta(hours=conversation.hours),
            )
        return out.id

    def conversation(self, *, customer_id: str, conversation: DemoConversation, started: datetime) -> None:
        self.clock.set(started)
        out = create_conversation(
            self.uow,
            tenant_id=self.tenant_id,
            data=ConversationCreate(
                customer_id=customer_id,
                channel=conversation.channel,
                subject=conversation.subject,
                assignee=self.person(conversation.assignee),
                priority=conversation.priority,
            ),
        )
        self.created["conversations"] += 1
        last = started
        for index, message in enumerate(conversation.messages):
            # Seconds apart at least, so that messages of the same minute keep their order on the timeline.
            last = started + timedelta(minutes=message.minutes, seconds=10 * index)
            self.clock.set(last)
            post_message(
                self.uow,
                tenant_id=self.tenant_id,
                conversation_id=out.id,
                data=MessageCreate(
                    direction=message.direction,
                    body=message.body,
                    author_kind=message.author,
                    author_id=self.person(message.author_id),
                    channel=message.channel,
                ),
            )
            self.created["messages"] += 1
        for tag in conversation.tags:
            add_tag(self.uow, tenant_id=self.tenant_id, target_type="conversation", target_id=out.id, tag=tag)
            self.created["tags"] += 1
        for note in conversation.notes:
            last += timedelta(minutes=note.minutes)
            self.clock.set(last)
            self._note("conversation", out.id, body=note.body, author=note.author)
        if conversation.case is not None:
            self.case(
                customer_id=customer_id,
                conversation_id=out.id,
                case=conversation.case,
                at=last + timedelta(minutes=1),
            )
        if conversation.status == "closed":
            self.clock.set(last + timedelta(minutes=15))
            close_conversation(self.uow, tenant_id=self.tenant_id, conversation_id=out.id)
        elif conversation.status == "pending":
            # Waiting on the customer, after the agent's last reply.
            self.clock.set(last + timedelta(minutes=1))
            update_conversation(
                self.uow,
                tenant_id=self.tenant_id,
                conversation_id=out.id,
                data=ConversationUpdate(status="pending"),
            )

    def case(self, *, customer_id: str, conversation_id: str, case: DemoCase, at: datetime) -> None:
        self.clock.set(at)
        out = create_case(
            self.uow,
            tenant_id=self.tenant_id,
            data=CaseCreate(
                customer_id=customer_id,
                conversation_id=conversation_id,
                subject=case.subject,
                description=case.description,
                priority=case.priority,
                status="open" if case.status == "solved" else case.status,
                assignee=self.person(case.assignee),
                due_at=self.now + timedelta(hours=case.due_in_hours)
                if case.due_in_hours is not None
                else None,
                tags=list(case.tags),
            ),
        )
        self.created["cases"] += 1
        self.created["tags"] += len(case.tags)
        if case.note is not None:
            self.clock.set(at + timedelta(minutes=3))
            self._note("case", out.id, body=case.note, author=case.assignee or PRIYA)
        if case.status == "solved":
            self.clock.set(at + timedelta(hours=4))
            update_case(self.uow, tenant_id=self.tenant_id, case_id=out.id, data=CaseUpdate(status="solved"))

    def _note(
        self,
        target_type: Literal["customer", "case", "conversation"],
        target_id: str,
        *,
        body: str,
        author: str,
    ) -> None:
        add_note(
            self.uow,
            tenant_id=self.tenant_id,
            data=NoteCreate(
                target_type=target_type, target_id=target_id, body=body, author=self.person(author)
            ),
        )
        self.created["notes"] += 1


def _open_sms_conversation(uow: UnitOfWork, *, tenant_id: str) -> str | None:
    page = list_conversations(
        uow.session,
        tenant_id=tenant_id,
        cursor=None,
        limit=1,
        status="open",
        channel="sms",
        newest_first=True,
    )
    return page.items[0].id if page.items else None


def seed_demo(
    uow: UnitOfWork, clock: ScriptedClock, *, now: datetime, passwords: dict[str, PasswordHash]
) -> SeedReport:
    """Create the demo tenant, its key and every demo record that is missing; return what was done.

    ``clock`` must be the unit of work's clock: seeding moves it through the demo's history; ``passwords``
    are the demo people's password hashes (``demo_password_hashes``).
    """
    created: Counter[str] = Counter()
    try:
        clock.set(now - timedelta(days=HISTORY_DAYS))
        tenant = get_tenant_by_slug(uow.session, slug=DEMO_TENANT_SLUG)
        tenant_created = tenant is None
        if tenant is None:
            tenant = create_tenant(uow, name=DEMO_TENANT_NAME, slug=DEMO_TENANT_SLUG)
        key = uow.session.scalar(select(ApiKey).where(ApiKey.digest == digest_of(DEMO_API_KEY)))
        if key is None:
            issue_api_key(uow, tenant_id=tenant.id, name="demo", key=DEMO_API_KEY)
        ensure_staff(uow, tenant_id=tenant.id, passwords=passwords, created=created)
        # The channels first: the history's replies on SMS and email are sent through them.
        channels = ensure_channels(uow, tenant_id=tenant.id, created=created)
        account_ids = _ensure_accounts(uow, tenant_id=tenant.id, created=created)
        people = user_ids(uow, tenant_id=tenant.id)
        seeder = _Seeder(uow, clock, tenant.id, now, people, created)
        present = 0
        showcase: str | None = None
        for customer in DEMO_CUSTOMERS:
            customer_id = _find_customer(uow, tenant_id=tenant.id, crm_id=customer.crm_id)
            if customer_id is not None:
                present += 1
            else:
                customer_id = seeder.customer(customer, account_ids=account_ids)
            showcase = showcase or customer_id
        sms_conversation_id = _open_sms_conversation(uow, tenant_id=tenant.id)
        # Open conversations of the history become work waiting in the queues (the agents start offline).
        ensure_routing(uow, tenant_id=tenant.id, created=created)
    finally:
        clock.set(None)
    assert showcase is not None
    return SeedReport(
        tenant_id=tenant.id,
        tenant_created=tenant_created,
        key_revoked=key is not None and key.revoked_at is not None,
        created=created,
        customers_present=present,
        showcase_customer_id=showcase,
        channels=channels,
        sms_conversation_id=sms_conversation_id,
        agent_id=people[SAM],
    )


async def prepare_demo(settings: Settings) -> SeedReport:
    """Migrate the database, seed the demo tenant and, where the server runs the handlers, deliver the
    new events to them (so timelines are built before the first request)."""
    clock = ScriptedClock()
    # The in-process bus drains what seeding published; on the scale-out driver the workers deliver it.
    in_process = settings.server_runs_handlers and not settings.is_scale_out
    runtime = Runtime.build(settings, clock=clock, run_bus=in_process)
    await runtime.db.start()
    try:
        await upgrade(runtime.db)
        now = datetime.now(UTC)
        passwords = await asyncio.to_thread(demo_password_hashes)
        report = await runtime.db.write(
            lambda uow: seed_demo(uow, clock, now=now, passwords=passwords),
            context=Context(actor="demo", source="cxstack/demo"),
        )
        if runtime.bus is not None:
            await runtime.bus.drain(timeout_s=120)
    finally:
        await runtime.stop()
    return report
