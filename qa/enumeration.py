"""Follow-ups that ask for another item of a list: "第二条呢？", "最后一点呢？", "还有哪些问题？", "the third one?".

Articles list things in two ways: numbered items, one or a few sentences
each (一是…二是…, 首先…其次…最后, 第一…第二…, （一）…（二）…), and inline lists
inside one sentence (精深加工能力较弱、产品附加值较低、终端产品较少等问题). A
follow-up of this kind asks for an item of the list the previous answer
belongs to, so it is answered from the sentences of that answer's article,
not by searching the corpus: `asked_item` reads which item the follow-up
wants, `item_sentence` finds the sentence that holds it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from embeddings.text.normalize import normalize
from embeddings.types import Sentence

NEXT = 0  # the item after the previous answer's ("还有哪些？", "what else?")
LAST = -1  # the list's last item ("最后一点呢？")

_CN_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_NUMERAL = r"[一二两三四五六七八九十\d]{1,3}"
# What an item is called after its ordinal (第二[条], 最后一[点]); a noun of up to four characters may follow.
_CLASSIFIER = r"(?:条|点|项|个|方面|部分|步|件|种|类|方针|措施|要求|任务)?"
_ASKING_END = r"(?:呢|是什么|是啥|是哪一?[条点项个]|有哪些|讲的是什么|说的是什么|内容是什么|指什么)?"
_END = r"[\s?？。.!！]*$"
_LEAD = r"^(?:那么?|那个|还有|另外|and|so)?[\s,，]*"
# Ordinal follow-ups in the matching form (simplified script): 第二条呢, 第5点是什么, 最后一点呢.
_ZH_ORDINAL = re.compile(rf"{_LEAD}(?:第\s*({_NUMERAL})|(最后|末))\s*一?\s*{_CLASSIFIER}"
                         rf"([\u4e00-\u9fff]{{0,4}}?){_ASKING_END}{_END}")
# "Other items" follow-ups: 还有哪些问题, 除此之外还有哪些, 另外那只基金呢, 其他的呢, 下一条呢.
_ZH_OTHERS = re.compile(rf"{_LEAD}(?:除此之外|除此以外|除了这些|除了这个|此外)?[\s,，]*"
                        r"(?:还有|另外|其他|其它|别的|下一)\s*(?:的|那|这)?\s*"
                        r"(?:哪些|什么|哪[个条点项只家]|一?[个条点项只家些])?"
                        rf"([\u4e00-\u9fff]{{0,4}}?){_ASKING_END}{_END}")
_EN_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
                "eighth": 8, "ninth": 9, "tenth": 10, "last": LAST, "final": LAST, "next": NEXT}
_EN_ORDINAL = re.compile(r"^\s*(?:(?:and|so|then|ok|okay)[\s,]+)?(?:(?:what|how)\s+about|what(?:'s|\s+is|\s+was)"
                         r"|and)?\s*the\s+(" + "|".join(_EN_ORDINALS) + r")(?:\s+(?:one|item|point|task|measure|"
                         r"step|thing|part|requirement|area|aspect|problem|issue)s?)?\s*[?.!]*\s*$", re.IGNORECASE)
_EN_OTHERS = re.compile(r"^\s*(?:(?:and|so|then)[\s,]+)?(?:what\s+else|anything\s+else|(?:and\s+)?(?:the\s+)?others?"
                        r"|what\s+(?:are|were)\s+the\s+others?)\b[^?]{0,30}[?.!]*\s*$", re.IGNORECASE)

# Item markers in an article's matching form, at the start of a sentence or of one of its clauses:
# 一是/二是, 第一/第二, （一）/(二), 一、/二、, 1、/2. — and 首先/其次/再次/最后 for lists without numbers.
_MARKER = re.compile(rf"(?:^|[,，:：;；。、])\s*(?:(?P<shi>{_NUMERAL})是|第(?P<di>{_NUMERAL})(?=[,，、:：是])"
                     rf"|[(（](?P<paren>{_NUMERAL})[)）]|(?P<dun>{_NUMERAL})[、.．](?!\d)"
                     r"|(?P<word>首先|其次|再次|最后))")
_WORD_ORDER = {"首先": 1, "其次": 2, "再次": 3}
# An inline list: three items or more, separated by 、 (or two and 等 after them).
_INLINE_LIST = re.compile(r"[^、,，;；。]+、[^、,，;；。]+(?:、[^、,，;；。]+|等)")


@dataclass(frozen=True)
class AskedItem:
    """Which item of the previous answer's list a follow-up asks for.

    Attributes:
        number: 1, 2, ... for an ordinal; `LAST` for the last item; `NEXT` for the item after the previous answer's.
        noun: what the follow-up calls the items ("问题" in 还有哪些问题), "" when it names none.
    """

    number: int
    noun: str = ""


def _number(text: str) -> int:
    """A numeral of up to 99 as an int: "二" -> 2, "十二" -> 12, "二十" -> 20, "12" -> 12; 0 when unreadable."""
    if text.isdigit():
        return int(text)
    if "十" in text:
        tens, _, units = text.partition("十")
        if len(tens) > 1 or len(units) > 1:
            return 0
        return (_CN_DIGITS.get(tens, 0) if tens else 1) * 10 + (_CN_DIGITS.get(units, 0) if units else 0)
    return _CN_DIGITS.get(text, 0) if len(text) == 1 else 0


def asked_item(question: str) -> AskedItem | None:
    """The list item a follow-up asks for, or None when it asks for something else.

    Only questions that are nothing but the item request count ("第二条呢？",
    "最后一点是什么？", "还有哪些问题？", "the third one?"): "第二条措施的投资是多少？"
    asks about the item, not for it, and goes through the other follow-up rules.
    """
    english = _EN_ORDINAL.match(question)
    if english:
        return AskedItem(_EN_ORDINALS[english.group(1).lower()])
    if _EN_OTHERS.match(question):
        return AskedItem(NEXT)
    match = normalize(question)
    ordinal = _ZH_ORDINAL.match(match)
    if ordinal:
        number = LAST if ordinal.group(2) else _number(ordinal.group(1))
        return AskedItem(number, ordinal.group(3)) if number else None
    others = _ZH_OTHERS.match(match)
    if others:
        return AskedItem(NEXT, others.group(1))
    return None


@dataclass(frozen=True)
class _Marker:
    position: int  # index of the sentence in the article
    number: int
    style: str  # which kind of marker: items of one list share it


def _markers(sentences: Sequence[Sentence]) -> list[_Marker]:
    """Every item marker of the article, in text order."""
    found = []
    for position, sentence in enumerate(sentences):
        for marker in _MARKER.finditer(normalize(sentence.text)):
            style = marker.lastgroup
            value = marker.group(style)
            number = _WORD_ORDER.get(value, LAST) if style == "word" else _number(value)
            if number:
                found.append(_Marker(position, number, style))
    return found


def _lists(sentences: Sequence[Sentence]) -> list[list[_Marker]]:
    """The numbered lists of an article: runs of markers of one style counting 1, 2, 3 ... (首先…其次…最后
    ends with its 最后). A run may go on in later paragraphs (an item a paragraph), as numbering that
    goes on is what makes a list; a new list starts at 1."""
    lists: list[list[_Marker]] = []
    for marker in _markers(sentences):
        current = lists[-1] if lists else None
        follows = (current is not None and current[-1].style == marker.style and current[-1].number != LAST
                   and (marker.number == current[-1].number + 1 or (marker.style == "word" and marker.number == LAST)))
        if follows:
            current.append(marker)
        elif marker.number == 1:
            lists.append([marker])
    return [found for found in lists if len(found) >= 2]


def _list_of(sentences: Sequence[Sentence], at: int) -> tuple[list[_Marker], int] | None:
    """The numbered list the sentence at `at` belongs to, with the number of its item there (0: it introduces it).

    A sentence belongs to a list from the list's first item to the end of the
    paragraph of its last item (an item may run on over several sentences);
    a sentence before a list in its own paragraph, or right before it, introduces it ("他要求，一是…").
    """
    paragraph = sentences[at].paragraph
    for found in _lists(sentences):
        first, last = found[0].position, found[-1].position
        end = last
        while end + 1 < len(sentences) and sentences[end + 1].paragraph == sentences[last].paragraph:
            end += 1
        if first <= at <= end:
            number = max(marker.number if marker.number != LAST else len(found)
                         for marker in found if marker.position <= at)
            return found, number
        if at < first and (sentences[first].paragraph == paragraph or first == at + 1):
            return found, 0
    return None


def item_sentence(sentences: Sequence[Sentence], at: int, item: AskedItem) -> Sentence | None:
    """The sentence holding the asked item of the list the sentence at `at` (the previous answer) belongs to.

    Args:
        sentences: the article's sentences, in text order (`segment_articles`).
        at: the index in `sentences` of the previous answer.
        item: what the follow-up asks for (`asked_item`).

    Returns:
        The item's sentence; for `NEXT` outside a numbered list, the previous
        answer itself when it holds an inline list (the rest of that list is
        the answer) and, if the follow-up names its items, names them too;
        None when the article has no such item.
    """
    belongs = _list_of(sentences, at)
    if belongs is not None:
        found, current = belongs
        wanted = current + 1 if item.number == NEXT else len(found) if item.number == LAST else item.number
        for marker in found:
            if marker.number == wanted or (marker.number == LAST and wanted == len(found)):
                return sentences[marker.position]
        return None
    if item.number == NEXT:
        previous = normalize(sentences[at].text)
        if _INLINE_LIST.search(previous) and (not item.noun or item.noun in previous):
            return sentences[at]
    return None
