"""Tests for embeddings.text.split: paragraphs, sentences, passages, corpus-wide ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embeddings.text.clean import clean_article
from embeddings.text.split import (
    MAX_SENTENCE_CHARS,
    make_passages,
    segment_articles,
    split_paragraphs,
    split_sentences,
)

ROOT = Path(__file__).resolve().parents[3]
SEED_FILES = sorted((ROOT / "seeds").glob("*.txt"))
DEV_QA = ROOT.parent / "shared" / "eval" / "seed_qa_dev.jsonl"


def _texts(text: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text)]


@pytest.fixture(scope="module")
def corpus():
    articles = [clean_article(p.read_text(encoding="utf-8"), p.name) for p in SEED_FILES]
    sentences, passages = segment_articles(articles)
    return articles, sentences, passages


def test_split_paragraphs():
    text = "一段。\n 二段 \n\n三段"
    assert [text[a:b] for a, b in split_paragraphs(text)] == ["一段。", "二段", "三段"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("甲。乙！丙？丁；戊;己", ["甲。", "乙！", "丙？", "丁；", "戊;", "己"]),
        ("他說:“好。”然後走了。", ["他說:“好。”", "然後走了。"]),
        ("（見附件。）下文。", ["（見附件。）", "下文。"]),
        ("氧化铝产量959.33万吨,约占全国的11.38%。下句", ["氧化铝产量959.33万吨,约占全国的11.38%。", "下句"]),
        ("增值率高于1.5的企业,每提高0.5,增加5个百分点。", ["增值率高于1.5的企业,每提高0.5,增加5个百分点。"]),
        ("It is 5. Next one. Done", ["It is 5.", "Next one.", "Done"]),
        ("见 www.example.com 网站。", ["见 www.example.com 网站。"]),
        ("真的……是的…好", ["真的……", "是的…", "好"]),
        ("目标是完全能夠?qū實現的。二是", ["目标是完全能夠?qū實現的。", "二是"]),
        ("路在何方?围绕价值链。", ["路在何方?", "围绕价值链。"]),
        ("這是A?B型號!C型號。", ["這是A?B型號!C型號。"]),
        ("什麼?! 好。", ["什麼?!", "好。"]),
        ("第一行\n第二行", ["第一行", "第二行"]),
        ("  前後空白。  ", ["前後空白。"]),
        ("", []),
        ("  \n ", []),
    ],
)
def test_split_sentences(text, expected):
    assert _texts(text) == expected


def test_split_sentences_range_offsets():
    text = "前文。甲句。乙句。後文。"
    spans = split_sentences(text, 3, 9)
    assert [text[a:b] for a, b in spans] == ["甲句。", "乙句。"]


def test_long_sentence_is_cut_at_commas():
    text = ",".join(["鋁產業發展很快"] * 60) + "。"
    spans = split_sentences(text)
    assert len(spans) > 1
    assert all(b - a <= MAX_SENTENCE_CHARS for a, b in spans)
    assert all(text[b - 1] in ",。" for a, b in spans)
    assert "".join(text[a:b] for a, b in spans) == text


def test_long_sentence_without_commas_keeps_numbers_whole():
    text = "鋁" * 245 + "959.33萬噸" + "鋁" * 200
    spans = split_sentences(text)
    assert all(b - a <= MAX_SENTENCE_CHARS for a, b in spans)
    assert any("959.33" in text[a:b] for a, b in spans)


def test_make_passages():
    spans = [(0, 100), (100, 250), (250, 280), (280, 700), (700, 720)]
    assert make_passages(spans, max_chars=300) == [(0, 3), (3, 4), (4, 5)]
    assert make_passages([]) == []


def test_seed_offsets_and_links(corpus):
    articles, sentences, passages = corpus
    text_of = {a.doc: a.text for a in articles}
    assert [s.id for s in sentences] == list(range(len(sentences)))
    assert [p.id for p in passages] == list(range(len(passages)))
    for s in sentences:
        assert text_of[s.doc][s.start:s.end] == s.text and s.text.strip() == s.text and s.text
        assert "\n" not in s.text and len(s.text) <= MAX_SENTENCE_CHARS
        assert s.id in passages[s.passage].sentence_ids
        assert passages[s.passage].paragraph == s.paragraph
    for p in passages:
        assert text_of[p.doc][p.start:p.end] == p.text and "\n" not in p.text
        assert p.sentence_ids == tuple(range(p.sentence_ids[0], p.sentence_ids[-1] + 1))
        assert len(p.text) <= 300 or len(p.sentence_ids) == 1
    docs = [s.doc for s in sentences]
    assert docs == sorted(docs)  # article order
    for a in articles:
        numbers = {s.paragraph for s in sentences if s.doc == a.doc}
        assert numbers == set(range(1, len(split_paragraphs(a.text)) + 1))


def test_seed_sentences_keep_figures(corpus):
    _, sentences, _ = corpus
    texts = [s.text for s in sentences]
    for needle in ("959.33万吨", "11.38%", "172.43万吨", "85.6億元", "31.2%", "50.1%", "1.5的企业"):
        assert sum(needle in t for t in texts) == 1, needle
    assert sum("占全区78.6这一组组" in t for t in texts) == 1
    mojibake = [t for t in texts if "?qū" in t]
    assert len(mojibake) == 1 and "5000億元產值的目標是完全能夠" in mojibake[0]


def test_dev_answers_land_in_one_sentence(corpus):
    if not DEV_QA.exists():
        pytest.skip(f"{DEV_QA} not found (the shared eval set is outside the repo)")
    _, sentences, _ = corpus
    items = [json.loads(line) for line in DEV_QA.read_text(encoding="utf-8").splitlines() if line.strip()]
    missing = []
    for item in items:
        if not item.get("doc"):
            continue  # unanswerable
        for needle in item["must_contain"]:
            if not any(s.doc == item["doc"] and needle in s.text for s in sentences):
                missing.append((item["id"], needle))
    assert not missing


@settings(max_examples=80, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("鋁產業。！？；;!?.…”)( \n1.5%qūA,，")), max_size=120))
def test_sentence_spans_property(text):
    spans = split_sentences(text)
    last = 0
    for a, b in spans:
        assert last <= a < b and text[a:b].strip() == text[a:b]
        assert "\n" not in text[a:b]
        last = b
