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
from typing import TYPE_CHECKING, Callable, Protocol, Sequence

from embeddings.text.normalize import normalize
from qa.question import ADMIN_SUFFIXES, OTHER, YEAR, _posseg, expected_type, is_english_text, is_place_word

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
_TAIL = re.compile(r"(?:是|有|为|达到?|占)?(?:多少|几|什么|哪|怎样|如何|何时|吗)[\u4e00-\u9fff]{0,2}[^\u4e00-\u9fff]*$")
_ORG_SUFFIX = re.compile(r"(?:集团|公司|协会|联盟|商会|研究院|研究所|大学|银行|委员会)$")
_EN_ORG_SUFFIX = re.compile(r"\b(?:group|company|co|corp|corporation|association|alliance|ltd|inc)\.?$", re.I)
_TRADITIONAL_SUFFIX = {"县": "縣", "区": "區", "镇": "鎮"}
# Words an organisation name is made of, extending back from its suffix word (魏桥 + 创业 + 集团).
_NAME_FLAGS = frozenset({"n", "nr", "nrt", "nz", "ns", "nt", "j", "eng", "vn"})
_EN_NAME = re.compile(r"\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*(?:'s)?")
_EN_NOT_NAMES = frozenset({"What", "How", "Which", "When", "Who", "Where", "Why", "Did", "Does", "Do", "Is",
                           "Are", "Was", "Were", "And", "So", "Then", "By", "In", "The", "About", "China", "Chinese"})
if TYPE_CHECKING:
    from qa.settings import Settings
    from qa.types import Answer

# A question this short (Chinese characters plus English words and numbers) may lean on the previous one.
SHORT_UNITS = 10


@dataclass(frozen=True)
class ConversationState:
    """What the last question was about, as the user wrote it (their script).

    Attributes:
        question: the last question as actually asked (after resolving).
        place: the place it names ("百色市"), or "".
        organisation: the organisation it names ("魏桥创业集团"), or "".
        year: the four-digit year it names ("2022"), or "".
        topic: the question with place, organisation and year taken out ("铝产业总产值是多少？").
        answer: the sentence that answered it ("" before it is answered, or when not found):
            what "他", "这个基地" or "he" in the next question may point at.
    """

    question: str = ""
    place: str = ""
    organisation: str = ""
    year: str = ""
    topic: str = ""
    answer: str = ""


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
    for i, (word, flag) in enumerate(words):
        if flag == "nt" or (_ORG_SUFFIX.search(word) and flag.startswith("n")):
            first = i
            while first > 0 and i - first < 4 and words[first - 1][1] in _NAME_FLAGS:
                first -= 1
            org_span = (spans[first][0], spans[i][1])
            organisation = source[org_span[0]:org_span[1]]
            break
    place = ""
    for i, ((word, flag), (start, end)) in enumerate(zip(words, spans)):
        if organisation and org_span[0] <= start and end <= org_span[1]:
            continue  # 山东 in 山东魏桥铝电有限公司 names the company, not a place asked about
        if i + 1 < len(words) and words[i + 1][0] in ADMIN_SUFFIXES and len(word) >= 2 and flag.startswith("n"):
            end = spans[i + 1][1]  # jieba split the suffix off an unknown name: 那曲 + 市
        elif not is_place_word(word, flag):
            continue
        place = _full_place(source[start:end], match[start:end])
        break
    return _Slots(place, organisation, year, year_text)


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


def _context(previous: ConversationState, own: _Slots, english: bool) -> str:
    """The previous turn's slots the follow-up does not name itself: a Chinese prefix or English suffix."""
    year = "" if own.year else previous.year
    place = "" if own.place else previous.place
    organisation = "" if own.organisation else previous.organisation
    if english:
        parts = ([f"for {organisation}"] if organisation else []) + ([f"in {place}"] if place else []) \
            + ([f"in {year}"] if year else [])
        return " " + " ".join(parts) if parts else ""
    return (f"{year}年" if year else "") + place + organisation


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


