"""The labelled reply corpus: real-shaped replies from every major mail client and some fifty quoting
styles and languages, each with the body cxstack should store (`corpus/<category>/<case>.eml` beside
`<case>.txt`). Every category must come out right at least 95% of the time."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from cxstack.channels.email.parsing import parse_email

CORPUS = Path(__file__).parent / "corpus"
CLIENTS = {
    "gmail",
    "outlook",
    "outlook_com",
    "apple_mail",
    "thunderbird",
    "yahoo",
    "mobile",
    "mail_ru",
    "yandex",
    "windows_mail",
}
REQUIRED_RATE = 0.95


def _normalise(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\u00a0", " ").split("\n")]
    out: list[str] = []
    for line in lines:
        if not line and out and not out[-1]:
            continue
        out.append(line)
    return "\n".join(out).strip("\n")


def test_every_client_and_quoting_style_is_stripped_right_at_least_95_percent() -> None:
    results: dict[str, list[tuple[str, bool]]] = defaultdict(list)
    for eml in sorted(CORPUS.glob("*/*.eml")):
        expected = _normalise(eml.with_suffix(".txt").read_text(encoding="utf-8"))
        stored = _normalise(parse_email(eml.read_bytes()).reply_text)
        results[eml.parent.name].append((eml.stem, stored == expected))
    assert set(results) >= CLIENTS, f"clients without replies in the corpus: {CLIENTS - set(results)}"
    assert {"styles", "languages"} <= set(results)
    below = {
        category: [name for name, ok in cases if not ok]
        for category, cases in results.items()
        if sum(ok for _, ok in cases) / len(cases) < REQUIRED_RATE
    }
    assert below == {}, f"categories under {REQUIRED_RATE:.0%}, with their wrong cases: {below}"
    assert sum(len(cases) for cases in results.values()) >= 150
