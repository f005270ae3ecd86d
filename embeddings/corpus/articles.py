"""Managing the corpus: adding, removing and listing articles, each change followed by an index rebuild.

The page (`ui/`) and the command line (`aluqa add/remove/list`) both call these.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from embeddings.text.read import (ARTICLE_SUFFIXES, CorpusError, count_sentences, load_corpus, read_article,
                               safe_article_name)
from embeddings.text.duplicates import DuplicateFinder
from embeddings.corpus.lock import build_lock



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


def _corpus_hashes(folder: Path) -> tuple[dict[str, str], DuplicateFinder]:
    """Raw-file and cleaned-text hashes of the corpus's articles, to their file names; and
    their near-duplicate finder.

    The build keeps an article once when it repeats or nearly repeats another (see
    `load_corpus`), so a file matching one would be written and then silently left out.
    """
    hashes, near = {}, DuplicateFinder()
    try:
        articles = load_corpus(folder, on_error=lambda error: None)
    except CorpusError:
        return hashes, near  # an empty or new folder
    for article in articles:
        hashes.setdefault(article.content_hash, article.doc)
        hashes.setdefault(_text_hash(article.text), article.doc)
        near.add(article.doc, article.text)
    return hashes, near


def _target_name(shown_name: str) -> str:
    """The corpus file name for an upload; a name with nothing usable left becomes article.<suffix>."""
    try:
        return safe_article_name(shown_name)
    except CorpusError:
        return "article" + Path(shown_name).suffix.lower()


def add_articles(paths: Iterable[Path | str], corpus_dir: Path, index_dir: Path, encoder: Any = None,
                 model: str | None = None, names: Iterable[str] | None = None,
                 store: str | None = None, max_new_sentences: int | None = None,
                 on_stage: Callable[[str], None] | None = None) -> AddReport:
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
        max_new_sentences: at most this many new sentences in all (the page's bound on
            one upload, so its build holds the lock for a bounded time); a file that
            would go over it is refused with a message, the ones before it are added.
        on_stage: called with a label as each stage of the rebuild starts (progress on the page).

    Returns:
        What was added, already present and refused, and the build summary.

    Raises:
        CorpusError: the rebuild failed (the message says why).
        BuildBusyError: another build of the index is running; nothing was written.
    """
    from embeddings.corpus.build import build_index, index_is_current

    paths = [Path(p) for p in paths]
    shown = list(names) if names is not None else [p.name for p in paths]
    corpus_dir, index_dir = Path(corpus_dir), Path(index_dir)
    added, present, refused = [], [], []
    # Held from the duplicate check to the end of the rebuild, so no other change slips in between.
    with build_lock(index_dir):
        corpus_dir.mkdir(parents=True, exist_ok=True)
        known, near = _corpus_hashes(corpus_dir)
        new_sentences = 0
        for path, shown_name in zip(paths, shown):
            if Path(shown_name).suffix.lower() not in ARTICLE_SUFFIXES:
                refused.append(f"{shown_name}: only {', '.join(ARTICLE_SUFFIXES)} articles can be added")
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
            nearly = near.near(article.text)
            if nearly is not None:
                present.append(f"{shown_name}: nearly the same article as {nearly[0]} "
                               f"({100 * nearly[1]:.0f}% of its text) is already in the corpus; not added")
                continue
            if max_new_sentences is not None:
                sentences = count_sentences(article.text)
                if new_sentences + sentences > max_new_sentences:
                    refused.append(f"{shown_name}: not added, one upload adds at most {max_new_sentences} sentences "
                                   f"and this file holds {sentences} more; add it in another upload")
                    continue
                new_sentences += sentences
            target = _write_new(_free_target(corpus_dir, _target_name(shown_name)), data)
            known.update(dict.fromkeys(digests, target.name))
            near.add(target.name, article.text)
            added.append(target)
        if not added:
            built_with = encoder.name if encoder is not None else model
            if present and not index_is_current(corpus_dir, index_dir, built_with, store=store):
                # Already in the corpus but not in the index: an earlier add was killed
                # after copying the file. Finish it: index the corpus as it is.
                report = build_index(corpus_dir, index_dir, model=model, encoder=encoder, store=store)
                return AddReport((), tuple(present), tuple(refused), report.summary())
            return AddReport((), tuple(present), tuple(refused))
        try:
            report = build_index(corpus_dir, index_dir, model=model, encoder=encoder, store=store, on_stage=on_stage)
        except Exception:
            for target in added:
                target.unlink(missing_ok=True)
            raise
    return AddReport(tuple(t.name for t in added), tuple(present), tuple(refused), report.summary())


