"""``cxstack demo``: a demo tenant with a lived-in customer record, served in one command.

The demo migrates the database in ``CXSTACK_DATABASE_URL`` (by default the embedded file
``./var/cxstack.db``), creates the tenant ``demo`` with the fixed API key ``DEMO_API_KEY`` and seeds it:
accounts, customers with their identities (email, phone, CRM ids, webchat and in-app ids), conversations on
every channel with their messages, cases, notes and tags, spread over the last two weeks so that timelines
and the event log read like a real history. Then it serves the API.

Seeding is idempotent: each demo customer is recognised by its CRM id (an ``external`` identity) and
seeded with everything around it only when it is missing, so running the demo again writes nothing new.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

import typer
from rich.console import Console
from sqlalchemy import select

from cxstack.backbone.errors import NotFound
from cxstack.backbone.migrate import upgrade
from cxstack.backbone.unit_of_work import Context, UnitOfWork
from cxstack.channels.webchat import service as webchat
from cxstack.channels.webchat.schemas import WebchatSettingsIn
from cxstack.config import Settings
from cxstack.governance.tenants.models import ApiKey
from cxstack.governance.tenants.service import create_tenant, digest_of, get_tenant_by_slug, issue_api_key
from cxstack.records.accounts.schemas import AccountCreate
from cxstack.records.accounts.service import create_account, list_accounts
from cxstack.records.cases.schemas import CaseCreate, CaseUpdate
from cxstack.records.cases.service import create_case, update_case
from cxstack.records.conversations.schemas import ConversationCreate, MessageCreate
from cxstack.records.conversations.service import close_conversation, create_conversation, post_message
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
    #: The public key of the demo tenant's chat widget.
    widget_key: str


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


def _ensure_widget(uow: UnitOfWork, *, tenant_id: str) -> str:
    """Give the demo tenant a chat widget (always open, email asked for) unless it has one; return its key."""
    try:
        return webchat.get_settings(uow.session, tenant_id=tenant_id, channel="webchat").widget_key
    except NotFound:
        data = WebchatSettingsIn(greeting="Hi! This is the cxstack demo. Ask us anything.")
        return webchat.put_settings(uow, tenant_id=tenant_id, channel="webchat", data=data).widget_key


def seed_demo(uow: UnitOfWork, clock: ScriptedClock, *, now: datetime) -> SeedReport:
    """Create the demo tenant, its key and every demo record that is missing; return what was done.

    ``clock`` must be the unit of work's clock: seeding moves it through the demo's history.
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
        widget_key = _ensure_widget(uow, tenant_id=tenant.id)
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
        widget_key=widget_key,
    )


async def prepare_demo(settings: Settings) -> SeedReport:
    """Migrate the database, seed the demo tenant and, where the server runs the handlers, deliver the
    new events to them (so timelines are built before the first request)."""
    clock = ScriptedClock()
    runtime = Runtime.build(settings, clock=clock, run_bus=settings.server_runs_handlers)
    await runtime.db.start()
    try:
        await upgrade(runtime.db)
        now = datetime.now(UTC)
        report = await runtime.db.write(
            lambda uow: seed_demo(uow, clock, now=now), context=Context(actor="demo", source="cxstack/demo")
        )
        if runtime.bus is not None:
            await runtime.bus.drain(timeout_s=120)
    finally:
        await runtime.stop()
    return report


# -- the command ---------------------------------------------------------------------------------


def _summary(created: Counter[str]) -> str:
    order = ("accounts", "customers", "identities", "conversations", "messages", "cases", "notes", "tags")
    return ", ".join(f"{created[name]} {name}" for name in order if created[name])


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
    """
    settings = Settings()
    host = host or settings.host
    port = port or settings.port
    # Lines are never wrapped, so that the commands can be copied as they are.
    console = Console(soft_wrap=True, highlight=False)
    report = asyncio.run(prepare_demo(settings))
    base = f"http://{host}:{port}"
    auth = f"-H 'Authorization: Bearer {DEMO_API_KEY}'"
    created = " [green](created)[/green]" if report.tenant_created else ""
    console.print(f"[bold]cxstack demo[/bold] on {settings.database_url}")
    console.print(f"  tenant    {DEMO_TENANT_SLUG} ({report.tenant_id}){created}")
    console.print(f"  API key   [bold]{DEMO_API_KEY}[/bold]  (fixed and public: for this demo only)")
    if report.key_revoked:
        console.print("  [red]the demo key was revoked in this database; start over with a new one[/red]")
    if report.created:
        console.print(f"  seeded    {_summary(report.created)}")
    if report.customers_present:
        present = report.customers_present
        console.print(f"  [dim]{present} demo customers were there already; left as they are[/dim]")
    console.print()
    console.print("[bold]Try[/bold]")
    for label, example in (
        ("API docs", f"{base}/docs"),
        ("customers", f"curl {auth} {base}/v1/customers"),
        ("a timeline", f"curl {auth} {base}/v1/customers/{report.showcase_customer_id}/timeline"),
        ("by phone", f"curl {auth} '{base}/v1/customers/lookup?kind=phone&value=415-555-2671'"),
        ("cases", f"curl {auth} {base}/v1/cases"),
        ("conversations", f"curl {auth} {base}/v1/conversations"),
        ("events", f"curl {auth} '{base}/v1/events?limit=5'"),
        ("follow events", f"cxstack events tail --tenant {DEMO_TENANT_SLUG} --follow"),
        ("chat widget", f"{base}/widget/v1/preview/{report.widget_key}"),
        ("agent socket", f"ws://{host}:{port}/ws/agent  (Authorization: Bearer {DEMO_API_KEY})"),
    ):
        console.print(f"  {label:<14}{example}")
    if not serve:
        return
    from cxstack.web.server import run_server

    console.print()
    console.print(f"Serving on {base} (Ctrl-C stops)")
    run_server(settings, host=host, port=port, migrate=False)
