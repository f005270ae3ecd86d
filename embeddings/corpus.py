"""Read article files from the corpus folder into cleaned Articles."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from embeddings.clean import clean_article
from embeddings.types import Article

MAX_ARTICLE_BYTES = 5_000_000
ARTICLE_SUFFIXES = (".txt", ".md")


class CorpusError(ValueError):
    """A corpus file or folder that cannot be used; the message names it and says why."""


def _decode(path: Path, data: bytes) -> str:
    """Decode UTF-8 (with or without BOM), else GB18030, else refuse the file."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        # Older Chinese pages are often saved as GBK; GB18030 is its superset.
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise CorpusError(
            f"{path.name}: not valid UTF-8 or GB18030 text (bad byte at {exc.start})"
        ) from None


def read_article(path: Path) -> Article:
    """Read, decode and clean one article file.

    Args:
        path: the file to read; its name becomes the citation key.

    Returns:
        The cleaned Article.

    Raises:
        CorpusError: the file cannot be read, is larger than MAX_ARTICLE_BYTES,
            empty or blank, binary (holds NUL bytes), not UTF-8/GB18030, or has
            no text left once page furniture is removed.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_ARTICLE_BYTES:
            raise CorpusError(
                f"{path.name}: {size} bytes, over the {MAX_ARTICLE_BYTES}-byte limit"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"{path.name}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > MAX_ARTICLE_BYTES:  # the file grew between stat and read
        raise CorpusError(f"{path.name}: over the {MAX_ARTICLE_BYTES}-byte limit")
    if not data.strip():
        raise CorpusError(f"{path.name}: the file is empty or blank")
    if b"\x00" in data:
        # UTF-16 text also holds NULs; say so, since re-saving as UTF-8 fixes it.
        hint = " (UTF-16? save it as UTF-8)" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        raise CorpusError(f"{path.name}: binary file, it holds NUL bytes{hint}")
    raw = _decode(path, data)
    if not raw.strip():
        raise CorpusError(f"{path.name}: the file holds only whitespace")
    article = clean_article(raw, path.name)
    if not article.text.strip():
        raise CorpusError(f"{path.name}: no article text left after removing page furniture")
    return article


def load_corpus(
    corpus_dir: Path, on_error: Callable[[CorpusError], None] | None = None
) -> list[Article]:
    """Load every *.txt and *.md article of a folder, sorted by file name.

    Hidden files (".name") are skipped: they are editor or OS leftovers, such
    as macOS "._x.txt" forks. A file whose raw content repeats an earlier one
    (same content_hash) is kept once, under the first name.

    Args:
        corpus_dir: the folder (not searched recursively).
        on_error: called with the error of each broken file, which is then
            skipped; when None, the first broken file raises.

    Returns:
        The articles, in file-name order.

    Raises:
        CorpusError: the folder is missing, not a folder, holds no article
            file, or (on_error given) none of its files could be used; or a
            file is broken and on_error is None.
    """
    folder = Path(corpus_dir)
    if not folder.exists():
        raise CorpusError(f"corpus folder {folder} does not exist")
    if not folder.is_dir():
        raise CorpusError(f"corpus folder {folder} is not a folder")
    files = sorted(
        p for p in folder.iterdir()
        if p.suffix.lower() in ARTICLE_SUFFIXES and not p.name.startswith(".") and p.is_file()
    )
    if not files:
        raise CorpusError(f"corpus folder {folder} holds no *.txt or *.md article")
    articles: list[Article] = []
    hashes: set[str] = set()
    for path in files:
        try:
            article = read_article(path)
        except CorpusError as exc:
            if on_error is None:
                raise
            on_error(exc)
            continue
        if article.content_hash in hashes:
            continue  # the same file saved twice under two names
        hashes.add(article.content_hash)
        articles.append(article)
    if not articles:
        raise CorpusError(f"corpus folder {folder}: none of its {len(files)} files could be used")
    return articles
