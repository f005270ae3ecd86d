"""Follow-up questions: rule-based carrying of place, organisation, year and topic from the previous turn.

`Conversation` is the multi-turn API (`from qa import Conversation`);
`ask_followup` is its one step, which the chat page runs too, and
`resolve_history` the stateless form for clients that send the earlier
questions with each request (the OpenAI chat protocol, MCP).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol, Sequence, runtime_checkable

from embeddings.text.normalize import normalize
from qa.enumeration import AskedItem, asked_item, item_sentence
from qa.question import (ADMIN_SUFFIXES, DATE, NUMBER, OTHER, PERSON, YEAR, _posseg, expected_type, focus_words,
                         is_english_text, is_place_word)
from qa.types import Answer, Citation, Note, PassageHit

# Chinese openers of a follow-up (jieba words, so 那曲 the place is not taken for 那).
_ZH_MARKERS = frozenset({"那", "那么", "那个", "还有", "另外", "那如果"})
_EN_MARKER = re.compile(r"^\s*(?:(?:and|so|then|ok|okay)[\s,]+)?(?:what|how)\s+about\b[\s,]*|^\s*and\b[\s,]*",
                        re.IGNORECASE)
_TRAILING = re.compile(r"[\s?？。.!！,，、;；]*$")
_NE = re.compile(r"(?:的)?呢[\s?？。.!！]*$")
# Question words beyond those that fix an answer type (expected_type covers 多少, 几, 谁, when ...).
_ASKS = re.compile(r"什么|怎么|怎样|如何|为什么|为何|是否|吗|哪|\b(?:what|how|which|when|who|where|why|did|does|do|is|are|was|were)\b")
# The question-word end of a question ("是多少？"), reused when only the topic changes ("电解铝呢？").
# Only a short ending: in "有多少座铝厂？" the words after 多少 are the topic itself.
_TAIL = re.compile(r"(?:是|有|为|达到?|占(?:全[国省市区]|全球|世界)?的?)?(?:多少|几|什么|哪|怎样|如何|何时|吗)"
                   r"[\u4e00-\u9fff]{0,2}[^\u4e00-\u9fff]*$")
# A question that starts with what is said of a figure ("占全区多少？", "同比增长多少？") is about
# the figure the previous question asked for.
# A target said of it ("2017年要达到多少家？") is too: a plan's figure for another year.
_OF_A_FIGURE = re.compile(r"^(?:约|大约|大概)?(?:占|同比|比上年|比去年|较上年|较去年|增长|增加|下降|减少)"
                          r"|^(?:要|将|预计|计划|力争|争取)(?:要|将)?(?:达到|突破|超过|实现)")
# A relation of a figure named as a noun ("全国占比", "增速"): "它的全国占比呢？" asks it of the figure
# asked before, not of the place ("它的电解铝产量呢？" is the place's other figure).
_FIGURE_RELATION = re.compile(r"^(?:在|占)?(?:全国|全省|全区|全市|全球|全?行业)?的?(?:占比|比重|份额|增速|增幅|增长率|排名)")
# What a year alone may come with in a follow-up: "到2025年呢？" is a plan's target year.
_YEAR_WORDS = re.compile(r"^(?:到|至|截至|截止|在|于)$")
# A year named relative to today ("去年呢？"): it takes the place of the previous question's year.
_RELATIVE_YEAR = re.compile(r"^(?:今年|去年|前年|明年|上年|当年)$")
# What follows a year that opens the name of an event ("2023中国产业转移发展对接活动", "2024世界铝业大会"):
# the national or world scope such names start with, with no 年 between.
_NAMED_YEAR = re.compile(r"中国|全国|世界|国际|全球|亚洲|东盟")
_ORG_SUFFIX = re.compile(r"(?:集团|公司|协会|联盟|商会|研究院|研究所|大学|银行|委员会)$")
_EN_ORG_SUFFIX = re.compile(r"\b(?:group|company|co|corp|corporation|association|alliance|ltd|inc)\.?$", re.I)
_TRADITIONAL_SUFFIX = {"县": "縣", "区": "區", "镇": "鎮"}
# Words an organisation name is made of, extending back from its suffix word (魏桥 + 创业 + 集团).
_NAME_FLAGS = frozenset({"n", "nr", "nrt", "nz", "ns", "nt", "j", "eng", "vn"})
_EN_NAME = re.compile(r"\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*(?:'s)?")
# Capitalised words that name nothing: question words, and the function words and verbs a sentence starts with.
_EN_NOT_NAMES = frozenset("""What How Which When Who Where Why Did Does Do Is Are Was Were Has Have Had Can Could
    Will Would Should And So Then But Or By In On At Of For From With Under Over After Before During Since Until
    To As Into About Across Among Through The A An This That These Those Its It Their They He She His Her Name
    List Tell Give Show Please China Chinese""".split())
# English words a follow-up may keep around its new place or year ("And of Baise?", "what about in 2021?").
_EN_GLUE = re.compile(r"^(?:\s|\b(?:of|in|for|at|about|the|then|also)\b)*$", re.IGNORECASE)
# How an English question for a figure or a thing begins, up to its subject: "What was the ".
_EN_HEAD = re.compile(r"^\s*(?:what|which|how\s+(?:much|many)(?:\s+[\w-]+)?)\s+"
                      r"(?:was|is|were|are|did|does|do|has|have|had)\s+(?:the\s+)?", re.IGNORECASE)
if TYPE_CHECKING:
    from embeddings.store import IndexStore
    from qa.question import Question
    from qa.settings import Settings

# A question this short (Chinese characters plus English words and numbers) may lean on the previous one.
SHORT_UNITS = 10


@dataclass(frozen=True)
class ConversationState:
    """What the last question was about, as the user wrote it (their script).

    Attributes:
        question: the last question as actually asked (after resolving); after a
            list follow-up ("第二条呢？"), the question whose list it was.
        place: the place it names ("百色市"), or "".
        organisation: the organisation it names ("魏桥创业集团"), or "".
        year: the four-digit year it names ("2022"), or "".
        topic: the question with place, organisation and year taken out ("铝产业总产值是多少？").
        answer: the sentence that answered it ("" before it is answered, or when not found):
            what "他", "这个基地" or "he" in the next question may point at.
        answer_text: the exact name or figure in that sentence the question asked for ("" when the
            selector was not sure of one): what "it" or "它" points at after a "what/which" question.
        cited: where that sentence stands (article, paragraph, offsets), None without one:
            the next follow-up is looked for in that article first, and "第二条呢？" in its list.
            A follow-up that finds nothing keeps its predecessor's: the conversation is still there.
    """

    question: str = ""
    place: str = ""
    organisation: str = ""
    year: str = ""
    topic: str = ""
    answer: str = ""
    answer_text: str = ""
    cited: Citation | None = None


@dataclass(frozen=True)
class _Slots:
    place: str
    organisation: str
    year: str
    year_text: str  # the year as written, with its 年 ("2022年") when there is one


def _units(text: str) -> int:
    """Length in Chinese characters plus English words and numbers."""
    return len(re.findall(r"[\u3400-\u9fff]|[A-Za-z]+|\d+", text))


def _full_place(surface: str, word: str) -> str:
    """The place with the suffix its dictionary entry has (广元 -> 广元市), in the script it was typed in.

    parse_question only takes jieba's ns words for places, and 广元 alone is not one:
    without the suffix a composed question would not hold the answer to its place.
    """
    tags = _posseg().dt.word_tag_tab
    if tags.get(word) == "ns" or word.endswith(ADMIN_SUFFIXES):
        return surface
    for suffix in ADMIN_SUFFIXES:
        if tags.get(word + suffix) == "ns":
            traditional = surface != normalize(surface)
            return surface + (_TRADITIONAL_SUFFIX.get(suffix, suffix) if traditional else suffix)
    return surface


def _in_text(text: str, place: str) -> str:
    """How `place` is written in `text`: itself, or without its suffix (广元市 typed as 广元), or ""."""
    if place and place in text:
        return place
    stem = place[:-1]
    return stem if len(stem) >= 2 and place[-1] in "市县省区州镇縣區鎮" and stem in text else ""


def _slots(text: str) -> _Slots:
    """Place, organisation and year a question names, as spans of the text the user typed."""
    match = normalize(text)
    # Offsets of the matching form are those of the typed text when lengths agree (t2s and
    # half-width folding are one character for one); otherwise the matching form is reported.
    source = text if len(match) == len(text) else match
    year_found = YEAR.search(match)
    year, year_text = "", ""
    # A year written without 年 right before Chinese text opens a name ("2023中国产业转移发展对接活动"):
    # neither it nor a place right after it is a slot a follow-up should carry on its own.
    name_start = bool(year_found) and _NAMED_YEAR.match(match, year_found.end()) is not None
    if name_start:
        year_found = None
    if year_found:
        year = year_found.group(1)
        end = year_found.end() + (match[year_found.end():year_found.end() + 1] == "年")
        year_text = source[year_found.start():end]
    if is_english_text(match):
        return _english_slots(text, year, year_text)
    words, spans, at = [], [], 0
    for pair in _posseg().cut(match):
        words.append((pair.word, pair.flag))
        spans.append((at, at + len(pair.word)))
        at += len(pair.word)
    organisation, org_span = "", (0, 0)
    for first, last in _organisations(words)[:1]:
        org_span = (spans[first][0], spans[last][1])
        organisation = source[org_span[0]:org_span[1]]
    if name_start:
        return _Slots("", organisation, "", "")  # 中国 and (广西) of "2023中国…活动（广西）" belong to the name
    place = ""
    for i, ((word, flag), (start, end)) in enumerate(zip(words, spans)):
        if organisation and org_span[0] <= start and end <= org_span[1]:
            continue  # 山东 in 山东魏桥铝电有限公司 names the company, not a place asked about
        last = i
        if i + 1 < len(words) and words[i + 1][0] in ADMIN_SUFFIXES and len(word) >= 2 and flag.startswith("n"):
            last = i + 1  # jieba split the suffix off an unknown name: 那曲 + 市
        elif not is_place_word(word, flag):
            continue
        last = _zone_end(words, last)
        end = spans[last][1]
        place = source[start:end] if last > i + 1 else _full_place(source[start:end], match[start:end])
        break
    return _Slots(place, organisation, year, year_text)


def _organisations(words: list[tuple[str, str]]) -> list[tuple[int, int]]:
    """(first, last) word positions of each organisation name in jieba's (word, flag) cut: a word tagged
    nt, or one ending in an organisation's suffix, with the name words before it (魏桥 + 创业 + 集团)."""
    found = []
    for i, (word, flag) in enumerate(words):
        if flag == "nt" or (_ORG_SUFFIX.search(word) and flag.startswith("n")):
            first = i
            while first > 0 and i - first < 4 and words[first - 1][1] in _NAME_FLAGS:
                first -= 1
            found.append((first, i))
    return found


