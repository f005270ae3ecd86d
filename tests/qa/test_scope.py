"""Questions limited by date and source: the filter's dates, and the best sentence inside the filter
from the local index and from Milvus Lite."""

from __future__ import annotations

import pytest

from embeddings.types import Article
from qa.scope import Scope, ScopeError, scope_docs

QUESTION = "2022年百色市铝产业总产值是多少？"


def _article(doc: str, date: str = "", source: str = "") -> Article:
    return Article(doc=doc, title="t", source=source, date=date, text="x", content_hash="h")


def test_dates_are_ranges_and_both_ends_are_included():
    articles = [_article("a", "2021-01-22"), _article("b", "2022-08"), _article("c", "2023-08-02"), _article("d")]
    assert scope_docs(Scope(since="2022"), articles) == (frozenset({"b", "c"}), 1)
    assert scope_docs(Scope(until="2022-08-01"), articles) == (frozenset({"a", "b"}), 1)  # a month overlaps
    assert scope_docs(Scope(since="2021-01-22", until="2021-01-22"), articles)[0] == {"a"}
    assert scope_docs(Scope(), articles) == (frozenset("abcd"), 0)


def test_a_source_is_matched_in_either_script_and_case():
    articles = [_article("a", source="滨州日报"), _article("b", source="中國有色金屬報"), _article("c", source="Reuters")]
    assert scope_docs(Scope(source="濱州"), articles)[0] == {"a"}
    assert scope_docs(Scope(source="有色金属"), articles)[0] == {"b"}
    assert scope_docs(Scope(source="reuters"), articles)[0] == {"c"}


@pytest.mark.parametrize("kwargs, words", [({"since": "2022-13"}, "no month 13"), ({"until": "yesterday"}, "not a date"),
                                           ({"since": "2023", "until": "2022"}, "is after"),
                                           ({"since": "2023-02-30"}, "no day 30")])
def test_an_unreadable_filter_is_a_question_error(kwargs, words):
    from qa import QuestionError

    with pytest.raises(ScopeError, match=words) as info:
        Scope(**kwargs)
    assert isinstance(info.value, QuestionError)


def _filtered_answers(qa):
    within = qa.ask(QUESTION, source="滨州")  # only 003 (滨州日报): the best sentence there
    dated = qa.ask(QUESTION, since="2023")
    nothing = qa.ask(QUESTION, since="2030")
    return within, dated, nothing


def _check(qa, within, dated, nothing):
    allowed = {a.doc for a in qa.index.iter_articles() if "滨州" in a.source}
    assert within.citation is None or within.citation.doc in allowed
    for passage in within.passages:
        assert passage.doc in allowed, "the passages shown come from inside the filter too"
    assert "within the filter (source 滨州" in within.note
    assert dated.found and dated.citation.doc == "004_7ed03d3179984da0.txt"
    assert "articles without a date were left out by the date filter" in dated.note
    assert not nothing.found and "the filter may be why" in nothing.note and not nothing.passages


def test_a_filtered_question_gets_the_best_sentence_inside_the_filter_local(stub_qa):
    within, dated, nothing = _filtered_answers(stub_qa)
    _check(stub_qa, within, dated, nothing)
    # Inside the filter the search itself is limited: the best sentence of 003 for a question about 滨州.
    best = stub_qa.ask("滨州铝业2020年营业收入是多少？", source="滨州日报")
    assert best.found and best.citation.doc == "003_8edf2b04a933f642.txt"


@pytest.mark.slow
def test_a_filtered_question_gets_the_best_sentence_inside_the_filter_milvus(tmp_path, stub_qa, stub_encoder):
    from conftest import SEEDS
    from embeddings.corpus.build import build_index
    from qa import QA

    uri = str(tmp_path / "seeds.db")
    build_index(SEEDS, tmp_path / "unused", encoder=stub_encoder, store=f"milvus:{uri}")
    milvus = QA(settings=stub_qa.settings.with_(store=f"milvus:{uri}"), encoder=stub_encoder)
    answers = _filtered_answers(milvus)
    _check(milvus, *answers)
    local = _filtered_answers(stub_qa)
    assert [(a.found, a.sentence) for a in answers] == [(a.found, a.sentence) for a in local]


def test_filtered_questions_asked_at_once_count_the_articles_once(stub_index_dir, stub_encoder):
    from concurrent.futures import ThreadPoolExecutor

    from qa import QA, Settings

    qa = QA(stub_index_dir, settings=Settings(dense_band=(0.3, 0.7), selector="off"), encoder=stub_encoder)
    with ThreadPoolExecutor(max_workers=8) as pool:
        notes = list(pool.map(lambda _: qa.ask(QUESTION, since="2023").note, range(16)))
    assert len(set(notes)) == 1 and notes[0].startswith("2 articles without a date were left out")
