"""The ranker's string features."""

from __future__ import annotations

import random

import pytest

from qa.ranker import _content_chars, longest_common_substring


def _dynamic_programming(a: str, b: str) -> int:
    """The textbook table: the longest common suffix of every pair of prefixes."""
    a, b = _content_chars(a), _content_chars(b)
    best, previous = 0, [0] * (len(a) + 1)
    for ch in b:
        current = [0] * (len(a) + 1)
        for i, other in enumerate(a, start=1):
            if other == ch:
                current[i] = previous[i - 1] + 1
                best = max(best, current[i])
        previous = current
    return best


@pytest.mark.parametrize("a, b, expected", [
    ("2022年百色市铝产业总产值是多少？", "2022年,全市铝产业总产值1045亿元,占广西铝产业的80%以上", 7),  # 市铝产业总产值
    ("", "铝产业", 0),
    ("铝", "", 0),
    ("，。！", "，。！", 0),  # punctuation is not content
    ("abcabc", "xxabcabcyy", 6),
    ("产值", "产业总产值", 2),
])
def test_longest_common_substring_of_known_pairs(a, b, expected):
    assert longest_common_substring(a, b) == expected == longest_common_substring(b, a)


def test_longest_common_substring_equals_the_dynamic_programming_table():
    rng = random.Random(7)
    alphabet = "铝产业值亿元年12ab"  # few symbols: many partial matches, repeats and ties
    for _ in range(2000):
        a = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        b = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120)))
        assert longest_common_substring(a, b) == _dynamic_programming(a, b), (a, b)