# A zone of a place written right after it: 广元 + 经开区, 百色 + 高新区, 滨州 + 开发区 (short names only:
# 铝产业园区 is a topic, not a part of the place's name).
_ZONE = re.compile(r"区$")
_ZONE_CHARS = 4
_ZONE_WORDS = 2


def _zone_end(words: list[tuple[str, str]], last: int) -> int:
    """The last word of a place's name once the zone of it that follows is taken in.

    The zone belongs to the place: when a follow-up swaps the place, "广元经开区"
    is replaced whole, so no zone of the old place stays in the new question.
    """
    text = ""
    for k in range(last + 1, min(last + 1 + _ZONE_WORDS, len(words))):
        word, flag = words[k]
        if flag.startswith(("x", "u", "m", "y")):  # punctuation, 的, figures, 呢: the name has ended
            break
        text += word
        if len(text) > _ZONE_CHARS:
            break
        if len(text) >= 2 and _ZONE.search(text):
            return k
    return last


def _english_slots(text: str, year: str, year_text: str) -> _Slots:
    """Capitalised names in an English question: a company-like ending makes an organisation."""
    place = organisation = ""
    for found in _EN_NAME.finditer(text):
        name = found.group().removesuffix("'s")
        if name in _EN_NOT_NAMES:
            continue
        if _EN_ORG_SUFFIX.search(name):
            organisation = organisation or name
        else:
            place = place or name
    return _Slots(place, organisation, year, year_text)


def _strip_marker(text: str) -> tuple[str, bool]:
    """The question without its follow-up opener, and whether it had one."""
    english = _EN_MARKER.match(text)
    if english:
        return text[english.end():], True
    pairs = list(_posseg().cut(normalize(text)))
    if pairs and pairs[0].word in _ZH_MARKERS and len(pairs) > 1:
        return text[len(pairs[0].word):].lstrip(" ,，"), True
    return text, False


def _state(question: str) -> ConversationState:
    """The state of a question asked in full."""
    slots = _slots(question)
    topic = question
    for value in (slots.organisation, _in_text(question, slots.place), slots.year_text):
        if value:
            topic = topic.replace(value, "", 1)
    return ConversationState(question, slots.place, slots.organisation, slots.year, topic.strip(" ,，的"))


