"""What ``cxstack demo`` prints: what was seeded, how to sign in, and the commands that try the API and
each channel, complete and runnable as printed."""

from __future__ import annotations

import secrets
import shlex
from collections import Counter
from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape

from cxstack.cli.demo.channels import (
    DEMO_APP_USER,
    call_us,
    cli_command,
    email_us,
    reply,
    text_us,
    write_in_app,
)
from cxstack.cli.demo.customers import DEMO_CUSTOMERS
from cxstack.cli.demo.model import DemoCustomer
from cxstack.cli.demo.seeding import DEMO_API_KEY, DEMO_TENANT_SLUG, SeedReport
from cxstack.cli.demo.staff import DEMO_STAFF, DEMO_STAFF_PASSWORD
from cxstack.config import Settings
from cxstack.records.customers.service import normalise_phone

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
    return f"http://{reachable(host)}:{port}/app/sign-in?tenant={DEMO_TENANT_SLUG}"


def reachable(host: str) -> str:
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
    base = f"http://{reachable(host)}:{port}"
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
    smtp_host = reachable(settings.smtp_host)
    tried = [
        Example("chat widget", f"{base}/widget/v1/preview/{channels.widget_key}"),
        Example(
            "text us",
            text_us(channels, base=base, from_phone=grace_phone, body="Can the technician come on Friday?"),
        ),
    ]
    if report.sms_conversation_id is not None:
        body = "A replacement for order #5530 ships today: keep the damaged one."
        tried.append(
            Example(
                "reply by SMS",
                reply(
                    base=base,
                    api_key=DEMO_API_KEY,
                    conversation_id=report.sms_conversation_id,
                    body=body,
                    agent=report.agent_id,
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
            f"ws://{reachable(host)}:{port}/ws/agent  (Authorization: Bearer {DEMO_API_KEY})",
        ),
    ]
    return api, tried


def print_guide(report: SeedReport, settings: Settings, *, host: str, port: int, console: Console) -> None:
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
