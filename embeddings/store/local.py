"""CorpusIndex: sentences and passages with their dense (FAISS) and lexical (BM25) indexes."""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from embeddings.store.cache import CACHE_DIR, CachingEncoder, EmbeddingCache
from embeddings.model.encoder import TextEncoder
from embeddings.store.manifest import (
    IndexMismatchError,
    IndexMissingError,
    Manifest,
    checksums,
    rebuild_hint,
    verify_checksums,
)
from embeddings.text.normalize import NORMALIZER_NAME, normalize
from embeddings.store import SENTENCES, Scored, Unit
from embeddings.text.tokenize import TOKENIZER_NAME, tokenize_normalized
from embeddings.types import Article, Passage, Sentence
from embeddings.store.vectors import all_cores, describe_vector_index, make_vector_index

logger = logging.getLogger(__name__)

# File names shared by save() and load().
ARTICLES_FILE = "articles.json"
SENTENCES_FILE = "sentences.json"
PASSAGES_FILE = "passages.json"
SENTENCE_VECTORS_FILE = "sentences.faiss"
PASSAGE_VECTORS_FILE = "passages.faiss"
SENTENCE_BM25_DIR = "bm25_sentences"
PASSAGE_BM25_DIR = "bm25_passages"
# Every file and folder a saved index consists of (besides the manifest).
INDEX_PARTS = (ARTICLES_FILE, SENTENCES_FILE, PASSAGES_FILE, SENTENCE_VECTORS_FILE, PASSAGE_VECTORS_FILE,
               SENTENCE_BM25_DIR, PASSAGE_BM25_DIR)

def corpus_hash(articles: Sequence[Article]) -> str:
    """One hash for the whole corpus: changes when any article is added, removed or edited."""
    digest = hashlib.sha256()
    for article in sorted(articles, key=lambda a: a.doc):
        digest.update(f"{article.doc}\0{article.content_hash}\n".encode("utf-8"))
    return digest.hexdigest()


def passage_embedding_text(article: Article, passage_match_text: str) -> str:
    # The title names the subject (city, company) that a paragraph often leaves
    # implicit, so passages of different clusters stay apart in the dense space.
    return f"{normalize(article.title)}\n{passage_match_text}"


def _build_bm25(token_lists: list[list[str]]):
    import bm25s

    # bm25s logs every build at DEBUG on its own handler; that is noise in `aluqa build`.
    logging.getLogger("bm25s").setLevel(logging.WARNING)

    bm25 = bm25s.BM25()
    # An empty token list would make bm25s fail; the empty token keeps such rows scoreable (zero).
    bm25.index([tokens or [""] for tokens in token_lists], show_progress=False)
    return bm25


@dataclass(frozen=True)
class EmbeddedUnits:
    """The matching text and the vector of every sentence and passage, in id order."""

    sentence_match: list[str]
    passage_match: list[str]
    sentence_vectors: np.ndarray
    passage_vectors: np.ndarray


def embed_units(articles: Sequence[Article], sentences: Sequence[Sentence], passages: Sequence[Passage],
                encoder: TextEncoder, show_progress: bool = False,
                stage: Callable[[str], None] = lambda label: None) -> EmbeddedUnits:
    """Normalise and embed sentences and passages (shared by the local and the Milvus store)."""
    by_doc = {a.doc: a for a in articles}
    stage("normalising")
    sentence_match = [normalize(s.text) for s in sentences]
    passage_match = [normalize(p.text) for p in passages]
    passage_texts = [passage_embedding_text(by_doc[p.doc], m) for p, m in zip(passages, passage_match)]
    with all_cores():  # a build in a process that also serves must not embed on one thread
        stage("embedding passages")
        passage_vecs = _encode(encoder, passage_texts, show_progress)
        stage("embedding sentences")
        sentence_vecs = _encode(encoder, sentence_match, show_progress)
    return EmbeddedUnits(sentence_match, passage_match, sentence_vecs, passage_vecs)


# Reads of an index folder that a build swapped meanwhile are tried again, this many times in all.
LOAD_ATTEMPTS = 3


def _manifest_changed(folder: Path, manifest: Manifest) -> bool:
    try:
        return Manifest.read(folder) != manifest
    except (IndexMissingError, IndexMismatchError):
        return True


