"""Finding what the sender wrote this time in a reply: the quoted history, the attribution line that
introduces it, the signature and the "Sent from my phone" footer are dropped; text written under or
between quotes is kept.

Mail clients mark history in two ways. In plain text: an attribution line ("On … wrote:" in some thirty
languages and layouts, Gmail's "2011/4/7 Name <…>:", Mail.ru's "… от Name <…>:", Yandex's
"04.03.2024, 10:30, "Name" <…>:"), a separator ("-----Original Message-----" and its translations), or a
block of headers (Outlook's From/Sent/To/Subject, in any order and language), then the history, with or
without ``>``. In HTML: containers (``blockquote``, Gmail's ``gmail_quote``, Yahoo's ``yahoo_quoted``) and
markers after which everything is history (Outlook's ``divRplyFwdMsg`` and its top-bordered header block,
Hotmail's ``stopSpelling`` rule, Windows Mail's header block). HTML is turned into text with its quote
containers written as ``>`` lines, so both kinds go through the same rules.

A forwarded message ("---------- Forwarded message ---------", "Begin forwarded message:") is what the
customer wants read: it is kept. So is a ``>`` block in the middle of a message that no attribution
introduces (a customer quoting an error) and a block of ``>>>`` lines (a Python prompt).
"""

# The patterns hold the words mail clients write in other scripts (Cyrillic, CJK, full-width colons).
# ruff: noqa: RUF001

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree
from lxml import html as lxml_html

# -- words of the mail clients, by language --------------------------------------------------------

