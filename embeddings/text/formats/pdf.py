"""PDFs: the text layer with pdfminer.six, a paragraph per text block. A PDF without a text
layer (a scan) or one locked with a password gets a clear message; OCR is out of scope.

pdfminer.six was chosen over pypdf by reading the PDFs Chromium prints of the test pages:
pdfminer's layout analysis gives one block per paragraph, so paragraph breaks survive,
while pypdf's `extract_text` gives lines only (a paragraph break looks like a line wrap).
"""

from __future__ import annotations

import io
import re

from embeddings.text.formats import Extracted, FormatError

# More pages than a news report or an annual report holds: refused before its text is read.
MAX_PDF_PAGES = 300
_CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")


def _join_lines(block: str) -> str:
    """The lines of one text block as one paragraph: wrapped Chinese lines join without a space."""
    out = ""
    for line in (piece.strip() for piece in block.splitlines()):
        if not line:
            continue
        if out and not (_CJK.match(line[0]) or _CJK.match(out[-1])):
            out += " "
        out += line
    return out


def read(data: bytes) -> Extracted:
    import logging

    # pdfminer warns about every odd font descriptor of a printed page; only errors matter here.
    logging.getLogger("pdfminer").setLevel(logging.ERROR)
    from pdfminer.high_level import extract_text
    from pdfminer.layout import LAParams
    from pdfminer.pdfdocument import PDFDocument, PDFEncryptionError, PDFPasswordIncorrect
    from pdfminer.pdfpage import PDFPage
    from pdfminer.pdfparser import PDFParser, PDFSyntaxError
    from pdfminer.psparser import PSException
    from pdfminer.utils import decode_text

    try:
        document = PDFDocument(PDFParser(io.BytesIO(data)))
        if not document.is_extractable:
            raise FormatError("the PDF does not allow its text to be extracted")
        pages = sum(1 for _ in PDFPage.create_pages(document))
    except (PDFPasswordIncorrect, PDFEncryptionError):
        raise FormatError("the PDF is encrypted with a password: save an unlocked copy") from None
    except (PDFSyntaxError, PSException, ValueError, KeyError, TypeError) as error:
        raise FormatError(f"a broken or truncated PDF ({type(error).__name__}: {error})"[:300]) from None
    if pages > MAX_PDF_PAGES:
        raise FormatError(f"{pages} pages, over the limit of {MAX_PDF_PAGES}: split the PDF into articles")
    try:
        text = extract_text(io.BytesIO(data), laparams=LAParams())
    except (PDFSyntaxError, PSException, ValueError, KeyError, TypeError) as error:
        raise FormatError(f"a broken or truncated PDF ({type(error).__name__}: {error})"[:300]) from None
    paragraphs = [_join_lines(block) for block in re.split(r"\n\s*\n|\f", text)]
    paragraphs = [p for p in paragraphs if p]
    if not paragraphs:
        raise FormatError("the PDF has no text layer (a scanned document?); OCR is not supported")
    info = document.info[0] if document.info else {}

    def field(name: str) -> str:
        value = info.get(name)
        value = getattr(value, "resolve", lambda: value)()
        return decode_text(value).strip() if isinstance(value, bytes) else (value or "").strip() if isinstance(value, str) else ""

    # The creation date of a PDF is when it was made (often printed), not the article's date: not used.
    return Extracted(text="\n".join(paragraphs), title=field("Title"), author=field("Author"))
