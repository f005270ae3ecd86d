"""Read article files from the corpus folder into cleaned Articles."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import unicodedata
from collections.abc import Callable
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

from embeddings.text import formats
from embeddings.text.clean import clean_article
from embeddings.text.duplicates import DuplicateFinder
from embeddings.text.split import split_paragraphs, split_sentences
from embeddings.text.split import is_cjk
from embeddings.types import Article

logger = logging.getLogger(__name__)

# Larger files are refused from their size alone, before a byte is read. The
# biggest seed is about 60 kB; 5 MB is ~1.7 million Chinese characters.
MAX_ARTICLE_BYTES = 5_000_000
# Sentences one article may hold (after long unpunctuated runs are cut at
# split.MAX_SENTENCE_CHARS). The longest news articles hold a few hundred; 2,000
# bound what one file costs to embed (at most about 4,000 texts with its
# passages; docs/reliability.md has the measured time), so one upload cannot
# hold the build lock for long.
MAX_ARTICLE_SENTENCES = 2_000
ARTICLE_SUFFIXES = (".txt", ".md", *formats.SUFFIXES)
# Legacy encodings tried when a file is not UTF-8, most likely first.
# Big5 bytes also decode as GB18030 (into nonsense), so every one that
# decodes is scored and the most plausible reading wins (see _plausibility).
_LEGACY_ENCODINGS = ("gb18030", "cp950", "big5hkscs")
# A legacy reading with at least _MIN_CJK_TO_JUDGE ideographs of which fewer
# than this share are common characters is mojibake: the file is refused.
_MIN_PLAUSIBLE = 0.75
_MIN_CJK_TO_JUDGE = 20
# Encodings charset-normalizer names for Japanese and Korean text. EUC-JP and
# EUC-KR bytes also decode as GB18030, into common Chinese characters, so the
# plausibility score cannot refuse them; charset-normalizer's language model can.
_JAPANESE_KOREAN = {
    "euc_jp": "Japanese", "euc_jis_2004": "Japanese", "euc_jisx0213": "Japanese", "shift_jis": "Japanese",
    "cp932": "Japanese", "shift_jis_2004": "Japanese", "shift_jisx0213": "Japanese", "iso2022_jp": "Japanese",
    "iso2022_jp_1": "Japanese", "iso2022_jp_2": "Japanese", "iso2022_jp_2004": "Japanese",
    "iso2022_jp_3": "Japanese", "iso2022_jp_ext": "Japanese",
    "euc_kr": "Korean", "cp949": "Korean", "johab": "Korean", "iso2022_kr": "Korean",
}
# Below this many non-ASCII characters its verdict is not trusted: on 20-character
# stretches of the seeds it took 7 of 61 Chinese samples for Korean or Japanese,
# on 30 characters 2 of 63, and none of 300 samples with 40 or more.
_MIN_CHARS_TO_DETECT = 60
# safe_article_name: longest stem kept (a CJK character is 3 bytes of the
# 255-byte limit most file systems put on a name).
MAX_NAME_CHARS = 80


class CorpusError(ValueError):
    """A corpus file or folder that cannot be used; the message names it and says why."""


@lru_cache(maxsize=1)
def _common_han() -> frozenset[str]:
    """The common characters of both scripts: GB2312 level 1 and Big5 level 1 (~6,800)."""
    chars = set()
    for lead, trails, codec in ((range(0xB0, 0xD8), range(0xA1, 0xFF), "gb2312"),
                                (range(0xA4, 0xC7), [*range(0x40, 0x7F), *range(0xA1, 0xFF)], "big5")):
        for hi in lead:
            for lo in trails:
                try:
                    chars.add(bytes((hi, lo)).decode(codec))
                except UnicodeDecodeError:
                    pass
    return frozenset(chars)


def _plausibility(text: str) -> tuple[float, int]:
    """(share of common characters among the CJK ideographs, how many ideographs)."""
    cjk = [ch for ch in text if is_cjk(ch)]
    if not cjk:
        return 0.0, 0
    common = _common_han()
    return sum(ch in common for ch in cjk) / len(cjk), len(cjk)


def _japanese_or_korean(data: bytes) -> tuple[str, str] | None:
    """(language, encoding) when charset-normalizer reads the bytes as Japanese or Korean text, else None."""
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None or best.encoding not in _JAPANESE_KOREAN:
        return None
    if sum(ord(ch) > 127 for ch in str(best)) < _MIN_CHARS_TO_DETECT:
        return None
    return _JAPANESE_KOREAN[best.encoding], best.encoding


def _decode(path: Path, data: bytes) -> str:
    """Decode UTF-8 (with or without BOM), else GB18030 or Big5, else refuse the file.

    A file that charset-normalizer reads as Japanese or Korean (EUC-JP,
    Shift-JIS, EUC-KR...) is refused. Otherwise, when several legacy encodings
    decode the bytes, the reading with the larger share of common Chinese
    characters wins; a reading that is mostly rare characters is mojibake
    and the file is refused. (charset-normalizer alone misreads short Chinese
    files and Big5 files that are mostly ASCII, so it does not choose among
    the Chinese encodings.)
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        first_error = exc
    foreign = _japanese_or_korean(data)
    if foreign is not None:
        language, encoding = foreign
        raise CorpusError(f"{path.name}: reads as {language} text ({encoding}), not Chinese; AluQA reads Chinese "
                          "articles (UTF-8, GB18030 or Big5): if it is Chinese, save it as UTF-8")
    readings = []
    for encoding in _LEGACY_ENCODINGS:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        readings.append((_plausibility(text), encoding, text))
    if not readings:
        raise CorpusError(
            f"{path.name}: not valid UTF-8 or GB18030 text, nor Big5 "
            f"(bad byte at {first_error.start}); save it as UTF-8"
        )
    # max() keeps the first of equal scores, so GB18030 wins ties.
    (share, count), encoding, text = max(readings, key=lambda r: r[0][0])
    if count >= _MIN_CJK_TO_JUDGE and share < _MIN_PLAUSIBLE:
        raise CorpusError(
            f"{path.name}: not UTF-8, and as {encoding} it reads as nonsense "
            f"(only {share:.0%} common Chinese characters); save it as UTF-8"
        )
    if encoding != "gb18030":
        logger.info("%s: decoded as %s", path.name, encoding)
    return text


