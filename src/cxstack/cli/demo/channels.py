"""The demo tenant's channels, each ready to be tried: an SMS and voice number with a phone menu, an email
inbox, the chat widget and the in-app channel, set up against the demo's own providers
(``providers``); and the shell commands that try each of them, as ``cxstack demo`` prints them.

The commands are complete: a webhook is signed as Twilio signs it (with the demo number's auth token), an
in-app request carries the user hash, an email goes to the inbound SMTP listener the demo runs.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import sys
from collections import Counter
from dataclasses import dataclass

from cxstack.backbone.unit_of_work import UnitOfWork
from cxstack.channels.email.schemas import InboxCreate
from cxstack.channels.email.service import create_inbox as create_email_inbox
from cxstack.channels.email.service import find_inbox
from cxstack.channels.numbers.schemas import NumberCreate
from cxstack.channels.numbers.service import register_number, tenant_numbers
from cxstack.channels.twilio.signatures import compute_signature
from cxstack.channels.voice.ivr.menus import get_ivr, set_ivr
from cxstack.channels.voice.schemas import IvrDefinition, IvrOption
from cxstack.channels.webchat import service as webchat
from cxstack.channels.webchat.schemas import WebchatSettingsIn, WebchatSettingsOut
from cxstack.cli.demo.providers import DEMO_TWILIO_ACCOUNT_SID, DEMO_TWILIO_AUTH_TOKEN
from cxstack.config import Settings
from cxstack.kit.errors import NotFound

#: The demo tenant's number, for SMS and calls (a fictional 555-01xx number).
DEMO_NUMBER = "+14155550100"
#: The address the demo tenant receives email at.
DEMO_INBOX = "support@cxstack-demo.example"
DEMO_INBOX_NAME = "cxstack demo support"
#: The signed-in user of the demo's app (the in-app channel makes them a customer on their first message).
DEMO_APP_USER = "demo-app-user-1"
DEMO_IVR = IvrDefinition(
    greeting="Thank you for calling the cxstack demo.",
    options=[
        IvrOption(
            key="billing",
            digit="1",
            keywords=["billing", "invoice", "payment"],
            prompt="For billing, press 1 or say billing.",
            queue="billing",
            skill="payments",
        ),
        IvrOption(
            key="support",
            digit="2",
            keywords=["support", "help", "agent"],
            prompt="For technical support, press 2 or say support.",
            queue="support",
        ),
        IvrOption(
            key="voicemail",
            digit="3",
            keywords=["message", "voicemail"],
            prompt="To leave a message, press 3.",
            action="voicemail",
        ),
    ],
)


@dataclass(frozen=True)
class DemoChannels:
    """What the commands that try the channels need to know."""

    number: str
    inbox: str
    widget_key: str
    app_key: str
    app_secret: str


def _ensure_number(uow: UnitOfWork, *, tenant_id: str, created: Counter[str]) -> None:
    if DEMO_NUMBER in tenant_numbers(uow.session, tenant_id=tenant_id):
        return
    data = NumberCreate(
        number=DEMO_NUMBER,
        account_sid=DEMO_TWILIO_ACCOUNT_SID,
        auth_token=DEMO_TWILIO_AUTH_TOKEN,
        help_text="cxstack demo: text us your question. STOP to opt out.",
    )
    register_number(uow, tenant_id=tenant_id, data=data)
    created["SMS and voice number"] += 1


def _ensure_inbox(uow: UnitOfWork, *, tenant_id: str, created: Counter[str]) -> None:
    if find_inbox(uow.session, address=DEMO_INBOX) is not None:
        return
    create_email_inbox(uow, tenant_id=tenant_id, data=InboxCreate(address=DEMO_INBOX, name=DEMO_INBOX_NAME))
    created["email inbox"] += 1


def _ensure_ivr(uow: UnitOfWork, *, tenant_id: str, created: Counter[str]) -> None:
    if get_ivr(uow.session, tenant_id=tenant_id).configured:
        return
    set_ivr(uow, tenant_id=tenant_id, data=DEMO_IVR)
    created["phone menu"] += 1


def _ensure_live(
    uow: UnitOfWork, *, tenant_id: str, channel: webchat.LiveChannel, greeting: str, created: Counter[str]
) -> WebchatSettingsOut:
    try:
        return webchat.get_settings(uow.session, tenant_id=tenant_id, channel=channel)
    except NotFound:
        created[f"{channel} settings"] += 1
        data = WebchatSettingsIn(greeting=greeting)
        return webchat.put_settings(uow, tenant_id=tenant_id, channel=channel, data=data)


def ensure_channels(uow: UnitOfWork, *, tenant_id: str, created: Counter[str]) -> DemoChannels:
    """Set up each channel of the demo tenant that is not set up yet (counted in ``created``); return them.

    Raises Conflict when another tenant of the database has the demo's number or inbox.
    """
    _ensure_number(uow, tenant_id=tenant_id, created=created)
    _ensure_inbox(uow, tenant_id=tenant_id, created=created)
    _ensure_ivr(uow, tenant_id=tenant_id, created=created)
    widget = _ensure_live(
        uow,
        tenant_id=tenant_id,
        channel="webchat",
        greeting="Hi! This is the cxstack demo. Ask us anything.",
        created=created,
    )
    app = _ensure_live(
        uow, tenant_id=tenant_id, channel="inapp", greeting="Hi from the demo app.", created=created
    )
    return DemoChannels(
        number=DEMO_NUMBER,
        inbox=DEMO_INBOX,
        widget_key=widget.widget_key,
        app_key=app.widget_key,
        app_secret=app.identity_secret,
    )


# -- the commands ----------------------------------------------------------------------------------


def cli_command(settings: Settings) -> str:
    """How to run this very ``cxstack`` from the current directory, as a shell command: the console script
    beside this interpreter (``.venv/bin/cxstack`` in a checkout), preceded by the database's setting when
    it is not the default one, so that the command reads the database the demo wrote."""
    script = os.path.join(os.path.dirname(os.path.abspath(sys.executable)), "cxstack")
    if os.path.exists(script):
        relative = os.path.relpath(script)
        command = shlex.quote(relative if not relative.startswith("..") else script)
    else:
        command = f"{shlex.quote(os.path.abspath(sys.executable))} -m cxstack.cli.main"
    prefix = []
    for name, value in (("database_url", settings.database_url), ("nats_url", settings.nats_url)):
        if value != Settings.model_fields[name].default:
            prefix.append(f"CXSTACK_{name.upper()}={shlex.quote(str(value))}")
    return " ".join([*prefix, command])


def _signed_twilio_post(url: str, params: list[tuple[str, str]]) -> str:
    signature = compute_signature(url, params, DEMO_TWILIO_AUTH_TOKEN)
    fields = " ".join(f"--data-urlencode {shlex.quote(f'{name}={value}')}" for name, value in params)
    return f"curl -s {shlex.quote(url)} -H {shlex.quote(f'X-Twilio-Signature: {signature}')} {fields}"


def text_us(channels: DemoChannels, *, base: str, from_phone: str, body: str) -> str:
    """A curl that posts Twilio's incoming-message webhook, signed, for a text from ``from_phone``."""
    return _signed_twilio_post(
        f"{base}/hooks/sms/twilio",
        [
            ("MessageSid", "SM" + secrets.token_hex(16)),
            ("AccountSid", DEMO_TWILIO_ACCOUNT_SID),
            ("From", from_phone),
            ("To", channels.number),
            ("Body", body),
            ("NumMedia", "0"),
        ],
    )


