"""The store interface: what retrieval and answering need from an index, whichever engine holds it.

Two implementations: `embeddings.index.CorpusIndex` (FAISS and bm25s in an
index folder, the default) and `embeddings.milvus_store.MilvusStore` (a Milvus
server or a Milvus Lite file). `qa.retriever` and `qa.answerer` use only what
`IndexStore` names, so neither knows which one it talks to.

A store is named by a spec: `local` (the index folder) or `milvus:URI`, where
URI is a server address (`http://host:19530`) or a Milvus Lite file
(`./aluqa.db`). `ALUQA_STORE` sets the default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable, Literal, Mapping, Protocol, Sequence

import numpy as np

from embeddings.manifest import IndexLoadError, Manifest
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
    """Units found by one search: ids (the units' positions in `sentences`/`passages`), best first."""

    ids: np.ndarray  # int64
    scores: np.ndarray  # float32

    @classmethod
    def empty(cls) -> "Scored":
        return cls(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))


class IndexStore(Protocol):
    """Everything the retriever and the answerer read from an index.

    `sentences[i].id == i` and `passages[j].id == j`; `sentence_match[i]` is
    the normalised (simplified, half-width, lower-case) text of sentence i.
    """

    manifest: Manifest
    articles: Mapping[str, Article]
    sentences: Sequence[Sentence]
    passages: Sequence[Passage]
    sentence_match: Sequence[str]
    passage_match: Sequence[str]

    def dense_search(self, unit: Unit, query: np.ndarray, k: int) -> Scored:
        """The k units of largest inner product with `query` (shape (1, dim)); scores are cosines."""
        ...

    def lexical_search(self, unit: Unit, tokens: Sequence[str], k: int | None = None) -> Scored:
        """BM25 over the units' tokens; k=None: every unit with a score above zero."""
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


def parse_store(text: str | None) -> StoreSpec:
    """Read a store spec; None or "" falls back to `ALUQA_STORE`, then `local`.

    Raises:
        StoreSpecError: neither `local` nor `milvus:URI`.
    """
    text = (text or os.environ.get("ALUQA_STORE") or LOCAL).strip()
    if text == LOCAL:
        return StoreSpec(LOCAL)
    if text.startswith(MILVUS_PREFIX) and text[len(MILVUS_PREFIX):].strip():
        return StoreSpec("milvus", text[len(MILVUS_PREFIX):].strip())
    raise StoreSpecError(f"unknown store {text!r}: use 'local' (the index folder) or 'milvus:URI' with a "
                         f"Milvus Lite file (milvus:./aluqa.db) or a server (milvus:http://host:19530)")