def read_article(path: Path) -> Article:
    """Read, decode and clean one article file.

    Args:
        path: the file to read; its name becomes the citation key.

    Returns:
        The cleaned Article.

    Raises:
        CorpusError: the file cannot be read, is larger than MAX_ARTICLE_BYTES,
            empty or blank, binary (holds NUL bytes), not UTF-8/GB18030/Big5
            (or mojibake in them), has no text left once page furniture is removed,
            or holds more than MAX_ARTICLE_SENTENCES sentences.
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            # Size first, from the open file: a huge file is refused unread.
            size = os.fstat(handle.fileno()).st_size
            if size > MAX_ARTICLE_BYTES:
                raise CorpusError(
                    f"{path.name}: {size} bytes, over the {MAX_ARTICLE_BYTES}-byte limit"
                )
            # Never more than the limit (+1 to notice a file that grew meanwhile).
            data = handle.read(MAX_ARTICLE_BYTES + 1)
    except OSError as exc:
        raise CorpusError(f"{path.name}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > MAX_ARTICLE_BYTES:  # the file grew between stat and read
        raise CorpusError(f"{path.name}: over the {MAX_ARTICLE_BYTES}-byte limit")
    if not data.strip():
        raise CorpusError(f"{path.name}: the file is empty or blank")
    if path.suffix.lower() in formats.SUFFIXES:
        return _read_formatted(path, data)
    found = formats.sniffed(data)
    if found is not None:
        raise CorpusError(f"{path.name}: named {path.suffix or 'without a suffix'} but the file is {found[1]}: "
                          "rename it with its own suffix")
    if b"\x00" in data:
        # UTF-16 text also holds NULs; say so, since re-saving as UTF-8 fixes it.
        hint = " (UTF-16? save it as UTF-8)" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        raise CorpusError(f"{path.name}: binary file, it holds NUL bytes{hint}")
    raw = _decode(path, data)
    if not raw.strip():
        raise CorpusError(f"{path.name}: the file holds only whitespace")
    return _cleaned(raw, path)


def _cleaned(raw: str, path: Path) -> Article:
    """The cleaned article of a file's text, within the limits every article keeps."""
    article = clean_article(raw, path.name)
    if not article.text.strip():
        raise CorpusError(f"{path.name}: no article text left after removing page furniture")
    sentences = count_sentences(article.text)
    if sentences > MAX_ARTICLE_SENTENCES:
        raise CorpusError(f"{path.name}: {sentences} sentences, over the limit of {MAX_ARTICLE_SENTENCES} per "
                          "article: split it into several files")
    return article


def _read_formatted(path: Path, data: bytes) -> Article:
    """An HTML, PDF or Word article: its text cleaned as any article's, the file's own metadata first."""
    try:
        extracted = formats.extract(path.suffix, data)
    except formats.FormatError as error:
        raise CorpusError(f"{path.name}: {error}") from None
    if len(extracted.text.encode("utf-8")) > MAX_ARTICLE_BYTES:
        raise CorpusError(f"{path.name}: its text is over the {MAX_ARTICLE_BYTES}-byte limit of an article")
    article = _cleaned(extracted.text, path)
    # Metadata the file states wins over what the cleaning rules guess from the text.
    return replace(article, title=extracted.title or article.title, source=extracted.source or article.source,
                   date=extracted.date or article.date, author=extracted.author or article.author,
                   content_hash=hashlib.sha256(data).hexdigest())