def _context_parts(previous: ConversationState, own: _Slots) -> tuple[str, str, str]:
    """The previous turn's year (with 年), place and organisation the follow-up does not name itself."""
    return (f"{previous.year}年" if previous.year and not own.year else "",
            "" if own.place else previous.place, "" if own.organisation else previous.organisation)


def _context(previous: ConversationState, own: _Slots, english: bool) -> str:
    """The previous turn's slots the follow-up does not name itself: a Chinese prefix or English suffix."""
    year, place, organisation = _context_parts(previous, own)
    if english:
        parts = ([f"for {organisation}"] if organisation else []) + ([f"in {place}"] if place else []) \
            + ([f"in {year.removesuffix('年')}"] if year else [])
        return " " + " ".join(parts) if parts else ""
    return year + place + organisation


def _relative_year(previous: ConversationState, when: str) -> str:
    """The previous question with its year ("2022年", or "2022" alone) replaced by `when` ("去年")."""
    question = previous.question
    for written in (f"{previous.year}年", previous.year):
        if written in question:
            return question.replace(written, when, 1)
    return when + question


def _swap(previous: ConversationState, own: _Slots) -> str:
    """The previous question with the follow-up's own place, organisation or year put in."""
    question = previous.question
    english = is_english_text(question)
    if own.year:
        if previous.year:
            question = question.replace(previous.year, own.year, 1)
        else:
            question = f"{_TRAILING.sub('', question)} in {own.year}?" if english else f"{own.year}年{question}"
    place, organisation = previous.place, previous.organisation
    if own.place and not place and organisation and not own.organisation:
        place, organisation = organisation, ""  # a new subject: the place stands where the organisation stood
    elif own.organisation and not organisation and place and not own.place:
        organisation, place = place, ""
    for old, new in ((place, own.place), (organisation, own.organisation)):
        if not new:
            continue
        if _in_text(question, old):
            question = question.replace(_in_text(question, old), new, 1)
        elif english:
            question = f"{_TRAILING.sub('', question)} in {new}?"
        else:
            # No such slot before: the name goes in front, after a leading year.
            lead = re.match(r"\s*(?:(?:19|20)\d{2}年?)?", question).end()
            question = question[:lead] + new + question[lead:]
    return question


# References to what the previous answer named. A person: 他/她/他们 (his, her, they...).
# A thing by its kind: a demonstrative and a noun ("这个基地", "该公司", "这些项目"),
# which stands for the name in the previous answer (or question) that ends with that noun.
_ZH_PERSONS = ("他们", "她们", "他", "她")
_EN_PERSON = re.compile(r"\b(?:he|she|him|his|her|they|them|their)\b", re.IGNORECASE)
# "it", "its", and a "that" ending the question ("How much of the national total is that?"); a
# "that" before a noun ("that city") is a determiner, left to the other rules.
_EN_IT = re.compile(r"\b(?:it|its)\b|\bthat(?=\s*[?.!]*\s*$)", re.IGNORECASE)
_DEMONSTRATIVES = frozenset({"该", "这", "这个", "这家", "这些", "这座", "这项", "这只", "这所", "这批", "此",
                             "那个", "那家", "那些", "那座", "那只", "那项"})
_ZH_IT = frozenset({"它", "它们", "其"})


def _words(text: str) -> list[tuple[str, str, int, int]]:
    """(word, flag, start, end) of jieba's cut of the matching form (offsets valid in `text` when lengths agree)."""
    out, at = [], 0
    for pair in _posseg().cut(normalize(text)):
        out.append((pair.word, pair.flag, at, at + len(pair.word)))
        at += len(pair.word)
    return out


def _surface(text: str, start: int, end: int) -> str:
    match = normalize(text)
    return (text if len(match) == len(text) else match)[start:end]


# jieba's dictionary tags some offices as names (宣传部): a name does not end like an office.
_OFFICE_END = tuple("部局委厅处办院所会司")


def _person_in(text: str, besides: str = "") -> str:
    """The first person's name (jieba nr, two characters or more) in `text` that `besides` does not hold."""
    words = _words(text)
    # A name that begins an organisation's (阿拉丁 of 阿拉丁资本管理有限公司) is no person.
    in_organisation = {i for first, last in _organisations([(w, f) for w, f, _, _ in words])
                       for i in range(first, last + 1)}
    for i, (word, flag, start, end) in enumerate(words):
        if flag == "nr" and len(word) == 1 and i + 1 < len(words) and i not in in_organisation:
            # jieba cuts some names after the surname (蔡 + 奇峰): the surname and a short word after it.
            given, given_flag, _, given_end = words[i + 1]
            if len(given) <= 2 and given_flag.startswith(("n", "a")) and not given_flag.startswith("ns"):
                word, end = word + given, given_end
        # jieba tags some places as names (邹平): a word with a place's dictionary entry is no person.
        if (flag == "nr" and len(word) >= 2 and word not in normalize(besides) and not is_place_word(word, "nr")
                and not (len(word) >= 3 and word.endswith(_OFFICE_END)) and i not in in_organisation):
            return _surface(text, start, end)
    return ""


def _person_for(previous: ConversationState) -> str:
    """Who "他", "she" or "they" is: after a question for a person ("谁主持了会议？"), the person its
    answer gave (the selector's exact answer, else the first person the answer's sentence names
    that the question does not); after a question about a named person ("张波是什么身份？"), that
    person; "" when there is none."""
    asked_person = expected_type(normalize(previous.question)) == PERSON
    in_question = _person_in(previous.question)
    if in_question and not asked_person:
        return in_question
    given = ""
    if asked_person and previous.answer_text:
        # A bare name is taken whole (jieba may cut 伍荣华 as 伍 + 荣华); a longer span for its name.
        bare = re.fullmatch(r"[\u4e00-\u9fff·]{2,4}", previous.answer_text)
        given = previous.answer_text if bare else _person_in(previous.answer_text)
    if asked_person and not given and previous.answer:
        given = _person_doing(previous.answer, previous.question)
    return given or _person_in(previous.answer, previous.question) or in_question


