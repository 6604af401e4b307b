"""``cxstack demo``: a demo tenant with a lived-in customer record, served in one command.

The demo migrates the database in ``CXSTACK_DATABASE_URL`` (by default the embedded file
``./var/cxstack.db``), creates the tenant ``demo`` with the fixed API key ``DEMO_API_KEY`` and seeds it:
accounts, customers with their identities (email, phone, CRM ids, webchat and in-app ids), conversations on
every channel with their messages, cases, notes and tags, spread over the last two weeks so that timelines
and the event log read like a real history; and it sets up each channel (``demo_channels``). Then it serves
the API and the inbound SMTP listener, with the demo's own stand-ins for Twilio and an SMTP relay
(``demo_providers``) in the same process, and prints commands that try the API and every channel.

Seeding is idempotent: each demo customer is recognised by its CRM id (an ``external`` identity) and
seeded with everything around it only when it is missing, so running the demo again writes nothing new.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shlex
import signal
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

import typer
import uvicorn
from rich.console import Console
from rich.markup import escape
from sqlalchemy import select

from cxstack.backbone.migrate import upgrade
from cxstack.backbone.unit_of_work import Context, UnitOfWork
from cxstack.channels.email.inbound import EmailIntake, InboundLimits
from cxstack.channels.email.smtp import SmtpListener
from cxstack.cli.demo_channels import (
    DEMO_APP_USER,
    DEMO_INBOX,
    DemoChannels,
    call_us,
    cli_command,
    email_us,
    ensure_channels,
    reply,
    text_us,
    write_in_app,
)
from cxstack.cli.demo_providers import DemoProviders
from cxstack.cli.demo_staff import (
    DEMO_STAFF,
    DEMO_STAFF_PASSWORD,
    demo_password_hashes,
    ensure_routing,
    ensure_staff,
)
from cxstack.cli.settings import load_settings
from cxstack.config import Settings
from cxstack.governance.staff.passwords import PasswordHash
from cxstack.governance.tenants.models import ApiKey
from cxstack.governance.tenants.service import create_tenant, digest_of, get_tenant_by_slug, issue_api_key
from cxstack.kit.errors import NotFound
from cxstack.records.accounts.schemas import AccountCreate
from cxstack.records.accounts.service import create_account, list_accounts
from cxstack.records.cases.schemas import CaseCreate, CaseUpdate
from cxstack.records.cases.service import create_case, update_case
from cxstack.records.conversations.schemas import ConversationCreate, MessageCreate
from cxstack.records.conversations.service import (
    close_conversation,
    create_conversation,
    list_conversations,
    post_message,
)
from cxstack.records.customers.schemas import CustomerCreate, IdentityIn
from cxstack.records.customers.service import create_customer, lookup_customer, normalise_phone
from cxstack.records.notes.schemas import NoteCreate
from cxstack.records.notes.service import add_note
from cxstack.records.tags.service import add_tag
from cxstack.runtime import Runtime
from cxstack.web.app import create_app

DEMO_TENANT_SLUG = "demo"
DEMO_TENANT_NAME = "Demo Company"
#: The demo tenant's API key. It is printed and documented, so it is no secret: use the demo on your own
#: machine only, never on a database that holds real data.
DEMO_API_KEY = "cxk_demo_local_only_not_a_secret"
#: The external system whose ids recognise demo customers on a second run.
CRM_SYSTEM = "salesforce"
#: How far back the seeded history starts.
HISTORY_DAYS = 15

Channel = Literal["webchat", "email", "sms", "voice", "inapp"]
Direction = Literal["inbound", "outbound"]
Author = Literal["customer", "agent", "bot", "system"]


# -- the demo data -------------------------------------------------------------------------------


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
    author_id: str | None = None
    channel: Channel | None = None  # another channel than the conversation's moves it there


@dataclass(frozen=True)
class DemoCase:
    subject: str
    description: str
    priority: Literal["low", "normal", "high", "urgent"]
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
    assignee: str | None = None
    priority: Literal["low", "normal", "high", "urgent"] = "normal"
    closed: bool = False
    tags: tuple[str, ...] = ()
    case: DemoCase | None = None


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


DEMO_ACCOUNTS = (
    DemoAccount("Northwind Traders", "northwind.example", "enterprise", 1_250_000_00),
    DemoAccount("Globex Retail", "globex.example", "growth", 310_000_00),
    DemoAccount("Initech", "initech.example", "starter", 48_000_00),
)

SAM = "sam.rivera"
PRIYA = "priya.shah"

DEMO_CUSTOMERS: tuple[DemoCustomer, ...] = (
    DemoCustomer(
        name="Ada Lovelace",
        email="ada@northwind.example",
        phone="+1 415 555 2671",
        crm_id="0035e00000AdaLvL",
        days_ago=14,
        account_domain="northwind.example",
        identities=(("inapp_user", "nw-user-1001"),),
        attributes={"role": "Head of Finance", "language": "en"},
        tags=("vip",),
        note="Decision maker for the Northwind renewal in Q3.",
        conversations=(
            DemoConversation(
                hours=0,
                channel="webchat",
                subject="Invoice export does nothing",
                assignee=SAM,
                priority="high",
                tags=("billing",),
                messages=(
                    DemoMessage(0, "inbound", "Hi! The 'Export invoices' button does nothing for me."),
                    DemoMessage(2, "outbound", "Sorry about that, Ada. Which browser is it?", "agent", SAM),
                    DemoMessage(4, "inbound", "Firefox 128 on macOS."),
                    DemoMessage(
                        9,
                        "outbound",
                        "I can reproduce it. I've opened a case and will email you the CSV meanwhile.",
                        "agent",
                        SAM,
                    ),
                ),
                case=DemoCase(
                    subject="Invoice export fails in Firefox",
                    description="Export button has no effect in Firefox 128; Chrome works.",
                    priority="high",
                    status="open",
                    assignee=SAM,
                    tags=("billing", "bug"),
                    note="Reproduced on Firefox 128. Engineering ticket ENG-142.",
                    due_in_hours=20,
                ),
            ),
            DemoConversation(
                hours=30,
                channel="email",
                subject="Your invoices for March (CSV attached)",
                assignee=SAM,
                closed=True,
                messages=(
                    DemoMessage(0, "outbound", "Hi Ada, as promised: March invoices as CSV.", "agent", SAM),
                    DemoMessage(95, "inbound", "Got them, thank you Sam!"),
                ),
            ),
            DemoConversation(
                hours=200,
                channel="inapp",
                subject="Renewal quote",
                assignee=PRIYA,
                messages=(
                    DemoMessage(0, "inbound", "Can we get a quote for 40 more seats before the renewal?"),
                    DemoMessage(
                        12, "outbound", "Sure, I'll send it by Friday with the volume tier.", "agent", PRIYA
                    ),
                ),
            ),
        ),
    ),
    DemoCustomer(
        name="Grace Hopper",
        email="grace@northwind.example",
        phone="+1 212 555 0147",
        crm_id="0035e00000GrcHpr",
        days_ago=12,
        account_domain="northwind.example",
        attributes={"role": "IT Director"},
        conversations=(
            DemoConversation(
                hours=0,
                channel="sms",
                subject="Technician visit",
                assignee=PRIYA,
                closed=True,
                messages=(
                    DemoMessage(0, "inbound", "Is the technician still coming at 3pm today?"),
                    DemoMessage(3, "outbound", "Yes! Jordan is on the way, ETA 2:50pm.", "agent", PRIYA),
                    DemoMessage(5, "inbound", "Perfect, thanks."),
                ),
            ),
            DemoConversation(
                hours=50,
                channel="voice",
                subject="Call: SSO set-up",
                assignee=SAM,
                closed=True,
                tags=("sso",),
                messages=(
                    DemoMessage(0, "inbound", "[call transcript] I need to connect our Okta tenant for SSO."),
                    DemoMessage(
                        6,
                        "outbound",
                        "[call transcript] Walked through the SAML settings; metadata URL sent by email.",
                        "agent",
                        SAM,
                    ),
                ),
                case=DemoCase(
                    subject="Configure SAML SSO with Okta",
                    description="Customer connected Okta during the call; verify the first login.",
                    priority="normal",
                    status="solved",
                    assignee=SAM,
                    tags=("sso",),
                    note="First SSO login confirmed by Grace.",
                ),
            ),
        ),
    ),
    DemoCustomer(
        name="Alan Turing",
        email="alan@globex.example",
        phone="+1 312 555 0199",
        crm_id="0035e00000AlnTrg",
        days_ago=9,
        account_domain="globex.example",
        identities=(("inapp_user", "gx-user-7"),),
        conversations=(
            DemoConversation(
                hours=0,
                channel="inapp",
                subject="Adding a teammate",
                closed=True,
                messages=(
                    DemoMessage(0, "inbound", "How do I add a teammate to our workspace?"),
                    DemoMessage(
                        0,
                        "outbound",
                        "Go to Settings → Team → Invite, then enter their email. They'll get a link.",
                        "bot",
                        "bot",
                    ),
                    DemoMessage(2, "inbound", "Found it, thanks!"),
                ),
            ),
        ),
    ),
    DemoCustomer(
        name="Katherine Johnson",
        email="katherine@globex.example",
        phone="+1 617 555 0123",
        crm_id="0035e00000KthJhn",
        days_ago=6,
        account_domain="globex.example",
        tags=("at-risk",),
        note="Mentioned evaluating a competitor on the last call.",
        conversations=(
            DemoConversation(
                hours=0,
                channel="voice",
                subject="Call: card declined twice",
                assignee=PRIYA,
                priority="urgent",
                messages=(
                    DemoMessage(
                        0, "inbound", "[call transcript] Our card was declined twice; the account is locked."
                    ),
                    DemoMessage(
                        8,
                        "outbound",
                        "[call transcript] Unlocked for 72 hours while billing investigates the declines.",
                        "agent",
                        PRIYA,
                    ),
                ),
                case=DemoCase(
                    subject="Payment declined twice, account locked",
                    description="Two declined renewals; account unlocked for 72h as a courtesy.",
                    priority="urgent",
                    status="pending",
                    assignee=PRIYA,
                    tags=("billing", "churn-risk"),
                    note="Waiting for the bank's answer on the declines.",
                    due_in_hours=6,
                ),
            ),
            DemoConversation(
                hours=26,
                channel="email",
                subject="Re: payment declined",
                assignee=PRIYA,
                messages=(
                    DemoMessage(0, "inbound", "Any news from billing? We can't be locked out on Monday."),
                ),
            ),
        ),
    ),
    DemoCustomer(
        name="Linus Pauling",
        email="linus@initech.example",
        phone="+1 206 555 0143",
        crm_id="0035e00000LnsPlg",
        days_ago=3,
        account_domain="initech.example",
        conversations=(
            DemoConversation(
                hours=0,
                channel="email",
                subject="Delivery address change",
                assignee=SAM,
                messages=(
                    DemoMessage(0, "inbound", "Please ship order #4821 to our new office at 500 Main St."),
                    DemoMessage(40, "outbound", "Done. Can I text you the tracking link?", "agent", SAM),
                    DemoMessage(44, "inbound", "Yes please, text is easier.", channel="sms"),
                    DemoMessage(47, "outbound", "Tracking: https://track.example/4821", "agent", SAM, "sms"),
                ),
            ),
        ),
    ),
    DemoCustomer(
        name="Margaret Hamilton",
        email="margaret@hamilton.example",
        phone="+1 512 555 0175",
        crm_id="0035e00000MrgHml",
        days_ago=1,
        identities=(("webchat_visitor", "visitor-5f2c9a"),),
        tags=("lead",),
        conversations=(
            DemoConversation(
                hours=0,
                channel="webchat",
                subject="Pricing for a 5-person team",
                messages=(
                    DemoMessage(0, "inbound", "Hello, what would it cost for a team of five?"),
                    DemoMessage(
                        0, "outbound", "Thanks for asking! An agent will be with you shortly.", "bot", "bot"
                    ),
                ),
            ),
        ),
    ),
)


# -- seeding -------------------------------------------------------------------------------------


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


def _seed_conversation(
    uow: UnitOfWork,
    clock: ScriptedClock,
    *,
    tenant_id: str,
    customer_id: str,
    conversation: DemoConversation,
    started: datetime,
    now: datetime,
    created: Counter[str],
) -> None:
    clock.set(started)
    out = create_conversation(
        uow,
        tenant_id=tenant_id,
        data=ConversationCreate(
            customer_id=customer_id,
            channel=conversation.channel,
            subject=conversation.subject,
            assignee=conversation.assignee,
            priority=conversation.priority,
        ),
    )
    created["conversations"] += 1
    last = started
    for index, message in enumerate(conversation.messages):
        # Seconds apart at least, so that messages of the same minute keep their order on the timeline.
        last = started + timedelta(minutes=message.minutes, seconds=10 * index)
        clock.set(last)
        post_message(
            uow,
            tenant_id=tenant_id,
            conversation_id=out.id,
            data=MessageCreate(
                direction=message.direction,
                body=message.body,
                author_kind=message.author,
                author_id=message.author_id,
                channel=message.channel,
            ),
        )
        created["messages"] += 1
    for tag in conversation.tags:
        add_tag(uow, tenant_id=tenant_id, target_type="conversation", target_id=out.id, tag=tag)
        created["tags"] += 1
    if conversation.case is not None:
        _seed_case(
            uow,
            clock,
            tenant_id=tenant_id,
            customer_id=customer_id,
            conversation_id=out.id,
            case=conversation.case,
            at=last + timedelta(minutes=1),
            now=now,
            created=created,
        )
    if conversation.closed:
        clock.set(last + timedelta(minutes=15))
        close_conversation(uow, tenant_id=tenant_id, conversation_id=out.id)


def _seed_case(
    uow: UnitOfWork,
    clock: ScriptedClock,
    *,
    tenant_id: str,
    customer_id: str,
    conversation_id: str,
    case: DemoCase,
    at: datetime,
    now: datetime,
    created: Counter[str],
) -> None:
    clock.set(at)
    out = create_case(
        uow,
        tenant_id=tenant_id,
        data=CaseCreate(
            customer_id=customer_id,
            conversation_id=conversation_id,
            subject=case.subject,
            description=case.description,
            priority=case.priority,
            status="open" if case.status == "solved" else case.status,
            assignee=case.assignee,
            due_at=now + timedelta(hours=case.due_in_hours) if case.due_in_hours is not None else None,
            tags=list(case.tags),
        ),
    )
    created["cases"] += 1
    created["tags"] += len(case.tags)
    if case.note is not None:
        clock.set(at + timedelta(minutes=3))
        add_note(
            uow,
            tenant_id=tenant_id,
            data=NoteCreate(target_type="case", target_id=out.id, body=case.note, author=case.assignee),
        )
        created["notes"] += 1
    if case.status == "solved":
        clock.set(at + timedelta(hours=4))
        update_case(uow, tenant_id=tenant_id, case_id=out.id, data=CaseUpdate(status="solved"))


def _seed_customer(
    uow: UnitOfWork,
    clock: ScriptedClock,
    *,
    tenant_id: str,
    customer: DemoCustomer,
    account_ids: dict[str, str],
    now: datetime,
    created: Counter[str],
) -> str:
    first_contact = now - timedelta(days=customer.days_ago)
    clock.set(first_contact - timedelta(minutes=5))
    out = create_customer(
        uow,
        tenant_id=tenant_id,
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
    created["customers"] += 1
    created["identities"] += len(out.identities)
    for tag in customer.tags:
        add_tag(uow, tenant_id=tenant_id, target_type="customer", target_id=out.id, tag=tag)
        created["tags"] += 1
    if customer.note is not None:
        add_note(
            uow,
            tenant_id=tenant_id,
            data=NoteCreate(target_type="customer", target_id=out.id, body=customer.note, author=PRIYA),
        )
        created["notes"] += 1
    for conversation in customer.conversations:
        _seed_conversation(
            uow,
            clock,
            tenant_id=tenant_id,
            customer_id=out.id,
            conversation=conversation,
            started=first_contact + timedelta(hours=conversation.hours),
            now=now,
            created=created,
        )
    return out.id


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
        present = 0
        showcase: str | None = None
        for customer in DEMO_CUSTOMERS:
            customer_id = _find_customer(uow, tenant_id=tenant.id, crm_id=customer.crm_id)
            if customer_id is not None:
                present += 1
            else:
                customer_id = _seed_customer(
                    uow,
                    clock,
                    tenant_id=tenant.id,
                    customer=customer,
                    account_ids=account_ids,
                    now=now,
                    created=created,
                )
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


# -- the command ---------------------------------------------------------------------------------

_SUMMARY_ORDER = (
    "accounts",
    "customers",
    "identities",
    "conversations",
    "messages",
    "cases",
    "notes",
    "tags",
    "SMS and voice number",
    "email inbox",
    "phone menu",
    "webchat settings",
    "inapp settings",
    "teams",
    "people",
    "queues",
    "routing profiles",
)


def _summary(created: Counter[str]) -> str:
    return ", ".join(f"{created[name]} {name}" for name in _SUMMARY_ORDER if created[name])


def workspace_url(*, host: str, port: int) -> str:
    """The agent workspace's sign-in page for the demo tenant, on the demo's server."""
    return f"http://{_reachable(host)}:{port}/app/sign-in?tenant={DEMO_TENANT_SLUG}"


def _reachable(host: str) -> str:
    """The host to name in a URL for a server listening on ``host`` (all interfaces: this machine)."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


