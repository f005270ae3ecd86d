"""The same article twice in other formats: the page and the PDF printed of it are kept once."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import pytest

from conftest import SEEDS
from embeddings.text.read import load_corpus, read_article
from embeddings.text.duplicates import MIN_LENGTH_RATIO, NEAR_SHARE, DuplicateFinder, pieces
from test_formats import CHROMIUM, news_page, print_pdf, seed_lines


def _share(a: str, b: str) -> float:
    first, second = pieces(a), pieces(b)
    return len(first & second) / max(min(len(first), len(second)), 1)


def test_different_seed_articles_are_far_below_the_near_duplicate_share():
    texts = [read_article(path).text for path in sorted(SEEDS.glob("*.txt"))]
    worst = max(_share(a, b) for a, b in itertools.combinations(texts, 2))
    assert worst < 0.05 < NEAR_SHARE


def test_a_short_article_quoting_a_long_one_is_not_its_duplicate():
    long_text = read_article(SEEDS / "004_7ed03d3179984da0.txt").text
    finder = DuplicateFinder()
    finder.add("long.txt", long_text)
    quote = long_text.split("\n")[5]
    assert _share(quote, long_text) == 1.0 and len(pieces(quote)) < MIN_LENGTH_RATIO * len(pieces(long_text))
    assert finder.near(quote) is None
    assert finder.near(long_text + "\n网友评论：写得好！") == ("long.txt", 1.0)


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is installed by `make test`")
def test_the_page_and_its_pdf_are_one_article_in_the_corpus_and_on_add(tmp_path, stub_encoder):
    from embeddings.corpus.articles import add_articles
    from embeddings.corpus.build import build_index

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    seed = "004_7ed03d3179984da0.txt"
    page = corpus / "report.html"
    page.write_bytes(news_page("百色铝产业", seed_lines(seed)))
    print_pdf(page, corpus / "report.pdf")
    shutil.copy(SEEDS / "003_8edf2b04a933f642.txt", corpus)
    assert _share(read_article(page).text, read_article(corpus / "report.pdf").text) >= NEAR_SHARE
    assert [a.doc for a in load_corpus(corpus)] == ["003_8edf2b04a933f642.txt", "report.html"]

    index = tmp_path / "index"
    printed = tmp_path / "report.pdf"
    (corpus / "report.pdf").rename(printed)
    build_index(corpus, index, encoder=stub_encoder)
    report = add_articles([printed], corpus, index, encoder=stub_encoder)  # the PDF of the page indexed
    assert not report.added and not (corpus / "report.pdf").exists()
    (message,) = report.present
    assert message.startswith("report.pdf: nearly the same article as report.html (100% of its text)")