#: The word that opens an attribution line ("On", "Le", "Am"...), at the start of the line.
_OPENERS = r"On|Le|Am|El|En|Il giorno|Il|Op|Em|Den|På|W dniu|Vào|Dne|Dňa|Ngày|Pada"
#: The verb of an attribution ("wrote", "schrieb", "a écrit"...).
_VERBS = (
    r"wrote|sent|a\s+écrit|écrit|schrieb|Folgendes\s+geschrieben|geschrieben|escribió|escribio|"
    r"escreveu|ha\s+scritto|scrisse|schreef|verzond|het\s+volgende\s+geschreven|napisał\(a\)|"
    r"napisała|napisał|pisze|napsal\(a\)|napsala|napsal|skrev|skriver|написал\(а\)|написала|"
    r"написал|пишет|пише|написав|đã\s+viết|kirjoitti|yazdı|ezt\s+írta|写道|寫道|님이\s+작성|"
    r"작성|wrote\s+the\s+following|écrivait"
)
_VERB = re.compile(rf"(?<!\w)({_VERBS})(?!\w)", re.I)
_OPENER = re.compile(rf"^\s*[-]*\s*(?:{_OPENERS})\s", re.I)
_ENDS_WITH_COLON = re.compile(r"[:：]\s*-*\s*$")
#: Polymail wraps "wrote:" onto a line of its own that starts with the address's closing ">".
_VERB_ALONE = re.compile(rf"^\s*>\s*({_VERBS})\s*[:：]\s*$", re.I)
_ENDS_WITH_VERB = re.compile(rf"(?<!\w)({_VERBS})\s*[:：]?\s*-*\s*$", re.I)
_EMAIL = re.compile(r"[^\s<>()\"']+@[^\s<>()\"']+\.[^\s<>()\"']+")
_DATE = re.compile(r"\b\d{1,2}[:.]\d{2}\b|\b(19|20)\d{2}\b|\b\d{1,4}[./-]\d{1,2}[./-]\d{1,4}\b|\d+年|\d+년")
#: "---- Jane wrote ----", "------On Mon, … wrote-----" (Android and some webmails).
_DASHED_ATTRIBUTION = re.compile(rf"^\s*-{{2,}}.{{1,300}}?(?<!\w)({_VERBS})\s*:?\s*-{{2,}}\s*$", re.I)
#: An attribution at the end of a line of reply text ("Thanks! On Mon, … wrote:").
_INLINE_ATTRIBUTION = re.compile(
    rf"(?<=\S)\s*(?<![^\s-])(?P<attribution>(?<!\w)(?:On|Le|Am|El|Op|Em|Den)\s.{{6,300}}"
    rf"(?<!\w)(?:{_VERBS})\s*[:：])\s*$"
)
_SEPARATOR = re.compile(
    r"^\s*[-_=*]{2,}\s*(Original Message|Reply Message|Ursprüngliche Nachricht|Antwort Nachricht|"
    r"Originalnachricht|Oprindelig meddelelse|Message d'origine|Message original|Mensaje original|"
    r"Messaggio originale|Oorspronkelijk bericht|Origineel bericht|Ursprungligt meddelande|"
    r"Opprinnelig melding|Opprinnelig e-post|Wiadomość oryginalna|Oryginalna wiadomość|"
    r"Исходное сообщение|Оригинальное сообщение|Исходное письмо|Původní zpráva|Pôvodná správa|"
    r"Alkuperäinen viesti|Mensagem original|Mensagem Original|Eredeti üzenet|Orijinal mesaj|"
    r"Оригінальне повідомлення|原始邮件|原始郵件|元のメッセージ|원본 메시지)\s*[-_=*]{2,}\s*$",
    re.I,
)
_FORWARD = re.compile(
    r"^\s*(-{2,}\s*(Forwarded message|Forwarded Message|Weitergeleitete Nachricht|Message transféré|"
    r"Mensaje reenviado|Doorgestuurd bericht|Пересылаемое сообщение|Переслане повідомлення|"
    r"Videresendt meddelelse|Videresendt melding|Vidarebefordrat meddelande|Wiadomość przekazana dalej|"
    r"Messaggio inoltrato|Mensagem encaminhada|Přeposlaná zpráva|Välitetty viesti|转发的邮件|"
    r"転送されたメッセージ)\s*-{2,}|(Begin forwarded message|Anfang der weitergeleiteten Nachricht|"
    r"Début du message réexpédié|Inicio del mensaje reenviado|Begin doorgestuurd bericht|"
    r"Начало переадресованного сообщения)\s*:)",
    re.I,
)
_FROM_LABELS = (
    r"From|Von|De|Van|Fra|Från|Od|От|Da|Lähettäjä|Feladó|Kimden|Від|Absender|Expéditeur|Remitente|"
    r"发件人|寄件者|差出人|보낸 사람"
)
_OTHER_LABELS = (
    r"Sent|Date|To|Cc|Subject|Reply-To|Gesendet|Datum|An|Betreff|Envoyé|Date d'envoi|À|A|Objet|Cc|"
    r"Enviado el|Enviado|Enviada|Fecha|Para|Asunto|Assunto|Verzonden|Aan|Onderwerp|Skickat|Till|Ämne|"
    r"Sendt|Til|Emne|Dato|Wysłano|Wysłane|Data|Do|Temat|DW|Отправлено|Дата|Кому|Тема|Копия|Inviato|"
    r"Oggetto|Lähetetty|Vastaanottaja|Aihe|Elküldve|Címzett|Tárgy|Gönderildi|Kime|Konu|Odesláno|Komu|"
    r"Předmět|Надіслано|Тема|发送时间|收件人|主题|日付|宛先|件名|보낸 날짜|받는 사람|제목|Organization"
)
_HEADER_LINE = re.compile(
    rf"^\s*\*?\s*(?P<label>{_FROM_LABELS}|{_OTHER_LABELS})\s*\*?\s?[:：]\s*\*?(\s|$)", re.I
)
_DATE_LABELS = {"date", "datum", "дата", "fecha", "data", "dato"}
_SUBJECT_LABELS = {"subject", "betreff", "тема", "objet", "asunto", "onderwerp", "oggetto", "assunto", "emne"}
_FROM_LABEL = re.compile(rf"^(?:{_FROM_LABELS})$", re.I)
_SEPARATOR_LINE = re.compile(r"^\s*(_{5,}|-{5,}|={5,})\s*$")
_SIGNATURE = re.compile(r"^--\s?$")
_FOOTER = re.compile(
    r"^\s*(Sent from my [\w ]{1,40}|Sent from (Outlook|Mail|Yahoo Mail|Gmail|AOL|Samsung)\b.{0,60}|"
    r"Get Outlook for \w+.{0,40}|Sent from Mail for Windows.{0,20}|Sent with [\w ]{1,30}|"
    r"Envoyé de mon [\w ]{1,40}|Envoyé depuis [\w ]{1,40}|Von meinem [\w ]{1,40} gesendet\.?|"
    r"Gesendet von [\w ]{1,40}|Verstuurd vanaf mijn [\w ]{1,40}|Verzonden vanaf mijn [\w ]{1,40}|"
    r"Enviado desde mi [\w ]{1,40}|Enviado do meu [\w ]{1,40}|Inviato da(l mio)? [\w ]{1,40}|"
    r"Skickat från min [\w ]{1,40}|Sendt fra min [\w ]{1,40}|Wysłane z (mojego )?[\w ]{1,40}|"
    r"Отправлено с [\w ]{1,40}|Отправлено из [\w .]{1,40}|Надіслано з [\w ]{1,40}|"
    r"Lähetetty [\w ]{1,40}|iPhone'umdan gönderildi|Odesláno z [\w ]{1,40})\s*$",
    re.I,
)


