"""Verdicts on answers: kept one JSON line each beside the index, exported as a seed-format QA set.

A verdict holds only what the page showed and what the person typed: the
question, the answer and its citation, right or wrong, the comment, the time
and the hash of the corpus the index was built from. No name, address or
browser detail is recorded.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from embeddings.text.normalize import to_simplified

VERDICTS = ("right", "wrong", "withdrawn")
_WRITE_LOCK = threading.Lock()
# A comment shorter than this is a remark, not a sentence to look for in the corpus.
_MIN_QUOTE_CHARS = 4


def feedback_path(index_dir: Path | str) -> Path:
    """The verdict file of an index: a sibling, since each build replaces the index folder itself."""
    index_dir = Path(index_dir)
    return index_dir.parent / f"{index_dir.name}-feedback.jsonl"


@dataclass(frozen=True)
class Verdict:
    """One person's verdict on one answer.

    Attributes:
        question: the question as asked (a follow-up already completed).
        answer: the sentence given, or None for "not found".
        citation: the answer's citation (`Citation` fields), or None.
        verdict: "right", "wrong", or "withdrawn" (an earlier verdict taken back).
        comment: what the person typed: the right sentence, or a remark ("" for none).
        corpus_hash: the index's corpus hash when the answer was given.
        time: UTC, ISO 8601, to the second.
    """

    question: str
    answer: str | None
    citation: dict[str, Any] | None
    verdict: str
    comment: str = ""
    corpus_hash: str = ""
    time: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"a verdict is one of {', '.join(VERDICTS)}, not {self.verdict!r}")


def append_verdict(path: Path | str, verdict: Verdict) -> None:
    """Append one verdict as a JSON line (one write of a whole line, so concurrent verdicts never mix)."""
    path = Path(path)
    line = (json.dumps(asdict(verdict), ensure_ascii=False) + "\n").encode("utf-8")
    with _WRITE_LOCK:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)


def read_verdicts(path: Path | str) -> list[Verdict]:
    """Every verdict of a file, in order.

    Raises:
        ValueError: a line is not a verdict (its number is given).
    """
    verdicts = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                verdicts.append(Verdict(**json.loads(line)))
            except (json.JSONDecodeError, TypeError, ValueError) as error:
                raise ValueError(f"{path}, line {number}: not a verdict ({error})") from None
    return verdicts


@dataclass(frozen=True)
class Export:
    """Seed-format QA items made from verdicts, and why the other verdicts made none."""

    items: tuple[dict[str, Any], ...]
    skipped: tuple[str, ...]


def _quoted_doc(comment: str, sentences: Iterable[tuple[str, str]]) -> str | None | bool:
    """The one article holding a sentence that contains `comment`; None if none does, False if several do."""
    wanted = to_simplified(comment.strip())
    docs = {doc for doc, text in sentences if wanted in to_simplified(text)}
    if len(docs) > 1:
        return False
    return next(iter(docs), None)


def export_seed_qa(verdicts: list[Verdict], sentences: list[tuple[str, str]],
                   corpus_hash: str = "") -> Export:
    """Turn verdicts into seed-format items (`question`, `doc`, `must_contain`) for `aluqa eval --qa`.

    The last verdict on each question counts. A right answer must hold its own
    sentence in its article; a right "not found" is an unanswerable item
    (`doc` null). A wrong verdict becomes an item only when its comment quotes
    (part of) a sentence of exactly one article of the corpus: that sentence
    is what must be answered. Everything else is skipped, with the reason.

    Args:
        verdicts: as `read_verdicts` gives them.
        sentences: (doc, sentence text) of the current index, to check quotes and docs against.
        corpus_hash: the current index's corpus hash, to note verdicts on another corpus.
    """
    last: dict[str, Verdict] = {}
    for verdict in verdicts:
        last.pop(verdict.question, None)  # re-inserted: the order of the latest verdicts
        last[verdict.question] = verdict
    docs = {doc for doc, _ in sentences}
    items, skipped = [], []
    for question, verdict in last.items():
        cited = (verdict.citation or {}).get("doc")
        other = " (given on another corpus)" if corpus_hash and verdict.corpus_hash != corpus_hash else ""
        if verdict.verdict == "withdrawn":
            continue
        if verdict.verdict == "right" and verdict.answer is None:
            item = {"doc": None, "must_contain": []}
        elif verdict.verdict == "right":
            if cited not in docs:
                skipped.append(f"{question}: the cited article {cited} is no longer in the corpus{other}")
                continue
            item = {"doc": cited, "must_contain": [verdict.answer]}
        elif len(verdict.comment.strip()) >= _MIN_QUOTE_CHARS:
            doc = _quoted_doc(verdict.comment, sentences)
            if not doc:
                where = "several articles" if doc is False else "no article"
                skipped.append(f"{question}: marked wrong, and the comment is found in {where} of the corpus{other}")
                continue
            item = {"doc": doc, "must_contain": [verdict.comment.strip()]}
        else:
            skipped.append(f"{question}: marked wrong without the right sentence in the comment")
            continue
        items.append({"id": f"feedback{len(items) + 1:03d}", "question": question, **item,
                      "kind": "", "style": "feedback"})
    return Export(tuple(items), tuple(skipped))
