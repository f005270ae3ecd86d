"""Reading a question: its matching form, tokens, expected answer type, years, places and names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Callable

from embeddings.text.normalize import normalize
from embeddings.text.tokenize import STOPWORDS, tokenize_normalized

if TYPE_CHECKING:
    from qa.crosslingual import Translation

# Expected answer types.
NUMBER, DATE, PERSON, PLACE, OTHER = "number", "date", "person", "place", "other"

# Patterns on the normalised (simplified, lower-case) question. Order matters:
# "哪一天" asks for a date although "哪" alone would ask for a place.
_TYPE_PATTERNS = (
    (DATE, re.compile(r"什么时候|何时|哪一?天|哪一?年|几月|几号|哪个月|什么日期|日期是|\bwhen\b|what date|which (day|year|month)")),
    (PERSON, re.compile(r"是谁|谁|哪位|什么人|\bwho(m|se)?\b")),
    (NUMBER, re.compile(r"多少|几(?!内亚)|多大(?!学)|多高|多长|多重|多快|第几"
                        r"|how (much|many|large|big|high|long)|what (percentage|share|proportion|amount|number)")),
    (PLACE, re.compile(r"哪里|哪儿|在哪|何处|何地|哪一?个?(国家|城市|省|市|县|地区|地方)|哪国|哪座"
                       r"|\bwhere\b|which (country|city|province|place|region)")),
)
# Words that make a question ask for a quantity only when nothing else is asked:
# 占全国的比例 wants a figure, but 哪一种米的比例最多 wants a kind of rice.
_WEAK_NUMBER = re.compile(r"比例|比重|占比|百分之|百分比|位列|排名|\bpercent")
_ASKS_FOR_A_THING = re.compile(r"哪|什么|何|\bwhich\b|\bwhat\b")

# Units a "how many ..." question may name right after 多少/几: the answer must carry it.
_UNIT_AFTER_QUESTION_WORD = re.compile(
    r"(?:多少|几)(亿元|万元|亿美元|美元|万千瓦|万吨|万人|亿|万|千瓦|吨|元|台|家|个|条|人|次|倍|项|座|年|天|%)")
_PERCENT_WORDS = re.compile(r"百分|比例|比重|占比|占全|占.{0,8}多少|增长了?多少|增速|percentage|percent|proportion|share of")

# The noun a "what/which/how many" word asks about: 什么样的[基地], 哪种[工艺], 多少[产值].
_FOCUS_AFTER = re.compile(r"(?:什么样的?|什么|哪一?[个种类家些项座条位]|何种|多少|几[个条项种家台])([\u4e00-\u9fff]{2,8})")

# Words after a question word that are part of the question phrase or a unit, not its subject.
_NOT_FOCUS = frozenset({"时候", "地方", "亿元", "万元", "万吨", "美元", "千瓦", "万千瓦", "百分点"})

# A four-digit year of the last two centuries: what questions, follow-ups and the page read as "the year".
YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")


@dataclass(frozen=True)
class Question:
    """A question as the retriever and the answerer see it.

    Attributes:
        text: the question as the user typed it (trimmed).
        match: its matching form (simplified, half-width, lower case).
        tokens: BM25 tokens of `match`.
        expected: NUMBER, DATE, PERSON, PLACE or OTHER.
        unit: the unit a quantity question names ("万吨" in 多少万吨), or "%".
        years: four-digit years the question names; the answer must agree.
        places: place names the question names (jieba's ns tag); the answer must agree.
        names: persons and organisations the question names (`named_things`); the
            answer's article must name them too.
        focus: jieba words of the noun the question word asks about (基地 in 什么样的基地):
            a sentence naming it is more likely the answer.
        is_english: mostly Latin letters, so lexical overlap with Chinese text is not expected.
        translated_share: for an English question, the share of its content words
            that have a Chinese counterpart in the corpus (1.0 for a Chinese one).
    """

    text: str
    match: str
    tokens: tuple[str, ...]
    expected: str
    unit: str
    years: tuple[str, ...]
    places: tuple[str, ...]
    focus: tuple[str, ...]
    is_english: bool
    translated_share: float = 1.0
    names: tuple[str, ...] = ()


@lru_cache(maxsize=1)
def _posseg():
    from embeddings.text.tokenize import _jieba

    _jieba()  # initialise the dictionary once, quietly
    import jieba.posseg

    return jieba.posseg


def expected_type(match: str) -> str:
    """The answer type a question in matching form asks for."""
    for kind, pattern in _TYPE_PATTERNS:
        if pattern.search(match):
            return kind
    if _WEAK_NUMBER.search(match) and not _ASKS_FOR_A_THING.search(match):
        return NUMBER
    return OTHER


def asked_unit(match: str) -> str:
    found = _UNIT_AFTER_QUESTION_WORD.search(match)
    if found:
        return found.group(1)
    return "%" if _PERCENT_WORDS.search(match) else ""


ADMIN_SUFFIXES = ("市", "县", "省", "区", "州", "镇")
# 各市, 全区, 本市, 几省, 哪国, 两国 ... refer to places without naming one.
_DETERMINERS = frozenset("各全本该我此每其几哪某这那两诸多")
_PLACE_CLASS_NOUNS = frozenset(ADMIN_SUFFIXES + ("国", "城", "地", "乡", "村", "岛", "洲"))
# Common nouns that jieba tags as places (ns) or that end in an administrative
# suffix: they name no particular place, so an answer need not repeat them
# (东西 is "thing", 城市 "city", 行政区 "district", 中心 "centre").
_GENERIC_PLACE_NOUNS = frozenset({
    "东西", "南北", "东南", "西南", "东北", "西北", "东方", "西方", "南方", "北方",
    "城市", "都市", "城镇", "市区", "城区", "郊区", "县城", "行政区", "地区", "地方", "当地", "本地", "外地",
    "国家", "国内", "国外", "海外", "世界", "全球", "大陆", "内陆", "沿海", "边境", "省份", "首都", "首府",
    "乡村", "农村", "山区", "山地", "平原", "河流", "海洋", "海港", "港口", "赤道", "中心", "和平",
})


def _is_determined_place_noun(word: str) -> bool:
    """各市, 本省, 几国, 两国, 该地区: a determiner before a generic place noun (but 本溪 and 多伦多 are names)."""
    rest = word[1:]
    return word[0] in _DETERMINERS and (rest in _PLACE_CLASS_NOUNS or rest in _GENERIC_PLACE_NOUNS)


def is_place_word(word: str, flag: str) -> bool:
    """A place by jieba's tag, by its dictionary entry with an administrative suffix
    (jieba tags 广元 nz but 广元市 ns), or by a suffix of its own (XX市 unknown to jieba)."""
    if len(word) < 2 or word in _GENERIC_PLACE_NOUNS or _is_determined_place_noun(word):
        return False
    if flag == "ns":
        return True
    tags = _posseg().dt.word_tag_tab
    if any(tags.get(word + suffix) == "ns" for suffix in ADMIN_SUFFIXES):
        return True
    return len(word) >= 3 and word.endswith(ADMIN_SUFFIXES) and flag.startswith("n")


def tagged_words(match: str) -> list:
    """jieba's (word, part-of-speech) pairs of a text: read once per question for its places and names."""
    return list(_posseg().cut(match))


def place_names(match: str, pairs: list | None = None) -> tuple[str, ...]:
    """Place names in the question (see `is_place_word`); `pairs`: its `tagged_words`, when already read."""
    places = []
    for pair in tagged_words(match) if pairs is None else pairs:
        if is_place_word(pair.word, pair.flag) and pair.word not in places:
            places.append(pair.word)
    return tuple(places)


# jieba's dictionary tags many common two-character words as given names (安静, 帝王, 宣言,
# 王朝): those that are frequent words are not taken for names. Real two-character
# names above it (孔明) are then simply not checked.
COMMON_WORD_FREQUENCY = 300


def named_things(match: str, pairs: list | None = None) -> tuple[str, ...]:
    """Persons (jieba nr) and organisations (nt) a Chinese question names.

    A question about a person or an organisation the corpus never mentions
    with the rest of the question is a near miss ("百色的某公司…" when the
    article covers another company): the answerer then takes no sentence of
    an article that does not name them (places are checked the same way, by
    `place_names`).
    """
    segmenter = _posseg()
    frequency = segmenter.dt.tokenizer.FREQ
    names = []
    for pair in tagged_words(match) if pairs is None else pairs:
        word, flag = pair.word, pair.flag
        if len(word) < 2 or word in names:
            continue
        if flag.startswith("nt") or (
                flag.startswith("nr") and not (len(word) == 2 and (frequency.get(word) or 0) > COMMON_WORD_FREQUENCY)):
            names.append(word)
    return tuple(names)


def focus_words(match: str) -> tuple[str, ...]:
    """Content words right after the question word, up to the next function word."""
    found = _FOCUS_AFTER.search(match)
    if not found:
        return ()
    from embeddings.text.tokenize import _jieba

    # Only the first word: later ones belong to the rest of the clause (多少[代表]齐聚南宁).
    first = _jieba().lcut(found.group(1))[0]
    if first in STOPWORDS or first in _NOT_FOCUS or len(first) < 2:
        return ()
    return (first,)


def selector_hints(question: Question) -> str:
    """For an English question, the Chinese words the dictionary gives for it (its search
    tokens), which the selector reads after the English: names and figures the Chinese
    sentence holds in Chinese form (魏桥, 百色, 机组) then stand in the input as they do in the
    sentence. "" for a Chinese question."""
    return " ".join(question.tokens) if question.is_english else ""


def is_english_text(text: str) -> bool:
    """Mostly Latin letters: over twice as many as Chinese characters."""
    latin = sum(ch.isascii() and ch.isalpha() for ch in text)
    cjk = sum("\u4e00" <= ch <= "\u9fff" for ch in text)
    return latin > 2 * cjk


def parse_question(text: str, translate: Callable[[str], "Translation"] | None = None) -> Question:
    """Analyse a (non-empty, already length-checked) question.

    Args:
        text: the question.
        translate: for a question mostly in English, gives Chinese search
            tokens for it and their coverage (`qa.crosslingual.EnglishQueryExpander.translate`);
            without it English words are searched as they are.
    """
    match = normalize(text)
    is_english = is_english_text(match)
    tokens = tokenize_normalized(match)
    translated_share = 1.0
    if is_english and translate is not None:
        translation = translate(text)
        translated_share = translation.share
        # BM25 tokens of the translation: figures such as 22亿 split as the index splits them.
        tokens = list(dict.fromkeys(t for term in translation.tokens for t in tokenize_normalized(term)))
    kind = expected_type(match)
    pairs = tagged_words(match)  # one part-of-speech pass for the places and the names
    return Question(
        text=text,
        match=match,
        tokens=tuple(tokens),
        expected=kind,
        unit=asked_unit(match) if kind == NUMBER else "",
        years=tuple(dict.fromkeys(YEAR.findall(match))),
        places=place_names(match, pairs),
        focus=focus_words(match),
        is_english=is_english,
        translated_share=translated_share,
        names=() if is_english else named_things(match, pairs),
    )