@dataclass(frozen=True)
class Example:
    """A line of the demo's guide: a label, and a URL to open or a shell command to run as printed (from
    the directory the demo was started in)."""

    label: str
    text: str


def _demo_customer(crm_id: str) -> DemoCustomer:
    return next(customer for customer in DEMO_CUSTOMERS if customer.crm_id == crm_id)


def examples(
    report: SeedReport, settings: Settings, *, host: str, port: int
) -> tuple[list[Example], list[Example]]:
    """The demo's guide: the API, then each channel; every command runs as printed from the current
    directory once the demo serves on ``host``:``port``."""
    base = f"http://{_reachable(host)}:{port}"
    auth = shlex.quote(f"Authorization: Bearer {DEMO_API_KEY}")
    cli = cli_command(settings)
    cookies = shlex.quote(str(settings.data_dir / "demo-cookies.txt"))
    api = [
        Example("API docs", f"{base}/docs"),
        Example("customers", f"curl -s -H {auth} {base}/v1/customers"),
        Example(
            "a timeline", f"curl -s -H {auth} {base}/v1/customers/{report.showcase_customer_id}/timeline"
        ),
        Example("by phone", f"curl -s -H {auth} '{base}/v1/customers/lookup?kind=phone&value=415-555-2671'"),
        Example("cases", f"curl -s -H {auth} {base}/v1/cases"),
        Example("conversations", f"curl -s -H {auth} {base}/v1/conversations"),
        Example("events", f"curl -s -H {auth} '{base}/v1/events?limit=5'"),
        Example("follow events", f"{cli} events tail --tenant {DEMO_TENANT_SLUG} --follow"),
        Example("effects", f"{cli} effects list"),
        Example(
            "sign in",
            f"curl -s -c {cookies} -H 'Content-Type: application/json' {base}/v1/auth/sign-in -d "
            + shlex.quote(
                f'{{"tenant": "{DEMO_TENANT_SLUG}", "email": "{DEMO_STAFF[0].email}", '
                f'"password": "{DEMO_STAFF_PASSWORD}"}}'
            ),
        ),
        Example("signed in", f"curl -s -b {cookies} {base}/v1/auth/me"),
    ]
    channels = report.channels
    grace, ada = _demo_customer("0035e00000GrcHpr"), _demo_customer("0035e00000AdaLvL")
    grace_phone = normalise_phone(grace.phone)
    incoming, press_1 = call_us(
        channels, base=base, from_phone=grace_phone, call_sid=f"CA{secrets.token_hex(16)}"
    )
    smtp_host = _reachable(settings.smtp_host)
    tried = [
        Example("chat widget", f"{base}/widget/v1/preview/{channels.widget_key}"),
        Example(
            "text us",
            text_us(channels, base=base, from_phone=grace_phone, body="Can the technician come on Friday?"),
        ),
    ]
    if report.sms_conversation_id is not None:
        body = "Your parcel left the depot; it arrives tomorrow."
        tried.append(
            Example(
                "reply by SMS",
                reply(
                    base=base,
                    api_key=DEMO_API_KEY,
                    conversation_id=report.sms_conversation_id,
                    body=body,
                    agent=SAM,
                ),
            )
        )
    tried += [
        Example("call us", incoming),
        Example("press 1", press_1),
        Example(
            "email us",
            email_us(
                channels, smtp_host=smtp_host, smtp_port=settings.smtp_port, sender=ada.email, name=ada.name
            ),
        ),
        Example("in-app", write_in_app(channels, base=base, user_id=DEMO_APP_USER)),
        Example(
            "agent socket",
            f"ws://{_reachable(host)}:{port}/ws/agent  (Authorization: Bearer {DEMO_API_KEY})",
        ),
    ]
    return api, tried


