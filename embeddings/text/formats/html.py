"""Saved web pages: the main text and its metadata with trafilatura (navigation, comments,
share buttons and related-article lists left out). Bytes in, so the page's declared charset
(GBK, GB18030, Big5, UTF-8) is honoured."""

from __future__ import annotations

import re

from embeddings.text.formats import Extracted, FormatError

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def read(data: bytes) -> Extracted:
    import trafilatura
    from trafilatura.utils import decode_file

    html = decode_file(data)  # the charset the page declares, else a detected one
    if not isinstance(html, str) or "<" not in html:
        raise FormatError("not an HTML page")
    document = trafilatura.bare_extraction(html, with_metadata=True, include_comments=False, include_tables=True,
                                           include_links=False, include_images=False)
    if document is None:
        raise FormatError("no article text found in the page")
    found = document.as_dict()
    date = found.get("date") or ""
    return Extracted(text=found.get("text") or "", title=(found.get("title") or "").strip(),
                     date=date[:10] if _ISO_DATE.match(date) else "",
                     author=(found.get("author") or _meta_author(html)).strip(),
                     source=(found.get("sitename") or "").strip())


def _meta_author(html: str) -> str:
    """`<meta name="author">`: trafilatura keeps only authors in Latin letters, so Chinese names are read here."""
    import lxml.html

    try:
        tree = lxml.html.fromstring(html)
    except (ValueError, lxml.etree.ParserError):
        return ""
    for name in ("author", "article:author", "byline"):
        values = tree.xpath(f'//meta[@name="{name}" or @property="{name}"]/@content')
        if values and values[0].strip():
            return values[0].strip()
    return ""