@dataclass
class CorpusIndex:
    """Everything retrieval needs, built from articles or loaded from a folder.

    `sentence_match` and `passage_match` hold the normalised (simplified,
    half-width, lower-case) text of each unit, in id order.
    """

    manifest: Manifest
    articles: dict[str, Article]
    sentences: list[Sentence]
    passages: list[Passage]
    sentence_match: list[str]
    passage_match: list[str]
    sentence_vectors: object  # faiss.Index
    passage_vectors: object  # faiss.Index
    sentence_bm25: object  # bm25s.BM25
    passage_bm25: object  # bm25s.BM25
    # The document vectors of this build, saved beside the index so the next
    # build embeds only new or changed texts (None for a loaded index).
    embedding_cache: EmbeddingCache | None = field(default=None, repr=False, compare=False)
    # Texts sent to the encoder and texts taken from the cache by `build`.
    embedded: int = field(default=0, compare=False)
    reused: int = field(default=0, compare=False)
    # The passage of every sentence, by sentence id (made on the first sentence search).
    _passage_of: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def build(
        cls,
        articles: Sequence[Article],
        sentences: Sequence[Sentence],
        passages: Sequence[Passage],
        encoder: TextEncoder,
        show_progress: bool = False,
        on_stage: Callable[[str], None] | None = None,
        cache: EmbeddingCache | None = None,
    ) -> "CorpusIndex":
        """Embed and index already segmented articles.

        Args:
            articles: the cleaned articles.
            sentences, passages: their segmentation (ids are list positions).
            encoder: the embedding model for documents.
            show_progress: show a progress bar while embedding.
            on_stage: called with a short label as each stage starts.
            cache: vectors of an earlier build with the same model; texts found
                there are not embedded again. The FAISS and BM25 indexes are
                always rebuilt from the current texts only, so nothing removed
                or changed stays retrievable.
        """
        stage = on_stage or (lambda label: None)
        encoder = CachingEncoder(encoder, cache)
        by_doc = {a.doc: a for a in articles}
        units = embed_units(articles, sentences, passages, encoder, show_progress, stage)
        sentence_match, passage_match = units.sentence_match, units.passage_match
        sentence_vecs, passage_vecs = units.sentence_vectors, units.passage_vectors

        stage("indexing")
        sentence_index = make_vector_index(sentence_vecs)
        passage_index = make_vector_index(passage_vecs)
        sentence_bm25 = _build_bm25([tokenize_normalized(t) for t in sentence_match])
        passage_bm25 = _build_bm25([tokenize_normalized(t) for t in passage_match])
        manifest = Manifest(
            model=encoder.name,
            dimension=int(sentence_vecs.shape[1]),
            normalizer=NORMALIZER_NAME,
            tokenizer=TOKENIZER_NAME,
            corpus_hash=corpus_hash(articles),
            documents=len(articles),
            sentences=len(sentences),
            passages=len(passages),
            vector_index=describe_vector_index(sentence_index),
        )
        return cls(manifest, by_doc, list(sentences), list(passages), sentence_match,
                   passage_match, sentence_index, passage_index, sentence_bm25, passage_bm25,
                   embedding_cache=encoder.fresh, embedded=encoder.embedded, reused=encoder.reused)

    def save(self, folder: Path | str) -> None:
        """Write the index to `folder`, replacing what was there only once all is written.

        Everything goes to a temporary sibling folder first; a crash mid-way
        leaves the previous index untouched.
        """
        import faiss

        folder = Path(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
        try:
            _write_json(tmp / ARTICLES_FILE, [asdict(a) for a in self.articles.values()])
            _write_json(tmp / SENTENCES_FILE, {"sentences": [asdict(s) for s in self.sentences],
                                               "match": self.sentence_match})
            _write_json(tmp / PASSAGES_FILE, {"passages": [asdict(p) for p in self.passages],
                                              "match": self.passage_match})
            faiss.write_index(self.sentence_vectors, str(tmp / SENTENCE_VECTORS_FILE))
            faiss.write_index(self.passage_vectors, str(tmp / PASSAGE_VECTORS_FILE))
            self.sentence_bm25.save(str(tmp / SENTENCE_BM25_DIR), show_progress=False)
            self.passage_bm25.save(str(tmp / PASSAGE_BM25_DIR), show_progress=False)
            # The manifest is written last (a folder without one is never loaded), with
            # the checksum of every file but the embedding cache, which load never reads.
            replace(self.manifest, files=checksums(tmp)).write(tmp)
            if self.embedding_cache is not None:
                self.embedding_cache.save(tmp / CACHE_DIR)
            _swap_into_place(tmp, folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    @classmethod
    def load(cls, folder: Path | str, expected_model: str | None = None) -> "CorpusIndex":
        """Load an index saved by `save`.

        Args:
            folder: the index folder.
            expected_model: refuse the index unless it was built with this model.

        Raises:
            IndexMissingError: no index there, or a part of it is missing or unreadable.
            IndexMismatchError: built with another model, normaliser, tokenizer or format.
        """
        folder = Path(folder)
        for attempt in range(LOAD_ATTEMPTS):
            manifest = Manifest.read(folder)
            try:
                return cls._load_files(folder, manifest, expected_model)
            except (IndexMissingError, IndexMismatchError):
                # A build may have swapped its new index in while this one was read (the
                # manifest of one, files of the other): then the manifest has changed, and
                # reading again sees one whole index. An index that is really broken fails alike.
                if attempt + 1 == LOAD_ATTEMPTS or not _manifest_changed(folder, manifest):
                    raise
        raise AssertionError("unreachable")

    @classmethod
    def _load_files(cls, folder: Path, manifest: Manifest, expected_model: str | None) -> "CorpusIndex":
        import bm25s
        import faiss

        manifest.check_compatible(f"the index at {folder}", rebuild_hint(folder), expected_model)
        verify_checksums(folder, manifest)
        try:
            articles = {a["doc"]: Article(**a) for a in _read_json(folder / ARTICLES_FILE)}
            sentence_data = _read_json(folder / SENTENCES_FILE)
            passage_data = _read_json(folder / PASSAGES_FILE)
            sentences = [Sentence(**s) for s in sentence_data["sentences"]]
            passages = [Passage(**{**p, "sentence_ids": tuple(p["sentence_ids"])})
                        for p in passage_data["passages"]]
            sentence_index = faiss.read_index(str(folder / SENTENCE_VECTORS_FILE))
            passage_index = faiss.read_index(str(folder / PASSAGE_VECTORS_FILE))
            sentence_bm25 = bm25s.BM25.load(str(folder / SENTENCE_BM25_DIR), show_progress=False)
            passage_bm25 = bm25s.BM25.load(str(folder / PASSAGE_BM25_DIR), show_progress=False)
        except (OSError, EOFError, RuntimeError, ValueError, KeyError, TypeError) as exc:
            raise IndexMissingError(f"the index at {folder} is damaged ({exc}); {rebuild_hint(folder)}") from exc
        # Questions are searched one at a time: extra OpenMP threads then only wait
        # for each other, and spin, which on busy cores cost 10x on the search and
        # slowed all that follows (bench/latency.py on CMRC: dense 22.5 -> 2.2 ms).
        faiss.omp_set_num_threads(1)
        counts = (len(articles), len(sentences), len(passages), sentence_index.ntotal, passage_index.ntotal)
        expected = (manifest.documents, manifest.sentences, manifest.passages, manifest.sentences, manifest.passages)
        if counts != expected or sentence_index.d != manifest.dimension:
            raise IndexMissingError(f"the index at {folder} does not match its manifest (found "
                                    f"{counts}, manifest says {expected}); {rebuild_hint(folder)}")
        return cls(manifest, articles, sentences, passages, sentence_data["match"],
                   passage_data["match"], sentence_index, passage_index, sentence_bm25, passage_bm25)


    # -- the store interface (embeddings.store.IndexStore) -------------------------
    def count(self, unit: Unit) -> int:
        return len(self.sentences) if unit == SENTENCES else len(self.passages)

    def _with_passages(self, unit: Unit, ids: np.ndarray, scores: np.ndarray) -> Scored:
        if unit != SENTENCES:
            return Scored(ids, scores)
        if self._passage_of is None:
            self._passage_of = np.fromiter((s.passage for s in self.sentences), dtype=np.int64,
                                           count=len(self.sentences))
        return Scored(ids, scores, self._passage_of[ids])

    def _ids_of(self, unit: Unit, docs: frozenset[str]) -> np.ndarray:
        """The ids (sorted) of the units of these articles; kept for the next question with the same filter."""
        cache = self.__dict__.setdefault("_ids_by_docs", {})
        key = (unit, docs)
        if key not in cache:
            units = self.sentences if unit == SENTENCES else self.passages
            if len(cache) > 32:  # a few filters in use at a time; never unbounded
                cache.clear()
            cache[key] = np.asarray([u.id for u in units if u.doc in docs], dtype=np.int64)
        return cache[key]

    def dense_search(self, unit: Unit, query: np.ndarray, k: int, docs: frozenset[str] | None = None) -> Scored:
        import faiss

        vectors = self.sentence_vectors if unit == SENTENCES else self.passage_vectors
        allowed = None if docs is None else self._ids_of(unit, docs)
        k = min(k, vectors.ntotal if allowed is None else allowed.size)
        if k <= 0:
            return Scored.empty()
        if allowed is None:
            found, ids = vectors.search(query, k)
        else:
            try:  # FAISS skips every other id during the search itself
                found, ids = vectors.search(query, k, params=faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed)))
            except (RuntimeError, TypeError):  # an index type without selectors: rank all, keep the allowed
                found, ids = vectors.search(query, vectors.ntotal)
                inside = np.isin(ids[0], allowed)
                found, ids = found[:, inside][:, :k], ids[:, inside][:, :k]
        keep = ids[0] >= 0
        return self._with_passages(unit, ids[0][keep].astype(np.int64), found[0][keep].astype(np.float32))

    def lexical_search(self, unit: Unit, tokens: Sequence[str], k: int | None = None,
                       docs: frozenset[str] | None = None) -> Scored:
        bm25 = self.sentence_bm25 if unit == SENTENCES else self.passage_bm25
        token_ids = bm25.get_tokens_ids(list(tokens))
        if not token_ids:
            return Scored.empty()
        scores = np.asarray(bm25.get_scores_from_ids(token_ids), dtype=np.float32)
        if docs is not None:
            inside = np.zeros(scores.size, dtype=bool)
            inside[self._ids_of(unit, docs)] = True
            scores = np.where(inside, scores, 0.0).astype(np.float32)
        ids = np.flatnonzero(scores > 0)
        ids = ids[np.argsort(-scores[ids], kind="stable")][:k]
        return self._with_passages(unit, ids.astype(np.int64), scores[ids])

    def get_sentences(self, ids: Iterable[int]) -> dict[int, Sentence]:
        return {i: self.sentences[i] for i in map(int, ids) if 0 <= i < len(self.sentences)}

    def get_sentence_matches(self, ids: Iterable[int]) -> dict[int, str]:
        return {i: self.sentence_match[i] for i in map(int, ids) if 0 <= i < len(self.sentences)}

    def get_passages(self, ids: Iterable[int]) -> dict[int, Passage]:
        return {i: self.passages[i] for i in map(int, ids) if 0 <= i < len(self.passages)}

    def get_article(self, doc: str) -> Article:
        return self.articles[doc]

    def iter_articles(self) -> Iterator[Article]:
        return iter(self.articles.values())

    def sentence_counts(self) -> dict[str, int]:
        return dict(Counter(sentence.doc for sentence in self.sentences))

    def document_frequencies(self, tokens: Iterable[str]) -> tuple[dict[str, int], int]:
        # bm25s keeps a CSC matrix (token -> sentences): a token's column length is its document frequency.
        bm25 = self.sentence_bm25
        indptr = bm25.scores["indptr"]
        frequencies = {}
        for token in tokens:
            token_id = bm25.vocab_dict.get(token)
            frequencies[token] = 0 if token_id is None else int(indptr[token_id + 1] - indptr[token_id])
        return frequencies, int(bm25.scores["num_docs"])

    def vocabulary(self) -> Iterable[str]:
        return self.sentence_bm25.vocab_dict


def _encode(encoder: TextEncoder, texts: list[str], show_progress: bool) -> np.ndarray:
    if not texts:
        return np.zeros((0, encoder.dimension), dtype=np.float32)
    return encoder.encode_documents(texts, show_progress=show_progress)


def _write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def _read_json(path: Path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _swap_into_place(new: Path, target: Path) -> None:
    """Replace `target` by `new` so that a reader sees the old or the new index, never a mix or none."""
    if not target.exists():
        os.replace(new, target)
        return
    if _exchange(new, target):
        # `new` now holds the previous index; a crash before this line only leaves it behind.
        shutil.rmtree(new, ignore_errors=True)
        return
    # No atomic exchange here (not Linux, or a file system without it): two renames,
    # with a window of two system calls where the folder is absent.
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux renameat2 with RENAME_EXCHANGE); False where unsupported."""
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(error, os.strerror(error), str(b))
