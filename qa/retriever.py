"""HybridRetriever: dense and lexical (BM25) scores of an index store fused for sentences and passages."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from embeddings.model.encoder import TextEncoder
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


class _Evidence:
    """One kind of score (dense or lexical) of every unit of the index, held sparsely.

    The units a search found have their own score; every other unit has
    `rest`: zero for BM25, and for the dense search the lowest cosine found
    (an upper bound of theirs). `scaled` maps scores to [0, 1] for this
    question (best 1, worst 0) over all units, found or not. Scores stay
    float32, as the searches give them.
    """

    def __init__(self, found: Scored, rest: float, total: int):
        self.found = found
        self.rest = rest
        values = found.scores
        if found.ids.size < total:  # some unit has the rest value
            values = np.append(values, np.float32(rest))
        self.low, self.high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
        order = np.argsort(found.ids, kind="stable")
        self._ids, self._scores = found.ids[order], found.scores[order]

    def values_of(self, ids: np.ndarray) -> np.ndarray:
        """The raw score of each of `ids` (any order)."""
        values = np.full(ids.size, self.rest, dtype=np.float32)
        if self._ids.size and ids.size:
            at = np.minimum(np.searchsorted(self._ids, ids), self._ids.size - 1)
            hit = self._ids[at] == ids
            values[hit] = self._scores[at[hit]]
        return values

    def scaled(self, ids: np.ndarray) -> np.ndarray:
        """The scaled score of each of `ids`."""
        values = self.values_of(ids)
        if self.high - self.low < 1e-9:
            return np.zeros_like(values)
        return (values - self.low) / (self.high - self.low)


@dataclass
class _Pool:
    """The sentences a question's ranking weighs: ids, their passages and fused scores."""

    ids: np.ndarray
    passages: np.ndarray
    scores: np.ndarray

    @classmethod
    def empty(cls) -> "_Pool":
        return cls(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))

    def add(self, ids: np.ndarray, passages: np.ndarray, scores: np.ndarray) -> None:
        self.ids = np.concatenate([self.ids, ids])
        self.passages = np.concatenate([self.passages, passages])
        self.scores = np.concatenate([self.scores, scores.astype(np.float32)])

    def kth_best(self, k: int) -> float:
        """The k-th best score (-inf while the pool holds fewer than k)."""
        return float(np.partition(self.scores, -k)[-k]) if self.scores.size >= k else -np.inf


def _dense(found: Scored, total: int) -> _Evidence:
    return _Evidence(found, float(found.scores.min()) if found.ids.size else 0.0, total)


def _lexical(found: Scored, total: int) -> _Evidence:
    return _Evidence(found, 0.0, total)


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

    def retrieve(self, question: Question, query_vector: np.ndarray | None = None,
                 docs: frozenset[str] | None = None) -> Retrieval:
        """Rank sentences and passages for a question.

        Only the units the four searches return are scored one by one; every
        other unit shares its search's rest score, so the ranking equals that
        of scoring every unit of the index, and only the units ranked are fetched.

        Args:
            question: the parsed question.
            query_vector: its embedding, when already computed (batch evaluation); shape (1, dim).
            docs: rank only the sentences of these articles (a date or source filter); the
                stores apply it inside their searches.
        """
        index, settings = self.index, self.settings
        n_sentences, n_passages = index.count(SENTENCES), index.count(PASSAGES)
        if n_sentences == 0:
            return Retrieval((), ())
        query = self.encoder.encode_queries([question.match]) if query_vector is None else query_vector
        k = settings.dense_candidates
        scope = {} if docs is None else {"docs": docs}
        sentence_dense = _dense(index.dense_search(SENTENCES, query, k, **scope), n_sentences)
        passage_dense = _dense(index.dense_search(PASSAGES, query, k, **scope), n_passages)
        sentence_lexical = _lexical(index.lexical_search(SENTENCES, question.tokens, **scope), n_sentences)
        passage_lexical = _lexical(index.lexical_search(PASSAGES, question.tokens, **scope), n_passages)

        def passage_fused(ids: np.ndarray) -> np.ndarray:
            return settings.weight_dense * passage_dense.scaled(ids) + settings.weight_lexical * passage_lexical.scaled(ids)

        def sentence_own(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            """A sentence's own fused evidence, and its scaled BM25."""
            lexical = sentence_lexical.scaled(ids)
            return settings.weight_dense * sentence_dense.scaled(ids) + settings.weight_lexical * lexical, lexical

        # The passages either search found, best first (ties: lower id first).
        found_passages = np.union1d(passage_dense.found.ids, passage_lexical.found.ids)
        found_passage_scores = passage_fused(found_passages)
        order = np.lexsort((found_passages, -found_passage_scores))
        ranked_passages, ranked_passage_scores = found_passages[order], found_passage_scores[order]

        # The sentences either search found, with their passages (the searches report them).
        passage_of: dict[int, int] = {}
        for found in (sentence_dense.found, sentence_lexical.found):
            passage_of.update(zip(found.ids.tolist(), found.passages.tolist()))
        pool = _Pool.empty()

        def add(ids: np.ndarray, passages: np.ndarray) -> None:
            pool.add(ids, passages, sentence_own(ids)[0] + settings.weight_passage * passage_fused(passages))

        add(np.fromiter(passage_of, dtype=np.int64, count=len(passage_of)),
            np.fromiter(passage_of.values(), dtype=np.int64, count=len(passage_of)))

        # A sentence no search found still scores its passage's evidence. The best passages
        # are read in batches (the first batch also gives the passages shown with the
        # answer) while a sentence of the next one could still enter the top `want`.
        want = settings.answer_candidates
        shown = max(settings.top_passages, 10)
        rest_own = float(sentence_own(np.array([-1], dtype=np.int64))[0][0])
        fetched: dict[int, Passage] = {}
        batch_size = max(want, shown)
        for begin in range(0, ranked_passages.size, batch_size):
            if begin and rest_own + settings.weight_passage * ranked_passage_scores[begin] < pool.kth_best(want):
                break
            batch = ranked_passages[begin:begin + batch_size].tolist()
            fetched.update(index.get_passages(batch))
            extra = [(sid, pid) for pid in batch if pid in fetched
                     for sid in fetched[pid].sentence_ids if sid not in passage_of]
            passage_of.update(extra)
            add(np.array([sid for sid, _ in extra], dtype=np.int64), np.array([pid for _, pid in extra], dtype=np.int64))

        top = np.lexsort((pool.ids, -pool.scores))[:want]
        top_ids, top_passages = pool.ids[top], pool.passages[top]
        sentences = index.get_sentences(top_ids.tolist())
        columns = zip(top_ids.tolist(), pool.scores[top].tolist(), sentence_dense.values_of(top_ids).tolist(),
                      sentence_own(top_ids)[1].tolist(), passage_fused(top_passages).tolist(),
                      passage_dense.values_of(top_passages).tolist())
        hits = tuple(Hit(sentences[sid], score, dense, lexical, passage_score, passage_cosine)
                     for sid, score, dense, lexical, passage_score, passage_cosine in columns
                     if sid in sentences)  # a sentence removed since the search is no candidate
        shown_ids = ranked_passages[:shown]
        passages = tuple(
            PassageScore(fetched[pid], score, cosine)
            for pid, score, cosine in zip(shown_ids.tolist(), ranked_passage_scores[:shown].tolist(),
                                          passage_dense.values_of(shown_ids).tolist()) if pid in fetched
        )
        return Retrieval(hits, passages)
