"""Typed results of the question-answering stage: hits, citations and answers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Citation:
    """Where an answer sentence stands: enough for an analyst to check it.

    `start`/`end` are character offsets of the sentence in the cleaned article text.
    `author` is known for articles whose file states one (HTML, PDF, Word).
    """

    doc: str
    title: str
    source: str
    date: str
    paragraph: int
    start: int
    end: int
    author: str = ""

    def line(self) -> str:
        """One human-readable citation line: title · author · source · date · paragraph."""
        parts = [self.title or self.doc, self.author, self.source, self.date, f"¶{self.paragraph}"]
        return " · ".join(p for p in parts if p) + f"  [{self.doc}]"


@dataclass(frozen=True)
class PassageHit:
    """A retrieved passage shown as supporting (or, for no answer, closest) material."""

    doc: str
    text: str
    score: float
    paragraph: int = 0
    start: int = 0
    end: int = 0


@dataclass(frozen=True)
class AnswerSpan:
    """The exact answer inside the sentence (the figure, date or name asked for), as the selector read it.

    `start`/`end` are offsets in the sentence; `article_start`/`article_end`
    the same characters in the cleaned article text (as `Citation.start`).
    `probability` is the span head's; a span is given only at or above the
    threshold chosen on validation data (`qa/models/selector.json`).
    """

    text: str
    start: int
    end: int
    article_start: int
    article_end: int
    probability: float


@dataclass(frozen=True)
class Note:
    """Something the user should know about how a question was answered.

    `code` names it for the page's catalogues (`ui/messages/`, key `note_<code>`), which
    render it with `params` in the reader's language; `text` is the English wording the
    command line and the JSON's `note` show. A note without a code is shown as its text.
    """

    code: str
    text: str
    params: tuple[tuple[str, Any], ...] = ()

    def values(self) -> dict[str, Any]:
        return dict(self.params)


@dataclass(frozen=True, kw_only=True)
class Answer:
    """The reply to one question (built with named fields only).

    "No answer" is a value too: `found` is False, `sentence` and `citation` are
    None, and `passages` holds the closest material so the user can look.

    Two scores, each None where the path that chose did not compute it:
    `probability` is the learned selector's belief that the sentence answers
    (against "no answer"); `support` is how much of the question the sentence
    covers, lexically and in the dense space (the linear ranker's path). `score`
    is the one of them that decided, as the JSON's `score` has always been.
    """

    question: str
    found: bool
    sentence: str | None
    citation: Citation | None
    passages: tuple[PassageHit, ...] = ()
    notes: tuple[Note, ...] = ()
    candidates: tuple[str, ...] = field(default=(), compare=False)
    selector: str = ""  # what chose the sentence: the cross-encoder (with its version) or the linear ranker
    span: AnswerSpan | None = None  # the exact answer inside the sentence, when the selector is sure of it
    typed: str = ""  # the user's words when they differ from `question` (a follow-up, resolved)
    probability: float | None = None
    support: float | None = None

    @property
    def score(self) -> float:
        """The score that decided: `probability` when the selector chose, else `support` (0.0 for neither)."""
        if self.probability is not None:
            return self.probability
        return self.support if self.support is not None else 0.0

    @property
    def note(self) -> str:
        """The notes as one English line ("" for none)."""
        return "; ".join(note.text for note in self.notes)

    @property
    def answer_text(self) -> str | None:
        """The exact figure, date or name asked for, or None (the sentence is the answer)."""
        return self.span.text if self.span is not None else None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape shared by `aluqa ask --json`, the HTTP API and tests.

        `score` is kept for clients that read it: `probability` when given, else `support`.
        """
        data = asdict(self)
        data.pop("candidates")
        data["score"] = round(float(self.score), 4)
        data["note"] = self.note
        data["notes"] = [{"code": note.code, "text": note.text, "params": note.values()} for note in self.notes]
        for name in ("probability", "support"):
            if data[name] is not None:
                data[name] = round(float(data[name]), 4)
        data["answer_text"] = self.answer_text
        if self.span is not None:
            data["span"]["probability"] = round(float(self.span.probability), 4)
        for passage in data["passages"]:
            passage["score"] = round(float(passage["score"]), 4)
        return data