def _person_doing(sentence: str, question: str) -> str:
    """The person a "谁 <verb>" question asks for, as its answer's sentence names them: the name
    written right before the question's verb ("…副市长伍荣华主持会议" for "谁主持了会议？"), or "".

    News sentences of meetings list many people; the one doing what was asked is the one
    the verb follows, which the first name of the sentence often is not.
    """
    asked = [(w, f) for w, f, _, _ in _words(question)]
    after_who = next((i for i, (w, _) in enumerate(asked) if w == "谁"), -1)
    if after_who < 0:
        return ""
    # What follows 谁, as the sentence may repeat it ("谁在会上讲话？": "张波在会上讲话"), then its
    # verb alone ("谁主持了会议？": "伍荣华主持会议").
    said = [w for w, f in asked[after_who + 1:] if f != "x"]
    verb = [w for w, f in asked[after_who + 1:] if f == "v" and len(w) >= 2][:1]
    phrases = ["".join(said)] + verb if len("".join(said)) >= 2 else verb
    words = _words(sentence)
    match = normalize(sentence)
    for phrase in dict.fromkeys(phrases):
        for at in (m.start() for m in re.finditer(re.escape(phrase), match)):
            last = next((i for i, w in enumerate(words) if w[3] == at), -1)
            first = last
            while first >= 0 and words[first][1] == "nr":
                first -= 1
            if first < last and at - words[first + 1][2] >= 2:
                return _surface(sentence, words[first + 1][2], at)
    return ""


def _named_kind(text: str, head: str) -> str:
    """The name in `text` of a thing of kind `head`: name-like words ending with it ("魏桥"+"轻量化"+"基地")."""
    words = _words(text)
    for i, (word, flag, _, end) in enumerate(words):
        if not word.endswith(head) or not flag.startswith(("n", "j", "v")):
            continue
        first = i
        while first > 0 and i - first < 4 and words[first - 1][1] in _NAME_FLAGS:
            first -= 1
        if first < i or len(word) > len(head):  # more than the bare kind word itself
            return _surface(text, words[first][2], end)
    return ""


def refers_to_answer(question: str) -> bool:
    """Whether a question points at what the previous answer named (a pronoun or "this <kind>")."""
    if is_english_text(question):
        return bool(_EN_PERSON.search(question) or _EN_IT.search(question))
    words = [(w, f) for w, f, _, _ in _words(question)]
    return any(w in _ZH_PERSONS or w in _ZH_IT or (w in _DEMONSTRATIVES and i + 1 < len(words)
                                                    and words[i + 1][1].startswith("n"))
               for i, (w, f) in enumerate(words))


def _names_nobody(text: str) -> bool:
    """A personal pronoun (他, she ...): when no person can be found for it, nothing else is guessed."""
    if is_english_text(text):
        return bool(_EN_PERSON.search(text))
    return any(word in _ZH_PERSONS for word, _, _, _ in _words(text))


def _resolve_references(text: str, previous: ConversationState) -> str:
    """`text` with a pronoun or "this <kind>" replaced by the name it stands for, or "" when none is found.

    A person is the one `_person_for` gives; a thing of a kind is looked for in the
    previous answer's sentence first (what the user just read), then in the previous question.
    """
    sources = [source for source in (previous.answer, previous.question) if source]
    if is_english_text(text):
        found = _EN_PERSON.search(text)
        if found:
            name = _person_for(previous)
        else:
            found = _EN_IT.search(text)
            name = _thing_named(previous) if found else ""
        if not name:
            return ""
        possessive = found.group().lower() in ("his", "her", "their", "its")
        return text[:found.start()] + name + ("'s" if possessive else "") + text[found.end():]
    words = _words(text)
    source_text = text if len(normalize(text)) == len(text) else normalize(text)
    for i, (word, flag, start, end) in enumerate(words):
        name, span_end = "", end
        if word in _ZH_PERSONS:
            name = _person_for(previous)
        elif word in _DEMONSTRATIVES and i + 1 < len(words) and words[i + 1][1].startswith("n"):
            head = words[i + 1][0]
            name, span_end = next((n for n in (_named_kind(s, head) for s in sources) if n), ""), words[i + 1][3]
            if not name and head in _FIRM_WORDS:
                name = _firm_named(previous)
        elif word in _ZH_IT:
            name = _thing_named(previous)
        if name:
            return source_text[:start] + name + source_text[span_end:]
    return ""


# Kinds that stand for a firm ("该公司", "这家企业"), which news names without the kind word (魏桥创业).
_FIRM_WORDS = frozenset({"公司", "企业", "集团"})


def _firm_named(previous: ConversationState) -> str:
    """The firm "该公司" stands for when no name ends with the word: the one the previous answer gave
    for a "哪家企业/哪个公司" question (the selector's exact answer), else the organisation the previous
    question named, else ""."""
    asked_firm = re.search(r"哪[家个所]?(?:公司|企业|集团)", normalize(previous.question))
    if asked_firm and previous.answer_text and len(previous.answer_text) <= 20:
        return previous.answer_text
    return previous.organisation


def _without_unnamed_it(text: str, previous: ConversationState) -> str:
    """A Chinese "它" that names no thing of the conversation, read as what it stands for there.

    After a question for a figure ("2022年百色市氧化铝产量是多少？") there is no named thing
    for "它": "它的X" is the previous subject's X, so "它的" goes and the place, organisation
    and year are carried as for any follow-up ("它的电解铝产量呢？"); "它" alone is the
    figure asked about, so it becomes the previous question's topic without its question
    word ("它占全国多少？" -> "氧化铝产量占全国多少？"). Unchanged otherwise.
    """
    if is_english_text(text):
        return text
    words = _words(text)
    source = text if len(normalize(text)) == len(text) else normalize(text)
    for i, (word, _, start, end) in enumerate(words):
        if word not in _ZH_IT:
            continue
        if i + 1 < len(words) and words[i + 1][0] == "的":
            rest = source[words[i + 1][3]:]
            return source[:start] + (_of_figure_asked(rest, previous) or rest)
        metric = _figure_asked(previous)
        return source[:start] + metric + source[end:] if metric else text
    return text


def _of_figure_asked(text: str, previous: ConversationState) -> str:
    """`text` as a relation of the figure the previous question asked ("全国占比" -> "电解铝产量的全国占比"),
    or "" when it names no such relation or there was no figure."""
    figure = _figure_asked(previous)
    return f"{figure}的{text}" if figure and _FIGURE_RELATION.match(normalize(text)) else ""


def _figure_asked(previous: ConversationState) -> str:
    """What the previous question asked a figure of: its topic without the question's ending
    ("氧化铝产量" of "氧化铝产量占全国多少？"), or ""."""
    tail = _TAIL.search(previous.topic)
    return (previous.topic[:tail.start()] if tail else "").strip(" ,，的")


# The thing an English "what/which ... ?" question asks for: "what aluminium park" in
# "What aluminium park has that city built?".
_EN_ASKED_THING = re.compile(r"^\s*(?:what|which)\s+((?:[\w-]+\s+){0,3}?[\w-]+)\s+(?:has|have|had|is|are|was|were|"
                             r"did|does|do|will|can|could)\b", re.IGNORECASE)


