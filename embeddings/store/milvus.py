"""MilvusStore: the index in Milvus (a server, or a Milvus Lite file), behind `embeddings.store.IndexStore`.

Four collections per index: `<prefix>_sentences` and `<prefix>_passages`
(one row per unit: the dense vector searched by inner product, a sparse BM25
vector filled by Milvus's own BM25 function, the citation fields),
`<prefix>_docs` (the articles and the manifest) and `<prefix>_terms` (how
many sentences hold each token: the answerer's IDF, and the vocabulary the
English query expansion maps onto). Writing is per article
(`embeddings.store.milvus_write`); this module opens, searches and fetches.

A unit's primary key is its id. Ids are handed out in blocks per article as
it is written and never reused, so an article's sentences have consecutive
ids in text order, and its rows are replaced or deleted without touching any
other. The store holds nothing of the corpus when it opens: a question
fetches by id the units it reads, and those stay in a bounded cache.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from embeddings.store.manifest import IndexMismatchError, IndexMissingError, Manifest
from embeddings.store import SENTENCES, Scored, Unit
from embeddings.types import Article, Passage, Sentence

PREFIX = "aluqa"
# Bump when the collections change shape; a store of another format is refused.
STORE_FORMAT = 2
MANIFEST_KEY = "manifest"
KINDS = ("sentences", "passages", "docs", "terms")
# Units kept after a question fetched them (each is a few hundred bytes of text).
UNITS_KEPT = 50_000
# A term's key longer than this (never a word: a long run of digits or letters) is not counted.
TERM_KEY_BYTES = 1024
# Ids per `get` request: the request stays well below gRPC's message limit.
FETCH_BATCH = 1000
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


def read_payload(client, uri: str) -> dict | None:
    """The manifest record stored with the collections, None when there is no AluQA index at `uri`.

    It holds `manifest` (the `Manifest` fields) and `next_ids` (the first id
    the next article written gets, per unit).
    """
    if not all(client.has_collection(collection(kind)) for kind in KINDS):
        if any(client.has_collection(collection(kind)) for kind in ("sentences", "passages", "docs")):
            _refuse_format(uri, None)  # an index of an earlier format, without the terms
        return None
    for kind in KINDS:
        client.load_collection(collection(kind))  # a server keeps collections released until asked
    rows = client.get(collection("docs"), ids=[MANIFEST_KEY], output_fields=["payload"])
    if not rows:
        return None
    data = json.loads(rows[0]["payload"])
    if data.get("store_format") != STORE_FORMAT:
        _refuse_format(uri, data.get("store_format"))
    return data


def _refuse_format(uri: str, found) -> None:
    raise IndexMismatchError(f"the Milvus index at {uri} has store format {found!r}, this AluQA reads "
                             f"{STORE_FORMAT}; rebuild it with: aluqa build --full --store milvus:{uri}")


def manifest_of(payload: dict) -> Manifest:
    known = {f.name for f in fields(Manifest)}
    return Manifest(**{k: v for k, v in payload["manifest"].items() if k in known})


def read_manifest(client, uri: str) -> Manifest | None:
    """The manifest stored with the collections, None when there is no AluQA index at `uri`."""
    payload = read_payload(client, uri)
    return None if payload is None else manifest_of(payload)


def check_manifest(manifest: Manifest, uri: str, expected_model: str | None) -> None:
    manifest.check_compatible(f"the Milvus index at {uri}", f"rebuild it with: aluqa build --full --store milvus:{uri}",
                              expected_model)


def scan_rows(client, name: str, output_fields: list[str], filter: str = "", batch: int = 1000) -> Iterator[dict]:
    """Every row of a collection that passes `filter`, page by page."""
    iterator = client.query_iterator(name, batch_size=batch, filter=filter, output_fields=output_fields)
    try:
        while page := iterator.next():
            yield from page
    finally:
        iterator.close()


def quoted(text: str) -> str:
    """A string literal for a Milvus filter expression."""
    return json.dumps(text, ensure_ascii=False)


def count_rows(client, kind: str, filter: str = "") -> int:
    return int(client.query(collection(kind), filter=filter, output_fields=["count(*)"])[0]["count(*)"])


ARTICLE_ROWS = 'kind == "article"'


def _article(chunks: list[tuple[int, str]]) -> Article:
    return Article(**json.loads("".join(payload for _, payload in sorted(chunks))))


def read_articles(client) -> dict[str, Article]:
    """The articles stored in `<prefix>_docs` (their JSON is cut into parts to fit VARCHAR)."""
    parts: dict[str, list[tuple[int, str]]] = {}
    for row in scan_rows(client, collection("docs"), ["doc", "part", "payload"], filter=ARTICLE_ROWS):
        parts.setdefault(row["doc"], []).append((row["part"], row["payload"]))
    return {doc: _article(chunks) for doc, chunks in parts.items()}


def read_article_hashes(client) -> dict[str, str]:
    """Each stored article's content hash (what an update compares), without reading the articles."""
    return {row["doc"]: row["hash"] for row in scan_rows(client, collection("docs"), ["doc", "hash"],
                                                      filter=f"{ARTICLE_ROWS} and part == 0")}


