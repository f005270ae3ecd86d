"""Property tests (hypothesis) of cleaning and splitting on prose-like generated articles.

The generated text mixes CJK runs, digits, punctuation, Latin words, inline
pinyin annotations such as 字(zì), real brackets, odd whitespace and
invisible characters, and several kinds of line breaks. It holds no page
furniture: its CJK characters are the seeds' characters minus every character
that any furniture rule of `embeddings.text.clean` mentions, so no generated line
can be furniture and every CJK character must survive cleaning.

Properties:
- origin map: `raw[origin[i]] == text[i]`, except that a "\\n" of the cleaned
  text may map to another raw line break ("\\r" alone, "\\u2028", ...); origins
  strictly increase.
- nothing is lost: the lines of the cleaned text that hold CJK are exactly
  the generated lines, annotations and invisible characters removed,
  whitespace runs tidied, a repeated line kept once.
- sentences slice the cleaned text exactly, lie inside their paragraph,
  never overlap, are ordered, are at most MAX_SENTENCE_CHARS long, and leave
  only whitespace of the paragraph outside them; passages are runs of whole
  consecutive sentences of one paragraph.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import embeddings.text.clean as clean_module
from embeddings.text.clean import clean_text
from embeddings.text.split import (
    MAX_SENTENCE_CHARS,
    is_cjk,
    segment_articles,
    split_paragraphs,
    split_sentences,
)
from embeddings.types import Article

ROOT = Path(__file__).resolve().parents[3]
_FURNITURE_CHARS = {ch for ch in Path(clean_module.__file__).read_text(encoding="utf-8") if is_cjk(ch)}
CJK = sorted({ch for p in (ROOT / "seeds").glob("*.txt") for ch in p.read_text(encoding="utf-8") if is_cjk(ch)}
             - _FURNITURE_CHARS)
LINE_BREAKS = ("\n", "\n", "\n", "\r\n", "\r", "\n\n", "\r\r\n", "\n \n", "\u2028", "\u2029", "\x0c", "\x85")
# Toned pinyin readings: always annotations, whatever precedes them.
READINGS = ("zì", "wǎng", "chǎn yè", "lǚ", "xiàn", "zhōng", "bǎi sè", "guó")
PUNCTUATION = list("，。、；：！？“”…—,.;:!?%·")
LATIN = ("LME", "GDP", "Al", "iPhone", "e5", "CO2", "A")
SPACES = (" ", "  ", "\u3000", "\t", " \u3000 ", "\xa0", "\x1f")
INVISIBLE = ("\u200b", "\ufeff", "\u2060")


def _tidy_key(line: str) -> str:
    """What clean_text makes of a line: trimmed, each whitespace run to one character."""
    return re.sub(r"\s+", lambda m: " " if " " in m.group() else m.group()[0], line.strip())


cjk_runs = st.text(alphabet=st.sampled_from(CJK), min_size=1, max_size=8)


@st.composite
def token(draw) -> tuple[str, str]:
    """One piece of a line: (raw text, what cleaning must leave of it)."""
    kind = draw(st.sampled_from(
        ["cjk"] * 6 + ["annotated"] * 2 + ["digits", "punct", "punct", "latin", "space", "bracket", "invisible"]))
    if kind == "cjk":
        run = draw(cjk_runs)
        return run, run
    if kind == "annotated":
        run = draw(cjk_runs)
        left, right = draw(st.sampled_from([("(", ")"), ("（", "）")]))
        return f"{run}{left}{draw(st.sampled_from(READINGS))}{right}", run
    if kind == "digits":
        number = draw(st.sampled_from(["2022", "1045", "50.1", "1,300", "7", "0.5", "2017-2025"]))
        return number, number
    if kind == "punct":
        mark = draw(st.sampled_from(PUNCTUATION))
        return mark, mark
    if kind == "latin":
        word = draw(st.sampled_from(LATIN))
        return word, word
    if kind == "space":
        space = draw(st.sampled_from(SPACES))
        return space, space
    if kind == "bracket":
        left, right = draw(st.sampled_from([("（", "）"), ("【", "】"), ("「", "」"), ("“", "”")]))
        run = draw(cjk_runs)
        return f"{left}{run}{right}", f"{left}{run}{right}"
    mark = draw(st.sampled_from(INVISIBLE))
    return mark, ""


@st.composite
def article(draw) -> tuple[str, list[str]]:
    """A raw article and, for each of its lines, the line cleaning must keep."""
    lines = draw(st.lists(st.lists(token(), max_size=60), min_size=1, max_size=12))
    # A line repeated verbatim (the "body printed twice" case) now and then.
    if len(lines) > 1 and draw(st.booleans()):
        lines.append(lines[draw(st.integers(0, len(lines) - 1))])
    raw_parts, expected = [], []
    for number, tokens in enumerate(lines):
        if number:
            raw_parts.append(draw(st.sampled_from(LINE_BREAKS)))
        raw_parts.append("".join(raw for raw, _ in tokens))
        expected.append(_tidy_key("".join(kept for _, kept in tokens)))
    return "".join(raw_parts), expected


# ALUQA_PROPERTY_EXAMPLES=2000 searches deeper (minutes instead of seconds).
EXAMPLES = int(os.environ.get("ALUQA_PROPERTY_EXAMPLES", "100"))
PROPERTY_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None,
                             suppress_health_check=[HealthCheck.too_slow])


def test_the_alphabet_is_large_and_free_of_furniture_words():
    assert len(CJK) > 500
    assert not {"来", "源", "编", "辑", "年", "月", "日", "版", "权"} & set(CJK)


@PROPERTY_SETTINGS
@given(article())
def test_origin_maps_every_cleaned_character_back(case):
    raw, _ = case
    result = clean_text(raw)
    assert len(result.origin) == len(result.text)
    for i, (o, ch) in enumerate(zip(result.origin, result.text)):
        if ch == "\n":
            # Documented exception: a paragraph break maps to the raw break
            # that ended the previous kept line, which need not be a "\n".
            assert raw[o] in "\n" + clean_module._BREAKS, (i, repr(raw[o]))
        else:
            assert raw[o] == ch, (i, ch, raw[o])
    assert all(a < b for a, b in zip(result.origin, result.origin[1:])), "origins strictly increase"


@PROPERTY_SETTINGS
@given(article())
def test_no_cjk_character_is_dropped_except_annotations(case):
    raw, expected = case
    text = clean_text(raw).text
    unique = list(dict.fromkeys(line for line in expected if line))
    want = [line for line in unique if any(is_cjk(ch) for ch in line)]
    got = [line for line in text.split("\n") if any(is_cjk(ch) for ch in line)]
    assert got == want
    # Lines without CJK (digits, Latin, punctuation) may be dropped as
    # furniture (e.g. a line of only "。,"), but never invented or altered.
    assert set(text.split("\n")) <= set(unique) | {""}
    assert "\n\n" not in text and text == text.strip()


def _check_segmentation(text: str) -> None:
    art = Article(doc="a.txt", title="", source="", date="", text=text, content_hash="0")
    sentences, passages = segment_articles([art])
    paragraphs = split_paragraphs(text)
    by_paragraph: dict[int, list] = {}
    for s in sentences:
        assert s.text == text[s.start:s.end] != ""
        assert s.text == s.text.strip() and "\n" not in s.text
        assert s.end - s.start <= MAX_SENTENCE_CHARS
        p_start, p_end = paragraphs[s.paragraph - 1]
        assert p_start <= s.start < s.end <= p_end
        by_paragraph.setdefault(s.paragraph, []).append(s)
    assert [s.id for s in sentences] == list(range(len(sentences)))
    for number, (p_start, p_end) in enumerate(paragraphs, start=1):
        spans = [(s.start, s.end) for s in by_paragraph.get(number, [])]
        assert spans == split_sentences(text, p_start, p_end)
        last = p_start
        for a, b in spans:
            assert last <= a, "ordered, not overlapping"
            assert text[last:a].strip() == "", "only whitespace between sentences"
            last = b
        assert text[last:p_end].strip() == ""
    for passage in passages:
        members = [sentences[i] for i in passage.sentence_ids]
        assert members and list(passage.sentence_ids) == list(range(members[0].id, members[-1].id + 1))
        assert passage.start == members[0].start and passage.end == members[-1].end
        assert passage.text == text[passage.start:passage.end]
        assert all(s.passage == passage.id and s.paragraph == passage.paragraph for s in members)
    assert sum(len(p.sentence_ids) for p in passages) == len(sentences)


@PROPERTY_SETTINGS
@given(article())
def test_sentences_and_passages_slice_the_cleaned_text(case):
    raw, _ = case
    _check_segmentation(clean_text(raw).text)


@settings(max_examples=2 * EXAMPLES, deadline=None, database=None)
@given(st.lists(st.sampled_from(list("鋁產業铝吗多少。！？；;!?.．｡…⋯”’」)】》 \u3000\n\t1.5%,，qūAb") + ["...", "Yahoo", "?!"]),
                max_size=400).map("".join))
def test_segmentation_of_raw_punctuation_soup(text):
    # split_sentences is also called on text clean_text never made (titles).
    _check_segmentation(text)


@settings(max_examples=EXAMPLES // 2, deadline=None, database=None)
@given(st.lists(st.sampled_from(CJK[:200] + ["，", ",", "1.5", "959.33", "abc"]), min_size=200, max_size=900))
def test_long_sentences_are_cut_into_pieces_that_cover_them(pieces):
    _check_segmentation("".join(pieces) + "。")