def demo(
    host: str = typer.Option(None, help="Interface to listen on (CXSTACK_HOST, default 127.0.0.1)."),
    port: int = typer.Option(None, help="Port to listen on (CXSTACK_PORT, default 8000)."),
    serve: bool = typer.Option(
        True, "--serve/--no-serve", help="Serve the API after seeding (--no-serve: only seed)."
    ),
) -> None:
    """Seed a demo tenant (customers, conversations on every channel, cases...) and serve the API.

    Uses the database in CXSTACK_DATABASE_URL (default: the file ./var/cxstack.db), migrating it first.
    Running it again adds nothing that is already there. The demo tenant's API key is fixed and public:
    cxk_demo_local_only_not_a_secret. Keep the demo to your own machine.

    Every channel works against stand-ins that run in this process: a small Twilio for SMS and calls, an
    SMTP server that keeps the email replies, and the inbound SMTP listener (CXSTACK_SMTP_PORT, 2525).
    Nothing leaves the machine.
    """
    import uvloop

    settings = load_settings()
    # Lines are never wrapped, so that the commands can be copied as they are.
    console = Console(soft_wrap=True, highlight=False)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(
            run_demo(
                settings, host=host or settings.host, port=port or settings.port, serve=serve, console=console
            )
        )


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block, then put back what was there."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


