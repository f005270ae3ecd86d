"""MilvusStore: the index in Milvus (a server, or a Milvus Lite file), behind `embeddings.store.IndexStore`.

Three collections per index: `<prefix>_sentences` and `<prefix>_passages`
(one row per unit: the dense vector searched by inner product, a sparse BM25
vector filled by Milvus's own BM25 function, the citation fields) and
`<prefix>_docs` (the articles and the manifest). Writing is per article
(`embeddings.milvus_write`); this module opens and searches.

Row keys are "<doc>:<n>" (n counts within the article), so an article's rows
are replaced or deleted without touching any other. When the store opens, it
numbers the units in (doc, n) order, the order of a local build, and answers
with those positions as ids, as `IndexStore` asks.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import Counter
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from embeddings.manifest import IndexMismatchError, IndexMissingError, Manifest
from embeddings.normalize import NORMALIZER_NAME
from embeddings.store import SENTENCES, Scored, Unit
from embeddings.tokenize import TOKENIZER_NAME
from embeddings.types import Article, Passage, Sentence

PREFIX = "aluqa"
# Bump when the collections change shape; a store of another format is refused.
STORE_FORMAT = 1
MANIFEST_KEY = "manifest"
# Milvus returns at most this many hits per search.
MAX_TOPK = 16384
HNSW_EF_MIN = 64


class MilvusUnavailableError(IndexMissingError):
    """Milvus cannot be reached at the given URI."""


def build_hint(uri: str) -> str:
    return f"build it with: aluqa build --store milvus:{uri}"


def encode_tokens(tokens: Iterable[str]) -> str:
    """Jieba tokens as one string that Milvus's analyzer splits back into exactly these tokens.

    Milvus Lite offers only the `standard` and `jieba` tokenizers (no
    `whitespace`), and `standard` cuts Chinese into single characters and drops
    symbols such as %. Each token is therefore written as "x" + its UTF-8 hex:
    one ASCII word that `standard` keeps whole, on Lite and a server alike, so
    BM25 sees the very tokens the local index uses.
    """
    return " ".join("x" + token.encode("utf-8").hex() for token in tokens)


def decode_tokens(text: str) -> list[str]:
    return [bytes.fromhex(word[1:]).decode("utf-8") for word in text.split()]


def is_lite(uri: str) -> bool:
    """A Milvus Lite file rather than a server address."""
    return "://" not in uri


def collection(kind: str) -> str:
    return f"{PREFIX}_{kind}"


# One client per URI and process. For a Milvus Lite file the client runs the
# Lite server: a second client of the same file, made while the first one's
# server winds down, fails to connect; and each new server costs seconds.
_CLIENTS: dict[str, object] = {}
_CLIENTS_LOCK = threading.Lock()


def connect(uri: str):
    """A MilvusClient for `uri`, or MilvusUnavailableError with a message that names the URI."""
    # gRPC's C core prints a GOAWAY line to stderr whenever Milvus Lite throttles the
    # client's keep-alive pings; the connection carries on, so the line is only noise.
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    try:
        from pymilvus import MilvusClient
    except ImportError as exc:
        raise MilvusUnavailableError("the Milvus store needs pymilvus and milvus-lite: "
                                     "pip install -e '.[scale]'") from exc
    # After the import, which configures pymilvus's loggers: Milvus Lite cannot give
    # query_iterator a server timestamp, and pymilvus warns on every page although the
    # client-side one it falls back to is what reading a whole collection needs.
    logging.getLogger("pymilvus").setLevel(logging.ERROR)
    logging.getLogger("pymilvus.client.iterator.query_iterator").setLevel(logging.ERROR)
    # The Lite server runs in this process and logs that same missing call (AllocTimestamp) as an error.
    logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
    with _CLIENTS_LOCK:
        if uri in _CLIENTS:
            return _CLIENTS[uri]
    if is_lite(uri) and not (folder := Path(uri).expanduser().parent).is_dir():
        # Checked here rather than left to Milvus Lite: its server, failing to start
        # there, can leave a thread behind that aborts the process at exit.
        raise MilvusUnavailableError(f"cannot reach Milvus at {uri} (no folder {folder}); create the folder, "
                                     f"or give a Milvus Lite file in an existing one such as milvus:./aluqa.db")
    try:
        # A server that does not answer fails after `timeout` seconds instead of retrying for minutes.
        client = MilvusClient(uri=uri, timeout=10)
    except Exception as exc:  # pymilvus raises MilvusException, ConnectionError, OSError... by cause
        reason = str(getattr(exc, "message", "") or exc).strip() or type(exc).__name__
        reason = reason.splitlines()[0]
        raise MilvusUnavailableError(f"cannot reach Milvus at {uri} ({reason[:200]}); start Milvus there, "
                                     f"or give a Milvus Lite file such as milvus:./aluqa.db") from None
    with _CLIENTS_LOCK:
        return _CLIENTS.setdefault(uri, client)


def read_manifest(client, uri: str) -> Manifest | None:
    """The manifest stored with the collections, None when there is no AluQA index at `uri`."""
    if not all(client.has_collection(collection(kind)) for kind in ("sentences", "passages", "docs")):
        return None
    for kind in ("sentences", "passages", "docs"):
        client.load_collection(collection(kind))  # a server keeps collections released until asked
    rows = client.get(collection("docs"), ids=[MANIFEST_KEY], output_fields=["payload"])
    if not rows:
        return None
    data = json.loads(rows[0]["payload"])
    if data.get("store_format") != STORE_FORMAT:
        raise IndexMismatchError(f"the Milvus index at {uri} has store format {data.get('store_format')!r}, "
                                 f"this AluQA reads {STORE_FORMAT}; rebuild it with: aluqa build --full "
                                 f"--store milvus:{uri}")
    known = {f.name for f in fields(Manifest)}
    return Manifest(**{k: v for k, v in data["manifest"].items() if k in known})


def check_manifest(manifest: Manifest, uri: str, expected_model: str | None) -> None:
    rebuild = f"rebuild it with: aluqa build --full --store milvus:{uri}"
    if expected_model is not None and manifest.model != expected_model:
        raise IndexMismatchError(f"the Milvus index at {uri} was built with model {manifest.model!r}, not "
                                 f"{expected_model!r}; {rebuild} --model {expected_model}")
    for have, want, what in ((manifest.normalizer, NORMALIZER_NAME, "normaliser"),
                             (manifest.tokenizer, TOKENIZER_NAME, "tokenizer")):
        if have != want:
            raise IndexMismatchError(f"the Milvus index at {uri} uses {what} {have!r}, this AluQA uses "
                                     f"{want!r}; {rebuild}")


def _rows(client, name: str, output_fields: list[str], batch: int = 1000) -> list[dict]:
    iterator = client.query_iterator(name, batch_size=batch, filter="", output_fields=output_fields)
    rows = []
    try:
        while page := iterator.next():
            rows.extend(page)
    finally:
        iterator.close()
    return rows


def read_articles(client) -> dict[str, Article]:
    """The articles stored in `<prefix>_docs` (their JSON is cut into parts to fit VARCHAR)."""
    parts: dict[str, list[tuple[int, str]]] = {}
    for row in _rows(client, collection("docs"), ["kind", "doc", "part", "payload"]):
        if row["kind"] == "article":
            parts.setdefault(row["doc"], []).append((row["part"], row["payload"]))
    return {doc: Article(**json.loads("".join(p for _, p in sorted(chunks)))) for doc, chunks in parts.items()}


@dataclass
class MilvusStore:
    """An AluQA index held in Milvus; see the module docstring."""

    uri: str
    client: object
    manifest: Manifest
    articles: dict[str, Article]
    sentences: list[Sentence]
    passages: list[Passage]
    sentence_match: list[str]
    passage_match: list[str]
    keys: dict[str, dict[str, int]]  # unit -> row key -> position
    frequencies: Counter

    @classmethod
    def open(cls, uri: str, expected_model: str | None = None) -> "MilvusStore":
        """Connect, check the manifest and read the units' fields (not their vectors).

        Raises:
            MilvusUnavailableError: Milvus cannot be reached at `uri`.
            IndexMissingError: no AluQA index there.
            IndexMismatchError: built with another model, normaliser, tokenizer or format.
        """
        if is_lite(uri) and not Path(uri).expanduser().exists():  # connecting would create it, empty
            raise IndexMissingError(f"no AluQA index in Milvus at {uri} (no such Milvus Lite file); "
                                    f"{build_hint(uri)}")
        client = connect(uri)
        manifest = read_manifest(client, uri)
        if manifest is None:
            raise IndexMissingError(f"no AluQA index in Milvus at {uri}; {build_hint(uri)}")
        check_manifest(manifest, uri, expected_model)
        articles = read_articles(client)
        unit_fields = ["pk", "doc", "n", "paragraph", "start", "end", "text", "match"]
        sentence_rows = sorted(_rows(client, collection("sentences"), unit_fields + ["passage", "tokens"]),
                               key=lambda r: (r["doc"], r["n"]))
        passage_rows = sorted(_rows(client, collection("passages"), unit_fields + ["first", "count"]),
                              key=lambda r: (r["doc"], r["n"]))
        passage_pos = {(r["doc"], r["n"]): i for i, r in enumerate(passage_rows)}
        sentence_pos = {(r["doc"], r["n"]): i for i, r in enumerate(sentence_rows)}
        sentences = [Sentence(i, r["doc"], r["paragraph"], r["start"], r["end"], r["text"],
                              passage_pos[(r["doc"], r["passage"])]) for i, r in enumerate(sentence_rows)]
        passages = [Passage(i, r["doc"], r["paragraph"], r["start"], r["end"], r["text"],
                            tuple(sentence_pos[(r["doc"], n)] for n in range(r["first"], r["first"] + r["count"])))
                    for i, r in enumerate(passage_rows)]
        # Document frequencies for the answerer's IDF, counted once here from the stored tokens.
        frequencies = Counter(token for r in sentence_rows for token in set(decode_tokens(r["tokens"])))
        counts = (len(articles), len(sentences), len(passages))
        expected = (manifest.documents, manifest.sentences, manifest.passages)
        if counts != expected:
            raise IndexMissingError(f"the Milvus index at {uri} does not match its manifest (found {counts}, "
                                    f"manifest says {expected}); rebuild it with: aluqa build --full "
                                    f"--store milvus:{uri}")
        keys = {"sentences": {r["pk"]: i for i, r in enumerate(sentence_rows)},
                "passages": {r["pk"]: i for i, r in enumerate(passage_rows)}}
        return cls(uri, client, manifest, articles, sentences, passages, [r["match"] for r in sentence_rows],
                   [r["match"] for r in passage_rows], keys, frequencies)

    # -- the store interface -------------------------------------------------------
    def _hits(self, unit: Unit, result, negate_bm25: bool = False) -> Scored:
        keys = self.keys[unit]
        ids, scores = [], []
        for hit in result[0]:
            position = keys.get(hit["pk"] if "pk" in hit else hit["id"])
            if position is not None:  # a row written after this store opened: not ours yet
                ids.append(position)
                scores.append(abs(hit["distance"]) if negate_bm25 else hit["distance"])
        return Scored(np.asarray(ids, dtype=np.int64), np.asarray(scores, dtype=np.float32))

    def dense_search(self, unit: Unit, query: np.ndarray, k: int) -> Scored:
        k = min(k, len(self.keys[unit]), MAX_TOPK)
        if k <= 0:
            return Scored.empty()
        result = self.client.search(collection(unit), data=[np.asarray(query[0], dtype=np.float32).tolist()],
                                    anns_field="dense", limit=k, output_fields=["pk"],
                                    search_params={"metric_type": "IP", "params": {"ef": max(k, HNSW_EF_MIN)}})
        return self._hits(unit, result)

    def lexical_search(self, unit: Unit, tokens: Sequence[str], k: int | None = None) -> Scored:
        limit = min(k or len(self.keys[unit]), len(self.keys[unit]), MAX_TOPK)
        if not tokens or limit <= 0:
            return Scored.empty()
        result = self.client.search(collection(unit), data=[encode_tokens(tokens)], anns_field="sparse",
                                    limit=limit, output_fields=["pk"], search_params={"metric_type": "BM25"})
        # BM25 is never negative; Milvus Lite reports it negated (smaller is better there).
        found = self._hits(unit, result, negate_bm25=True)
        keep = found.scores > 0
        return Scored(found.ids[keep], found.scores[keep])

    def document_frequencies(self, tokens: Iterable[str]) -> tuple[dict[str, int], int]:
        return {token: self.frequencies.get(token, 0) for token in tokens}, len(self.sentences)

    def vocabulary(self) -> Iterable[str]:
        return self.frequencies.keys()


def open_store(uri: str, expected_model: str | None = None) -> MilvusStore:
    return MilvusStore.open(uri, expected_model)


__all__ = ["MilvusStore", "MilvusUnavailableError", "SENTENCES", "open_store"]
