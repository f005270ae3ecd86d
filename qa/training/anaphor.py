"""Answerable questions whose sentences name their place or organisation only by a pronoun-like word.

News sentences leave their subject to the paragraph: "2022年，全市铝产业总产值
1045亿元" answers a question about 百色市 although only the title and the
paragraph before name the city. The training files are encyclopaedic, and
their gold sentences mostly repeat the name a question asks about, so a
reader trained on them (and on near misses that swap that name) may learn to
distrust a sentence that does not name it.

An anaphor copy is made from an answerable Chinese training question that
names a place or organisation (jieba ns / nt, two characters or more) which
its right sentence also names: in every candidate sentence the question is
read with, that name is replaced by what news writes instead ("全市", "该市",
"当地", "该公司"); the labels stay (the right sentence still answers). The
title is kept as it is, as a news article's title keeps the name. Copies are
never made when the gold span holds the name (the answer would be lost).
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qa.training.train_selector import Group

ANAPHOR = "anaphor"  # the kind of a copy
# What stands for a place by its last character (its kind): the whole city, this city, the city itself.
_PLACE_WORDS = {suffix: (f"全{suffix}", f"该{suffix}", f"本{suffix}") for suffix in "市省县州"}
_ORGANISATION_ENDINGS = ("集团", "公司", "大学", "银行", "协会", "学院", "医院", "委员会")


def _names(question: str) -> list[tuple[str, str]]:
    """(name, "ns" or "nt") of the places and organisations a question names, longest first.

    Only names whose ending says what they are (百色市, 魏桥创业集团): a news
    sentence replaces those by "全市" or "该公司"; for other names (日本, 共产党)
    no stand-in keeps the sentence's meaning.
    """
    found = {(word, flag) for word, flag in _words(question) if _kind_word(word, flag)}
    return sorted(found, key=lambda item: -len(item[0]))


def _words(text: str) -> list[tuple[str, str]]:
    from qa.question import _posseg

    return [(pair.word, pair.flag) for pair in _posseg().cut(text)]


def _kind_word(word: str, flag: str) -> bool:
    if flag == "ns":
        return len(word) >= 3 and word[-1] in _PLACE_WORDS
    return flag.startswith("n") and len(word) > 2 and word.endswith(_ORGANISATION_ENDINGS)


def _stand_in(name: str, flag: str, rng: random.Random) -> str:
    """What a news sentence writes instead of the name."""
    if flag == "ns":
        return rng.choice(_PLACE_WORDS[name[-1]])
    ending = next(e for e in _ORGANISATION_ENDINGS if name.endswith(e))
    return rng.choice((f"该{ending}", ending))


def anaphor_copy(group: "Group", rng: random.Random) -> "Group | None":
    """The group with its name replaced in every candidate sentence, or None when none qualifies."""
    right = [c for c in group.candidates if c.right]
    for name, flag in _names(group.question):
        if any(name in c.answer for c in right) or not any(
                name in (word for word, _ in _words(c.sentence)) for c in right):
            continue  # the answer holds it, or the right sentence has it only inside a longer word
        word = _stand_in(name, flag, rng)
        candidates = tuple(replace(c, sentence=c.sentence.replace(name, word)) for c in group.candidates)
        return replace(group, candidates=candidates, kind=ANAPHOR)
    return None


def anaphor_copies(groups: list["Group"], seed: int) -> list["Group"]:
    """Anaphor copies of every answerable Chinese question that allows one (the stand-in word seeded).

    Few questions allow one (about 4 % of the training files' answerable Chinese
    questions), so all of them are used.
    """
    from qa.training.train_selector import ANSWERABLE

    rng = random.Random(seed)
    copies = []
    for group in groups:
        if group.kind != ANSWERABLE or group.english:
            continue
        copy = anaphor_copy(group, rng)
        if copy is not None:
            copies.append(copy)
    return copies
