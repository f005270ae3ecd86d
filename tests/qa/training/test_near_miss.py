"""Near-miss questions made from training questions: what they replace, and that their label is safe."""

import random

import pytest

from qa.training.near_miss import NUMBER, PLACE, YEAR, lexicon, make_near_miss, mentions, near_misses


def test_mentions_find_years_numbers_and_names():
    found = {(m.kind, m.text) for m in mentions("2019年北京市有多少家企业？")}
    assert (YEAR, "2019") in found and (PLACE, "北京市") in found
    assert (NUMBER, "3") in {(m.kind, m.text) for m in mentions("第3届大会在哪里举行？")}
    # Months, days and English ordinals are not numbers to replace.
    assert not [m for m in mentions("9月5日发生了什么？") if m.kind == NUMBER]
    assert {(m.kind, m.text) for m in mentions("Who won Super Bowl 50 in 2016?")} == {(NUMBER, "50"), (YEAR, "2016")}


@pytest.mark.parametrize("seed", range(20))
def test_a_near_miss_names_something_its_passage_does_not_hold(seed):
    items = [("a1", "2019年上海的人口是多少？", "2019年上海的人口为2428万。"),
             ("a2", "2008年北京举办了什么？", "2008年北京举办了奥运会。"),
             ("a3", "1998年长江发生了什么？", "1998年长江发生了洪水。")]
    table = lexicon((article, question) for article, question, _ in items)
    article, question, passage = items[0]
    miss = make_near_miss(question, article, passage, table, random.Random(seed))
    assert miss is not None
    assert miss.value not in items[0][2] and miss.question != items[0][1]
    assert miss.value in ("2008", "1998", "北京", "长江")  # only from other articles' questions
    assert miss.question.replace(miss.value, miss.replaced, 1) == items[0][1]


def test_no_near_miss_when_every_replacement_is_in_the_passage():
    items = [("a1", "2019年的人口是多少？", "2019年人口增加,2008年减少。"), ("a2", "2008年发生了什么？", "")]
    table = lexicon((a, q) for a, q, _ in items)
    article, question, passage = items[0]
    assert make_near_miss(question, article, passage, table, random.Random(0)) is None


def test_near_misses_are_seeded():
    items = [(f"a{i}", f"{2000 + i}年发生了什么？", "") for i in range(30)]
    assert near_misses(items, 0.5, 7) == near_misses(items, 0.5, 7)
    assert 0 < len(near_misses(items, 0.5, 7)) < 30