# What an English "who/how many ... <verb> the X?" question's verb acts on: "the founding meeting of
# the Guangyuan aluminium industry alliance" in "Who chaired the founding meeting of ...?".
_EN_ACTED_ON = re.compile(r"^\s*(?:who|how\s+(?:many|much)\s+[\w-]+)\s+[\w-]+\s+(the\s+[^?]+?)\s*\??\s*$",
                          re.IGNORECASE)


# The thing a "who is the <role> of X?" question names: X is what "it/its" can stand for next (the role is a person).
_EN_ROLE_OF = re.compile(r"^\s*who\s+(?:is|was|are|were)\s+the\s+[\w\s-]+?\s+of\s+(the\s+[^?]+?)\s*\??\s*$",
                         re.IGNORECASE)
# A subject named with its owner's name: "Guangyuan's aluminium output value".
_EN_OWNED = re.compile(r"[A-Z][\w-]*'s\s")


def _english_figure(question: str) -> str:
    """What an English question for a figure asks about, with its place and year: "the alumina
    output in Baise in 2022" of "What was the alumina output in Baise in 2022?", "Baise's alumina
    output in 2022" of "What was Baise's alumina output in 2022?", or ""."""
    head = _EN_HEAD.match(question)
    if not head:
        return ""
    rest = _TRAILING.sub("", question[head.end():])
    if head.group().lower().rstrip().endswith("the"):
        return "the " + rest
    copula = re.search(r"\b(?:is|was|are|were)\s*$", head.group(), re.IGNORECASE)
    return rest if copula and _EN_OWNED.match(rest) else ""


def _thing_named(previous: ConversationState) -> str:
    """What "it" stands for: after a question asking for a thing ("which park ...?"), that thing as
    the previous answer names it (the selector's exact answer, else the name in the sentence
    ending with the kind asked for), or as the question called it ("the aluminium park");
    else the organisation the previous question named, or in English what its verb acted on
    ("Who chaired the founding meeting?" -> "the founding meeting")."""
    match = normalize(previous.question)
    if expected_type(match) in (NUMBER, DATE, PERSON):
        if not is_english_text(match) or previous.organisation:
            return previous.organisation
        role_of = _EN_ROLE_OF.match(previous.question)
        if role_of:
            return role_of.group(1)
        acted_on = _EN_ACTED_ON.match(previous.question)
        return acted_on.group(1) if acted_on else _english_figure(previous.question)
    if previous.answer_text:
        return previous.answer_text
    if is_english_text(match):
        asked = _EN_ASKED_THING.match(previous.question)
        return f"the {asked.group(1)}" if asked else (previous.organisation or _english_figure(previous.question))
    kind = focus_words(match)
    return ((_named_kind(previous.answer, kind[0]) if kind and previous.answer else "") or previous.organisation
            or _listed_kind(previous.question))


def _listed_kind(question: str) -> str:
    """What a "哪些" question lists, as it calls them: the nouns right after the question word
    ("重大产业项目" of "今年推进哪些重大产业项目？"), else those right before it ("重大产业项目" of
    "广元经开区今年推进的重大产业项目有哪些？"), or ""."""
    words = _words(question)
    ask = next((i for i, (w, _, _, _) in enumerate(words) if w == "哪些"), -1)
    if ask < 0:
        return ""
    after = ask + 1
    while after < len(words) and _kind_word(words[after][1]):
        after += 1
    if after > ask + 1 and words[after - 1][1].startswith("n"):
        return _surface(question, words[ask + 1][2], words[after - 1][3])
    last = ask - 1 if ask > 0 and words[ask - 1][0] in ("有", "是", "包括") else ask
    first = last
    while first > 0 and _kind_word(words[first - 1][1]):
        first -= 1
    return _surface(question, words[first][2], words[last - 1][3]) if ask > 0 and first < last else ""


def _kind_word(flag: str) -> bool:
    """Whether a word may be part of what a list is called (nouns and their modifiers, not a place)."""
    return flag.startswith(("n", "a", "b")) and not flag.startswith("ns")


@dataclass(frozen=True)
class Resolution:
    """How one question of a conversation is asked.

    Attributes:
        asked: the question to ask (the typed one when it stands alone, asks for a
            list item, or could not be resolved).
        state: the state after it, its answer not yet in.
        stays: it follows up on the previous turn without naming a place or
            organisation of its own, so the previous answer's article is searched
            first: a follow-up almost always stays in that article.
        item: for "第二条呢？", "还有哪些？": the item of the previous answer's list it asks for.
        unresolved: a follow-up whose pronoun names nobody the conversation named: asked as
            typed, and the answer says so.
        new_place: the place an English follow-up swaps in ("What about Baise?"): the
            answer's article must name it (the answerer checks the places of Chinese questions only).
    """

    asked: str
    state: ConversationState
    stays: bool = False
    item: AskedItem | None = None
    unresolved: bool = False
    new_place: str = ""


