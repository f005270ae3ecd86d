"""Near-miss questions the corpus cannot answer, made from answerable training questions.

What analysts ask a news archive that it cannot answer is mostly a near miss:
the right city and the wrong year, a company it never covered, a figure that
was never stated. Such a question is made from an answerable one by replacing
one thing it names (a year, a number, a place, an organisation, a person) with
a thing of the same kind named by a question of *another* article of the same
file. It is kept only when the new value occurs nowhere in the passage the
question was written on (so the gold sentence cannot answer it either), and it
is labelled "no answer".

Chinese questions are read with jieba's part-of-speech tags (ns places, nt
organisations, nr persons, m numbers); English ones only by their years and
numbers, since an English name replaced with another could still name
something the Chinese passage holds under its Chinese form.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from embeddings.text.normalize import normalize

YEAR, NUMBER, PLACE, ORGANISATION, PERSON = "year", "number", "place", "organisation", "person"
KINDS = (YEAR, NUMBER, PLACE, ORGANISATION, PERSON)
_POS_KIND = {"ns": PLACE, "nt": ORGANISATION, "nr": PERSON}
# Wider than `qa.question.YEAR` (historical questions of the training files name 1500s years); it
# decides which near misses are made, so changing it changes the training data.
_YEAR = re.compile(r"(?<!\d)(1[5-9]\d\d|20\d\d)(?=年|\b|$)")
# A number, but not a month, a day or an English ordinal: "9月" or "3rd" replaced by "211" is no question at all.
_NUMBER = re.compile(r"(?<![\d.,])\d+(?:\.\d+)?(?![\d.,]|\s*(?:月|日|号|st\b|nd\b|rd\b|th\b|s\b))")


@dataclass(frozen=True)
class Mention:
    """A thing a question names: its kind, its text and where it stands in the question."""

    kind: str
    text: str
    start: int


@dataclass(frozen=True)
class NearMiss:
    """An unanswerable question made from an answerable one."""

    question: str
    kind: str
    replaced: str  # what the original question named
    value: str  # what the new question names instead


def mentions(question: str) -> list[Mention]:
    """Years, numbers and (for Chinese) places, organisations and persons a question names."""
    found = [Mention(YEAR, m.group(1), m.start(1)) for m in _YEAR.finditer(question)]
    taken = {(m.start, m.start + len(m.text)) for m in found}
    for match in _NUMBER.finditer(question):
        if not any(s <= match.start() < e for s, e in taken):
            found.append(Mention(NUMBER, match.group(), match.start()))
    from qa.question import _posseg, is_english_text

    if not is_english_text(question):

        position = 0
        for pair in _posseg().cut(question):
            kind = _POS_KIND.get(pair.flag[:2])
            if kind and len(pair.word) >= 2:
                found.append(Mention(kind, pair.word, position))
            position += len(pair.word)
    return sorted(found, key=lambda m: m.start)


@dataclass(frozen=True)
class Lexicon:
    """What the questions of a file name, per kind: every value, and the values of each article."""

    values: dict[str, list[str]]
    by_article: dict[tuple[str, str], set[str]]


def lexicon(questions: Iterable[tuple[str, str]]) -> Lexicon:
    values: dict[str, set[str]] = {kind: set() for kind in KINDS}
    by_article: dict[tuple[str, str], set[str]] = {}
    for article, question in questions:
        for mention in mentions(question):
            values[mention.kind].add(mention.text)
            by_article.setdefault((mention.kind, article), set()).add(mention.text)
    return Lexicon({kind: sorted(v) for kind, v in values.items()}, by_article)


def _same_shape(kind: str, old: str, new: str) -> bool:
    # A number keeps its number of digits, so the new question stays as plausible as the old one.
    return kind != NUMBER or len(old.split(".")[0]) == len(new.split(".")[0])


def make_near_miss(question: str, article: str, passage: str, table: Lexicon,
                   rng: random.Random, tries: int = 12) -> NearMiss | None:
    """One near miss of the question, or None when no replacement is safe.

    The replacement comes from questions of other articles; it must differ
    from what it replaces and occur nowhere in the question's passage
    (compared in matching form, so script and width do not hide it).
    """
    options = mentions(question)
    if not options:
        return None
    passage_match = normalize(passage)
    for _ in range(tries):
        mention = rng.choice(options)
        pool = table.values[mention.kind]
        if not pool:
            continue
        value = rng.choice(pool)
        if (value in table.by_article.get((mention.kind, article), ()) or not _same_shape(mention.kind, mention.text, value)
                or normalize(value) in passage_match or value in question):
            continue
        new = question[: mention.start] + value + question[mention.start + len(mention.text):]
        return NearMiss(new, mention.kind, mention.text, value)
    return None


def near_misses(items: Sequence[tuple[str, str, str]], share: float, seed: int) -> list[tuple[int, NearMiss]]:
    """Near misses for a seeded `share` of the (article, question, passage) items: (item index, near miss)."""
    rng = random.Random(seed)
    table = lexicon((article, question) for article, question, _ in items)
    result = []
    for i, (article, question, passage) in enumerate(items):
        if rng.random() >= share:
            continue
        made = make_near_miss(question, article, passage, table, rng)
        if made is not None:
            result.append((i, made))
    return result


def main(argv: list[str] | None = None) -> int:
    """`python -m qa.training.near_miss FILE... [--sample N] [--seed S]`: print near misses to read their labels."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m qa.training.near_miss", description=main.__doc__)
    parser.add_argument("files", nargs="+", help="SQuAD-style training files")
    parser.add_argument("--sample", type=int, default=50, help="how many to print (default 50)")
    parser.add_argument("--seed", type=int, default=50, help="seed of the sample (default 50)")
    args = parser.parse_args(argv)
    from qa.training.train_selector import NEAR_MISS, with_near_misses
    from qa.training.datasets import read_squad

    rows = []
    for path in args.files:
        squad = read_squad(path)
        questions = with_near_misses(squad, 13)  # the training command's seed
        originals = {q.id: q for q, _ in questions}
        for question, kind in questions:
            if kind.startswith(NEAR_MISS):
                original = originals[question.id.split("~")[0]]
                rows.append((squad.name, kind, original.question, question.question, original.answers[0]))
    random.Random(args.seed).shuffle(rows)
    for name, kind, original, new, answer in rows[: args.sample]:
        print(f"{name} {kind}\n  asked:    {original}  [{answer}]\n  near miss: {new}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
