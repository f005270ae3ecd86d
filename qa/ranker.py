"""Candidate features and the linear ranker that scores answer sentences from them."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

RANKER_FILE = Path(__file__).with_name("ranker.json")

# Every candidate sentence is described by these numbers, in this order.
FEATURES = (
    "fused",            # the retriever's fused score
    "dense",            # cosine question-sentence
    "lexical",          # BM25 of the sentence, scaled to the best sentence
    "passage",          # fused score of its passage
    "passage_dense",    # cosine question-passage
    "coverage",         # share of the question's IDF weight the sentence holds
    "coverage_prev",    # ... the sentence before it (the subject is often named there)
    "coverage_next",    # ... the sentence after it
    "bigrams",          # share of the question's character bigrams found in the sentence
    "longest_common",   # longest common substring, relative to the question's length
    "type_ok",          # holds the kind of thing asked (number, date, name, place)
    "unit_ok",          # holds a number with the unit asked, or the asked-about noun
    "novelty",          # share of the sentence's characters absent from the question
    "log_length",       # log of the sentence length
    "rank",             # 1 / (retrieval rank + 1)
)


@dataclass(frozen=True)
class LinearRanker:
    """score = weights · standardised(features) + bias; higher is better.

    The shipped `ranker.json` is trained by `python -m qa.training.train_ranker` on
    CMRC 2018 trial questions; `hand_set()` is the fallback with three
    hand-chosen weights.
    """

    features: tuple[str, ...]
    weights: tuple[float, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    bias: float = 0.0
    trained_on: str = ""

    def __post_init__(self):
        n = len(self.features)
        if not (len(self.weights) == len(self.mean) == len(self.scale) == n):
            raise ValueError(f"ranker has {n} features but {len(self.weights)} weights, "
                             f"{len(self.mean)} means, {len(self.scale)} scales")
        unknown = set(self.features) - set(FEATURES)
        if unknown:
            raise ValueError(f"ranker uses unknown features: {sorted(unknown)}")

    def score(self, matrix: np.ndarray) -> np.ndarray:
        """Scores of candidates whose features (columns in `FEATURES` order) are the rows of `matrix`."""
        columns = [FEATURES.index(name) for name in self.features]
        picked = matrix[:, columns]
        return (picked - np.asarray(self.mean)) / np.asarray(self.scale) @ np.asarray(self.weights) + self.bias

    def save(self, path: Path) -> None:
        data = {"features": list(self.features), "weights": list(self.weights), "mean": list(self.mean),
                "scale": list(self.scale), "bias": self.bias, "trained_on": self.trained_on}
        path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> "LinearRanker":
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(tuple(data["features"]), tuple(data["weights"]), tuple(data["mean"]),
                   tuple(data["scale"]), float(data.get("bias", 0.0)), data.get("trained_on", ""))

    @classmethod
    def hand_set(cls) -> "LinearRanker":
        """Retrieval score plus fixed bonuses for the asked type and unit."""
        names = ("fused", "type_ok", "unit_ok")
        return cls(names, (1.0, 0.35, 0.35), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), 0.0, "hand-set")


@lru_cache(maxsize=1)
def default_ranker() -> LinearRanker:
    """The trained ranker shipped with the project, else the hand-set one."""
    return LinearRanker.load(RANKER_FILE) if RANKER_FILE.is_file() else LinearRanker.hand_set()


# -- features that compare raw strings ---------------------------------------------
def _content_chars(text: str) -> str:
    return "".join(ch for ch in text if ch.isalnum())


def char_bigrams(text: str) -> set[str]:
    chars = _content_chars(text)
    return {chars[i:i + 2] for i in range(len(chars) - 1)}


def longest_common_substring(a: str, b: str) -> int:
    """Length of the longest common substring of the two strings' letters and digits.

    The answerer computes it for every candidate of every question, so the
    search is left to `str.__contains__` (C): the best length only grows, and
    from each start of the shorter string the next longer piece is looked up
    in the longer one; about len(shorter) + best lookups in all.
    """
    a, b = _content_chars(a), _content_chars(b)
    if len(a) > len(b):
        a, b = b, a
    best = 0
    for start in range(len(a)):
        while start + best < len(a) and a[start:start + best + 1] in b:
            best += 1
    return best


def novelty(question: str, sentence: str) -> float:
    chars = _content_chars(sentence)
    if not chars:
        return 0.0
    asked = set(_content_chars(question))
    return sum(ch not in asked for ch in chars) / len(chars)


def log_length(sentence: str) -> float:
    return math.log(1 + len(sentence))
