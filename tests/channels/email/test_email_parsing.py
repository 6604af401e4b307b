"""Reading real-world raw messages: headers, the reply without its quoted history, HTML, attachments,
bounces and automatic replies."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tests.channels.email.support import compose, fixture_bytes

from cxstack.channels.email.parsing import (
    UnreadableEmail,
    parse_email,
    split_plus_address,
    strip_reply,
)


def test_gmail_reply_keeps_only_what_was_written_this_time() -> None:
    email = parse_email(fixture_bytes("gmail_reply.eml"))
    assert email.kind == "message"
    assert email.message_id == "CAF3k9Qx+7dQ2pV1u0rM7yGk=ZzF8wq1nR5E2bT7Lh0sYhVd9Xw@mail.gmail.com"
    assert email.in_reply_to == ["msg_01HQZX5V7K3M.4f2a9c1b@acme.example"]
    assert email.references == ["msg_01HQZX5V7K3M.4f2a9c1b@acme.example"]
    assert email.sender is not None
    assert (email.sender.name, email.sender.address) == ("Jane Doe", "jane.doe@gmail.com")
    assert [m.address for m in email.to] == ["support+4f2a9c1b@acme.example"]
    assert email.subject == "Re: Your order #4412 has shipped"
    assert email.date == datetime(2024, 3, 4, 10, 30, 52, tzinfo=UTC)
    assert email.reply_text == (
        "Hi,\n\nThe parcel arrived but the blue mug is missing. Could you send it separately?"
        "\n\nThanks,\nJane"
    )
    # The whole text keeps the history and the signature.
    assert "Your order #4412 has shipped and should arrive tomorrow." in email.text
    assert "Head of Coffee" in email.text
    assert email.html is not None and "gmail_quote" in email.html
    assert email.attachments == []


def test_outlook_reply_drops_the_from_sent_block() -> None:
    email = parse_email(fixture_bytes("outlook_reply.eml"))
    assert email.sender is not None and email.sender.address == "robert.smith@contoso.com"
    assert email.sender.name == "Smith, Robert"
    assert email.reply_text == (
        "Hello,\n\nOur finance team says the VAT number on the invoice is wrong. It should be GB123456789."
        "\n\nBest regards\nRobert"
    )
    assert "Please find your invoice attached" not in email.reply_text


def test_outlook_original_message_separator_ends_the_reply() -> None:
    email = parse_email(fixture_bytes("outlook_original_message.eml"))
    assert email.reply_text == "Still failing this morning \u2013 same \u201cinvalid token\u201d error."
    assert email.message_id == "000001da6f8a$1c2d3e40$54576ac0$@patel-consulting.example"
    assert email.date == datetime(2024, 3, 6, 2, 45, tzinfo=UTC)


def test_apple_mail_reply_drops_sent_from_my_iphone_and_the_quote() -> None:
    email = parse_email(fixture_bytes("apple_mail_reply.eml"))
    assert email.reply_text == "Got it, thanks. I'll drop the parcel off tomorrow."
    assert email.message_id == "8D2E4A61-3F7B-4C8E-9A1D-52B6E0F7C913@icloud.com"


def test_html_only_message_becomes_readable_text() -> None:
    email = parse_email(fixture_bytes("html_only.eml"))
    assert email.sender is not None and email.sender.name == "Zöe Müller"
    assert email.subject == "Bestellung nicht angekommen"
    text = email.text
    assert "meine Bestellung #9901 ist nicht angekommen & die Sendungsverfolgung zeigt nichts." in text
    assert "* Artikel: Tasse" in text and "* Menge: 2" in text
    assert "Bestellt" in text and "1. März" in text
    assert "Grüße\nZoë" in text
    # Style sheets, scripts and markup do not leak into the text.
    for leaked in ("color:", "alert(1)", "<p>", "&amp;"):
        assert leaked not in text
    assert email.reply_text == text


def test_attachments_are_read_with_name_type_and_bytes() -> None:
    email = parse_email(fixture_bytes("attachments.eml"))
    assert email.reply_text == "Photos of the broken mug attached, plus the receipt."
    assert [(a.filename, a.content_type) for a in email.attachments] == [
        ("mug.png", "image/png"),
        ("receipt.pdf", "application/pdf"),
    ]
    assert email.attachments[0].data.startswith(b"\x89PNG\r\n")
    assert email.attachments[1].data.startswith(b"%PDF-1.4")


def test_delivery_status_notification_is_a_bounce_naming_the_failed_recipient() -> None:
    email = parse_email(fixture_bytes("dsn_bounce.eml"))
    assert email.kind == "bounce"
    assert email.bounce is not None
    assert email.bounce.original_message_id == "msg_01HR9ZZZZZZZ.deadbeef@acme.example"
    [failed] = email.bounce.recipients
    assert failed.address == "nobody@nowhere.example"
    assert failed.action == "failed"
    assert failed.status == "5.1.1"
    assert "User unknown" in failed.diagnostic
    assert failed.permanent
    assert email.attachments == []


def test_mailer_daemon_bounce_without_a_report_uses_x_failed_recipients() -> None:
    raw = compose(
        sender="Mail Delivery System <Mailer-Daemon@mx.example.net>",
        subject="Mail delivery failed: returning message to sender",
        body="This message was created automatically by mail delivery software.",
        message_id="exim-bounce-1@mx.example.net",
        headers={"X-Failed-Recipients": "gone@example.org"},
    )
    email = parse_email(raw)
    assert email.kind == "bounce"
    assert email.bounce is not None
    assert [r.address for r in email.bounce.recipients] == ["gone@example.org"]


def test_out_of_office_is_an_auto_reply() -> None:
    email = parse_email(fixture_bytes("out_of_office.eml"))
    assert email.kind == "auto_reply"
    assert email.auto_reply_reason == "Auto-Submitted: auto-replied"


@pytest.mark.parametrize(
    ("headers", "subject", "reason"),
    [
        ({"Auto-Submitted": "auto-generated"}, "Hello", "Auto-Submitted: auto-generated"),
        ({"X-Autoreply": "yes"}, "Hello", "X-Autoreply: yes"),
        ({"X-Autorespond": "Thanks for your mail"}, "Hello", "X-Autorespond: Thanks for your mail"),
        ({"Precedence": "auto_reply"}, "Hello", "Precedence: auto_reply"),
        ({"Precedence": "bulk"}, "Hello", "Precedence: bulk"),
        ({}, "Out of Office: Re: Help with my order", "Subject: Out of Office: Re: Help with my order"),
        ({}, "Automatic reply: Help", "Subject: Automatic reply: Help"),
    ],
)
def test_automatic_replies_are_recognised(headers: dict[str, str], subject: str, reason: str) -> None:
    email = parse_email(compose(subject=subject, message_id="ar@example.com", headers=headers))
    assert email.kind == "auto_reply"
    assert email.auto_reply_reason == reason


@pytest.mark.parametrize(
    ("headers", "subject"),
    [
        ({"Auto-Submitted": "no"}, "Hello"),
        ({"Precedence": "list"}, "Hello"),
        ({}, "My office is out of paper"),
    ],
)
def test_messages_people_wrote_are_not_auto_replies(headers: dict[str, str], subject: str) -> None:
    email = parse_email(compose(subject=subject, message_id="m@example.com", headers=headers))
    assert email.kind == "message"
    assert email.auto_reply_reason is None


def test_message_without_message_id_gets_a_stable_one_from_its_bytes() -> None:
    raw = compose(message_id=None)
    first, second = parse_email(raw), parse_email(raw)
    assert not first.has_message_id
    assert first.message_id == second.message_id
    assert first.message_id.endswith("@sha256.cxstack.invalid")
    assert parse_email(compose(message_id=None, body="other")).message_id != first.message_id


def test_references_alone_are_the_ancestors_nearest_first() -> None:
    email = parse_email(compose(message_id="c@x", references=["a@x", "b@x"]))
    assert email.in_reply_to == []
    assert email.referenced_ids == ["b@x", "a@x"]


def test_garbage_is_unreadable() -> None:
    with pytest.raises(UnreadableEmail):
        parse_email(b"")
    with pytest.raises(UnreadableEmail):
        parse_email(b"this is not an email at all\n\nreally")


def test_strip_reply_cuts_signature_and_quoted_lines() -> None:
    text = "Yes please.\n> earlier text\n> more\n\n-- \nSam\n+1 555 0100"
    assert strip_reply(text) == "Yes please."
    wrapped = "Sounds good.\n\nOn Tue, 5 Mar 2024 at 09:12, Acme Support <support@acme.example>\nwrote:\n> hi"
    assert strip_reply(wrapped) == "Sounds good."


def test_plus_addresses_split_into_inbox_and_token() -> None:
    assert split_plus_address("Support+AB12cd@Acme.Example") == ("support@acme.example", "ab12cd")
    assert split_plus_address("support@acme.example") == ("support@acme.example", None)
