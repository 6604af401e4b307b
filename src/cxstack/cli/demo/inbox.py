"""The demo's inbox today: customers who wrote in over the last days on every channel, with work open,
pending and queued, so that an agent who signs in finds a day's work waiting.

What it holds beside the history (``customers``): an email thread of three mails with an internal note
that mentions Sam (the demo agent), chats, texts and app messages nobody has taken yet (routing queues them
for the Support team), a refund waiting on the customer, calls with their transcripts, and customers who
came back on another channel.
"""

from __future__ import annotations

from cxstack.cli.demo.model import (
    BOT,
    LEO,
    MORGAN,
    PRIYA,
    SAM,
    DemoConversation,
    DemoCustomer,
    DemoMessage,
    DemoNote,
)

#: The note that mentions the demo agent (Sam), on the email thread.
MENTION_OF_SAM = (
    "@sam@demo.example Globex renews next month and this export feeds their board report: "
    "please keep Hiro posted daily until it is fixed."
)

DEMO_INBOX_CUSTOMERS: tuple[DemoCustomer, ...] = (
    DemoCustomer(
        name="Hiro Tanaka",
        email="hiro@globex.example",
        phone="+1 415 555 0188",
        crm_id="0035e00000HirTnk",
        days_ago=2,
        account_domain="globex.example",
        attributes={"role": "Data Engineer"},
        conversations=(
            DemoConversation(
                hours=0,
                channel="sms",
                subject="Maintenance window",
                assignee=LEO,
                status="closed",
                messages=(
                    DemoMessage(0, "inbound", "Is the maintenance window still tonight at 11pm?"),
                    DemoMessage(
                        4, "outbound", "Yes, 11pm to 11:30pm Pacific. No action needed.", "agent", LEO
                    ),
                ),
            ),
            DemoConversation(
                hours=30,
                channel="email",
                subject="Scheduled export to S3 stops at 10,000 rows",
                assignee=SAM,
                priority="high",
                tags=("data-export", "bug"),
                messages=(
                    DemoMessage(
                        0,
                        "inbound",
                        "Hello,\n\nOur nightly export to S3 has stopped at exactly 10,000 rows since Monday. "
                        "The job reports success. Can you check?\n\nHiro",
                    ),
                    DemoMessage(
                        55,
                        "outbound",
                        "Hi Hiro,\n\nThanks for the detail. The export now pages its results and the last "
                        "page is not written. I've raised it with engineering; a manual export from "
                        "Reports is not affected meanwhile.\n\nSam",
                        "agent",
                        SAM,
                    ),
                    DemoMessage(
                        240,
                        "inbound",
                        "Thanks Sam. The manual export works. Any date for the fix? Our board report "
                        "runs on Friday.",
                    ),
                ),
                notes=(DemoNote(5, MORGAN, MENTION_OF_SAM),),
            ),
        ),
    ),
    DemoCustomer(
        name="Sofia García",
        email="sofia@initech.example",
        phone="+34 612 555 014",
        crm_id="0035e00000SofGrc",
        days_ago=3,
        account_domain="initech.example",
        identities=(("inapp_user", "it-user-12"), ("webchat_visitor", "visitor-8c1d07")),
        attributes={"language": "es"},
        conversations=(
            DemoConversation(
                hours=0,
                channel="inapp",
                subject="Dark mode",
                status="closed",
                assignee=PRIYA,
                messages=(
                    DemoMessage(0, "inbound", "¿Hay modo oscuro en la app?"),
                    DemoMessage(6, "outbound", "¡Sí! Ajustes → Apariencia → Oscuro.", "agent", PRIYA),
                ),
            ),
            DemoConversation(
                hours=71,
                channel="webchat",
                subject="Facturas en español",
                tags=("language",),
                messages=(
                    DemoMessage(0, "inbound", "Hola, ¿puedo recibir las facturas en español?"),
                    DemoMessage(0, "outbound", "¡Gracias! Un agente te atenderá enseguida.", "bot", BOT),
                ),
            ),
        ),
    ),
    DemoCustomer(
        name="Omar Haddad",
        email="omar.haddad@example.net",
        phone="+1 646 555 0162",
        crm_id="0035e00000OmrHdd",
        days_ago=0,
        minutes_ago=25,
        tags=("returns",),
        conversations=(
            DemoConversation(
                hours=0,
                channel="sms",
                subject="Order #5530 arrived damaged",
                priority="high",
                tags=("returns",),
                messages=(
                    DemoMessage(0, "inbound", "Hi, my order #5530 arrived with a cracked screen."),
                    DemoMessage(1, "inbound", "Can I get a replacement rather than a refund?"),
                ),
            ),
        ),
    ),
    DemoCustomer(
        name="Chen Wei",
        email="chen@northwind.example",
        phone="+1 408 555 0134",
        crm_id="0035e00000ChnWei",
        days_ago=1,
        account_domain="northwind.example",
        identities=(("inapp_user", "nw-user-1042"),),
        conversations=(
            DemoConversation(
                hours=0,
                channel="voice",
                subject="Call: adding seats mid-term",
                assignee=SAM,
                status="closed",
                messages=(
                    DemoMessage(0, "inbound", "[call transcript] Can we add ten seats before the renewal?"),
                    DemoMessage(
                        5,
                        "outbound",
                        "[call transcript] Added ten seats, prorated on the next invoice.",
                        "agent",
                        SAM,
                    ),
                ),
            ),
            DemoConversation(
                hours=23,
                channel="inapp",
                subject="Dashboard charts are blank",
                priority="urgent",
                tags=("bug",),
                messages=(
                    DemoMessage(0, "inbound", "Since this morning every chart on the dashboard is blank."),
                    DemoMessage(3, "inbound", "It's the same for my whole team."),
                ),
            ),
        ),
    ),
    DemoCustomer(
        name="Fatima Okafor",
        email="fatima@okafor-design.example",
        phone="+44 20 7946 0958",
        crm_id="0035e00000FtmOkf",
        days_ago=4,
        tags=("refund",),
        conversations=(
            DemoConversation(
                hours=0,
                channel="email",
                subject="Charged twice in March",
                assignee=LEO,
                status="pending",
                tags=("billing", "refund"),
                messages=(
                    DemoMessage(0, "inbound", "I was charged twice for March. Please refund one of them."),
                    DemoMessage(
                        45,
                        "outbound",
                        "I see both charges. Could you send the last four digits of the card charged?",
                        "agent",
                        LEO,
                    ),
                ),
            ),
        ),
    ),
    DemoCustomer(
        name="Noah Schmidt",
        email="noah@schmidt-bikes.example",
        phone="+49 30 5555 0170",
        crm_id="0035e00000NohSmd",
        days_ago=0,
        minutes_ago=50,
        identities=(("webchat_visitor", "visitor-41aa3e"),),
        conversations=(
            DemoConversation(
                hours=0,
                channel="webchat",
                subject="Export contacts",
                assignee=SAM,
                priority="low",
                messages=(
                    DemoMessage(0, "inbound", "How do I export my contacts to a spreadsheet?"),
                    DemoMessage(0, "outbound", "Let me find someone to help you.", "bot", BOT),
                    DemoMessage(
                        2, "outbound", "Hi Noah! Contacts → ⋯ → Export CSV. Want me to stay on?", "agent", SAM
                    ),
                    DemoMessage(4, "inbound", "Trying it now."),
                ),
            ),
        ),
    ),
    DemoCustomer(
        name="Elena Petrova",
        email="elena@petrova-law.example",
        phone="+1 305 555 0111",
        crm_id="0035e00000ElnPtr",
        days_ago=0,
        minutes_ago=15,
        tags=("lead",),
        conversations=(
            DemoConversation(
                hours=0,
                channel="voice",
                subject="Call: switching to the annual plan",
                assignee=PRIYA,
                tags=("upgrade",),
                messages=(
                    DemoMessage(
                        0, "inbound", "[call transcript] We'd like to switch to annual billing for 12 seats."
                    ),
                    DemoMessage(
                        4,
                        "outbound",
                        "[call transcript] Sent the annual quote; it applies from the next cycle.",
                        "agent",
                        PRIYA,
                    ),
                ),
            ),
        ),
    ),
)
