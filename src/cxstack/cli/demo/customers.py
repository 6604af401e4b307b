"""The demo's accounts, and the customers of its history: two weeks of conversations across channels,
with cases, notes and tags (``inbox`` adds the ones waiting today)."""

from __future__ import annotations

from cxstack.cli.demo.inbox import DEMO_INBOX_CUSTOMERS
from cxstack.cli.demo.model import (
    PRIYA,
    SAM,
    DemoAccount,
    DemoCase,
    DemoConversation,
    DemoCustomer,
    DemoMessage,
)

DEMO_ACCOUNTS = (
    DemoAccount("Northwind Traders", "northwind.example", "enterprise", 1_250_000_00),
    DemoAccount("Globex Retail", "globex.example", "growth", 310_000_00),
    DemoAccount("Initech", "initech.example", "starter", 48_000_00),
)

#: The customers of the last two weeks: each with a history across channels, and cases.
DEMO_HISTORY: tuple[DemoCustomer, ...] = (
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
                status="closed",
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
                status="closed",
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
                status="closed",
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
                status="closed",
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


#: Every demo customer, in the order they are seeded.
DEMO_CUSTOMERS: tuple[DemoCustomer, ...] = (*DEMO_HISTORY, *DEMO_INBOX_CUSTOMERS)
