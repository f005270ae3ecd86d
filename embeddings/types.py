"""Typed records that flow from the corpus files into the index."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CleanText:
    """Text after cleaning, with a map back to the raw file.

    Attributes:
        text: the cleaned text; paragraphs are separated by a single "\\n".
        origin: for every character of `text`, the index of the raw character
            it came from, so that any span can be traced back to the file.
    """

    text: str
    origin: tuple[int, ...]


@dataclass(frozen=True)
class Article:
    """One cleaned article of the corpus.

    Attributes:
        doc: the file name of the article (the citation key), e.g. "004_x.txt".
        title: headline given by the text, or the first sentence when it has none.
        source: the publisher the text names ("" when it names none).
        date: ISO date "YYYY-MM-DD" or "YYYY-MM" the text gives ("" when none).
        text: cleaned text in the article's own script, paragraphs split by "\\n".
        content_hash: sha256 of the raw file bytes; changes whenever the file does.
        author: the author the file states (HTML, PDF and Word metadata), "" when none.
    """

    doc: str
    title: str
    source: str
    date: str
    text: str
    content_hash: str
    author: str = ""


@dataclass(frozen=True)
class Sentence:
    """One sentence of an article: the unit an answer is made of.

    Offsets are character offsets into `Article.text`, so
    `article.text[start:end] == text` always holds.
    """

    id: int
    doc: str
    paragraph: int  # 1-based paragraph number in the cleaned article
    start: int
    end: int
    text: str
    passage: int  # id of the passage holding this sentence


@dataclass(frozen=True)
class Passage:
    """A run of consecutive sentences from one paragraph: the unit retrieval ranks."""

    id: int
    doc: str
    paragraph: int
    start: int
    end: int
    text: str
    sentence_ids: tuple[int, ...]
