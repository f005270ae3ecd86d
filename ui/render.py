"""Text-safe HTML for chat replies: the answer, its citation and the passages behind it."""

from __future__ import annotations

import html
import re
from typing import Any

from embeddings.text.normalize import normalize, to_simplified
from qa.question import NUMBER, YEAR, asked_unit, expected_type, is_english_text
from ui.i18n import DEFAULT_LANGUAGE, localize_error, localize_notes, t

# The English texts, for callers that match on them.
NOT_FOUND = t("en", "not_found")
CLOSEST = t("en", "closest")
UNEXPECTED = t("en", "unexpected")

# A figure: a number (thousands separators, decimals, an optional range such
# as 2017-2025) with an optional Chinese magnitude and unit, e.g. 1045亿元,
# 42臺, 50.1%, 2017-2025年, 3.5 million tonnes. Longer units come first
# because regex alternation takes the first alternative that fits.
_NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_UNITS_ZH = (
    "个百分点|個百分點|百分点|百分點|千瓦时|千瓦時|平方公里|平方千米|平方米|立方米|公顷|公頃|"
    "美元|港元|欧元|歐元|日元|英镑|英鎊|元|吨|噸|公斤|千克|克|千瓦|兆瓦|瓦|度|公里|千米|米|"
    "亩|畝|个|個|家|座|条|條|项|項|套|台|臺|辆|輛|艘|架|件|批|"
    "年|月|日|号|號|天|小时|小時|倍|次|人|户|戶|名|位|成"
)
_UNITS_EN = (
    r"per\s?cent|percent|percentage points?|billion|million|thousand|"
    r"tonnes?|tons?|yuan|dollars?|kWh|MWh|GWh|kW|MW|GW|km|kg"
)
_FIGURE_NUMERIC = (
    rf"(?<![A-Za-z0-9.])(?:{_NUMBER})(?:\s*[-–—~～至到]\s*(?:{_NUMBER}))?"
    rf"(?:\s*[十百千万萬亿億]+)?(?:\s*(?:%|％|‰)|{_UNITS_ZH}|(?:\s(?:{_UNITS_EN})\b){{1,2}})?"
)
# Chinese-numeral counts (三年, 六個, 十二家) need a unit to count as a figure;
# a lone 一 is left alone because 一个/一家 is mostly "a", not a count.
_CN_DIGITS = "一二三四五六七八九十百千万萬亿億两兩零〇"
_FIGURE_CHINESE = (
    rf"(?<![{_CN_DIGITS}])(?:[{_CN_DIGITS}]{{2,}}|[二三四五六七八九十两兩])"
    rf"(?:{_UNITS_ZH})"
)
FIGURE = re.compile(rf"{_FIGURE_NUMERIC}|{_FIGURE_CHINESE}")

# Characters Markdown would act on, written as entities so corpus or user text
# shows literally even where the chatbot's Markdown pass sees it. "_" stays:
# it never emphasises inside a word, and file names such as 004_7ed0.txt
# should read plainly in the raw reply.
_MARKDOWN_CHARS = {c: f"&#{ord(c)};" for c in "\\`*~[]|$#"}


def escape_text(text: str) -> str:
    """Escape text for the chatbot: HTML and Markdown characters show as typed.

    Args:
        text: user or corpus text.

    Returns:
        HTML with no live tags or Markdown; line breaks become `<br>`.
    """
    # Quotes need no escaping in text (never used inside an attribute), and &#x27; would show.
    escaped = html.escape(str(text), quote=False)
    escaped = "".join(_MARKDOWN_CHARS.get(c, c) for c in escaped)
    # A blank line would end the surrounding HTML block for the Markdown pass.
    return "<br>".join(escaped.splitlines())




