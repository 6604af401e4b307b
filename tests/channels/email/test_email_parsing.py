"""Reading real-world raw messages: headers, the reply without its quoted history, HTML, attachments,
bounces and automatic replies."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage

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


def _with_attachment(headers: bytes) -> bytes:
    return (
        b"From: Jane <jane@example.com>\r\nTo: support@acme.example\r\nSubject: files\r\n"
        b"Message-ID: <files@example.com>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n'
        b"see attached\r\n--b\r\n" + headers + b"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"JVBERi0=\r\n--b--\r\n"
    )


@pytest.mark.parametrize(
    ("headers", "name"),
    [
        (
            b"Content-Disposition: attachment; filename*=UTF-8''Rechnung%20M%C3%A4rz%202024.pdf",
            "Rechnung März 2024.pdf",
        ),
        (
            b"Content-Disposition: attachment;\r\n filename*0*=UTF-8''Rechnung%20M%C3%A4rz;"
            b"\r\n filename*1*=%202024.pdf",
            "Rechnung März 2024.pdf",
        ),
        (b"Content-Disposition: attachment; filename=Quarterly report 2024.pdf", "Quarterly report 2024.pdf"),
        (
            b"Content-Disposition: attachment; filename*=UTF-8''Quarterly report 2024.pdf",
            "Quarterly report 2024.pdf",
        ),
        (
            b'Content-Disposition: attachment; filename="fallback.pdf";'
            b" filename*=UTF-8''R%C3%A9sum%C3%A9.pdf",
            "Résumé.pdf",
        ),
        (b"Content-Disposition: attachment; filename*=UTF-8'R%C3%A9sum%C3%A9.pdf", "Résumé.pdf"),
        (b"Content-Disposition: attachment; filename*=ks_c_5601-1987''%B1%E8%C4%A1.pdf", "김치.pdf"),
        (b"Content-Disposition: attachment; filename*=iso-8859-1'de'Pr%FCfung.pdf", "Prüfung.pdf"),
        (b'Content-Disposition: attachment; filename="Rechnung M\xc3\xa4rz.pdf"', "Rechnung März.pdf"),
        (
            b'Content-Disposition: attachment; filename="=?UTF-8?Q?Rechnung_M=C3=A4rz.pdf?="',
            "Rechnung März.pdf",
        ),
        (b'Content-Disposition: attachment; filename="C:\\\\fakepath\\\\scan.pdf"', "scan.pdf"),
    ],
    ids=[
        "rfc2231",
        "rfc2231-continued",
        "unquoted-spaces",
        "rfc2231-unencoded-spaces",
        "rfc2231-preferred",
        "rfc2231-no-language-quote",
        "rfc2231-korean",
        "rfc2231-latin1",
        "raw-utf8",
        "encoded-word",
        "windows-path",
    ],
)
def test_attachment_names_are_read_as_the_sender_wrote_them(headers: bytes, name: str) -> None:
    [attachment] = parse_email(_with_attachment(b"Content-Type: application/pdf\r\n" + headers)).attachments
    assert attachment.filename == name
    assert attachment.content_type == "application/pdf"


def test_utf8_sender_names_and_addresses_are_decoded() -> None:
    raw = (
        'From: Jöran Müller <jöran@exämple.de>\r\nCc: "Łukasz Żółć" <lukasz@example.pl>\r\n'
        "To: support@acme.example\r\nSubject: Grüße aus Köln\r\nMessage-ID: <utf8@exämple.de>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
        "\r\nHallo\r\n"
    ).encode()
    email = parse_email(raw)
    assert email.sender is not None
    assert (email.sender.name, email.sender.address) == ("Jöran Müller", "jöran@exämple.de")
    assert [(m.name, m.address) for m in email.cc] == [("Łukasz Żółć", "lukasz@example.pl")]
    assert email.subject == "Grüße aus Köln"
    # A raw header in an old 8-bit charset is read, not kept as undecodable bytes.
    latin = parse_email(b"From: Ren\xe9 Dupont <rene@example.fr>\r\nSubject: x\r\n\r\nBonjour\r\n")
    assert latin.sender is not None and latin.sender.name == "René Dupont"


def test_html_only_replies_lose_their_quote_containers_and_keep_their_layout() -> None:
    html = (
        "<html><body class='hmmessage'><div dir='ltr'><div>Hi. I am fine.</div><div><br></div>"
        '<div>Thanks,</div><div>Alex</div><div><hr id="stopSpelling">Date: Thu, 26 Jun 2014 13:53:45 +0400'
        "<br>Subject: Test<br>From: support@acme.example<br>To: alex@hotmail.com<br><br>"
        "<div>Hello! How are you?</div></div></div></body></html>"
    )
    message = EmailMessage()
    message["From"] = "Alex <alex@hotmail.com>"
    message["Subject"] = "RE: Test"
    message.set_content(html, subtype="html")
    email = parse_email(message.as_bytes())
    assert email.reply_text == "Hi. I am fine.\n\nThanks,\nAlex"
    assert "Hello! How are you?" in email.text


def test_strip_reply_keeps_what_is_written_under_and_between_quotes() -> None:
    bottom = "On Mon, 4 Mar 2024 at 10:30, Acme <support@acme.example> wrote:\n> Which size?\n\nLarge."
    assert strip_reply(bottom) == "Large."
    after = (
        "Thanks!\n\nOn Mon, 4 Mar 2024 at 10:30, Acme <support@acme.example> wrote:\n> Sent.\n\n"
        "PS: new address."
    )
    assert strip_reply(after) == "Thanks!\n\nPS: new address."
    inline = (
        "On Mon, 4 Mar 2024 at 10:30, Acme <support@acme.example> wrote:\n> Size?\n\nL\n\n> Colour?\n\nBlue"
    )
    assert strip_reply(inline) == "> Size?\n\nL\n\n> Colour?\n\nBlue"


def test_strip_reply_keeps_prompts_quotes_without_attribution_and_forwards() -> None:
    prompt = "I ran:\n\n>>> client.get_order(4412)\nKeyError: 'items'\n\nCan you help?"
    assert strip_reply(prompt) == prompt
    forward = (
        "FYI\n\n---------- Forwarded message ---------\nFrom: Courier <c@courier.example>\n\nParcel lost."
    )
    assert strip_reply(forward) == forward
    # A signature above the forwarded message ends what was written, not the forward.
    signed = forward.replace("FYI\n", "FYI\n-- \nJane Doe\n")
    assert strip_reply(signed) == forward
