"""Articles that come as saved web pages, PDFs or Word files: their text and the metadata they hold.

One small module per format (`html`, `pdf`, `docx`), each turning a file's
bytes into an `Extracted`: the article text with paragraphs split by "\\n",
and the title, date, author and source the file itself states. The corpus
(`embeddings.text.read.read_article`) cleans that text like any `.txt` article;
metadata found in the file wins over what the cleaning rules guess.
`.txt` and `.md` files do not come here.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module

# The readers, by file suffix (lower case).
READERS = {".html": "html", ".htm": "html", ".pdf": "pdf", ".docx": "docx"}
SUFFIXES = tuple(READERS)
# What the first bytes of a file say it is, to catch a file named for another format.
_MAGIC = ((b"%PDF-", "pdf", "a PDF"), (b"PK\x03\x04", "docx", "a ZIP archive (a Word .docx?)"))


class FormatError(ValueError):
    """A file that cannot be read as the format its name says (the message says why, without the name)."""


@dataclass(frozen=True)
class Extracted:
    """What a reader found in a file."""

    text: str
    title: str = ""
    date: str = ""  # ISO "YYYY-MM-DD" when the file states one
    author: str = ""
    source: str = ""  # the outlet or site name


def sniffed(data: bytes) -> tuple[str, str] | None:
    """(reader, description) of the format the bytes begin with, or None for text-like content."""
    head = data[:1024].lstrip()
    for magic, reader, description in _MAGIC:
        if head.startswith(magic):
            return reader, description
    return None


def extract(suffix: str, data: bytes) -> Extracted:
    """Read a file of the format its suffix names.

    Raises:
        FormatError: the content is of another format, broken, encrypted, without
            text (a scanned PDF), or without any article text.
    """
    reader = READERS[suffix.lower()]
    found = sniffed(data)
    if found is not None and found[0] != reader:
        raise FormatError(f"named {suffix} but the file is {found[1]}: rename it with its own suffix")
    if found is None and reader != "html":
        raise FormatError(f"not a {suffix} file (its content is not {'a PDF' if reader == 'pdf' else 'a Word document'})")
    extracted = import_module(f"embeddings.text.formats.{reader}").read(data)
    if not extracted.text.strip():
        raise FormatError("no article text found in the file")
    return extracted