def _asked_figures(text: str, question: str) -> list[re.Match]:
    """The figures of `text` that answer `question`: not a year it names, with the unit it asks for."""
    figures = list(FIGURE.finditer(text))
    match = normalize(question)
    named_years = set(YEAR.findall(match))
    asks_number = expected_type(match) == NUMBER
    unit = asked_unit(match) if asks_number else ""
    # A bare year is context, not the amount asked for; nor is a year the question names.
    figures = [f for f in figures if not (YEAR.fullmatch(f.group().removesuffix("年"))
                                          and (f.group()[:4] in named_years or (asks_number and unit != "年")))]
    with_unit = [f for f in figures if unit and unit in normalize(f.group())]
    # Without any figure in the asked unit, every other figure stays emphasised.
    return with_unit or figures


def _wrap(text: str, spans: list[tuple[int, int]], escape, open_: str, close: str) -> str:
    """`text` escaped, with each (start, end) span between `open_` and `close`."""
    out, last = [], 0
    for start, end in spans:
        out.append(f"{escape(text[last:start])}{open_}{escape(text[start:end])}{close}")
        last = end
    out.append(escape(text[last:]))
    return "".join(out)


def figure_spans(text: str, question: str | None = None) -> list[tuple[int, int]]:
    """Where the figures of a sentence stand; with a question, only those it asks for
    (the asked unit, and not a year the question names)."""
    figures = _asked_figures(text, question) if question else FIGURE.finditer(text)
    return [(match.start(), match.end()) for match in figures]


def answer_spans(text: str, question: str | None = None, span: dict[str, Any] | None = None) -> list[tuple[int, int]]:
    """What to emphasise in an answer sentence: the selector's span when it gave one, else the asked figures.

    The one rule behind the bold answer on the page and in chat clients' Markdown.
    """
    if span and 0 <= span.get("start", -1) < span.get("end", -1) <= len(text):
        return [(span["start"], span["end"])]
    return figure_spans(text, question)


def emphasise_figures(text: str, question: str | None = None) -> str:
    """Escape text and wrap figures (numbers with their units) in `<strong>`.

    Args:
        text: a corpus sentence.
        question: the question it answers; when given, only the figures it asks
            for are emphasised (the asked unit, and not a year the question names).

    Returns:
        Text-safe HTML.
    """
    return _wrap(text, figure_spans(text, question), escape_text, "<strong>", "</strong>")


def emphasise_answer(text: str, question: str | None = None, span: dict[str, Any] | None = None) -> str:
    """The sentence with the answer in `<strong>`: the selector's span when it gave one, else the asked figures."""
    return _wrap(text, answer_spans(text, question, span), escape_text, "<strong>", "</strong>")


# Characters that Markdown renderers of chat clients act on anywhere in a line, and
# those that start a heading, a list or a quote at its start: escaped with a backslash.
_MARKDOWN_INLINE = re.compile(r"([\\`*_\[\]<>|~$])")
_MARKDOWN_LINE_START = re.compile(r"^(\s*)([#+>-]|\d+[.)])")


def escape_markdown(text: str) -> str:
    """Text that a Markdown renderer shows as written (one line: line breaks become spaces)."""
    escaped = _MARKDOWN_INLINE.sub(r"\\\1", " ".join(str(text).split()))
    # "\\#" and "\\-" are literal, but a backslash before a digit is not an escape: "1\\." is.
    return _MARKDOWN_LINE_START.sub(lambda m: m.group(1) + (f"{m.group(2)[:-1]}\\{m.group(2)[-1]}"
                                                            if m.group(2)[0].isdigit() else f"\\{m.group(2)}"),
                                    escaped)


def reply_markdown(reply: dict[str, Any], lang: str = DEFAULT_LANGUAGE) -> str:
    """One reply as Markdown for chat clients: the sentence with the answer in bold, then the citation.

    Args:
        reply: `Answer.to_dict()`.
        lang: the language of the labels (the sentence stays as the article writes it).
    """
    blocks = []
    if reply.get("typed") and reply.get("question"):
        blocks.append(f"_{escape_markdown(t(lang, 'understood_as', question=reply['question']))}_")
    if reply.get("notes") or reply.get("note"):
        blocks.append(f"_{escape_markdown(t(lang, 'note', note=localize_notes(reply, lang)))}_")
    if reply.get("found") and reply.get("sentence"):
        sentence = reply["sentence"]
        blocks.append(_wrap(sentence, answer_spans(sentence, reply.get("question"), reply.get("span")),
                            escape_markdown, "**", "**"))
        citation = reply.get("citation") or {}
        cells = [escape_markdown(part) for part in citation_fields(citation)]
        cells += [f"¶{int(citation.get('paragraph', 0))}", f"`{citation.get('doc', '')}`"]
        blocks.append("— " + " · ".join(cells))
    else:
        blocks.append(escape_markdown(t(lang, "not_found")))
    return "\n\n".join(blocks)