# -- plain text ------------------------------------------------------------------------------------


#: Attribution lines are short; longer lines are text (and are not searched with these patterns).
_MAX_ATTRIBUTION_CHARS = 400


def _quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def _python_prompt(line: str) -> bool:
    return bool(re.match(r"^\s*(>>>|\.\.\.)(\s|$)", line))


def _is_attribution(window: str, *, before_quote: bool) -> bool:
    """Whether ``window`` (one to five lines joined) introduces quoted history."""
    text = " ".join(window.split())
    if not text or len(text) > _MAX_ATTRIBUTION_CHARS:
        return False
    if _DASHED_ATTRIBUTION.match(text):
        return True
    email = bool(_EMAIL.search(text))
    date = bool(_DATE.search(text))
    if _ENDS_WITH_COLON.search(text):
        # "On Monday I wrote to you:" is a customer's sentence; an attribution names a date or address.
        if _VERB.search(text) and (email or date):
            return True
        if email and date:
            return True
    if _ENDS_WITH_VERB.search(text) and _OPENER.match(text) and (email or date):
        return True
    # Gmail's "2011/4/7 Jane Doe <jane@example.com>" over a quote, without a colon.
    return before_quote and email and date and not text.endswith((".", "!", "?"))


#: The last word of each verb in ``_VERBS``, for a cheap test before the patterns.
_VERB_LAST_WORDS = frozenset(
    re.sub(r"\\(.)", r"\1", alternative.split(r"\s+")[-1]).lower() for alternative in _VERBS.split("|")
)


def _may_end_attribution(line: str) -> bool:
    """Whether ``line`` ends with a colon, dashes or an attribution's verb (a cheap test before the
    patterns)."""
    tail = line.rstrip()
    if tail.endswith((":", "：", "-")):
        return True
    words = tail.rsplit(None, 1)
    return bool(words) and (words[-1].lower() in _VERB_LAST_WORDS or tail.endswith(("写道", "寫道")))


def _wrapped_fragment(line: str) -> bool:
    """Whether ``line`` looks like the wrapped tail of a quoted line (a link's end), not an answer."""
    stripped = line.strip()
    if not stripped:
        return False
    if line[0].isspace() and ("://" in stripped or stripped.endswith(">")):
        return True
    return (
        " " not in stripped
        and len(stripped) >= 8
        and any(mark in stripped for mark in "=/&?%_()#")
        and not stripped.endswith((".", "!", "?"))
    )


