"""``cxstack email parse``: what cxstack would store for a raw message, without storing anything."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson
import typer

from cxstack.channels.email.parsing import ParsedEmail, UnreadableEmail, parse_email
from cxstack.channels.email.received import stored_body

email_app = typer.Typer(help="The email channel: read raw messages as cxstack does.", no_args_is_help=True)


def parsed_summary(parsed: ParsedEmail) -> dict[str, Any]:
    """Return what cxstack stores of ``parsed``: kind, sender, subject, body and attachments."""
    return {
        "kind": parsed.kind,
        "from": ({"name": parsed.sender.name, "address": parsed.sender.address} if parsed.sender else None),
        "subject": parsed.subject,
        "body": stored_body(parsed, has_attachments=bool(parsed.attachments)),
        "attachments": [
            {"name": a.filename, "type": a.content_type, "size": len(a.data)} for a in parsed.attachments
        ],
    }


def _text(summary: dict[str, Any]) -> str:
    sender = summary["from"]
    named = f"{sender['name']} <{sender['address']}>" if sender and sender["name"] else None
    lines = [
        f"kind: {summary['kind']}",
        f"from: {named or (sender['address'] if sender else '(none)')}",
        f"subject: {summary['subject']}",
    ]
    if summary["attachments"]:
        lines.append("attachments:")
        lines += [f"  {a['name']} ({a['type']}, {a['size']} bytes)" for a in summary["attachments"]]
    return "\n".join([*lines, "", summary["body"]])


@email_app.command("parse")
def parse(
    message: str = typer.Argument(..., help="The raw message (.eml), or - to read it from standard input."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of text."),
) -> None:
    """Print what cxstack would store for MESSAGE: its kind (message, bounce, auto_reply), sender,
    subject, the body without quoted history and signature, and the attachments' names and types."""
    if message == "-":
        raw = sys.stdin.buffer.read()
    else:
        path = Path(message)
        if not path.is_file():
            typer.echo(f"error: {message}: no such file", err=True)
            raise typer.Exit(2)
        raw = path.read_bytes()
    try:
        parsed = parse_email(raw)
    except UnreadableEmail as error:
        typer.echo(f"error: {message} is not an email message: {error}", err=True)
        raise typer.Exit(1) from None
    summary = parsed_summary(parsed)
    if as_json:
        typer.echo(orjson.dumps(summary).decode())
    else:
        typer.echo(_text(summary))