def reply_language(question: str) -> str:
    """The language to label a reply in when no page language is known: that of the question."""
    if is_english_text(question):
        return "en"
    return "zh-Hant" if to_simplified(question) != question else "zh-Hans"


def citation_fields(citation: dict[str, Any]) -> list[str]:
    """The citation's known title, author, source and date, in the order every citation line shows them."""
    return [part for part in (citation.get(key) for key in ("title", "author", "source", "date")) if part]


def citation_line(citation: dict[str, Any]) -> str:
    """The citation as HTML: title · source · date · ¶paragraph · file name.

    Args:
        citation: `Citation` fields, as in `Answer.to_dict()["citation"]`.
    """
    cells = [escape_text(p) for p in citation_fields(citation)]
    cells.append(f"¶{int(citation.get('paragraph', 0))}")
    cells.append(f"<code>{escape_text(citation.get('doc', ''))}</code>")
    return " · ".join(cells)


def _sentence_span(passage: dict[str, Any], sentence: str | None,
                   citation: dict[str, Any] | None) -> tuple[int, int] | None:
    """Where the answer sentence stands in a passage's text, or None."""
    if not sentence:
        return None
    text = passage.get("text", "")
    # Offsets are exact when the passage is the cited stretch of the same article.
    if citation and passage.get("doc") == citation.get("doc"):
        start = citation.get("start", 0) - passage.get("start", 0)
        end = start + len(sentence)
        if 0 <= start and text[start:end] == sentence:
            return start, end
    found = text.find(sentence)
    return (found, found + len(sentence)) if found >= 0 else None


def _passage_item(passage: dict[str, Any], sentence: str | None, citation: dict[str, Any] | None,
                  lang: str = DEFAULT_LANGUAGE) -> str:
    """One passage as a list item: doc, paragraph and score, then the text (in its own script)."""
    text = passage.get("text", "")
    header = (f"<code>{escape_text(passage.get('doc', ''))}</code> · ¶{int(passage.get('paragraph', 0))}"
              f" · {t(lang, 'score')} {float(passage.get('score', 0.0)):.3f}")
    span = _sentence_span(passage, sentence, citation)
    if span is None:
        body = escape_text(text)
    else:
        start, end = span
        body = (escape_text(text[:start]) + f"<mark>{escape_text(text[start:end])}</mark>"
                + escape_text(text[end:]))
    return f"<li><p>{header}</p><blockquote>{body}</blockquote></li>"


def _passages_block(summary: str, passages: list[dict[str, Any]], sentence: str | None = None,
                    citation: dict[str, Any] | None = None, lang: str = DEFAULT_LANGUAGE) -> str:
    """A collapsed `<details>` part listing passages."""
    items = "".join(_passage_item(p, sentence, citation, lang) for p in passages)
    count = t(lang, "passages", count=len(passages))
    return f"<details><summary>{summary} — {count}</summary><ol>{items}</ol></details>"


