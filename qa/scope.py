"""Questions limited by date and source: which articles a filter lets in.

A filter names a first and last date (`since`, `until`: "2022", "2022-08" or
"2022-08-14", both ends included) and a source (part of the outlet's name,
compared in the matching form, so 濱州日報 finds 滨州日报). An article is in the
filter when its date (as the article or its file states it) falls in the
range and its source holds the name; an article without a date is left out by
a date filter, and the answer says how many were. The retriever then searches
only those articles, inside the stores, so the best sentence within the
filter is found.
"""

from __future__ import annotations

import calendar
import re
from functools import lru_cache
from dataclasses import dataclass
from typing import Iterable

from embeddings.text.normalize import normalize
from embeddings.types import Article
from qa.api import QuestionError

_DATE = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?$")


class ScopeError(QuestionError):
    """A filter that cannot be read (a date not written as YYYY, YYYY-MM or YYYY-MM-DD; since after until).

    A `QuestionError`: every entry point reports it as a question that cannot be asked as it stands.
    """


@lru_cache(maxsize=1024)  # every article's date, and the filter's, are read for each filtered question
def _bounds(text: str, what: str) -> tuple[str, str]:
    """The first and last day a date stands for: "2022" -> ("2022-01-01", "2022-12-31")."""
    found = _DATE.match(text.strip())
    if not found:
        raise ScopeError(f"{what} {text!r} is not a date: write YYYY, YYYY-MM or YYYY-MM-DD, e.g. 2022-08-14")
    year, month, day = int(found.group(1)), found.group(2), found.group(3)
    if month is None:
        return f"{year:04d}-01-01", f"{year:04d}-12-31"
    month = int(month)
    if not 1 <= month <= 12:
        raise ScopeError(f"{what} {text!r} has no month {month}")
    last = calendar.monthrange(year, month)[1]
    if day is None:
        return f"{year:04d}-{month:02d}-01", f"{year:04d}-{month:02d}-{last:02d}"
    if not 1 <= int(day) <= last:
        raise ScopeError(f"{what} {text!r} has no day {int(day)}")
    return (f"{year:04d}-{month:02d}-{int(day):02d}",) * 2


@dataclass(frozen=True)
class Scope:
    """A date and source filter; all empty means every article.

    Attributes:
        since: the first date included ("" for no lower bound).
        until: the last date included ("" for no upper bound).
        source: part of the source's name ("" for any source).
    """

    since: str = ""
    until: str = ""
    source: str = ""

    def __post_init__(self):
        first = _bounds(self.since, "since")[0] if self.since else ""
        last = _bounds(self.until, "until")[1] if self.until else ""
        if first and last and first > last:
            raise ScopeError(f"since {self.since} is after until {self.until}")

    def __bool__(self) -> bool:
        return bool(self.since or self.until or self.source)

    @property
    def dated(self) -> bool:
        return bool(self.since or self.until)

    def describe(self) -> str:
        """The filter in words, for notes: "since 2022, source 滨州"."""
        parts = [f"since {self.since}" if self.since else "", f"until {self.until}" if self.until else "",
                 f"source {self.source}" if self.source else ""]
        return ", ".join(part for part in parts if part)

    def admits(self, article: Article) -> bool:
        if self.source and normalize(self.source.strip()) not in normalize(article.source or ""):
            return False
        if not self.dated:
            return True
        if not article.date:
            return False
        try:
            first, last = _bounds(article.date, "the article's date")
        except ScopeError:
            return False
        return ((not self.since or last >= _bounds(self.since, "since")[0])
                and (not self.until or first <= _bounds(self.until, "until")[1]))


def scope_docs(scope: Scope, articles: Iterable[Article]) -> tuple[frozenset[str], int]:
    """The articles a filter lets in, and how many were left out only for having no date."""
    docs, undated = set(), 0
    for article in articles:
        if scope.admits(article):
            docs.add(article.doc)
        elif scope.dated and not article.date and Scope(source=scope.source).admits(article):
            undated += 1
    return frozenset(docs), undated