def resolve(question: str, previous: ConversationState | None) -> Resolution:
    """Turn a question into what to ask in its conversation, carrying what a follow-up leaves out.

    A question asking for another item of the previous answer's list
    ("第二条呢？", "还有哪些问题？") is answered from that list (`asked_item`).
    A pronoun or "this <kind>" is replaced by the name it stands for in the
    previous answer or question; a "它" that names no thing is the previous
    subject ("它的X") or the figure asked about (`_without_unnamed_it`). Otherwise a follow-up starts with
    那/那么/那个/还有/and/what about, or ends with 呢, or is short (at most
    `SHORT_UNITS`); it is taken as one only when it does not name its own place
    or organisation together with a question word, which makes a complete
    question and resets the conversation. Then:

    - nothing left but its own names ("广元呢？", "那2021年呢？", "And of Baise?"):
      the previous question with those names swapped in; a year with 到 ("到2025年呢？",
      a plan's target) the same;
    - a new subject only ("电解铝呢？", "8月在邹平开的那次会议呢？"): after a question
      in two parts ("广元成立联盟那天，主持会议的是谁？") it takes the place of
      the first part; else the previous place and year go with the new topic and
      the previous question's ending ("是多少？");
    - otherwise ("那电解铝占全国多少？"): the previous place, organisation and
      year the follow-up lacks, put in front of it; one that starts with what is
      said of a figure ("占全区多少？", "2017年要达到多少家？") also takes the figure
      asked before; an English one naming only its subject ("What about alumina
      output?") takes the previous question's beginning ("What was the").

    A Chinese question that leaves out its subject ("下一步打算怎么推进？",
    `_elliptical`) is a follow-up too. In Chinese, a follow-up naming no place or
    organisation of its own takes the first part of a previous question in
    several parts, which set the scene ("按照滨州出台的政策，最多能拿多少？").

    A question that names no new place or organisation is looked for in the
    previous answer's article first, even when it is asked as typed.
    """
    text = " ".join(str(question).split())
    if previous is None or not previous.question or not text:
        return Resolution(text, _state(text))
    item = asked_item(text)
    if item is not None:
        return Resolution(text, previous, stays=True, item=item)
    referred = _resolve_references(text, previous)
    if referred:
        named = _slots(referred)
        if not (_names_nobody(text) or named.place or named.organisation):
            # "这些项目" became a kind ("产业项目"), not a name: where and when are still the previous turn's.
            referred = _prefix(previous, named, referred, is_english_text(referred))
        return Resolution(referred, _state(referred), stays=True)  # it names its subject now, through the answer
    text = _without_unnamed_it(text, previous)
    if _names_nobody(text):
        # A person it cannot name: asked as typed, no slot carried on a guess (where he was named comes first).
        return Resolution(text, _state(text), stays=True, unresolved=True)
    body, marked = _strip_marker(text)
    own = _slots(body)
    match = normalize(body)
    asks = expected_type(match) != OTHER or bool(_ASKS.search(match))
    ends_ne = bool(_NE.search(body))
    stays = _same(own.place, previous.place) and _same(own.organisation, previous.organisation)
    alone = Resolution(text, _state(text), stays=stays and not _person_in(text))
    if (own.place or own.organisation) and asks and not ends_ne:
        return alone  # a complete question of its own
    short = _units(body) <= SHORT_UNITS
    if not (marked or ends_ne or (short and not own.place and not own.organisation) or _elliptical(body, own)):
        return alone
    english = is_english_text(body)
    rest = body
    for value in (own.organisation, _in_text(body, own.place), own.year_text):
        if value:
            rest = rest.replace(value, "", 1)
    rest = _NE.sub("", rest) if ends_ne else _TRAILING.sub("", rest)
    rest = rest.strip(" ,，的")
    if not english and not own.year and previous.year and _RELATIVE_YEAR.match(normalize(rest)):
        resolved = _relative_year(previous, rest)  # "去年呢？": the previous question for that year
    elif (not rest or (english and _EN_GLUE.match(rest))) and (own.place or own.organisation or own.year):
        resolved = _swap(previous, own)
    elif own.year and not own.place and not own.organisation and _YEAR_WORDS.match(rest) and previous.year:
        swapped = _swap(previous, own)  # "到2025年呢？": the same question for that year, "到" kept
        resolved = rest + swapped if swapped.startswith(own.year) else swapped
    elif ends_ne and not asks and rest:
        subject = _NE.sub("", body)
        if not english:
            subject = _of_figure_asked(subject, previous) or subject  # "增速呢？": of the figure asked before
        clause = "" if english or is_english_text(previous.question) else _asking_clause(previous.question)
        if clause and _is_scene(subject, own):
            resolved = f"{subject}，{clause}"  # the new occasion in place of the previous question's first part
        elif not _context(previous, own, english) and not _scene(previous.question):
            return alone  # a new topic and nothing to carry: it stands alone
        else:
            tail = _TAIL.search(previous.topic)
            ending = tail.group() if tail else "？"
            resolved = _prefix(previous, own, subject, english) + ("" if english else ending)
    elif english and not asks and (swapped := _english_phrase_swap(previous, rest)):
        resolved = swapped  # "And of alumina?": the previous question with that phrase in place of its own
    else:
        unyeared = body.replace(own.year_text, "", 1).lstrip(" ,，") if own.year_text else body
        if not english and _OF_A_FIGURE.match(normalize(unyeared)):
            body = body[:len(body) - len(unyeared)] + _figure_asked(previous) + unyeared
        elif not english and (related := _of_figure_asked(unyeared, previous)):
            body = body[:len(body) - len(unyeared)] + related
        elif english and not asks and rest and _english_head(previous.question):
            # "What about alumina output?" ("And of alumina?" when no phrase of the previous one is swapped)
            body = _english_head(previous.question) + re.sub(r"^(?:of|for)\s+", "", body, flags=re.IGNORECASE)
        resolved = _prefix(previous, own, body, english)
    new_place = own.place if english and not _same(own.place, previous.place) else ""
    return Resolution(resolved, _state(resolved), stays=stays, new_place=new_place)


# Words that point back without naming anything: 这中间, 这方面, 此外, 上述.
_ANAPHORS = frozenset({"这", "这些", "那些", "此", "上述", "这方面", "这里", "那里"})


def _elliptical(body: str, own: _Slots) -> bool:
    """A Chinese question that leaves out what it is about: it names no place, organisation or person,
    has no pronoun or "this <kind>" standing for its subject, and starts without a noun
    ("下一步打算怎么推进？") or points back at nothing in particular ("在这中间…").
    A question that starts with its own subject ("铝产业集群的规模有多大？") does not."""
    if is_english_text(body) or own.place or own.organisation or _person_in(body) or refers_to_answer(body):
        return False
    words = [(word, flag) for word, flag, _, _ in _words(body) if flag != "x"]
    if not words:
        return False
    return not words[0][1].startswith(("n", "j", "eng")) or any(word in _ANAPHORS for word, _ in words)


# What makes "X呢？" name an occasion ("3月10日在邹平开的那次呢？") rather than a topic ("利润呢？"):
# a date, a place phrase with 在/于, or a demonstrative (那次, 那场).
_OCCASION = re.compile(r"\d+月|\d+日|[在于].{1,12}[开办举召]|[那这该此][次场届个]")


def _is_scene(subject: str, own: _Slots) -> bool:
    """Whether the subject of "X呢？" is an occasion or a named subject (which replaces the previous
    question's first part), not a topic (which takes the place of the previous one's)."""
    return bool(own.place or own.organisation or own.year or _OCCASION.search(normalize(subject)))


def resolve_followup(question: str, previous: ConversationState | None) -> tuple[str, ConversationState]:
    """The question to actually ask for `question` after `previous` (None at the start), and the new state.

    The question is the typed one when it stands alone; see `resolve` for the rules.
    """
    resolution = resolve(question, previous)
    return resolution.asked, resolution.state


def _same(own: str, previous: str) -> bool:
    """Whether a name the follow-up gives ("" for none) is the previous one (广元 and 广元市 are)."""
    if not own:
        return True
    own, previous = normalize(own), normalize(previous)
    return bool(previous) and (own in previous or previous in own)


# The clauses of a question: what comes before its last comma sets the scene, the last part asks.
_CLAUSE_BREAK = re.compile(r"[,，;；:：]")