class _Text:
    """The lines of a message with what the scan asks of them again and again computed once: which
    lines are quoted, where each ``>`` block ends, the next line with text, and from where on nothing
    but a signature, footers and blank lines follows."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        count = len(lines)
        quoted = [_quoted(line) for line in lines]
        self.blank = [not line.strip() for line in lines]
        # A client that wraps a long quoted line after quoting leaves its end without ">": a fragment
        # (indented, or a URL's tail) between two quoted lines belongs to the quote.
        self.quoted = [
            quoted[index]
            or (0 < index < count - 1 and quoted[index - 1] and quoted[index + 1] and _wrapped_fragment(line))
            for index, line in enumerate(lines)
        ]
        self.next_content: list[int | None] = [None] * (count + 1)
        self.block_end = [0] * count
        self.only_trailer = [True] * (count + 1)
        following: int | None = None
        block_end: int | None = None
        for index in range(count - 1, -1, -1):
            line = lines[index]
            self.next_content[index] = index if not self.blank[index] else following
            if not self.blank[index]:
                following = index
            if self.quoted[index]:
                block_end = block_end if block_end is not None else index + 1
                self.block_end[index] = block_end
            elif not self.blank[index]:
                block_end = None
            if _SIGNATURE.match(line):
                self.only_trailer[index] = True
            elif self.blank[index] or _FOOTER.match(line) or _SEPARATOR_LINE.match(line):
                self.only_trailer[index] = self.only_trailer[index + 1]
            else:
                self.only_trailer[index] = False

    def before_quote(self, index: int) -> bool:
        """Whether the next line with text after ``index`` starts a ``>`` quote."""
        following = self.next_content[index + 1] if index + 1 <= len(self.lines) else None
        return (
            following is not None and self.quoted[following] and not _VERB_ALONE.match(self.lines[following])
        )


def _attribution_at(text: _Text, index: int) -> int | None:
    """Return the index of the last line of an attribution starting at ``index``, or None."""
    lines = text.lines
    first = lines[index]
    if text.blank[index] or len(first) > _MAX_ATTRIBUTION_CHARS:
        return None
    if text.quoted[index] and not first.lstrip().startswith(">-"):
        return None
    # Only a line that starts like an attribution (or names a date or an address) wraps onto the next.
    wraps = bool(_OPENER.match(first) or _DATE.search(first) or _EMAIL.search(first))
    if not (wraps or "-" in first[:3]):
        return None
    parts: list[str] = []
    for end in range(index, min(index + 5 if wraps else index + 1, len(lines))):
        line = lines[end]
        if end > index and text.blank[end]:
            parts.append("")
            continue
        if end > index and (
            len(line) > _MAX_ATTRIBUTION_CHARS or parts[-1].rstrip().endswith((".", "!", "?"))
        ):
            return None
        parts.append(line.strip())
        before_quote = text.before_quote(end)
        if not (before_quote or _may_end_attribution(line)):
            continue
        window = " ".join(parts)
        if end > index and not _EMAIL.search(window):
            # An attribution wraps only when an address makes it long.
            continue
        if _is_attribution(window, before_quote=before_quote):
            return end
    return None


def _header_block_at(text: _Text, index: int) -> bool:
    """Whether a block of mail headers (From/Sent/To/Subject, any order, any language) starts here."""
    if not _HEADER_LINE.match(text.lines[index].lstrip("> ")):
        return False
    labels: list[str] = []
    block: list[str] = []
    for line in text.lines[index : index + 8]:
        match = _HEADER_LINE.match(line.lstrip("> "))
        if match:
            labels.append(match.group("label"))
            block.append(line)
        elif not line.strip() and len(labels) < 2:
            continue
        elif labels and line.startswith((" ", "\t")) and len(block) < 8:
            block.append(line)
        else:
            break
    names = {label.lower() for label in labels}
    joined = " ".join(block)
    has_sender = any(_FROM_LABEL.match(label) for label in labels)
    # Old Hotmail put Date and Subject first, From third; some clients write only Date and To.
    dated = bool(names & _DATE_LABELS) and (
        (len(labels) >= 3 and bool(names & _SUBJECT_LABELS))
        or bool(_EMAIL.search(joined) and _DATE.search(joined))
    )
    if len(labels) < 2 or not (has_sender or dated):
        return False
    return len(labels) >= 3 or bool(_EMAIL.search(joined) or _DATE.search(joined))


def _split_inline_attributions(lines: list[str]) -> list[str]:
    """Put an attribution that ends a line of reply text ("Thanks! On …, Jane wrote:") on its own line."""
    out: list[str] = []
    for line in lines:
        tail = line[-_MAX_ATTRIBUTION_CHARS:]
        match = (
            _INLINE_ATTRIBUTION.search(tail)
            if tail.rstrip().endswith((":", "：")) and not _quoted(line) and not _OPENER.match(line)
            else None
        )
        attribution = match.group("attribution") if match else ""
        if match and (_EMAIL.search(attribution) or _DATE.search(attribution)):
            cut = len(line) - len(tail) + match.start("attribution")
            out.extend([line[:cut].rstrip().rstrip("-").rstrip(), line[cut:]])
        else:
            out.append(line)
    return out


@dataclass(frozen=True, slots=True)
class _History:
    start: int
    #: The first line after the history, when the history is a ``>`` block with text after it.
    resume: int | None
    #: The ``>`` lines of that block.
    quote: tuple[int, int] | None = None


def _find_history(text: _Text, start: int) -> _History | None:
    """Return where the first quoted history at or after ``start`` begins (and, for a ``>`` block with
    text after it, where that text resumes), or None."""
    lines = text.lines
    index = start
    while index < len(lines):
        line = lines[index]
        if text.blank[index]:
            index += 1
            continue
        if _FORWARD.match(line):
            return None
        if _SEPARATOR.match(line):
            return _History(index, None)
        if not text.quoted[index] and _header_block_at(text, index):
            previous = index - 1
            while previous >= start and text.blank[previous]:
                previous -= 1
            if previous >= start and (
                _SEPARATOR_LINE.match(lines[previous]) or _SEPARATOR.match(lines[previous])
            ):
                return _History(previous, None)
            return _History(index, None)
        last = _attribution_at(text, index)
        if last is not None:
            following = text.next_content[last + 1]
            if following is not None and text.quoted[following]:
                end = text.block_end[following]
                resume = None if text.only_trailer[end] else end
                return _History(index, resume, (following, end))
            return _History(index, None)
        if text.quoted[index]:
            end = text.block_end[index]
            if text.only_trailer[end] and not all(
                text.blank[i] or _python_prompt(lines[i]) for i in range(index, end)
            ):
                return _History(index, None)
            index = end
            continue
        index += 1
    return None


def _trim(lines: list[str]) -> list[str]:
    """Drop the signature and the trailing "Sent from my phone" lines and blank lines (a message
    forwarded under the signature stays)."""
    for index, line in enumerate(lines):
        if _FORWARD.match(line):
            break
        if _SIGNATURE.match(line):
            forward = next((i for i in range(index, len(lines)) if _FORWARD.match(lines[i])), None)
            lines = lines[:index] + (["", *lines[forward:]] if forward is not None else [])
            break
    while lines and (not lines[-1].strip() or _FOOTER.match(lines[-1]) or _SEPARATOR_LINE.match(lines[-1])):
        lines.pop()
    return lines


def _reply_lines(lines: list[str]) -> list[str]:
    text = _Text(lines)
    kept: list[str] = []
    start = 0
    quote: tuple[int, int] | None = None
    while True:
        history = _find_history(text, start)
        piece = _trim(lines[start : history.start if history else len(lines)])
        # Answers between quotes keep the question they answer; text under one quote stands alone.
        if quote is not None and any(_quoted(line) for line in piece):
            # The answer keeps the blank line, or none, it had under the question.
            piece = [*lines[quote[0] : quote[1]], *piece]
        if piece:
            kept.extend([*([""] if kept else []), *piece])
        if history is None or history.resume is None:
            return kept
        start, quote = history.resume, history.quote


def strip_signature(text: str) -> str:
    """Return ``text`` without its ``--`` signature and trailing "Sent from my phone" footers."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in _trim(lines)).strip("\n")


