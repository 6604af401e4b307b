"""``cxstack email parse``: what cxstack would store for a raw message, printed without storing it."""

from __future__ import annotations

from pathlib import Path

import orjson
from tests.channels.email.support import MESSAGES
from typer.testing import CliRunner

from cxstack.cli.main import app

runner = CliRunner()


def test_parse_prints_kind_sender_subject_attachments_and_the_stripped_body() -> None:
    result = runner.invoke(app, ["email", "parse", str(MESSAGES / "attachments.eml")])
    assert result.exit_code == 0, result.output
    assert result.output == (
        "kind: message\n"
        "from: Jane Doe <jane.doe@gmail.com>\n"
        "subject: Damaged item photos\n"
        "attachments:\n"
        "  mug.png (image/png, 70 bytes)\n"
        "  receipt.pdf (application/pdf, 77 bytes)\n"
        "\n"
        "Photos of the broken mug attached, plus the receipt.\n"
    )


def test_parse_json_is_one_object_with_the_stored_body(tmp_path: Path) -> None:
    message = tmp_path / "reply.eml"
    message.write_bytes(
        "From: Jöran Müller <jöran@exämple.de>\r\nTo: support@acme.example\r\nSubject: Re: Rechnung\r\n"
        "Message-ID: <cli@exämple.de>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        "Die korrigierte Rechnung ist angehängt.\r\n\r\n"
        "Am 04.03.2024 um 10:30 schrieb Acme Support <support@acme.example>:\r\n> Bitte prüfen.\r\n"
        "--b\r\nContent-Type: application/pdf\r\n"
        "Content-Disposition: attachment; filename*=UTF-8''Rechnung%20M%C3%A4rz.pdf\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n".encode()
    )
    result = runner.invoke(app, ["email", "parse", "--json", str(message)])
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout) == {
        "kind": "message",
        "from": {"name": "Jöran Müller", "address": "jöran@exämple.de"},
        "subject": "Re: Rechnung",
        "body": "Die korrigierte Rechnung ist angehängt.",
        "attachments": [{"name": "Rechnung März.pdf", "type": "application/pdf", "size": 5}],
    }


def test_parse_reads_bounces_and_auto_replies_and_standard_input() -> None:
    bounce = runner.invoke(app, ["email", "parse", "--json", str(MESSAGES / "dsn_bounce.eml")])
    assert orjson.loads(bounce.stdout)["kind"] == "bounce"
    raw = (MESSAGES / "out_of_office.eml").read_bytes()
    auto = runner.invoke(app, ["email", "parse", "--json", "-"], input=raw)
    assert auto.exit_code == 0, auto.output
    assert orjson.loads(auto.stdout)["kind"] == "auto_reply"


def test_parse_names_a_missing_file_and_a_file_that_is_no_email(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["email", "parse", str(tmp_path / "nope.eml")])
    assert missing.exit_code == 2
    assert "nope.eml: no such file" in missing.stderr
    garbage = tmp_path / "notes.txt"
    garbage.write_bytes(b"this is not an email at all\n\nreally")
    unreadable = runner.invoke(app, ["email", "parse", str(garbage)])
    assert unreadable.exit_code == 1
    assert "notes.txt is not an email message: the message has no headers" in unreadable.stderr
    assert unreadable.stdout == ""