def render_reply(reply: dict[str, Any], lang: str = DEFAULT_LANGUAGE) -> str:
    """Format one reply (the JSON shape of `Answer.to_dict()`, or an error) for the chatbot.

    Args:
        reply: `Answer.to_dict()`, or `{"question", "found": False, "error"}`.
        lang: the page language of the labels; sentences and passages stay as the articles write them.

    Returns:
        HTML in which every piece of user and corpus text is escaped. Blocks are
        separated by blank lines and hold none inside, so the chatbot's Markdown
        pass leaves them as they are.
    """
    if reply.get("error"):
        message = localize_error(reply["error"], lang, reply.get("error_code", ""), reply.get("error_params"))
        return f"<p>{escape_text(message)}</p>"
    blocks = []
    if reply.get("notes") or reply.get("note"):
        blocks.append(f"<p><em>{escape_text(t(lang, 'note', note=localize_notes(reply, lang)))}</em></p>")
    passages = list(reply.get("passages") or ())
    if reply.get("found") and reply.get("sentence"):
        citation = reply.get("citation") or {}
        blocks.append(f"<p>{emphasise_answer(reply['sentence'], reply.get('question'), reply.get('span'))}</p>")
        blocks.append(f"<p>— {citation_line(citation)}</p>")
        if passages:
            blocks.append(_passages_block(t(lang, "sources"), passages, reply["sentence"], citation, lang))
    else:
        blocks.append(f"<p>{t(lang, 'not_found')}</p>")
        if passages:
            blocks.append(_passages_block(t(lang, "closest"), passages, lang=lang))
    return "\n\n".join(blocks)


def understood_line(question: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """The follow-up as it was actually asked, shown above the reply."""
    return f"<p><em>{escape_text(t(lang, 'understood_as', question=question))}</em></p>"


def articles_table(articles: list[dict[str, Any]], lang: str = DEFAULT_LANGUAGE) -> str:
    """The articles of the index as an HTML table: title · source · date · sentences · file.

    Args:
        articles: dicts with "title", "source", "date", "doc" and optionally "sentences".
        lang: the page language of the headings (titles stay as the articles write them).
    """
    if not articles:
        return f"<p>{t(lang, 'no_articles')}</p>"
    rows = "".join(
        f"<tr><td>{escape_text(a.get('title', ''))}</td><td>{escape_text(a.get('source', '') or '—')}</td>"
        f"<td>{escape_text(a.get('date', '') or '—')}</td><td>{escape_text(a.get('sentences', '—'))}</td>"
        f"<td><code>{escape_text(a.get('doc', ''))}</code></td></tr>"
        for a in articles)
    heads = "".join(f"<th>{t(lang, key)}</th>" for key in ("col_title", "col_source", "col_date", "col_sentences",
                                                          "col_file"))
    # The wrapper scrolls sideways on a narrow screen instead of widening the page.
    return (f"<div class='aluqa-articles'><p>{escape_text(t(lang, 'article_count', count=len(articles)))}</p>"
            f"<table><thead><tr>{heads}</tr></thead><tbody>{rows}</tbody></table></div>")


def _files(names: tuple[str, ...]) -> str:
    return ", ".join(f"<code>{escape_text(n)}</code>" for n in names)


def remove_message(removed: tuple[str, ...], refused: tuple[str, ...], summary: str = "",
                   lang: str = DEFAULT_LANGUAGE) -> str:
    """What removing articles did, every file named."""
    lines = [t(lang, "removed", docs=_files(removed))] if removed else []
    lines += [t(lang, "remove_refused", message=escape_text(m)) for m in refused]
    if summary:
        lines.append(f"<small>{escape_text(summary)}</small>")
    return "".join(f"<p>{line}</p>" for line in lines)


def upload_message(added: tuple[str, ...], present: tuple[str, ...], refused: tuple[str, ...],
                   summary: str = "", lang: str = DEFAULT_LANGUAGE) -> str:
    """What happened to uploaded files, one line each, every file named.

    Args:
        added: file names written into the corpus.
        present: messages for files the corpus already held.
        refused: messages for files refused (nothing written).
        summary: the rebuild's summary line.
    """
    lines = [t(lang, "added", docs=_files(added))] if added else []
    lines += [t(lang, "already_present", message=escape_text(m)) for m in present]
    lines += [t(lang, "refused", message=escape_text(m)) for m in refused]
    if summary:
        lines.append(f"<small>{escape_text(summary)}</small>")
    return "".join(f"<p>{line}</p>" for line in lines) or f"<p>{t(lang, 'no_file')}</p>"