async def run_demo(settings: Settings, *, host: str, port: int, serve: bool, console: Console) -> None:
    """Start the demo's providers, point the channels at them, seed, print the guide and, with ``serve``,
    serve until Ctrl-C. The channels' settings are read from the environment: the providers' are set
    there for as long as this runs."""

    def heard(line: str) -> None:
        console.print(f"  [dim]sent[/dim] {escape(line)}")

    providers = DemoProviders(on_send=heard)
    await providers.start()
    try:
        public_url = f"http://{_reachable(host)}:{port}"
        # The demo process performs the effects itself, also on the scale-out driver: other workers would
        # send to the real providers.
        environment = {
            **providers.environment(public_url=public_url),
            "CXSTACK_RUN_WORKERS_IN_SERVER": "true",
            # Served over plain HTTP on this machine: the session cookie cannot be HTTPS-only.
            "CXSTACK_AUTH_COOKIE_SECURE": "false",
            "CXSTACK_AUTH_PUBLIC_URL": public_url,
        }
        with _environment(environment):
            served = load_settings()
            report = await prepare_demo(served)
            _print_guide(report, served, host=host, port=port, console=console)
            if not serve:
                console.print()
                console.print(f"Not serving (--no-serve): {escape(cli_command(settings))} demo serves it.")
                return
            console.print()
            console.print(
                f"Replies go to the demo's Twilio ({providers.twilio_url}) and SMTP server "
                f"(127.0.0.1:{providers.smtp_port}), which print them here; nothing leaves this machine."
            )
            await serve_demo(served, host=host, port=port, console=console)
    finally:
        await providers.stop()