def count_sentences(text: str) -> int:
    """How many sentences the index would hold for this article text (as `split.segment_articles` cuts it)."""
    return sum(len(split_sentences(text, start, end)) for start, end in split_paragraphs(text))


def load_corpus(
    corpus_dir: Path, on_error: Callable[[CorpusError], None] | None = None
) -> list[Article]:
    """Load every *.txt and *.md article of a folder, sorted by file name.

    Hidden files (".name") are skipped: they are editor or OS leftovers, such
    as macOS "._x.txt" forks. Only files directly inside the folder are read:
    sub-folders are not searched, and a symbolic link that leads outside the
    folder is refused (a CorpusError naming it). A file whose raw content
    (same content_hash) or cleaned text repeats an earlier one, or nearly does
    (`embeddings.text.duplicates`: the HTML and the PDF of one report), is kept
    once, under the first name.

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
        raise CorpusError(f"corpus folder {folder} holds no article (*.txt, *.md, *.html, *.htm, *.pdf, *.docx)")
    articles: list[Article] = []
    seen: dict[str, str] = {}  # raw and cleaned-text hashes -> first file name
    near = DuplicateFinder()  # the HTML and the PDF of one report, say
    inside = folder.resolve()
    for path in files:
        try:
            if path.is_symlink() and not path.resolve().is_relative_to(inside):
                raise CorpusError(f"{path.name}: a link to a file outside the corpus folder; not read")
            article = read_article(path)
        except CorpusError as exc:
            if on_error is None:
                raise
            on_error(exc)
            continue
        text_hash = hashlib.sha256(article.text.encode("utf-8")).hexdigest()
        first = seen.get(article.content_hash) or seen.get(text_hash)
        if first is not None:
            # The same article saved twice (another name, encoding or line endings).
            logger.warning("%s: same article as %s, kept once", path.name, first)
            continue
        nearly = near.near(article.text)
        if nearly is not None:
            logger.warning("%s: nearly the same article as %s (%.0f%% of its text), kept once",
                           path.name, nearly[0], 100 * nearly[1])
            continue
        seen[article.content_hash] = seen[text_hash] = path.name
        near.add(path.name, article.text)
        articles.append(article)
    if not articles:
        raise CorpusError(f"corpus folder {folder}: none of its {len(files)} files could be used")
    return articles


_NAME_SEPARATORS = re.compile(r"[/\\]")
_NAME_ODD = re.compile(r"[^0-9A-Za-z._\-]")


def safe_article_name(name: str) -> str:
    """Turn a user-supplied file name into a safe name for a file in the corpus folder.

    Only the last path component is kept (both "/" and "\\" separate), after
    NFKC so that full-width "／" and "．" count too; control characters are
    dropped; every character that is not an ASCII letter or digit, a CJK
    ideograph, "-", "_" or "." becomes "_" (runs collapse); runs of dots
    become one dot, so ".." cannot survive; leading dots, dashes and
    underscores go (no hidden files, no option-like names); the stem is cut
    to MAX_NAME_CHARS; and the suffix is one of ARTICLE_SUFFIXES, lower
    case (".md", ".html", ".pdf" ... kept; anything else gets ".txt" added).

    Examples:
        "../../etc/passwd" -> "passwd.txt"; "新闻 2023.TXT" -> "新闻_2023.txt";
        "C:\\x\\報導.md" -> "報導.md"; "a.exe" -> "a.exe.txt".

    Raises:
        CorpusError: nothing usable is left (e.g. "", "..", "///", "😀.txt").
    """
    if not isinstance(name, str):
        raise CorpusError(f"an article name must be text, got {type(name).__name__}")
    text = unicodedata.normalize("NFKC", name)
    # Whitespace (tabs and line breaks too) separates words; other control
    # and format characters are dropped.
    text = "".join(" " if ch.isspace() else ch for ch in text if ch.isspace() or unicodedata.category(ch)[0] != "C")
    text = _NAME_SEPARATORS.split(text)[-1].strip()
    text = "".join(ch if is_cjk(ch) else _NAME_ODD.sub("_", ch) for ch in text)
    text = re.sub(r"_{2,}", "_", re.sub(r"\.{2,}", ".", text))
    stem, dot, suffix = text.rpartition(".")
    if not dot:
        stem, suffix = text, ""
    suffix = suffix.lower()
    if f".{suffix}" not in ARTICLE_SUFFIXES:
        stem, suffix = (f"{stem}.{text.rpartition('.')[2]}" if dot else text), "txt"
    stem = stem.lstrip("._-")[:MAX_NAME_CHARS].rstrip("._-")
    if not any(ch.isalnum() for ch in stem):
        raise CorpusError(f"{name[:60]!r}: no usable file name is left once unsafe characters are removed; "
                          "name the article with letters or digits, e.g. 百色铝产业.txt")
    return f"{stem}.{suffix}"
