"""One matching form for all text: simplified script, half-width, lower case."""

from __future__ import annotations

import unicodedata
from functools import lru_cache

# Version of the matching form; stored in the index manifest so an index is
# never queried with a different normalisation than it was built with.
NORMALIZER_NAME = "opencc-t2s+nfkc+lower/v1"


@lru_cache(maxsize=1)
def _t2s():
    # OpenCC's converter loads its dictionaries once; building it per call is slow.
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Convert traditional characters to simplified (other text is unchanged)."""
    return _t2s().convert(text) if text else text


def normalize(text: str) -> str:
    """The form used for matching, never for display.

    Traditional becomes simplified so a question in either script finds a
    sentence in the other; NFKC folds full-width digits, letters and
    punctuation (`１２％` -> `12%`) so figures compare equal; lower case lets
    English and acronyms match regardless of case.
    """
    return unicodedata.normalize("NFKC", to_simplified(text)).lower()
