"""Measuring answers against a QA set: the seed format (`must_contain`, `doc`, `style`)."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from embeddings.text.normalize import to_simplified


@dataclass(frozen=True)
class ItemResult:
    id: str
    question: str
    style: str
    answerable: bool
    found: bool
    correct: bool  # right sentence and doc, or (unanswerable) an explicit not-found
    sentence: str | None
    doc: str | None
    expected_doc: str | None
    must_contain: tuple[str, ...]


@dataclass
class SeedQAReport:
    items: list[ItemResult] = field(default_factory=list)

    @property
    def answerable(self) -> list[ItemResult]:
        return [i for i in self.items if i.answerable]

    @property
    def unanswerable(self) -> list[ItemResult]:
        return [i for i in self.items if not i.answerable]

    def figures(self) -> dict:
        answerable, unanswerable = self.answerable, self.unanswerable
        by_style: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for item in self.items:
            by_style[item.style][0] += item.correct
            by_style[item.style][1] += 1
        return {
            "answerable_right": sum(i.correct for i in answerable),
            "answerable": len(answerable),
            "answerable_accuracy": round(sum(i.correct for i in answerable) / max(len(answerable), 1), 4),
            "unanswerable_refused": sum(i.correct for i in unanswerable),
            "unanswerable": len(unanswerable),
            "false_refusals": sum(not i.found for i in answerable),
            "by_style": {style: f"{right}/{total}" for style, (right, total) in sorted(by_style.items())},
        }


def read_seed_qa(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def is_right(item: dict, found: bool, sentence: str | None, doc: str | None) -> bool:
    """The seed set's rule: every must_contain string in the ONE sentence (compared in
    simplified script) and the right doc; for an unanswerable item, an explicit not-found."""
    if item.get("doc") is None:
        return not found
    if not found or doc != item["doc"]:
        return False
    simplified = to_simplified(sentence or "")
    return all(to_simplified(part) in simplified for part in item["must_contain"])


def evaluate_seed_qa(ask, items: list[dict]) -> SeedQAReport:
    """Ask every item with `ask(question) -> Answer` and score the replies."""
    report = SeedQAReport()
    for item in items:
        reply = ask(item["question"])
        doc = reply.citation.doc if reply.citation else None
        report.items.append(ItemResult(
            id=item["id"], question=item["question"], style=item.get("style", ""),
            answerable=item.get("doc") is not None, found=reply.found,
            correct=is_right(item, reply.found, reply.sentence, doc),
            sentence=reply.sentence, doc=doc, expected_doc=item.get("doc"),
            must_contain=tuple(item.get("must_contain", ())),
        ))
    return report


@dataclass(frozen=True)
class TurnResult:
    conversation: str
    turn: int  # 0 for the first question, which stands alone
    kind: str  # the conversation's follow-up kind (place, year, metric, pronoun ...)
    typed: str
    asked: str  # after follow-up resolution
    correct: bool
    sentence: str | None


@dataclass
class ConversationReport:
    turns: list[TurnResult] = field(default_factory=list)

    def figures(self) -> dict:
        first = [t for t in self.turns if t.turn == 0]
        follow = [t for t in self.turns if t.turn > 0]
        by_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for turn in follow:
            by_kind[turn.kind][0] += turn.correct
            by_kind[turn.kind][1] += 1
        return {
            "conversations": len(first),
            "first_turns_right": f"{sum(t.correct for t in first)}/{len(first)}",
            "follow_ups_right": f"{sum(t.correct for t in follow)}/{len(follow)}",
            "follow_up_accuracy": round(sum(t.correct for t in follow) / max(len(follow), 1), 4),
            "follow_ups_by_kind": {kind: f"{right}/{total}" for kind, (right, total) in sorted(by_kind.items())},
        }


def evaluate_conversations(new_conversation, conversations: list[dict]) -> ConversationReport:
    """Ask each conversation's turns in order through `new_conversation()` (a fresh `qa.Conversation`),
    scoring every turn by the seed set's rule (`is_right`)."""
    report = ConversationReport()
    for conversation in conversations:
        asker = new_conversation()
        for number, item in enumerate(conversation["turns"]):
            reply = asker.ask(item["question"])
            doc = reply.citation.doc if reply.citation else None
            report.turns.append(TurnResult(
                conversation=conversation.get("id", ""), turn=number, kind=conversation.get("followup", ""),
                typed=item["question"], asked=reply.question,
                correct=is_right(item, reply.found, reply.sentence, doc), sentence=reply.sentence))
    return report
