"""Quote stripping on the labelled reply corpus: how often each strategy stores what the sender wrote.

The corpus (`tests/channels/email/corpus/<category>/<case>.eml`, each with the expected stored body in
`<case>.txt`) holds replies from the major mail clients and some fifty quoting styles and languages. Each
strategy gets the message's text part (or, for an HTML-only message, what the strategy does with HTML)
and its answer is compared with the expected body, ignoring trailing spaces and runs of blank lines.

Strategies: cxstack as it is now (`parse_email(...).reply_text`); `quotequail` (plain text and HTML);
`mail-parser-reply` with every language it knows; each library followed by cxstack's signature and
footer trimming alone (`+trim`) (the expected body drops those, which the libraries leave to the caller); and,
with `CXSTACK_BENCH_QUOTES_BASELINE=<git revision>`, cxstack's parsing module as it was at that
revision.

Prints a table (correct/total per strategy and category) and writes `results/email_quotes.json`.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from types import ModuleType

from rich.console import Console
from rich.table import Table

from benchmarks.harness import PROJECT_ROOT, write_result
from cxstack.channels.email.parsing import html_to_text, parse_email
from cxstack.channels.email.quotes import strip_signature

NAME = "email_quotes"
CORPUS = PROJECT_ROOT / "tests" / "channels" / "email" / "corpus"
BASELINE_ENV = "CXSTACK_BENCH_QUOTES_BASELINE"

Strategy = Callable[[bytes], str]


def normalise(text: str) -> str:
    """The text with line ends unified, trailing spaces and blank-line runs removed, trimmed."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\u00a0", " ").split("\n")]
    out: list[str] = []
    for line in lines:
        if not line and out and not out[-1]:
            continue
        out.append(line)
    return "\n".join(out).strip("\n")


def cases() -> list[tuple[str, str, bytes, str]]:
    """Every labelled case: (category, name, raw message, expected body)."""
    found = []
    for eml in sorted(CORPUS.glob("*/*.eml")):
        expected = eml.with_suffix(".txt").read_text(encoding="utf-8")
        found.append((eml.parent.name, eml.stem, eml.read_bytes(), normalise(expected)))
    return found


def _bodies(raw: bytes) -> tuple[str | None, str | None]:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    text = text_part.get_content() if text_part is not None else None
    html = html_part.get_content() if html_part is not None else None
    return text, html


def _quotequail(raw: bytes) -> str:
    import quotequail

    text, html = _bodies(raw)
    if text is not None:
        return str(quotequail.quote(text, quote_intro_line=True)[0][1])
    return html_to_text(str(quotequail.quote_html(html or "", quote_intro_line=True)[0][1]))


def _mail_parser_reply(raw: bytes) -> str:
    from mailparser_reply import EmailReplyParser
    from mailparser_reply.constants import MAIL_LANGUAGES

    text, html = _bodies(raw)
    parser = EmailReplyParser(languages=list(MAIL_LANGUAGES))
    return str(parser.parse_reply(text if text is not None else html_to_text(html or "")) or "")


def _then_trimmed(strategy: Strategy) -> Strategy:
    return lambda raw: strip_signature(strategy(raw))


def _baseline(revision: str) -> Strategy:
    """cxstack's parse_email as it was at ``revision`` (its parsing module loaded from git)."""
    source = subprocess.run(
        ["git", "show", f"{revision}:src/cxstack/channels/email/parsing.py"],
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "cxstack_parsing_baseline.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("cxstack_parsing_baseline", path)
    assert spec is not None and spec.loader is not None
    module: ModuleType = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return lambda raw: str(module.parse_email(raw).reply_text)


def strategies() -> dict[str, Strategy]:
    found: dict[str, Strategy] = {"cxstack": lambda raw: parse_email(raw).reply_text}
    baseline = os.environ.get(BASELINE_ENV, "").strip()
    if baseline:
        found[f"cxstack@{baseline}"] = _baseline(baseline)
    # The libraries come with the dev extra; without them only cxstack is measured.
    if importlib.util.find_spec("quotequail") is not None:
        found["quotequail"] = _quotequail
        found["quotequail+trim"] = _then_trimmed(_quotequail)
    if importlib.util.find_spec("mailparser_reply") is not None:
        found["mail-parser-reply"] = _mail_parser_reply
        found["mail-parser-reply+trim"] = _then_trimmed(_mail_parser_reply)
    return found


def measure() -> tuple[list[str], dict[str, dict[str, tuple[int, int]]], dict[str, list[str]]]:
    """Return the categories, per strategy the (correct, total) per category, and the failed cases."""
    labelled = cases()
    categories = sorted({category for category, *_ in labelled})
    scores: dict[str, dict[str, tuple[int, int]]] = {}
    failures: dict[str, list[str]] = {}
    for name, strategy in strategies().items():
        per: dict[str, list[int]] = {category: [0, 0] for category in categories}
        failures[name] = []
        for category, case, raw, expected in labelled:
            try:
                got = normalise(strategy(raw))
            except Exception as error:  # a library that crashes on a message counts it wrong
                got = f"<{type(error).__name__}: {error}>"
            per[category][1] += 1
            if got == expected:
                per[category][0] += 1
            else:
                failures[name].append(f"{category}/{case}")
        scores[name] = {category: (ok, total) for category, (ok, total) in per.items()}
    return categories, scores, failures


def main() -> None:
    console = Console(width=160)
    categories, scores, failures = measure()
    table = Table(title="Quote stripping on the labelled corpus (correct/total)")
    table.add_column("category")
    for name in scores:
        table.add_column(name, justify="right")
    for category in [*categories, "all"]:
        row = [category]
        for per in scores.values():
            if category == "all":
                ok, total = sum(v[0] for v in per.values()), sum(v[1] for v in per.values())
            else:
                ok, total = per[category]
            row.append(f"{ok}/{total}")
        table.add_row(*row)
    console.print(table)
    if "-v" in sys.argv:
        for name, failed in failures.items():
            console.print(f"[bold]{name}[/bold] wrong: {', '.join(failed) or 'none'}")
    figures = {
        f"{name}: correct": (
            100.0 * sum(v[0] for v in per.values()) / max(1, sum(v[1] for v in per.values())),
            "%",
        )
        for name, per in scores.items()
    }
    write_result(
        NAME,
        figures,
        notes={
            "per_category": {
                name: {category: f"{ok}/{total}" for category, (ok, total) in per.items()}
                for name, per in scores.items()
            },
            "wrong": failures,
        },
        console=console,
    )


if __name__ == "__main__":
    main()
