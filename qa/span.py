"""The exact answer inside a sentence: token spans, their labels in training, and their offsets in the text.

The selector's span head gives, for each token of the candidate sentence, a
start and an end logit. Training needs the gold span as token positions;
answering needs the best span back as character offsets, first in the
sentence's matching form (what the model read) and then in the sentence as the
article prints it. Both directions go through `token_offsets`, so training and
serving agree on which characters a token covers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from embeddings.text.normalize import normalize

SPACE_MARK = "\u2581"  # SentencePiece's mark for a preceding space
MAX_SPAN_TOKENS = 30  # longer spans are not answers a reader quotes as "the figure"


def token_offsets(text: str, pieces: Sequence[str]) -> list[tuple[int, int]]:
    """(start, end) character offsets in `text` of each token piece, in order.

    The pieces are the tokenizer's own strings for the text's ids. A piece
    that is not found where expected (the tokenizer's character map changed
    it, or it is `<unk>`) covers one character, so the offsets stay in order.
    """
    offsets, position = [], 0
    for piece in pieces:
        body = piece.lstrip(SPACE_MARK)
        while position < len(text) and text[position].isspace():
            position += 1
        if body and text.startswith(body, position):
            offsets.append((position, position + len(body)))
            position += len(body)
        elif body:
            found = text.find(body, position, position + len(body) + 8)
            if found >= 0:
                offsets.append((found, found + len(body)))
                position = found + len(body)
            else:
                end = min(position + 1, len(text))
                offsets.append((position, end))
                position = end
        else:
            offsets.append((position, position))
    return offsets


def label_span(offsets: Sequence[tuple[int, int]], start: int, end: int) -> tuple[int, int] | None:
    """Token positions (first, last) covering characters [start, end), or None when no token does."""
    first = next((i for i, (s, e) in enumerate(offsets) if e > start and e > s), None)
    last = next((i for i in range(len(offsets) - 1, -1, -1) if offsets[i][0] < end and offsets[i][1] > offsets[i][0]),
                None)
    if first is None or last is None or last < first:
        return None
    return first, last


@dataclass(frozen=True)
class TokenSpan:
    """The best span of one sentence: token positions and the model's probability of it."""

    first: int
    last: int
    probability: float


def best_span(start_logits: np.ndarray, end_logits: np.ndarray, max_tokens: int = MAX_SPAN_TOKENS) -> TokenSpan | None:
    """The (first <= last < first + max_tokens) pair with the largest start + end logit.

    The probability is that of a softmax over the sentence's start positions
    times that of one over its end positions.
    """
    count = len(start_logits)
    if count == 0:
        return None
    start = np.asarray(start_logits, dtype=np.float64)
    end = np.asarray(end_logits, dtype=np.float64)
    pair = start[:, None] + end[None, :]
    first, last = np.indices(pair.shape)
    pair[(last < first) | (last - first >= max_tokens)] = -np.inf
    i, j = np.unravel_index(int(np.argmax(pair)), pair.shape)
    p_start = np.exp(start - start.max())
    p_end = np.exp(end - end.max())
    probability = float(p_start[i] / p_start.sum() * p_end[j] / p_end.sum())
    return TokenSpan(int(i), int(j), probability)


def match_to_original(text: str) -> tuple[str, list[int]]:
    """The matching form of `text` built character by character, and for each of its characters the original index.

    When the per-character form differs from `normalize(text)` (a phrase the
    converter rewrites as a whole), the caller gets the per-character one: the
    offsets it maps through are then still exact.
    """
    pieces, owners = [], []
    for index, char in enumerate(text):
        form = normalize(char)
        pieces.append(form)
        owners.extend([index] * len(form))
    return "".join(pieces), owners


def original_span(text: str, match: str, start: int, end: int) -> tuple[int, int] | None:
    """Offsets in `text` of the characters [start, end) of its matching form `match`, or None."""
    per_char, owners = match_to_original(text)
    if per_char != match:
        # The model read the whole-text form; find the same characters in the per-character one.
        piece = match[start:end]
        start = per_char.find(piece)
        if start < 0:
            return None
        end = start + len(piece)
    if not 0 <= start < end <= len(owners):
        return None
    return owners[start], owners[end - 1] + 1


def char_f1(guess: str, gold: str) -> float:
    """Character-overlap F1, as Chinese reading-comprehension benchmarks (CMRC 2018) score spans."""
    from collections import Counter

    common = sum((Counter(guess) & Counter(gold)).values())
    if not common:
        return 0.0
    precision, recall = common / len(guess), common / len(gold)
    return 2 * precision * recall / (precision + recall)