def _print_guide(report: SeedReport, settings: Settings, *, host: str, port: int, console: Console) -> None:
    created = " [green](created)[/green]" if report.tenant_created else ""
    console.print(f"[bold]cxstack demo[/bold] on {escape(settings.database_url)}")
    console.print(f"  tenant    {DEMO_TENANT_SLUG} ({report.tenant_id}){created}")
    console.print(f"  API key   [bold]{DEMO_API_KEY}[/bold]  (fixed and public: for this demo only)")
    console.print(f"  [dim]your own keys: cxstack keys create --tenant {DEMO_TENANT_SLUG} --name NAME[/dim]")
    console.print(
        f"  sign in   tenant {DEMO_TENANT_SLUG}, password [bold]{DEMO_STAFF_PASSWORD}[/bold] for each of"
    )
    for person in DEMO_STAFF:
        console.print(f"            {person.email:<22}{person.role:<11}{', '.join(person.teams)}")
    console.print(f"  workspace {workspace_url(host=host, port=port)}")
    if report.key_revoked:
        console.print("  [red]the demo key was revoked in this database; start over with a new one[/red]")
    if report.created:
        console.print(f"  seeded    {_summary(report.created)}")
    if report.customers_present:
        present = report.customers_present
        console.print(f"  [dim]{present} demo customers were there already; left as they are[/dim]")
    api, channels = examples(report, settings, host=host, port=port)
    for title, lines in (
        ("Try (from this directory)", api),
        ("Try each channel (the demo's own Twilio and SMTP server stand in for the providers)", channels),
    ):
        console.print()
        console.print(f"[bold]{title}[/bold]")
        for example in lines:
            console.print(f"  {example.label:<14}{escape(example.text)}")