def _asking_clause(question: str) -> str:
    """The last clause of a question in several parts when it alone asks ("主持会议的是谁？" in
    "滨州召开推进会那天，讲话的是谁？"); "" for a question in one part."""
    clauses = [clause.strip() for clause in _CLAUSE_BREAK.split(question)]
    if len(clauses) < 2 or not clauses[-1] or not all(clauses[:-1]):
        return ""
    last = normalize(clauses[-1])
    return clauses[-1] if expected_type(last) != OTHER or _ASKS.search(last) else ""


def _scene(question: str) -> str:
    """The first part of a Chinese question in several parts, which sets the scene ("据崔洪刚介绍" in
    "据崔洪刚介绍，滨州铝产业的收入有多大？"); "" for a question in one part."""
    clause = "" if is_english_text(question) else _asking_clause(question)
    return _TRAILING.sub("", question[:len(question) - len(clause)]) if clause else ""


def _prefix(previous: ConversationState, own: _Slots, body: str, english: bool) -> str:
    """The follow-up with the previous turn's missing slots added (in front in Chinese, after in English).

    In Chinese, a follow-up naming no place or organisation of its own also takes the
    first part of a previous question in several parts, which set the scene
    ("按照滨州出台的政策，" + "最多能拿多少？"), with the slots that part does not hold.
    """
    scene = "" if english or own.place or own.organisation else _scene(previous.question)
    context = _context(previous, own, english)
    if scene:
        context = "".join(value for value in _context_parts(previous, own) if not _in_text(scene, value))
        return f"{scene}，{context}{body}"
    if not context:
        return body  # nothing to carry over
    if english:
        core = _TRAILING.sub("", body)
        return f"{core}{context}?"
    return context + body


def _english_head(question: str) -> str:
    """The previous English question's beginning, to put before a follow-up that names only its new
    subject ("What about alumina output?" after "What was the total output ...?" -> "What was the
    alumina output ...?"): the selector reads questions, not bare noun phrases. "" when it has none."""
    head = _EN_HEAD.match(question)
    text = head.group().lstrip() if head else ""
    return text[:1].upper() + text[1:]


# "of X" / "for X" in an English question: the noun phrase after the preposition, up to what follows it
# (an auxiliary, another preposition, the end); a possessive owner ("China's") stays with the question.
_EN_PREP_PHRASE = (r"\b{prep}\s+((?:[A-Z][\w-]*'s\s+)?)((?:[\w-]+\s+)*?[\w-]+)"
                   r"(?=\s+(?:did|does|do|is|was|are|were|has|have|had|in|at|by|for|from|on|of|during|since|to)\b"
                   r"|\s*[?.!]*\s*$)")


def _english_phrase_swap(previous: ConversationState, rest: str) -> str:
    """The previous English question with the phrase after its "of"/"for" replaced by the follow-up's
    ("And of alumina?" after "What share of China's electrolytic aluminium did Baise produce?" ->
    "What share of China's alumina did Baise produce?"), or "" when the follow-up is not such a
    phrase. A phrase that holds the previous place or organisation ("of Baise") is a slot the
    follow-up keeps, not its subject."""
    own = re.match(r"^(of|for)\s+(.+)$", rest.strip(), re.IGNORECASE)
    if not own:
        return ""
    question = previous.question
    for found in re.finditer(_EN_PREP_PHRASE.format(prep=own.group(1).lower()), question, re.IGNORECASE):
        phrase = found.group(2)
        if not any(name and name in phrase for name in (previous.place, previous.organisation)):
            return question[:found.start(2)] + own.group(2) + question[found.end(2):]
    return ""


def _reads_previous_answer(question: str, previous: ConversationState | None) -> bool:
    """Whether answering `question` after `previous` reads the previous answer (its sentence or article)."""
    if previous is None or not previous.question:
        return False
    resolution = resolve(question, previous)
    return resolution.stays or refers_to_answer(question)


def resolve_history(question: str, earlier: Sequence[str],
                    answer_of: Callable[[str, ConversationState | None], "Answer | None"] | None = None
                    ) -> tuple[str, ConversationState]:
    """The question to ask after these earlier user questions (oldest first), and the state after it.

    The stateless form of a conversation: the earlier questions are resolved in
    turn exactly as `Conversation.ask` would have, so the same history gives
    the same question whichever client sends it. A follow-up that reads the
    previous answer (a pronoun pointing at what it named, a list item, the
    article to look in first) needs that answer: `answer_of(question, state)`
    gives the answer `Conversation` got for an earlier question asked in that
    state, and is called only for those; without it, the previous answer is unknown.
    """
    resolution, _ = _replay(question, earlier, answer_of)
    return resolution.asked, resolution.state


def _replay(question: str, earlier: Sequence[str],
            answer_of: Callable[[str, ConversationState | None], "Answer | None"] | None
            ) -> tuple[Resolution, ConversationState | None]:
    """The resolution of `question` after the earlier questions, and the state it was resolved in."""
    questions = [_cleaned(q) for q in earlier if str(q).strip()]
    typed = _cleaned(question)
    state = None
    for number, earlier_question in enumerate(questions):
        resolution = resolve(earlier_question, state)
        following = questions[number + 1] if number + 1 < len(questions) else typed
        if answer_of is not None and _reads_previous_answer(following, resolution.state):
            state = _answered(resolution, state, answer_of(earlier_question, state))
        else:
            state = resolution.state
    return resolve(typed, state), state


def _answered(resolution: Resolution, previous: ConversationState | None,
              answer: "Answer | None") -> ConversationState:
    """The state after a question with the answer it got (None: it could not be asked)."""
    state = resolution.state
    if answer is None:
        return state
    cited = answer.citation
    if cited is None and resolution.stays and previous is not None:
        cited = previous.cited  # found nothing, but the conversation is still in that article
    return replace(state, answer=answer.sentence or "", answer_text=answer.answer_text or "", cited=cited)


def _cleaned(question: str) -> str:
    from qa.api import QuestionError, prepare_question

    try:
        # The rules read the question as it will be asked (no control or invisible characters).
        return prepare_question(question)[0]
    except QuestionError:
        return str(question)  # asking it raises the error


class _Asker(Protocol):
    def ask(self, question: str) -> "Answer": ...


def ask_followup(qa: _Asker, question: str, state: ConversationState | None,
                 **scope: str) -> tuple["Answer", ConversationState]:
    """Ask one question of a conversation: resolve it against `state`, answer it, return the new state.

    The answer's `question` is the question actually asked; `typed` keeps the
    user's words when they differ (a resolved follow-up).

    Raises:
        QuestionError, IndexLoadError: as `QA.ask`; the state is then unchanged.
    """
    typed = _cleaned(question)
    resolution = resolve(typed, state)
    answer = _answer(qa, typed, resolution, state, scope)
    return answer, _answered(resolution, state, answer)


