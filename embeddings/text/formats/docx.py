"""Word files (.docx): the paragraphs and the text of tables with python-docx; title, author and
created date from the document's core properties."""

from __future__ import annotations

import io
import zipfile

from embeddings.text.formats import Extracted, FormatError


def read(data: bytes) -> Extracted:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as error:
        raise FormatError(f"not a readable Word document ({error})") from None
    paragraphs = [p.text.strip() for p in document.paragraphs if p.text.strip()]
    for table in document.tables:
        for row in table.rows:
            # One paragraph per row; a merged cell repeats in python-docx, so each text is kept once.
            cells = list(dict.fromkeys(cell.text.strip() for cell in row.cells if cell.text.strip()))
            if cells:
                paragraphs.append(" ".join(cells))
    properties = document.core_properties
    created = properties.created
    return Extracted(text="\n".join(paragraphs), title=(properties.title or "").strip(),
                     date=created.date().isoformat() if created else "", author=(properties.author or "").strip())
