"""Split cleaned article text into paragraphs, sentences and passages."""

from __future__ import annotations

import math
import re

from embeddings.types import Article, Passage, Sentence

# Always end a sentence (full-width forms and the ideographic full stop).
_HARD_END = "。！？；;｡…⋯"
# Closing quotes/brackets that belong to the sentence they follow.
_CLOSERS = "”’」』）)】》〉\"'"
# Question words: an ASCII "?" glued to the next CJK character ends a sentence
# only after one of them (003/004 write real questions with ASCII "?", while
# the source mojibake "能夠?qū" in 000 is a stray "?").
_QUESTION_CUE = re.compile(r"[吗嗎呢么麼何哪谁誰几幾啥岂豈]|怎|多少|是否|难道|難道")
_COMMAS = ",，"
LONG_SENTENCE_CHARS = 250
MAX_SENTENCE_CHARS = 300
_MIN_PIECE = 20
_IN_TOKEN = re.compile(r"[0-9A-Za-z.%]{2}")


def split_paragraphs(text: str) -> list[tuple[int, int]]:
    """Return the (start, end) spans of the "\\n"-separated paragraphs.

    Args:
        text: cleaned article text.

    Returns:
        Spans of the non-blank paragraphs, outer whitespace excluded.
    """
    spans = []
    pos = 0
    for line in text.split("\n"):
        if line.strip():
            lead = len(line) - len(line.lstrip())
            spans.append((pos + lead, pos + len(line.rstrip())))
        pos += len(line) + 1
    return spans


def is_cjk(ch: str) -> bool:
    """Tell whether a character is a CJK ideograph."""
    o = ord(ch)
    return 0x3400 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF or 0x20000 <= o <= 0x3134F


def _ends_at(text: str, i: int, end: int, seg_start: int) -> int:
    """Return the end of the terminator run starting at i, or -1 if i ends nothing."""
    ch = text[i]
    j = i + 1
    if ch in _HARD_END:
        while j < end and text[j] in _HARD_END:
            j += 1
    elif ch in "?!":
        while j < end and text[j] in "?!？！":
            j += 1
        nxt = text[j] if j < end else ""
        if nxt.isascii() and nxt.isalnum():
            return -1  # "?qū", "Yahoo!Japan": not a sentence end
        if ch == "?" and nxt and is_cjk(nxt):
            if not _QUESTION_CUE.search(text[max(seg_start, i - 60):i]):
                return -1
    elif ch in ".．":
        while j < end and text[j] in ".．":
            j += 1
        k = j
        while k < end and text[k] in _CLOSERS:
            k += 1
        # Only before whitespace/end: keeps 959.33, 1.5, www.x.com and 5.24% whole.
        if k < end and not text[k].isspace():
            return -1
    else:
        return -1
    while j < end and text[j] in _CLOSERS:
        j += 1
    return j


def _trim(text: str, a: int, b: int) -> tuple[int, int]:
    """Shrink a span so that it holds no outer whitespace."""
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