def ask_with_history(qa: _Asker, question: str, earlier: Sequence[str], **scope: str) -> "Answer":
    """Ask a question after these earlier user questions (oldest first): the stateless form of `ask_followup`.

    Used by the chat endpoint and the MCP tool, whose clients send the earlier
    questions with each request; the answer equals the one `Conversation.ask`
    gives at the same turn (an earlier question whose answer the next one reads
    is asked again, in its own turn's state, for that answer).

    Raises:
        QuestionError, IndexLoadError: as `QA.ask`, for the question itself.
    """
    from qa.api import QuestionError

    def answer_of(earlier_question: str, state: ConversationState | None) -> "Answer | None":
        # The client did not send that answer back as data: asked again (the answer `Conversation` got).
        try:
            return ask_followup(qa, earlier_question, state, **scope)[0]
        except QuestionError:
            return None

    resolution, state = _replay(question, earlier, answer_of)
    return _answer(qa, _cleaned(question), resolution, state, scope)


def _answer(qa: _Asker, typed: str, resolution: Resolution, previous: ConversationState | None,
            scope: dict[str, str]) -> "Answer":
    """Answer a resolved question (with the filters given); the answer keeps the user's words when they differ.

    A list follow-up is answered from the previous answer's list; another
    follow-up that stays on its subject from the previous answer's article,
    when that article answers it, else from all of them (`since`, `until`,
    `source`: as `QA.ask`).
    """
    scope = {name: value for name, value in scope.items() if value}
    cited = previous.cited if previous is not None and resolution.stays else None
    answer = None
    if resolution.item is not None and cited is not None:
        answer = _item_answer(qa, typed, resolution.item, cited)
    if answer is None and cited is not None and resolution.item is None:
        answer = _ask_in_article(qa, resolution.asked, cited, scope)
    if answer is None:
        answer = qa.ask(resolution.asked, **scope)
        if resolution.item is not None or resolution.unresolved:
            answer = replace(answer, notes=answer.notes + (_unresolved_note(typed),))
    if resolution.new_place and answer.found and not _article_names(qa, answer.citation.doc, resolution.new_place):
        answer = replace(answer, found=False, sentence=None, citation=None, span=None, notes=answer.notes + (
            Note("followup_place", f"the closest sentence is from an article that does not name "
                                   f"{resolution.new_place}", (("place", resolution.new_place),)),))
    return replace(answer, typed=typed) if resolution.asked != typed else answer


def _article_names(qa: _Asker, doc: str, place: str) -> bool:
    """Whether an article names an English place (by its Chinese forms: Guangyuan, 广元); True when
    the asker cannot tell."""
    if not isinstance(qa, _ArticleReader):
        return True
    try:
        text = normalize(qa.index.get_article(doc).text)
    except KeyError:
        return True
    return any(normalize(form) in text for form in qa.parse(place).tokens)


def _unresolved_note(typed: str) -> Note:
    return Note("followup_unresolved", f"“{typed}” could not be tied to the previous question or answer, "
                                       "so it was asked as typed", (("question", typed),))


@runtime_checkable
class _ArticleReader(Protocol):
    """What answering within one article needs of a `QA` (a test's stand-in may lack it: all articles are searched)."""

    index: "IndexStore"

    def parse(self, question: str) -> "Question": ...

    def ask_in_article(self, question: str, doc: str, paragraph: int | None = None, **scope: str) -> "Answer | None": ...


def _ask_in_article(qa: _Asker, asked: str, cited: Citation, scope: dict[str, str]) -> "Answer | None":
    """The answer from the previous answer's article alone (its paragraph first), or None when that article
    holds none (or is outside the filter)."""
    if not isinstance(qa, _ArticleReader):
        return None
    answer = qa.ask_in_article(asked, cited.doc, cited.paragraph, **scope)
    if answer is None:
        return None
    title = answer.citation.title or cited.doc
    return replace(answer, notes=answer.notes + (
        Note("followup_article", f"answered from the article of the previous answer ({title})", (("title", title),)),))


def _item_answer(qa: _Asker, typed: str, item: AskedItem, cited: Citation) -> "Answer | None":
    """The sentence holding the asked item of the list the previous answer belongs to, as an answer; None
    when there is no such item (or the asker cannot read articles)."""
    from embeddings.text.split import segment_articles
    from qa.answerer import cite

    if not isinstance(qa, _ArticleReader):
        return None
    try:
        article = qa.index.get_article(cited.doc)
    except KeyError:
        return None
    sentences, passages = segment_articles([article])
    at = next((i for i, sentence in enumerate(sentences) if sentence.start == cited.start), None)
    found = item_sentence(sentences, at, item) if at is not None else None
    if found is None:
        return None
    passage = passages[found.passage]
    return Answer(question=typed, found=True, sentence=found.text, citation=cite(found, article),
                  passages=(PassageHit(passage.doc, passage.text, 1.0, passage.paragraph, passage.start, passage.end),),
                  notes=(Note("followup_item", f"the item asked for, from the list the previous answer belongs to "
                                               f"(¶{found.paragraph})", (("paragraph", found.paragraph),)),),
                  selector=LIST_FOLLOWUP)


# `Answer.selector` of a list follow-up's answer: the sentence was found by the list's numbering, not chosen.
LIST_FOLLOWUP = "list follow-up"


class Conversation:
    """Questions that may follow up on the ones before (“广元呢？”, “what about 2021?”, “第二条呢？”).

        >>> from qa import Conversation
        >>> c = Conversation()
        >>> c.ask("2022年百色市铝产业总产值是多少？").sentence
        >>> c.ask("广元呢？").question    # the question actually asked
        '2022年广元市铝产业总产值是多少？'

    Args:
        index_dir, settings: as for `QA`.
        qa: an existing `QA` to ask through (shares its loaded index and models).
    """

    def __init__(self, index_dir: Path | str | None = None, settings: "Settings | None" = None, qa: _Asker | None = None):
        if qa is None:
            from qa.api import QA

            qa = QA(index_dir, settings=settings)
        self.qa = qa
        self.state: ConversationState | None = None

    def ask(self, question: str) -> "Answer":
        """Answer a question of this conversation (a follow-up is resolved from the earlier ones)."""
        answer, self.state = ask_followup(self.qa, question, self.state)
        return answer

    def reset(self) -> None:
        """Forget the earlier questions: the next one stands alone."""
        self.state = None
