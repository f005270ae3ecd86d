"""Anaphor copies: the question's place or organisation written in its sentences as news writes it."""

from __future__ import annotations

from qa.training.anaphor import ANAPHOR, anaphor_copies, anaphor_copy
from qa.training.train_selector import Candidate, Group
import random


def _group(question: str, right: str, wrong: str, answer: str, kind: str = "answerable") -> Group:
    return Group("drcd_dev", "a1", question, kind != "near-miss:place", (
        Candidate(right, "某文章", True, 0.6, True, answer=answer),
        Candidate(wrong, "某文章", False, 0.3, True)), kind=kind)


def test_the_place_is_replaced_in_every_sentence_and_the_labels_stay():
    group = _group("2022年百色市铝产业总产值是多少？", "2022年百色市铝产业总产值1045亿元。", "百色市位于广西西部。", "1045亿元")
    copy = anaphor_copy(group, random.Random(0))
    assert copy is not None and copy.kind == ANAPHOR and copy.answerable
    assert all("百色市" not in c.sentence for c in copy.candidates)
    assert copy.candidates[0].sentence.endswith("市铝产业总产值1045亿元。")
    assert copy.candidates[0].sentence[5:7] in ("全市", "该市", "本市")
    assert [c.right for c in copy.candidates] == [True, False]
    assert copy.candidates[0].title == "某文章" and copy.question == group.question


def test_no_copy_when_the_answer_holds_the_name_or_only_a_longer_word_does():
    asked_for = _group("哪家公司在百色市建厂？", "魏桥创业集团在百色市建厂。", "其他。", "魏桥创业集团")
    assert anaphor_copy(_group("魏桥创业集团在哪里建厂？", "魏桥创业集团在百色市建厂。", "其他。", "魏桥创业集团"),
                        random.Random(0)) is None
    assert anaphor_copy(asked_for, random.Random(0)) is not None  # 百色市 is not in the answer
    assert anaphor_copy(_group("日本的首都是哪里？", "日本的首都是东京。", "其他。", "东京"), random.Random(0)) is None


def test_only_answerable_chinese_questions_are_copied():
    groups = [_group("2022年百色市铝产业总产值是多少？", "2022年百色市铝产业总产值1045亿元。", "其他。", "1045亿元"),
              _group("2022年广元市铝产业总产值是多少？", "2022年百色市铝产业总产值1045亿元。", "其他。", "",
                     kind="near-miss:place")]
    copies = anaphor_copies(groups, seed=1)
    assert [c.question for c in copies] == [groups[0].question]
    assert anaphor_copies(groups, seed=1) == copies  # seeded
