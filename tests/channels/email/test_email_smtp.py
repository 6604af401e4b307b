"""The inbound SMTP listener end to end: a real ``smtplib`` client talking to the real listener."""

from __future__ import annotations

import asyncio
import smtplib
import socket
from typing import Any

import httpx
import pytest
from tests.channels.email.support import INBOX, MAX_MESSAGE_BYTES, compose, fixture_bytes

from cxstack.channels.email.smtp import SmtpListener

pytestmark = pytest.mark.usefixtures("inbox")


def send(port: int, raw: bytes, *, to: list[str], sender: str = "jane.doe@gmail.com") -> dict[str, Any]:
    """Send with smtplib as a mail server would (CRLF line ends); return the refused recipients (raises on
    refusal)."""
    raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo("mx.gmail.example")
        refused: dict[str, Any] = client.sendmail(sender, to, raw)
        return refused


async def test_mail_for_an_inbox_is_accepted_threaded_and_posted(
    smtp_listener: SmtpListener, api: httpx.AsyncClient
) -> None:
    await asyncio.to_thread(send, smtp_listener.port, fixture_bytes("gmail_reply.eml"), to=[INBOX])
    [conversation] = (await api.get("/v1/conversations")).json()["data"]
    assert conversation["channel"] == "email"
    [message] = (await api.get(f"/v1/conversations/{conversation['id']}/messages")).json()["data"]
    assert message["body"].endswith("Could you send it separately?\n\nThanks,\nJane")
    # A reply over SMTP threads into the same conversation; a resend of the same message does nothing.
    reply = compose(
        sender="Jane Doe <jane.doe@gmail.com>",
        message_id="smtp-reply@mail.gmail.com",
        in_reply_to="CAF3k9Qx+7dQ2pV1u0rM7yGk=ZzF8wq1nR5E2bT7Lh0sYhVd9Xw@mail.gmail.com",
        body="One more thing: the lid is cracked too.",
    )
    await asyncio.to_thread(send, smtp_listener.port, reply, to=["Support@Acme.Example"])
    await asyncio.to_thread(send, smtp_listener.port, reply, to=[INBOX])
    messages = (await api.get(f"/v1/conversations/{conversation['id']}/messages")).json()["data"]
    assert [m["body"] for m in messages][1:] == ["One more thing: the lid is cracked too."]


async def test_mail_for_unknown_addresses_is_refused_with_550(
    smtp_listener: SmtpListener, api: httpx.AsyncClient
) -> None:
    raw = compose(message_id="nobody@example.com", to="nobody@acme.example")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        await asyncio.to_thread(send, smtp_listener.port, raw, to=["nobody@acme.example"])
    code, reason = refused.value.recipients["nobody@acme.example"]
    assert code == 550 and b"no such mailbox" in reason
    # With one good and one unknown recipient the good one gets the mail and the other is reported.
    partly = await asyncio.to_thread(
        send, smtp_listener.port, compose(message_id="partly@example.com"), to=[INBOX, "nobody@acme.example"]
    )
    assert partly["nobody@acme.example"][0] == 550
    assert len((await api.get("/v1/conversations")).json()["data"]) == 1


async def test_oversized_mail_is_refused_with_552(
    smtp_listener: SmtpListener, api: httpx.AsyncClient
) -> None:
    huge = compose(message_id="big@example.com", body="z" * (MAX_MESSAGE_BYTES + 100))
    with pytest.raises(smtplib.SMTPResponseException) as refused:
        await asyncio.to_thread(send, smtp_listener.port, huge, to=[INBOX])
    assert refused.value.smtp_code == 552
    assert (await api.get("/v1/conversations")).json()["data"] == []


async def test_mail_without_a_sender_is_refused_with_550(
    smtp_listener: SmtpListener, api: httpx.AsyncClient
) -> None:
    raw = b"To: support@acme.example\r\nSubject: hi\r\nMessage-ID: <nosender@x>\r\n\r\nhello\r\n"
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await asyncio.to_thread(send, smtp_listener.port, raw, to=[INBOX])
    assert refused.value.smtp_code == 550
    assert b"From" in refused.value.smtp_error


async def test_bounce_over_smtp_is_accepted_and_published(
    smtp_listener: SmtpListener, api: httpx.AsyncClient
) -> None:
    await asyncio.to_thread(send, smtp_listener.port, fixture_bytes("dsn_bounce.eml"), to=[INBOX], sender="")
    events = (await api.get("/v1/events", params={"type": "email.bounced"})).json()["data"]
    assert len(events) == 1
    assert (await api.get("/v1/conversations")).json()["data"] == []


