"""The same article twice: exact repeats, and near ones such as the HTML and the PDF of one report.

"Nearly the same" is measured on the matching form of the cleaned texts
(simplified, half-width, lower case) without spaces and punctuation, cut into
overlapping `SHINGLE`-character pieces. Two articles are near duplicates when
at least `NEAR_SHARE` of the shorter one's pieces are also the other's, and
the shorter is at least `MIN_LENGTH_RATIO` of the longer: a printed page that
adds a navigation line, a comment or a page number to the text still matches,
a short article that quotes a long one does not, nor do two reports of the
same event in other words. Measured on the seeds
(tests/embeddings/text/test_duplicates.py): each seed's web page and the PDF
Chromium prints of it share 1.00 of the page's pieces; two different seed
articles share at most 0.01 (0.06 between their PDFs, which repeat the same
navigation and comment lines).

Only one piece in `SAMPLE` is kept (chosen by its hash, so the same pieces
are kept for every article) and looked up in an inverted index, so checking an
article costs time in proportion to its length, not to the corpus size.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter, defaultdict

from embeddings.text.normalize import normalize

SHINGLE = 8
SAMPLE = 4
NEAR_SHARE = 0.8
MIN_LENGTH_RATIO = 0.5
_NOT_TEXT = re.compile(r"[\W_]+", re.UNICODE)


def pieces(text: str) -> frozenset[int]:
    """The sampled pieces of a text (hashes of its SHINGLE-character windows)."""
    flat = _NOT_TEXT.sub("", normalize(text))
    found = set()
    for start in range(max(len(flat) - SHINGLE + 1, 1)):
        digest = zlib.crc32(flat[start:start + SHINGLE].encode("utf-8"))
        if digest % SAMPLE == 0:
            found.add(digest)
    return frozenset(found)


class DuplicateFinder:
    """Articles seen so far, and which of them a new text (nearly) repeats."""

    def __init__(self):
        self._docs_with: dict[int, set[str]] = defaultdict(set)
        self._sizes: dict[str, int] = {}

    def add(self, doc: str, text: str) -> None:
        found = pieces(text)
        self._sizes[doc] = len(found)
        for piece in found:
            self._docs_with[piece].add(doc)

    def near(self, text: str) -> tuple[str, float] | None:
        """The article this text nearly repeats and the share of pieces they have in common, or None."""
        found = pieces(text)
        if not found:
            return None
        shared = Counter(doc for piece in found for doc in self._docs_with.get(piece, ()))
        best = None
        for doc, count in shared.items():
            shorter, longer = sorted((len(found), self._sizes[doc]))
            share = count / max(shorter, 1)
            if share >= NEAR_SHARE and shorter >= MIN_LENGTH_RATIO * longer and (best is None or share > best[1]):
                best = (doc, share)
        return best