def strip_reply(text: str) -> str:
    """Return what the sender wrote this time: ``text`` without the quoted history and the line that
    introduces it, the ``--`` signature and "Sent from my phone" footers; text written under or between
    ``>`` quotes is kept, and a forwarded message is kept whole. Takes time in proportion to the text."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ").split("\n")
    lines = _split_inline_attributions([line.rstrip() for line in lines])
    collapsed: list[str] = []
    for line in _reply_lines(lines):
        if not line.strip() and collapsed and not collapsed[-1].strip():
            continue
        collapsed.append(line)
    return "\n".join(collapsed).strip("\n")


# -- HTML ------------------------------------------------------------------------------------------

_QUOTE_CLASSES = {"gmail_quote", "gmail_quote_container", "yahoo_quoted", "moz-email-headers-table"}
_CUT_IDS = {
    "divRplyFwdMsg",
    "appendonsend",
    "stopSpelling",
    "OLK_SRC_BODY_SECTION",
    "mail-editor-reference-message-container",
}
_OUTLOOK_BORDER = re.compile(
    r"border-top\s*:\s*solid\s+#(E1E1E1|B5C4DF)|border-top-color\s*:\s*rgb\(\s*229,\s*229,\s*229\s*\)", re.I
)
_START = "cxstack-quote-start"
_END = "cxstack-quote-end"


def _is_quote_container(element: etree._Element) -> bool:
    tag = element.tag if isinstance(element.tag, str) else ""
    classes = set(str(element.get("class") or "").split())
    if tag == "blockquote":
        return True
    if "moz-forward-container" in classes:
        return False
    return bool(classes & _QUOTE_CLASSES) or str(element.get("id") or "").startswith("yahoo_quoted")


def _is_cut_marker(element: etree._Element) -> bool:
    if str(element.get("id") or "") in _CUT_IDS:
        return True
    if element.tag == "hr" and element.get("data-marker") == "__DIVIDER__":
        return True
    return element.tag == "div" and bool(_OUTLOOK_BORDER.search(str(element.get("style") or "")))


def _marker(text: str) -> etree._Element:
    mark = lxml_html.Element("div")
    mark.text = text
    return mark


def html_texts(html: str, to_text: Callable[[str], str]) -> tuple[str, str]:
    """Return the text of ``html`` (through ``to_text``) twice: whole, and with its quote containers and
    everything after a client's "history follows" marker written as ``>`` lines (for ``strip_reply``).

    The quotes are marked in the tree by marker lines around them, so the HTML is laid out once.
    """
    try:
        root = lxml_html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        text = to_text(html)
        return text, text
    body = root.find("body")
    scope = body if body is not None else root
    marked = False
    for element in scope.iter():
        if isinstance(element.tag, str) and _is_cut_marker(element):
            parent = element.getparent()
            if parent is not None:
                parent.insert(parent.index(element), _marker(_START))
                scope.append(_marker(_END))
                marked = True
            break
    if not marked:
        containers = [
            element
            for element in scope.iter()
            if isinstance(element.tag, str)
            and _is_quote_container(element)
            and not any(_is_quote_container(ancestor) for ancestor in element.iterancestors())
        ]
        for element in containers:
            parent = element.getparent()
            if parent is None:
                continue
            parent.insert(parent.index(element), _marker(_START))
            end = _marker(_END)
            end.tail, element.tail = element.tail, None
            parent.insert(parent.index(element) + 1, end)
    laid_out = to_text(lxml_html.tostring(root, encoding="unicode"))
    whole: list[str] = []
    reply: list[str] = []
    depth = 0
    for line in laid_out.split("\n"):
        token = line.strip()
        if token == _START:
            depth += 1
            reply.append("")
            continue
        if token == _END:
            depth = max(0, depth - 1)
            reply.append("")
            continue
        whole.append(line)
        reply.append(f"> {line}".rstrip() if depth else line)
    return _collapse("\n".join(whole)), "\n".join(reply)


def _collapse(text: str) -> str:
    out: list[str] = []
    for line in text.split("\n"):
        if not line.strip() and out and not out[-1].strip():
            continue
        out.append(line.rstrip())
    return "\n".join(out).strip("\n")