def term_key(token: str) -> str:
    """A token's row key in `<prefix>_terms` (its encoded form: plain ASCII, safe in any filter)."""
    return encode_tokens([token])


class _Kept:
    """Rows fetched by id, the most recently used kept (ids are never reused, so never stale)."""

    def __init__(self, fetch: Callable[[list], dict], size: int = UNITS_KEPT):
        self._fetch, self._size = fetch, size
        self._rows: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, keys: Iterable) -> dict:
        keys = list(dict.fromkeys(keys))
        with self._lock:
            found = {key: self._rows[key] for key in keys if key in self._rows}
            for key in found:
                self._rows.move_to_end(key)
        missing = [key for key in keys if key not in found]
        for start in range(0, len(missing), FETCH_BATCH):
            fetched = self._fetch(missing[start:start + FETCH_BATCH])
            found.update(fetched)
            with self._lock:
                self._rows.update(fetched)
                while len(self._rows) > self._size:
                    self._rows.popitem(last=False)
        return found


_UNIT_FIELDS = ["id", "doc", "paragraph", "start", "end", "text", "match"]


@dataclass
class MilvusStore:
    """An AluQA index held in Milvus; see the module docstring."""

    uri: str
    client: object
    manifest: Manifest
    _sentences: _Kept = field(init=False, repr=False)
    _passages: _Kept = field(init=False, repr=False)

    def __post_init__(self):
        self._sentences = _Kept(self._fetch_sentences)
        self._passages = _Kept(self._fetch_passages)

    @classmethod
    def open(cls, uri: str, expected_model: str | None = None) -> "MilvusStore":
        """Connect and check the manifest and the row counts; nothing of the corpus is read.

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
        counts = (count_rows(client, "docs", f"{ARTICLE_ROWS} and part == 0"), count_rows(client, "sentences"),
                  count_rows(client, "passages"))
        expected = (manifest.documents, manifest.sentences, manifest.passages)
        if counts != expected:
            raise IndexMissingError(f"the Milvus index at {uri} does not match its manifest (found {counts}, "
                                    f"manifest says {expected}); rebuild it with: aluqa build --full "
                                    f"--store milvus:{uri}")
        return cls(uri, client, manifest)

    # -- fetching by id ------------------------------------------------------------
    def _get(self, kind: str, ids: list, output_fields: list[str]) -> list[dict]:
        return self.client.get(collection(kind), ids=ids, output_fields=output_fields)

    def _fetch_sentences(self, ids: list[int]) -> dict[int, tuple[Sentence, str]]:
        return {r["id"]: (Sentence(r["id"], r["doc"], r["paragraph"], r["start"], r["end"], r["text"], r["passage"]),
                          r["match"]) for r in self._get("sentences", ids, _UNIT_FIELDS + ["passage"])}

    def _fetch_passages(self, ids: list[int]) -> dict[int, Passage]:
        return {r["id"]: Passage(r["id"], r["doc"], r["paragraph"], r["start"], r["end"], r["text"],
                                 tuple(range(r["first"], r["first"] + r["count"])))
                for r in self._get("passages", ids, _UNIT_FIELDS + ["first", "count"])}

    # -- the store interface -------------------------------------------------------
    def count(self, unit: Unit) -> int:
        return self.manifest.sentences if unit == SENTENCES else self.manifest.passages

    def _hits(self, unit: Unit, result, negate_bm25: bool = False) -> Scored:
        hits = result[0]
        ids = np.asarray([hit["id"] for hit in hits], dtype=np.int64)
        scores = np.asarray([abs(hit["distance"]) if negate_bm25 else hit["distance"] for hit in hits],
                            dtype=np.float32)
        if unit != SENTENCES:
            return Scored(ids, scores)
        return Scored(ids, scores, np.asarray([hit["entity"]["passage"] for hit in hits], dtype=np.int64))

    def _output(self, unit: Unit) -> list[str]:
        # Never []: pymilvus then returns every field of each hit, text included (2-3x the time).
        return ["passage"] if unit == SENTENCES else ["id"]

    @staticmethod
    def _filter(docs: frozenset[str] | None) -> str:
        """The Milvus filter expression for units of these articles ("" for every unit)."""
        return "" if docs is None else f"doc in [{', '.join(quoted(doc) for doc in sorted(docs))}]"

    def dense_search(self, unit: Unit, query: np.ndarray, k: int, docs: frozenset[str] | None = None) -> Scored:
        k = min(k, self.count(unit), MAX_TOPK)
        if k <= 0 or (docs is not None and not docs):
            return Scored.empty()
        result = self.client.search(collection(unit), data=[np.asarray(query[0], dtype=np.float32).tolist()],
                                    anns_field="dense", limit=k, output_fields=self._output(unit),
                                    filter=self._filter(docs),
                                    search_params={"metric_type": "IP", "params": {"ef": max(k, HNSW_EF_MIN)}})
        return self._hits(unit, result)

    def lexical_search(self, unit: Unit, tokens: Sequence[str], k: int | None = None,
                       docs: frozenset[str] | None = None) -> Scored:
        limit = min(k or self.count(unit), self.count(unit), MAX_TOPK)
        if not tokens or limit <= 0 or (docs is not None and not docs):
            return Scored.empty()
        result = self.client.search(collection(unit), data=[encode_tokens(tokens)], anns_field="sparse",
                                    limit=limit, output_fields=self._output(unit), filter=self._filter(docs),
                                    search_params={"metric_type": "BM25"})
        # BM25 is never negative; Milvus Lite reports it negated (smaller is better there).
        found = self._hits(unit, result, negate_bm25=True)
        return found.where(found.scores > 0)

    def get_sentences(self, ids: Iterable[int]) -> dict[int, Sentence]:
        return {i: row[0] for i, row in self._sentences.get(map(int, ids)).items()}

    def get_sentence_matches(self, ids: Iterable[int]) -> dict[int, str]:
        return {i: row[1] for i, row in self._sentences.get(map(int, ids)).items()}

    def get_passages(self, ids: Iterable[int]) -> dict[int, Passage]:
        return self._passages.get(map(int, ids))

    def get_article(self, doc: str) -> Article:
        chunks = [(r["part"], r["payload"]) for r in self.client.query(
            collection("docs"), filter=f"{ARTICLE_ROWS} and doc == {quoted(doc)}", output_fields=["part", "payload"])]
        if not chunks:
            raise KeyError(doc)
        return _article(chunks)

    def iter_articles(self) -> Iterator[Article]:
        return iter(read_articles(self.client).values())

    def sentence_counts(self) -> dict[str, int]:
        return dict(Counter(row["doc"] for row in scan_rows(self.client, collection("sentences"), ["doc"])))

    def document_frequencies(self, tokens: Iterable[str]) -> tuple[dict[str, int], int]:
        tokens = list(dict.fromkeys(tokens))
        keys = {term_key(token): token for token in tokens if len(term_key(token)) <= TERM_KEY_BYTES}
        frequencies = dict.fromkeys(tokens, 0)
        stored = list(keys)
        for start in range(0, len(stored), FETCH_BATCH):
            for row in self._get("terms", stored[start:start + FETCH_BATCH], ["key", "df"]):
                frequencies[keys[row["key"]]] = int(row["df"])
        return frequencies, self.manifest.sentences

    def vocabulary(self) -> Iterable[str]:
        return [decode_tokens(row["key"])[0] for row in scan_rows(self.client, collection("terms"), ["key"])]


__all__ = ["MilvusStore", "MilvusUnavailableError", "SENTENCES"]
