"""Adding article files to a corpus and rebuilding its index (the page's upload and `aluqa add`)."""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from embeddings.corpus import ARTICLE_SUFFIXES, CorpusError, load_corpus, read_article, safe_article_name

# One rebuild at a time: two uploads at once would otherwise race to replace the index.
_BUILD_LOCK = threading.Lock()


@dataclass(frozen=True)
class AddReport:
    """What adding files did.

    Attributes:
        added: file names written into the corpus folder.
        present: messages for files whose exact content the corpus already holds.
        refused: messages naming each refused file and why; nothing of it was written.
        summary: the rebuild's one-line summary ("" when nothing was added).
    """

    added: tuple[str, ...] = ()
    present: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()
    summary: str = ""


def _free_target(folder: Path, name: str) -> Path:
    """`name` in `folder`, or name-2, name-3 ... when it is taken (an existing file is never replaced)."""
    target = folder / name
    stem, suffix = target.stem, target.suffix
    number = 1
    while target.exists():
        number += 1
        target = folder / f"{stem}-{number}{suffix}"
    return target


def _write_new(target: Path, data: bytes) -> Path:
    """Write a new file without ever replacing one, trying the next free name if another writer wins."""
    while True:
        part = target.with_name(f".{target.name}.part")  # hidden: a build running now skips it
        part.write_bytes(data)
        try:
            os.link(part, target)  # fails if the name appeared meanwhile, unlike rename
            return target
        except FileExistsError:
            target = _free_target(target.parent, target.name)
        finally:
            part.unlink(missing_ok=True)


def _text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _corpus_hashes(folder: Path) -> dict[str, str]:
    """Raw-file and cleaned-text hashes of the corpus's articles, to their file names.

    The build keeps an article once when either repeats (see `load_corpus`), so a
    file matching one of them would be written and then silently left out.
    """
    try:
        articles = load_corpus(folder, on_error=lambda error: None)
    except CorpusError:
        return {}  # an empty or new folder
    hashes = {}
    for article in articles:
        hashes.setdefault(article.content_hash, article.doc)
        hashes.setdefault(_text_hash(article.text), article.doc)
    return hashes


def _target_name(shown_name: str) -> str:
    """The corpus file name for an upload; a name with nothing usable left becomes article.<suffix>."""
    try:
        return safe_article_name(shown_name)
    except CorpusError:
        return "article" + Path(shown_name).suffix.lower()


def add_articles(paths: Iterable[Path | str], corpus_dir: Path, index_dir: Path, encoder: Any = None,
                 model: str | None = None, names: Iterable[str] | None = None,
                 store: str | None = None) -> AddReport:
    """Check article files, copy the good ones into the corpus folder, and rebuild the index.

    Each file must be `.txt`/`.md`, at most `MAX_ARTICLE_BYTES`, UTF-8 or
    GB18030 text with article text in it (`read_article` decides). A refused
    file is not written. When the rebuild fails, the files just added are
    removed again so the corpus and the index stay in step.

    Args:
        paths: the files to add.
        corpus_dir: the corpus folder to copy them into.
        index_dir: the index to rebuild from that folder.
        encoder: the encoder to embed with (the running QA's, so no second model loads).
        model: the model to load when no encoder is given (None: the default).
        names: the names the files came with, when `paths` are temporary copies (uploads).
        store: "local" or "milvus:URI": where the index is (in Milvus only the new articles' rows are written).

    Returns:
        What was added, already present and refused, and the build summary.

    Raises:
        CorpusError: the rebuild failed (the message says why).
    """
    from embeddings.build import build_index

    paths = [Path(p) for p in paths]
    shown = list(names) if names is not None else [p.name for p in paths]
    corpus_dir, index_dir = Path(corpus_dir), Path(index_dir)
    added, present, refused = [], [], []
    with _BUILD_LOCK:
        corpus_dir.mkdir(parents=True, exist_ok=True)
        known = _corpus_hashes(corpus_dir)
        for path, shown_name in zip(paths, shown):
            if Path(shown_name).suffix.lower() not in ARTICLE_SUFFIXES:
                refused.append(f"{shown_name}: only .txt and .md articles can be added")
                continue
            try:
                article = read_article(path)  # size, binary, encoding and emptiness checks
                data = path.read_bytes()
            except CorpusError as error:
                refused.append(f"{shown_name}: {str(error).split(': ', 1)[-1]}")
                continue
            except OSError as error:
                refused.append(f"{shown_name}: cannot be read ({error.strerror or error})")
                continue
            digests = (hashlib.sha256(data).hexdigest(), _text_hash(article.text))
            same = next((known[d] for d in digests if d in known), None)
            if same is not None:
                present.append(f"{shown_name}: already in the corpus as {same}")
                continue
            target = _write_new(_free_target(corpus_dir, _target_name(shown_name)), data)
            known.update(dict.fromkeys(digests, target.name))
            added.append(target)
        if not added:
            return AddReport((), tuple(present), tuple(refused))
        try:
            report = build_index(corpus_dir, index_dir, model=model, encoder=encoder, store=store)
        except Exception:
            for target in added:
                target.unlink(missing_ok=True)
            raise
    return AddReport(tuple(t.name for t in added), tuple(present), tuple(refused), report.summary())


def encoder_of(qa: Any) -> Any:
    """The encoder a running `QA` embeds questions with, or None when it has not loaded one."""
    own = getattr(qa, "_encoder", None)
    if own is not None:
        return own
    ready = getattr(qa, "_ready", None)
    return getattr(getattr(ready, "retriever", None), "encoder", None)


def add_to_qa(qa: Any, paths: Iterable[Path | str], names: Iterable[str] | None = None) -> AddReport:
    """Add articles to the corpus a `QA` answers from, rebuild its index and make it load the new one.

    Args:
        qa: a `qa.QA` (its `settings.corpus_dir` and `settings.index_dir` are used).
        paths: the files to add.
        names: the names the files came with (uploads arrive as temporary copies).
    """
    qa.warm_up()  # the model is loaded once and reused for the rebuild
    encoder = encoder_of(qa)
    model = None if encoder is not None else qa.index.manifest.model
    report = add_articles(paths, qa.settings.corpus_dir, qa.settings.index_dir, encoder=encoder,
                          model=model, names=names, store=getattr(qa.settings, "store", None))
    if report.added:
        qa.reload()
        qa.warm_up()
    return report