@dataclass(frozen=True)
class RemoveReport:
    """What removing articles did.

    Attributes:
        removed: file names deleted from the corpus folder (their sentences left the index).
        refused: messages naming each article that was not removed and why.
        summary: the rebuild's one-line summary ("" when nothing was removed).
    """

    removed: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()
    summary: str = ""


def article_files(corpus_dir: Path) -> list[str]:
    """The names of the article files in a corpus folder, as `load_corpus` picks them (sorted)."""
    folder = Path(corpus_dir)
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir()
                  if p.suffix.lower() in ARTICLE_SUFFIXES and not p.name.startswith(".") and p.is_file())


def _corpus_name(doc: str, corpus_dir: Path) -> str:
    """The file name a DOC argument means: a bare name, or a path to a file of the corpus folder."""
    path = Path(doc)
    if path.name != doc and path.parent.resolve() == corpus_dir.resolve():
        return path.name
    return doc


def remove_articles(docs: Iterable[str], corpus_dir: Path, index_dir: Path, encoder: Any = None,
                    model: str | None = None, store: str | None = None) -> RemoveReport:
    """Delete articles from the corpus folder and rebuild the index without them.

    Each DOC is an article's file name, as citations give it. A name that is
    not an article of the folder is refused with a message; so is a removal
    that would leave the corpus without any article (an index needs one).
    The files are first moved aside under hidden names, and deleted only
    once the rebuilt index is in place; if the rebuild fails they are put
    back, so the corpus and the index stay in step and nothing is lost.
    The rebuild reuses the vectors of every remaining text (nothing is embedded).

    Args:
        docs: file names of the articles to remove.
        corpus_dir: the corpus folder.
        index_dir: the index to rebuild from that folder.
        encoder: the encoder to embed with (the running QA's, so no second model loads).
        model: the model to load when no encoder is given (None: the default).
        store: "local" or "milvus:URI": where the index is (in Milvus only the removed articles' rows are deleted).

    Raises:
        CorpusError: the rebuild failed (the message says why); every file is back.
        BuildBusyError: another build of the index is running; nothing was removed.
    """
    import difflib

    from embeddings.corpus.build import build_index

    corpus_dir, index_dir = Path(corpus_dir), Path(index_dir)
    refused: list[str] = []
    with build_lock(index_dir):
        present = article_files(corpus_dir)
        chosen: list[str] = []
        for doc in docs:
            name = _corpus_name(str(doc), corpus_dir)
            if name in chosen:
                continue
            if name not in present:
                close = difflib.get_close_matches(name, present, n=1, cutoff=0.8)
                hint = f" (did you mean {close[0]}?)" if close else ""
                refused.append(f"{doc}: no such article in {corpus_dir}{hint}")
                continue
            chosen.append(name)
        if chosen and not set(present) - set(chosen):
            last = "it is the last article" if len(chosen) == 1 else "they are all the articles"
            refused += [f"{name}: not removed, {last} of the corpus and an index needs at least one; "
                        "add another article first" for name in chosen]
            chosen = []
        if not chosen:
            return RemoveReport((), tuple(refused))
        parked = []
        try:
            for name in chosen:
                # Hidden, so the rebuild skips it; kept until the new index is in place.
                aside = _free_target(corpus_dir, f".{name}.removed")
                os.rename(corpus_dir / name, aside)
                parked.append((corpus_dir / name, aside))
            report = build_index(corpus_dir, index_dir, model=model, encoder=encoder, store=store)
        except BaseException:
            for original, aside in parked:
                os.rename(aside, original)
            raise
        for _, aside in parked:
            aside.unlink(missing_ok=True)
    return RemoveReport(tuple(chosen), tuple(refused), report.summary())
