"""HybridRetriever: dense and lexical (BM25) scores of an index store fused for sentences and passages."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from embeddings.encoder import TextEncoder
from embeddings.store import PASSAGES, SENTENCES, IndexStore, Scored
from embeddings.types import Passage, Sentence
from qa.question import Question
from qa.settings import Settings


@dataclass(frozen=True)
class Hit:
    """A candidate sentence with the evidence retrieval found for it.

    Attributes:
        sentence: the candidate.
        score: fused retrieval score (higher is better; comparable within one question).
        dense: cosine between question and sentence.
        lexical: BM25 of the sentence, divided by the best sentence's BM25.
        passage_score: fused score of the passage holding the sentence.
        passage_dense: cosine between question and that passage.
    """

    sentence: Sentence
    score: float
    dense: float
    lexical: float
    passage_score: float
    passage_dense: float


@dataclass(frozen=True)
class PassageScore:
    passage: Passage
    score: float
    dense: float


@dataclass(frozen=True)
class Retrieval:
    """What the retriever hands to the answerer."""

    hits: tuple[Hit, ...]  # best first
    passages: tuple[PassageScore, ...]  # best first


def _lexical_scores(found: Scored, size: int) -> np.ndarray:
    """BM25 of every unit: those found, zero for the rest."""
    scores = np.zeros(size, dtype=np.float32)
    scores[found.ids] = found.scores
    return scores


def _dense_scores(found: Scored, size: int) -> np.ndarray:
    """Cosines of the units found; every other unit gets the lowest found (an upper bound for it)."""
    scores = np.zeros(size, dtype=np.float32)
    if size == 0 or found.ids.size == 0:
        return scores
    scores[:] = found.scores.min()
    scores[found.ids] = found.scores
    return scores


def _scale(values: np.ndarray) -> np.ndarray:
    """Map scores to [0, 1] for this question: best 1, worst 0."""
    if values.size == 0:
        return values
    low, high = float(values.min()), float(values.max())
    if high - low < 1e-9:
        return np.zeros_like(values)
    return (values - low) / (high - low)


class HybridRetriever:
    """Ranks the sentences of an index store (local or Milvus) for a question.

    A sentence's score adds its own dense and lexical evidence to that of its
    passage, because the subject of a figure is often named one sentence
    earlier (`weight_passage`).

    Args:
        index: the loaded index store.
        encoder: the model the index was built with (used for the question).
        settings: fusion weights and candidate counts.
    """

    def __init__(self, index: IndexStore, encoder: TextEncoder, settings: Settings):
        self.index = index
        self.encoder = encoder
        self.settings = settings

    def retrieve(self, question: Question, query_vector: np.ndarray | None = None) -> Retrieval:
        """Rank sentences and passages for a question.

        Args:
            question: the parsed question.
            query_vector: its embedding, when already computed (batch evaluation); shape (1, dim).
        """
        index, settings = self.index, self.settings
        n_sentences, n_passages = len(index.sentences), len(index.passages)
        if n_sentences == 0:
            return Retrieval((), ())
        query = self.encoder.encode_queries([question.match]) if query_vector is None else query_vector
        k = settings.dense_candidates

        sentence_dense = _dense_scores(index.dense_search(SENTENCES, query, k), n_sentences)
        passage_dense = _dense_scores(index.dense_search(PASSAGES, query, k), n_passages)
        sentence_lexical = _lexical_scores(index.lexical_search(SENTENCES, question.tokens), n_sentences)
        passage_lexical = _lexical_scores(index.lexical_search(PASSAGES, question.tokens), n_passages)

        passage_fused = (settings.weight_dense * _scale(passage_dense)
                         + settings.weight_lexical * _scale(passage_lexical))
        passage_of = np.fromiter((s.passage for s in index.sentences), dtype=np.int64, count=n_sentences)
        lexical_scaled = _scale(sentence_lexical)
        sentence_fused = (settings.weight_dense * _scale(sentence_dense)
                          + settings.weight_lexical * lexical_scaled
                          + settings.weight_passage * passage_fused[passage_of])

        top = np.argsort(-sentence_fused, kind="stable")[: settings.answer_candidates]
        hits = tuple(
            Hit(
                sentence=index.sentences[i],
                score=float(sentence_fused[i]),
                dense=float(sentence_dense[i]),
                lexical=float(lexical_scaled[i]),
                passage_score=float(passage_fused[passage_of[i]]),
                passage_dense=float(passage_dense[passage_of[i]]),
            )
            for i in top
        )
        top_passages = np.argsort(-passage_fused, kind="stable")[: max(settings.top_passages, 10)]
        passages = tuple(
            PassageScore(index.passages[i], float(passage_fused[i]), float(passage_dense[i]))
            for i in top_passages
        )
        return Retrieval(hits, passages)