def _split_long(text: str, a: int, b: int) -> list[tuple[int, int]]:
    """Cut a sentence longer than LONG_SENTENCE_CHARS at commas into even pieces.

    Each cut goes after the comma nearest to an even share of the remaining
    length, never further than MAX_SENTENCE_CHARS; with no comma in reach the
    cut is made at that share, moved off any digit/letter run.
    """
    pieces = []
    while b - a > LONG_SENTENCE_CHARS:
        goal = a + (b - a) // math.ceil((b - a) / LONG_SENTENCE_CHARS)
        cuts = [
            p + 1 for p in range(a + _MIN_PIECE, min(b, a + MAX_SENTENCE_CHARS))
            if text[p] in _COMMAS and not (text[p - 1].isdigit() and text[p + 1:p + 2].isdigit())
        ]
        if cuts:
            cut = min(cuts, key=lambda c: abs(c - goal))
        else:
            cut = goal
            while cut > a + _MIN_PIECE and _IN_TOKEN.match(text[cut - 1:cut + 1]):
                cut -= 1  # do not cut 959.33 or an English word in two
        pieces.append(_trim(text, a, cut))
        a, b = _trim(text, cut, b)
    pieces.append((a, b))
    return [p for p in pieces if p[0] < p[1]]


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Split text[start:end] into sentence spans.

    A sentence ends at 。！？；!?; and …/……, at "." only before whitespace or
    the end (so decimals and URLs stay whole); closing quotes and brackets
    after the terminator stay with the sentence. "\\n" is always a boundary.
    A "?"/"!" glued to a Latin letter or digit (the mojibake "?qū") never ends
    a sentence; an ASCII "?" glued to a CJK character ends one only after a
    question word. Sentences over LONG_SENTENCE_CHARS are cut at commas.

    Args:
        text: cleaned article text.
        start: where the range starts.
        end: where it ends (default: end of text).

    Returns:
        Non-empty (start, end) spans with no outer whitespace.
    """
    end = len(text) if end is None else end
    raw: list[tuple[int, int]] = []
    seg = i = start
    while i < end:
        if text[i] == "\n":
            raw.append((seg, i))
            seg = i = i + 1
            continue
        j = _ends_at(text, i, end, seg)
        if j < 0:
            i += 1
            continue
        raw.append((seg, j))
        seg = i = j
    raw.append((seg, end))
    spans: list[tuple[int, int]] = []
    for a, b in raw:
        a, b = _trim(text, a, b)
        if a >= b:
            continue
        if spans and "\n" not in text[spans[-1][1]:a] and not any(
            c.isalnum() for c in text[a:b]
        ):
            spans[-1] = (spans[-1][0], b)  # a stray punctuation run joins its sentence
            continue
        spans.extend(_split_long(text, a, b))
    return spans


def make_passages(
    sentence_spans: list[tuple[int, int]], max_chars: int = 300
) -> list[tuple[int, int]]:
    """Group consecutive sentences of one paragraph into passages.

    Greedy: a sentence joins the current passage while the passage span
    (first start to last end) stays within max_chars; a longer sentence forms
    a passage of its own.

    Args:
        sentence_spans: the sentence spans of ONE paragraph, in order.
        max_chars: the largest passage span to build from several sentences.

    Returns:
        Half-open index ranges (first, last + 1) into sentence_spans.
    """
    groups: list[tuple[int, int]] = []
    first = 0
    for k in range(1, len(sentence_spans) + 1):
        if k == len(sentence_spans) or sentence_spans[k][1] - sentence_spans[first][0] > max_chars:
            groups.append((first, k))
            first = k
    return groups


def segment_articles(
    articles: list[Article], max_passage_chars: int = 300
) -> tuple[list[Sentence], list[Passage]]:
    """Cut every article into sentences and passages with corpus-wide ids.

    Ids are positions (0..n-1) over the whole corpus in article order; paragraph
    numbers are 1-based within each article, and offsets index `Article.text`.

    Args:
        articles: cleaned articles, in corpus order.
        max_passage_chars: passed to make_passages.

    Returns:
        (sentences, passages).
    """
    sentences: list[Sentence] = []
    passages: list[Passage] = []
    for art in articles:
        for number, (p_start, p_end) in enumerate(split_paragraphs(art.text), start=1):
            spans = split_sentences(art.text, p_start, p_end)
            for first, last in make_passages(spans, max_passage_chars):
                pid = len(passages)
                ids = tuple(range(len(sentences), len(sentences) + last - first))
                for a, b in spans[first:last]:
                    sentences.append(Sentence(
                        id=len(sentences), doc=art.doc, paragraph=number,
                        start=a, end=b, text=art.text[a:b], passage=pid,
                    ))
                a, b = spans[first][0], spans[last - 1][1]
                passages.append(Passage(
                    id=pid, doc=art.doc, paragraph=number, start=a, end=b,
                    text=art.text[a:b], sentence_ids=ids,
                ))
    return sentences, passages
