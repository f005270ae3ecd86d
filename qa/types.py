"""Typed results of the question-answering stage: hits, citations and answers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Citation:
    """Where an answer sentence stands: enough for an analyst to check it.

    `start`/`end` are character offsets of the sentence in the cleaned article text.
    """

    doc: str
    title: str
    source: str
    date: str
    paragraph: int
    start: int
    end: int

    def line(self) -> str:
        """One human-readable citation line: title · source · date · paragraph."""
        parts = [self.title or self.doc, self.source, self.date, f"¶{self.paragraph}"]
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
class Answer:
    """The reply to one question.

    "No answer" is a value too: `found` is False, `sentence` and `citation` are
    None, and `passages` holds the closest material so the user can look.
    """

    question: str
    found: bool
    sentence: str | None
    score: float
    citation: Citation | None
    passages: tuple[PassageHit, ...] = ()
    note: str = ""
    candidates: tuple[str, ...] = field(default=(), compare=False)
    selector: str = ""  # what chose the sentence: the cross-encoder (with its version) or the linear ranker

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape shared by `aluqa ask --json`, the HTTP API and tests."""
        data = asdict(self)
        data.pop("candidates")
        data["score"] = round(float(self.score), 4)
        for passage in data["passages"]:
            passage["score"] = round(float(passage["score"]), 4)
        return data
