"""The store interface: what retrieval and answering need from an index, whichever engine holds it.

Two implementations: `embeddings.store.local.CorpusIndex` (FAISS and bm25s in an
index folder, the default) and `embeddings.store.milvus.MilvusStore` (a Milvus
server or a Milvus Lite file). `qa.retriever` and `qa.answerer` use only what
`IndexStore` names, so neither knows which one it talks to, and neither
holds the corpus: they fetch by id what a question reads.

A store is named by a spec: `local` (the index folder) or `milvus:URI`, where
URI is a server address (`http://host:19530`) or a Milvus Lite file
(`./aluqa.db`). `ALUQA_STORE` sets the default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Literal, Protocol, Sequence

import numpy as np

from embeddings.store.manifest import IndexLoadError, Manifest
from embeddings.types import Article, Passage, Sentence

Unit = Literal["sentences", "passages"]
SENTENCES: Unit = "sentences"
PASSAGES: Unit = "passages"

LOCAL = "local"
MILVUS_PREFIX = "milvus:"


class StoreSpecError(IndexLoadError):
    """A --store / ALUQA_STORE value that names no known store."""


@dataclass(frozen=True)
class Scored:
    """Units found by one search, best first.

    Attributes:
        ids: the units' ids (int64), as `get_sentences` / `get_passages` take them.
        scores: their scores (float32).
        passages: for a sentence search, the id of the passage holding each
            sentence (what fusion needs without fetching the sentences); empty
            for a passage search.
    """

    ids: np.ndarray
    scores: np.ndarray
    passages: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @classmethod
    def empty(cls) -> "Scored":
        return cls(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))

    def where(self, keep: np.ndarray) -> "Scored":
        """The hits where `keep` (a boolean mask over them) holds."""
        return Scored(self.ids[keep], self.scores[keep], self.passages[keep] if self.passages.size else self.passages)


class IndexStore(Protocol):
    """Everything the retriever and the answerer read from an index.

    Nothing here hands out the whole corpus: searches return ids, and a
    question fetches by id only the units, match texts and articles it reads,
    so a store may hold far more than memory (Milvus). Within an article, the
    ids of its sentences are consecutive and in text order, so `id - 1` is the
    sentence before (when it has the same doc and paragraph). A match text is
    the normalised (simplified, half-width, lower-case) text of a unit.
    """

    manifest: Manifest

    def count(self, unit: Unit) -> int:
        """How many sentences or passages the index holds."""
        ...

    def dense_search(self, unit: Unit, query: np.ndarray, k: int, docs: frozenset[str] | None = None) -> Scored:
        """The k units of largest inner product with `query` (shape (1, dim)); scores are cosines.

        `docs`: search only the units of these articles (a date or source filter), inside
        the search itself, so the k best of them come back; None searches every unit.
        """
        ...

    def lexical_search(self, unit: Unit, tokens: Sequence[str], k: int | None = None,
                       docs: frozenset[str] | None = None) -> Scored:
        """BM25 over the units' tokens; k=None: every unit with a score above zero; `docs` as for dense_search."""
        ...

    def get_sentences(self, ids: Iterable[int]) -> dict[int, Sentence]:
        """The sentences of these ids; an id the index does not hold is left out."""
        ...

    def get_sentence_matches(self, ids: Iterable[int]) -> dict[int, str]:
        """The match texts of these sentences; an id the index does not hold is left out."""
        ...

    def get_passages(self, ids: Iterable[int]) -> dict[int, Passage]:
        """The passages of these ids; an id the index does not hold is left out."""
        ...

    def get_article(self, doc: str) -> Article:
        """One article (KeyError when the index does not hold it)."""
        ...

    def iter_articles(self) -> Iterator[Article]:
        """Every article of the index (listing the corpus, not answering)."""
        ...

    def sentence_counts(self) -> dict[str, int]:
        """How many sentences each article has in the index (listing the corpus, not answering)."""
        ...

    def document_frequencies(self, tokens: Iterable[str]) -> tuple[dict[str, int], int]:
        """For each token, how many sentences hold it; and the number of sentences."""
        ...

    def vocabulary(self) -> Iterable[str]:
        """The tokens the sentences hold (the English query expansion maps onto them)."""
        ...


@dataclass(frozen=True)
class StoreSpec:
    """A parsed --store value: `local`, or Milvus at `uri`."""

    kind: Literal["local", "milvus"]
    uri: str = ""

    def __str__(self) -> str:
        return LOCAL if self.kind == LOCAL else f"{MILVUS_PREFIX}{self.uri}"

    @property
    def is_milvus(self) -> bool:
        return self.kind == "milvus"

    def where(self, index_dir: Path | str) -> str:
        """Where the index is, for messages: the Milvus spec, or the index folder."""
        return str(self) if self.is_milvus else str(index_dir)


def open_index_store(store: "StoreSpec | str | None", index_dir: Path | str,
                     expected_model: str | None = None) -> IndexStore:
    """The loaded index of a store spec: the index folder, or the collections in Milvus.

    The one place that chooses between the two stores for reading; builds write
    through `embeddings.corpus.build`, which makes the same choice for writing.

    Raises:
        IndexLoadError: the index is missing, damaged, built with another model, or unreachable.
    """
    spec = store if isinstance(store, StoreSpec) else parse_store(store)
    if spec.is_milvus:
        from embeddings.store.milvus import MilvusStore

        return MilvusStore.open(spec.uri, expected_model=expected_model)
    from embeddings.store.local import CorpusIndex

    return CorpusIndex.load(index_dir, expected_model=expected_model)


def parse_store(text: str | None) -> StoreSpec:
    """Read a store spec (`qa.Settings.store`, `--store`); None or "" means `local`.

    Raises:
        StoreSpecError: neither `local` nor `milvus:URI`.
    """
    text = (text or LOCAL).strip()
    if text == LOCAL:
        return StoreSpec(LOCAL)
    if text.startswith(MILVUS_PREFIX) and text[len(MILVUS_PREFIX):].strip():
        return StoreSpec("milvus", text[len(MILVUS_PREFIX):].strip())
    raise StoreSpecError(f"unknown store {text!r}: use 'local' (the index folder) or 'milvus:URI' with a "
                         f"Milvus Lite file (milvus:./aluqa.db) or a server (milvus:http://host:19530)")