async def _listen_for_email(settings: Settings, intake: EmailIntake, console: Console) -> SmtpListener | None:
    """Start the inbound SMTP listener at ``CXSTACK_SMTP_HOST``:``CXSTACK_SMTP_PORT``; None (and a line
    saying why) when the port is taken."""
    listener = SmtpListener(intake, host=settings.smtp_host, port=settings.smtp_port)
    try:
        await listener.start()
    except OSError as error:
        where = f"{settings.smtp_host}:{settings.smtp_port} (CXSTACK_SMTP_PORT)"
        console.print(f"[red]No inbound SMTP listener on {where}: {escape(str(error))}[/red]")
        return None
    return listener


class _DemoServer(uvicorn.Server):
    """uvicorn's server, stopped by SIGINT or SIGTERM through the running loop, so that the demo's clean-up
    (the runtime, the listener, the providers) runs to its end instead of being interrupted by the signal
    uvicorn would raise again once it stopped."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self.handle_exit, signum, None)
        try:
            yield
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)


async def serve_demo(settings: Settings, *, host: str, port: int, console: Console) -> None:
    """Serve the API (with the handlers, timers and effects) and the inbound SMTP listener on one runtime
    until Ctrl-C or SIGTERM."""
    runtime = Runtime.build(settings)
    await runtime.start()
    try:
        intake = EmailIntake(
            runtime.db,
            runtime.services.files,
            InboundLimits(settings.email_max_message_bytes, settings.email_max_attachment_bytes),
        )
        listener = await _listen_for_email(settings, intake, console)
        if listener is not None:
            console.print(f"Email in: SMTP on {settings.smtp_host}:{listener.port} for {DEMO_INBOX}")
        config = uvicorn.Config(
            create_app(runtime, manage_runtime=False),
            host=host,
            port=port,
            http="httptools",
            access_log=False,
            ws_per_message_deflate=False,
            log_level=settings.log_level,
        )
        console.print(f"Serving on http://{_reachable(host)}:{port} (Ctrl-C stops)")
        try:
            await _DemoServer(config).serve()
        finally:
            if listener is not None:
                await listener.stop()
    finally:
        await runtime.stop()