def send_raw_lines(port: int, raw: bytes, *, to: str, sender: str = "jane.doe@gmail.com") -> bytes:
    """Talk SMTP over a socket, sending ``raw`` byte for byte as DATA (bare LF line ends kept, no
    dot-stuffing needed for these messages); return the server's answer to the message."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        reader = conn.makefile("rb")

        def answer() -> bytes:
            line = reader.readline()
            while line[3:4] == b"-":
                line = reader.readline()
            return line

        answer()
        for command in (b"EHLO mx.example", f"MAIL FROM:<{sender}>".encode(), f"RCPT TO:<{to}>".encode()):
            conn.sendall(command + b"\r\n")
            assert answer().startswith(b"250")
        conn.sendall(b"DATA\r\n")
        assert answer().startswith(b"354")
        conn.sendall(raw + b"\r\n.\r\n")
        result = answer()
        conn.sendall(b"QUIT\r\n")
        return result


async def bodies(api: httpx.AsyncClient) -> list[str]:
    found = []
    for conversation in (await api.get("/v1/conversations")).json()["data"]:
        messages = (await api.get(f"/v1/conversations/{conversation['id']}/messages")).json()["data"]
        found += [message["body"] for message in messages]
    return found


async def test_lines_longer_than_998_characters_are_accepted(
    smtp_listener: SmtpListener, api: httpx.AsyncClient
) -> None:
    # Outlook writes a paragraph as one line in an 8-bit text part.
    paragraph = ("We compared every invoice with the bank statements and found two differences; " * 20)[:1523]
    raw = (
        "From: Robert Smith <robert@contoso.example>\r\nTo: support@acme.example\r\nSubject: Invoices\r\n"
        "Message-ID: <long-line@contoso.example>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        f"Hello,\r\n\r\n{paragraph}\r\n\r\nRobert\r\n"
    ).encode()
    assert len(max(raw.split(b"\r\n"), key=len)) == 1523
    await asyncio.to_thread(send, smtp_listener.port, raw, to=[INBOX])
    assert await bodies(api) == [f"Hello,\n\n{paragraph}\n\nRobert"]


async def test_bare_lf_line_ends_are_accepted(smtp_listener: SmtpListener, api: httpx.AsyncClient) -> None:
    lines = [f"Line {n}: the parcel was left at the door and the box was wet." for n in range(40)]
    raw = (
        "From: Jane Doe <jane.doe@gmail.com>\nTo: support@acme.example\nSubject: Wet parcel\n"
        "Message-ID: <bare-lf@gmail.com>\n\n" + "\n".join(lines)
    ).encode()
    assert len(raw) > 2000 and b"\r" not in raw
    answer = await asyncio.to_thread(send_raw_lines, smtp_listener.port, raw, to=INBOX)
    assert answer.startswith(b"250"), answer
    assert await bodies(api) == ["\n".join(lines)]


@pytest.mark.parametrize(
    ("sender", "name", "address"),
    [
        ("Jöran Müller <joeran@example.de>", "Jöran Müller", "joeran@example.de"),
        ("Jöran Müller <jöran@exämple.de>", "Jöran Müller", "jöran@exämple.de"),
    ],
    ids=["utf8-name", "utf8-address"],
)
async def test_utf8_sender_over_smtputf8_is_accepted_and_decoded(
    smtp_listener: SmtpListener, api: httpx.AsyncClient, sender: str, name: str, address: str
) -> None:
    raw = (
        f"From: {sender}\r\nTo: support@acme.example\r\nSubject: Grüße\r\n"
        "Message-ID: <utf8-smtp@example.de>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nHallo!\r\n"
    ).encode()

    def send_utf8() -> None:
        with smtplib.SMTP("127.0.0.1", smtp_listener.port, timeout=10) as client:
            client.ehlo("mx.example.de")
            assert client.has_extn("smtputf8")
            client.sendmail(address, [INBOX], raw, mail_options=["SMTPUTF8"])

    await asyncio.to_thread(send_utf8)
    [customer] = (await api.get("/v1/customers")).json()["data"]
    assert (customer["name"], customer["email"]) == (name, address)
    assert await bodies(api) == ["Hallo!"]
