"""What a corpus holds, as its index sees it: one entry per article (`aluqa list`, the page's article list)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Iterable

from embeddings.corpus.articles import article_files
from embeddings.text.read import CorpusError, read_article
from embeddings.text.duplicates import DuplicateFinder
from embeddings.store import IndexStore
from embeddings.types import Article


@dataclass(frozen=True)
class CatalogueEntry:
    """One article of the corpus folder or of its index.

    Attributes:
        doc: the file name (the citation key).
        title, date, source: as the cleaned article gives them ("" when it names none).
        author: as the article's file states it (HTML, PDF, Word metadata; "" when none).
        sentences: how many of its sentences the index holds (0 when it is not indexed).
        note: "" for an indexed article whose file is present; otherwise why the
            file and the index disagree (not indexed yet, unreadable, a repeat, gone).
    """

    doc: str
    title: str
    date: str
    source: str
    sentences: int
    note: str = ""
    author: str = ""

    @property
    def indexed(self) -> bool:
        return self.sentences > 0


def index_entries(index: IndexStore, articles: Iterable[Article] | None = None) -> list[CatalogueEntry]:
    """The indexed articles of a loaded index store, by file name.

    Args:
        articles: the index's articles when already read (a Milvus store reads them all for a listing).
    """
    counts = index.sentence_counts()
    return [CatalogueEntry(a.doc, a.title, a.date, a.source, counts.get(a.doc, 0), author=a.author)
            for a in sorted(index.iter_articles() if articles is None else articles, key=lambda a: a.doc)]


def catalogue(corpus_dir: Path, index: IndexStore) -> list[CatalogueEntry]:
    """Every article of the index and every article file of the folder, noting where the two differ.

    Args:
        corpus_dir: the corpus folder.
        index: the loaded index store of that folder (local or Milvus).
    """
    indexed = list(index.iter_articles())

    @lru_cache(maxsize=1)
    def near_indexed() -> DuplicateFinder:
        finder = DuplicateFinder()
        for article in indexed:
            finder.add(article.doc, article.text)
        return finder
    entries = {entry.doc: entry for entry in index_entries(index, indexed)}
    files = article_files(corpus_dir)
    for doc in set(entries) - set(files):
        entry = entries[doc]
        entries[doc] = replace(entry, note="the file is gone from the corpus folder; rebuild the index")
    for doc in set(files) - set(entries):
        try:
            article = read_article(Path(corpus_dir) / doc)
        except CorpusError as error:
            entries[doc] = CatalogueEntry(doc, "", "", "", 0, f"not indexed: {str(error).split(': ', 1)[-1]}")
            continue
        # A readable file the build left out repeats an article (as `load_corpus` judges), or is newer.
        same = [a.doc for a in indexed
                if a.content_hash == article.content_hash or a.text == article.text]
        nearly = near_indexed().near(article.text) if not same else None
        note = (f"not indexed: same article as {same[0]}" if same
                else f"not indexed: nearly the same article as {nearly[0]}" if nearly
                else "not indexed yet; rebuild the index")
        entries[doc] = CatalogueEntry(doc, article.title, article.date, article.source, 0, note, author=article.author)
    return [entries[doc] for doc in sorted(entries)]


def list_corpus(corpus_dir: Path, index_dir: Path, store: str | None = None) -> list[CatalogueEntry]:
    """Load the index (of `index_dir`, or in Milvus for "milvus:URI") and catalogue it against `corpus_dir`.

    Raises:
        IndexLoadError: the index is missing, damaged or unreachable (the message names the fix).
    """
    from embeddings.store import open_index_store

    return catalogue(corpus_dir, open_index_store(store, index_dir))
