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
_OPENERS = r"On|Le|Am|El|En|Il giorno|Il|Op|Em|Den|På|W dniu|Vào|Dne|Dňa|Ngày|Pada|Op \w+|Am \w+"
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
    rf"^(?P<reply>.*?\S)\s*(?P<attribution>(?<!\w)(?:On|Le|Am|El|Op|Em|Den)\s.{{6,300}}"
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


def _quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def _python_prompt(line: str) -> bool:
    return bool(re.match(r"^\s*(>>>|\.\.\.)(\s|$)", line))


def _is_attribution(window: str, *, before_quote: bool) -> bool:
    """Whether ``window`` (one to five lines joined) introduces quoted history."""
    text = " ".join(window.split())
    if not text or len(text) > 400:
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


def _next_content(lines: list[str], start: int) -> int | None:
    for index in range(start, len(lines)):
        if lines[index].strip():
            return index
    return None


def _attribution_at(lines: list[str], index: int) -> int | None:
    """Return the index of the last line of an attribution starting at ``index``, or None."""
    first = lines[index]
    if not first.strip() or (_quoted(first) and not first.lstrip().startswith(">-")):
        return None
    parts: list[str] = []
    for end in range(index, min(index + 5, len(lines))):
        line = lines[end]
        if end > index and not line.strip():
            parts.append("")
            continue
        if end > index and parts and parts[-1].rstrip().endswith((".", "!", "?")):
            return None
        parts.append(line.strip())
        window = " ".join(parts)
        following = _next_content(lines, end + 1)
        before_quote = (
            following is not None and _quoted(lines[following]) and not _VERB_ALONE.match(lines[following])
        )
        if end > index and not _EMAIL.search(window):
            # An attribution wraps only when an address makes it long.
            continue
        if _is_attribution(window, before_quote=before_quote):
            return end
        if end == index and not (_OPENER.match(first) or _DATE.search(first) or _EMAIL.search(first)):
            return None
    return None


def _header_block_at(lines: list[str], index: int) -> bool:
    """Whether a block of mail headers (From/Sent/To/Subject, any order, any language) starts here."""
    labels: list[str] = []
    block: list[str] = []
    for line in lines[index : index + 8]:
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
    has_sender = any(_FROM_LABEL.match(label) for label in labels)
    # Old Hotmail put Date and Subject first, From third.
    dated = len(labels) >= 3 and bool(names & _DATE_LABELS) and bool(names & _SUBJECT_LABELS)
    if len(labels) < 2 or not (has_sender or dated):
        return False
    text = " ".join(block)
    return len(labels) >= 3 or bool(_EMAIL.search(text) or _DATE.search(text))


def _split_inline_attributions(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        match = _INLINE_ATTRIBUTION.match(line) if not _quoted(line) else None
        if match and (_EMAIL.search(match.group("attribution")) or _DATE.search(match.group("attribution"))):
            out.extend([match.group("reply"), match.group("attribution")])
        else:
            out.append(line)
    return out


@dataclass(frozen=True, slots=True)
class _History:
    start: int
    #: The first line after the history, when the history is a ``>`` block with text after it.
    resume: int | None


def _quote_block_end(lines: list[str], start: int) -> int:
    """Return the index after the ``>`` block starting at ``start`` (blank lines inside it included)."""
    end = start
    index = start
    while index < len(lines):
        if _quoted(lines[index]):
            end = index + 1
        elif lines[index].strip():
            break
        index += 1
    return end


def _find_history(lines: list[str]) -> _History | None:
    for index, line in enumerate(lines):
        if _FORWARD.match(line):
            return None
        separator = bool(_SEPARATOR.match(line))
        if separator:
            return _History(index, None)
        last = _attribution_at(lines, index)
        if last is not None:
            following = _next_content(lines, last + 1)
            if following is not None and _quoted(lines[following]):
                end = _quote_block_end(lines, following)
                return _History(index, None if _nothing_but_trailer(lines[end:]) else end)
            return _History(index, None)
        if not _quoted(line) and _header_block_at(lines, index):
            previous = index - 1
            while previous >= 0 and not lines[previous].strip():
                previous -= 1
            if previous >= 0 and (
                _SEPARATOR_LINE.match(lines[previous]) or _SEPARATOR.match(lines[previous])
            ):
                return _History(previous, None)
            return _History(index, None)
        if _quoted(line) and not _python_prompt(line):
            end = _quote_block_end(lines, index)
            block = lines[index:end]
            if _nothing_but_trailer(lines[end:]) and not all(
                _python_prompt(candidate) or not candidate.strip() for candidate in block
            ):
                return _History(index, None)
    return None


def _trim(lines: list[str]) -> list[str]:
    """Drop the signature and the trailing "Sent from my phone" lines and blank lines."""
    for index, line in enumerate(lines):
        if _SIGNATURE.match(line):
            lines = lines[:index]
            break
    while lines and (not lines[-1].strip() or _FOOTER.match(lines[-1]) or _SEPARATOR_LINE.match(lines[-1])):
        lines.pop()
    return lines


def _nothing_but_trailer(lines: list[str]) -> bool:
    """Whether ``lines`` hold nothing but blank lines, a signature and footers."""
    return not _trim(list(lines))


def _reply_lines(lines: list[str]) -> list[str]:
    history = _find_history(lines)
    if history is None:
        return _trim(lines)
    top = _trim(lines[: history.start])
    if history.resume is None:
        return top
    rest = lines[history.resume :]
    quote_start = _next_content(lines, history.start)
    # Answers between quotes keep the questions they answer; text under one quote stands alone.
    after = _reply_lines(rest)
    interleaved = any(_quoted(line) for line in after)
    if interleaved and quote_start is not None:
        first_quote = next(i for i in range(quote_start, len(lines)) if _quoted(lines[i]))
        quote = [line for line in lines[first_quote : history.resume]]
        while quote and not quote[-1].strip():
            quote.pop()
        after = [*quote, "", *after]
    return [*top, *([""] if top and after else []), *after]


def strip_signature(text: str) -> str:
    """Return ``text`` without its ``--`` signature and trailing "Sent from my phone" footers."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in _trim(lines)).strip("\n")


def strip_reply(text: str) -> str:
    """Return what the sender wrote this time: ``text`` without the quoted history and the line that
    introduces it, the ``--`` signature and "Sent from my phone" footers; text written under or between
    ``>`` quotes is kept, and a forwarded message is kept whole."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ").split("\n")
    lines = _split_inline_attributions([line.rstrip() for line in lines])
    kept = _reply_lines(lines)
    collapsed: list[str] = []
    for line in kept:
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
