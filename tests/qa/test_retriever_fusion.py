"""The retriever scores only the units its searches return; its ranking must equal scoring every unit."""

from __future__ import annotations

import numpy as np
import pytest

from embeddings.store import SENTENCES, Scored
from embeddings.types import Passage, Sentence
from qa.question import Question
from qa.retriever import HybridRetriever
from qa.settings import Settings


class RandomStore:
    """An index whose four searches return random units with random scores, and which counts fetches."""

    def __init__(self, seed: int, n_passages: int):
        rng = np.random.default_rng(seed)
        self.rng = rng
        self.passages, self.sentences = [], []
        for pid in range(n_passages):
            size = int(rng.integers(1, 5))
            ids = tuple(range(len(self.sentences), len(self.sentences) + size))
            self.sentences += [Sentence(i, "d", pid + 1, 0, 1, f"s{i}", pid) for i in ids]
            self.passages.append(Passage(pid, "d", pid + 1, 0, 1, f"p{pid}", ids))
        self.passage_of = np.array([s.passage for s in self.sentences], dtype=np.int64)
        self.fetched: list[int] = []
        # Drawn once, so the reference below sees the very hits the retriever got.
        self.found = {(kind, unit): self._draw(unit, kind) for kind in ("dense", "lexical")
                      for unit in ("sentences", "passages")}

    def _draw(self, unit: str, kind: str) -> Scored:
        total = self.count(unit)
        # Sometimes the sentence searches find few units, so that sentences no search found,
        # in passages that scored, must enter the ranking.
        few = unit == SENTENCES and self.rng.random() < 0.5
        most = 6 if few else total if kind == "lexical" else 20
        size = int(self.rng.integers(0, most + 1)) if kind == "lexical" else min(most, total)
        ids = self.rng.choice(total, size=size, replace=False).astype(np.int64)
        low = 0.01 if kind == "lexical" else 0.6
        scores = np.sort(self.rng.uniform(low, low + 1.0, size=size).astype(np.float32))[::-1]
        return Scored(ids, scores, self.passage_of[ids] if unit == SENTENCES else np.zeros(0, dtype=np.int64))

    def count(self, unit):
        return len(self.sentences) if unit == SENTENCES else len(self.passages)

    def dense_search(self, unit, query, k):
        return self.found[("dense", unit)]

    def lexical_search(self, unit, tokens, k=None):
        return self.found[("lexical", unit)]

    def get_sentences(self, ids):
        ids = list(ids)
        self.fetched += ids
        return {i: self.sentences[i] for i in ids}

    def get_passages(self, ids):
        return {i: self.passages[i] for i in ids}


def reference_ranking(store: RandomStore, settings: Settings) -> list[int]:
    """Every unit of the index scored (unfound: lowest cosine found, BM25 0), then the best first."""

    def full(found: Scored, size: int, dense: bool) -> np.ndarray:
        scores = np.zeros(size, dtype=np.float32)
        if dense and found.ids.size:
            scores[:] = found.scores.min()
        scores[found.ids] = found.scores
        return scores

    def scale(values):
        low, high = float(values.min()), float(values.max())
        return np.zeros_like(values) if high - low < 1e-9 else (values - low) / (high - low)

    n_s, n_p = store.count("sentences"), store.count("passages")
    passage = (settings.weight_dense * scale(full(store.found[("dense", "passages")], n_p, True))
               + settings.weight_lexical * scale(full(store.found[("lexical", "passages")], n_p, False)))
    sentence = (settings.weight_dense * scale(full(store.found[("dense", "sentences")], n_s, True))
                + settings.weight_lexical * scale(full(store.found[("lexical", "sentences")], n_s, False))
                + settings.weight_passage * passage[store.passage_of])
    return np.argsort(-sentence, kind="stable")[: settings.answer_candidates].tolist()


QUESTION = Question("q", "q", ("q",), "", "", (), (), (), False)


class NoEncoder:
    def encode_queries(self, texts):
        return np.zeros((1, 4), dtype=np.float32)


@pytest.mark.parametrize("seed", range(40))
def test_scoring_only_the_units_found_ranks_as_scoring_every_unit(seed):
    store = RandomStore(seed, n_passages=60)
    settings = Settings(answer_candidates=8)
    hits = HybridRetriever(store, NoEncoder(), settings).retrieve(QUESTION).hits
    # Ties are broken by the lower id, as a stable sort over every unit does.
    expected = reference_ranking(store, settings)
    got = [hit.sentence.id for hit in hits]
    assert got == expected
    # Only the sentences ranked were fetched.
    assert sorted(store.fetched) == sorted(got)
