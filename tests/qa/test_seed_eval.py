"""The seed QA dev set, answered by the real system exactly as users get it."""

import pytest

from conftest import load_seed_qa
from qa.training.evaluate import evaluate_seed_qa


@pytest.fixture(scope="module")
def seed_report(real_qa):
    return evaluate_seed_qa(real_qa.ask, load_seed_qa())


@pytest.mark.slow
def test_answerable_questions_get_the_right_sentence(seed_report):
    figures = seed_report.figures()
    misses = [(i.id, i.question, i.sentence) for i in seed_report.answerable if not i.correct]
    assert figures["answerable_accuracy"] >= 0.85, misses
    # Measured 35/35 on this set; the margin above guards against an
    # unnoticed drop while tuning on other data, not against noise.
    assert figures["false_refusals"] <= 1, misses


@pytest.mark.slow
def test_unanswerable_questions_are_refused(seed_report):
    wrong = [(i.id, i.question, i.sentence) for i in seed_report.unanswerable if not i.correct]
    assert seed_report.figures()["unanswerable_refused"] >= 4, wrong