def _person_in(text: str, besides: str = "") -> str:
    """The first person's name (jieba nr, two characters or more) in `text` that `besides` does not hold."""
    for word, flag, start, end in _words(text):
        if flag == "nr" and len(word) >= 2 and word not in normalize(besides):
            return _surface(text, start, end)
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
        return bool(_EN_PERSON.search(question))
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

    The name is looked for in the previous answer's sentence first (what the user
    just read), then in the previous question.
    """
    sources = [source for source in (previous.answer, previous.question) if source]
    if is_english_text(text):
        found = _EN_PERSON.search(text)
        name = next((n for n in (_person_in(s, previous.question if s is previous.answer else "") for s in sources)
                     if n), "")
        if not found or not name:
            return ""
        possessive = found.group().lower() in ("his", "her", "their")
        return text[:found.start()] + name + ("'s" if possessive else "") + text[found.end():]
    words = _words(text)
    source_text = text if len(normalize(text)) == len(text) else normalize(text)
    for i, (word, flag, start, end) in enumerate(words):
        name, span_end = "", end
        if word in _ZH_PERSONS:
            name = next((n for n in (_person_in(s, previous.question if s is previous.answer else "")
                                     for s in sources) if n), "")
        elif word in _DEMONSTRATIVES and i + 1 < len(words) and words[i + 1][1].startswith("n"):
            head = words[i + 1][0]
            name, span_end = next((n for n in (_named_kind(s, head) for s in sources) if n), ""), words[i + 1][3]
        elif word in _ZH_IT:
            name = previous.organisation
        if name:
            return source_text[:start] + name + source_text[span_end:]
    return ""


def resolve_followup(question: str, previous: ConversationState | None) -> tuple[str, ConversationState]:
    """Turn a follow-up into the question to actually ask, carrying what it leaves out.

    A follow-up starts with 那/那么/那个/还有/and/what about, or ends with 呢, or
    is short (at most `SHORT_UNITS`); it is taken as one only when it does not
    name its own place or organisation together with a question word, which
    makes a complete question and resets the conversation. Then:

    - nothing left but its own names ("广元呢？", "那2021年呢？"): the previous
      question with those names swapped in;
    - a topic only ("电解铝呢？"): the previous place/year with the new topic and
      the previous question's ending ("是多少？");
    - otherwise ("那电解铝占全国多少？"): the previous place, organisation and
      year the follow-up lacks, put in front of it.

    Args:
        question: the question as typed.
        previous: the state after the last question, or None at the start.

    Returns:
        The question to ask (the typed one when it stands alone) and the new state.
    """
    text = " ".join(str(question).split())
    if previous is None or not previous.question or not text:
        return text, _state(text)
    referred = _resolve_references(text, previous)
    if referred:
        return referred, _state(referred)  # it names its subject now, through the previous answer
    if _names_nobody(text):
        return text, _state(text)  # a person it cannot name: asked as typed, no slot carried on a guess
    body, marked = _strip_marker(text)
    own = _slots(body)
    match = normalize(body)
    asks = expected_type(match) != OTHER or bool(_ASKS.search(match))
    if (own.place or own.organisation) and asks and not _NE.search(body):
        return text, _state(text)  # a complete question of its own
    ends_ne = bool(_NE.search(body))
    short = _units(body) <= SHORT_UNITS
    if not (marked or ends_ne or (short and not own.place and not own.organisation)):
        return text, _state(text)
    english = is_english_text(body)
    rest = body
    for value in (own.organisation, _in_text(body, own.place), own.year_text):
        if value:
            rest = rest.replace(value, "", 1)
    rest = _NE.sub("", rest) if ends_ne else _TRAILING.sub("", rest)
    rest = rest.strip(" ,，的")
    if not rest and (own.place or own.organisation or own.year):
        resolved = _swap(previous, own)
    elif ends_ne and not asks and rest:
        if not _context(previous, own, english):
            return text, _state(text)  # a new topic and nothing to carry: it stands alone
        tail = _TAIL.search(previous.topic)
        ending = tail.group() if tail else "？"
        resolved = _prefix(previous, own, _NE.sub("", body), english) + ("" if english else ending)
    else:
        resolved = _prefix(previous, own, body, english)
    return resolved, _state(resolved)


def _prefix(previous: ConversationState, own: _Slots, body: str, english: bool) -> str:
    """The follow-up with the previous turn's missing slots added (in front in Chinese, after in English)."""
    context = _context(previous, own, english)
    if not context:
        return body  # nothing to carry over
    if english:
        core = _TRAILING.sub("", body)
        return f"{core}{context}?"
    return context + body


def resolve_history(question: str, earlier: Sequence[str],
                    answer_of: Callable[[str], str] | None = None) -> tuple[str, ConversationState]:
    """The question to ask after these earlier user questions (oldest first), and the state after it.

    The stateless form of a conversation: the earlier questions are resolved in
    turn exactly as `Conversation.ask` would have, so the same history gives
    the same question whichever client sends it. A pronoun that points at the
    previous answer ("他", "这个基地") needs that answer: `answer_of(question)`
    gives an earlier question's answer sentence when the next question points
    at it; without it, such a pronoun is resolved from the previous question only.
    """
    questions = [_cleaned(q) for q in earlier if str(q).strip()]
    typed = _cleaned(question)
    state = None
    for number, earlier_question in enumerate(questions):
        _, state = resolve_followup(earlier_question, state)
        following = questions[number + 1] if number + 1 < len(questions) else typed
        if answer_of is not None and refers_to_answer(following):
            state = replace(state, answer=answer_of(state.question))
    return resolve_followup(typed, state)


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
    asked, new_state = resolve_followup(typed, state)
    answer = _ask_resolved(qa, typed, asked, scope)
    return answer, replace(new_state, answer=answer.sentence or "")


def ask_with_history(qa: _Asker, question: str, earlier: Sequence[str], **scope: str) -> "Answer":
    """Ask a question after these earlier user questions (oldest first): the stateless form of `ask_followup`.

    Used by the chat endpoint and the MCP tool, whose clients send the earlier
    questions with each request; the answer equals the one `Conversation.ask`
    gives at the same turn (an earlier question whose answer the next one points
    at is asked again for that answer).

    Raises:
        QuestionError, IndexLoadError: as `QA.ask`, for the question itself.
    """
    from qa.api import QuestionError

    def answer_of(earlier_question: str) -> str:
        # The client did not send that answer back as data: asked again (the answer `Conversation` got).
        try:
            return qa.ask(earlier_question).sentence or ""
        except QuestionError:
            return ""

    typed = _cleaned(question)
    asked, _ = resolve_history(question, earlier, answer_of)
    return _ask_resolved(qa, typed, asked, scope)


def _ask_resolved(qa: _Asker, typed: str, asked: str, scope: dict[str, str]) -> "Answer":
    """Ask the resolved question (with the filters given); the answer keeps the user's words when they differ."""
    scope = {name: value for name, value in scope.items() if value}
    answer = qa.ask(asked, **scope)  # `since`, `until`, `source`: as `QA.ask`
    return replace(answer, typed=typed) if asked != typed else answer


class Conversation:
    """Questions that may follow up on the ones before (“广元呢？”, “what about 2021?”).

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