def call_us(channels: DemoChannels, *, base: str, from_phone: str, call_sid: str) -> tuple[str, str]:
    """Two curls: Twilio's incoming-call webhook (answered with the menu), then the caller pressing 1."""
    account = ("AccountSid", DEMO_TWILIO_ACCOUNT_SID)
    incoming = _signed_twilio_post(
        f"{base}/hooks/voice/twilio/incoming",
        [
            ("CallSid", call_sid),
            account,
            ("From", from_phone),
            ("To", channels.number),
            ("CallStatus", "ringing"),
            ("Direction", "inbound"),
        ],
    )
    gather = _signed_twilio_post(
        f"{base}/hooks/voice/twilio/gather", [("CallSid", call_sid), account, ("Digits", "1")]
    )
    return incoming, gather


def email_us(channels: DemoChannels, *, smtp_host: str, smtp_port: int, sender: str, name: str) -> str:
    """A curl that hands an email from ``sender`` to the inbound SMTP listener."""
    message_id = f"<{secrets.token_hex(8)}@{sender.partition('@')[2]}>"
    raw = (
        f"From: {name} <{sender}>\\r\\nTo: {channels.inbox}\\r\\nSubject: Is the export fixed?\\r\\n"
        f"Message-ID: {message_id}\\r\\n\\r\\nHello! Does the invoice export work in Firefox now?\\r\\n"
    )
    return (
        f"printf {shlex.quote(raw)} | curl -s smtp://{smtp_host}:{smtp_port} "
        f"--mail-from {sender} --mail-rcpt {channels.inbox} -T -"
    )


def write_in_app(channels: DemoChannels, *, base: str, user_id: str) -> str:
    """A curl that posts a message as the app's signed-in user ``user_id``."""
    user_hash = webchat.user_hash(channels.app_secret, user_id)
    body = json.dumps(
        {"body": "Hi from the app: where do I find my invoices?", "client_id": f"demo-{secrets.token_hex(6)}"}
    )
    headers = " ".join(
        f"-H {shlex.quote(header)}"
        for header in (
            f"X-App-Key: {channels.app_key}",
            f"X-User-Id: {user_id}",
            f"X-User-Hash: {user_hash}",
            "Content-Type: application/json",
        )
    )
    return f"curl -s {base}/v1/inapp/messages {headers} -d {shlex.quote(body)}"


def reply(*, base: str, api_key: str, conversation_id: str, body: str, agent: str) -> str:
    """A curl that posts an agent's reply to a conversation (sent on the conversation's channel)."""
    data = json.dumps({"direction": "outbound", "body": body, "author_kind": "agent", "author_id": agent})
    return (
        f"curl -s -H {shlex.quote(f'Authorization: Bearer {api_key}')} -H 'Content-Type: application/json' "
        f"{base}/v1/conversations/{conversation_id}/messages -d {shlex.quote(data)}"
    )
