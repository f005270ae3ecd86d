"""SentenceAnswerer: picks the one sentence that answers, or says the corpus has none."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Sequence

import numpy as np

from embeddings.text.normalize import normalize
from embeddings.text.split import split_paragraphs
from embeddings.store import IndexStore
from embeddings.types import Article, Sentence
from qa.question import DATE, NUMBER, PERSON, PLACE, YEAR, Question, selector_hints
from qa.ranker import (FEATURES, LinearRanker, char_bigrams, default_ranker, log_length,
                       longest_common_substring, novelty)
from qa.retriever import Hit, PassageScore, Retrieval
from qa.selector import AnswerSelector, MatchSpan, choose_in_turn
from qa.settings import Settings
from qa.span import original_span
from qa.types import Answer, AnswerSpan, Citation, Note, PassageHit

_CN_DIGITS = "零〇一二三四五六七八九十两百千万亿"
# Counted things: a Chinese numeral is a number only before a measure word (一些 is not).
_MEASURE = ("个条台家项次倍名位年大批座种所层场路人届部本只首张级期号件支队艘架辆颗枚门栋间段节块片元米岁天月周"
            "盘局轮圈册卷章集篇份户口头匹株棵尾")
_NUMBER = re.compile(rf"\d+(?:\.\d+)?|第[{_CN_DIGITS}]+|[{_CN_DIGITS}]+(?=[{_MEASURE}])"
                     # 三分之一; 四十万, 八百 (a digit then a power of ten: 十分 and 千万 are words, not numbers)
                     rf"|[{_CN_DIGITS}]+分之[{_CN_DIGITS}]+|[一二三四五六七八九两][十百千万亿][{_CN_DIGITS}]*")
# Dates, and the other ways a "when" is answered: eras and dynasties (元朝, 宋代末,
# 侏罗纪), periods (白垩纪中期) and relative times (发展成俗语之后).
_DATE = re.compile(rf"\d{{1,2}}月(?:\d{{1,2}}[日号])?|\d{{2,4}}(?:年|-\d{{1,4}})|[{_CN_DIGITS}]+年|\d+世纪|年代|年间|时期|期间"
                   r"|[今去明前]年|上旬|中旬|下旬|年底|年初|\d+岁|[春夏秋冬]季|[早晚上下中]午|凌晨|夜间|时候"
                   r"|[\u4e00-\u9fff]朝(?![向着鲜阳野])|[\u4e00-\u9fff]纪(?![念律录要检委])|[唐宋元明清汉晋隋]代|代[初中末]"
                   r"|[早中晚初末]期|之[后前]|以[后前]|[前后]夕|当时|时分|时份")
# `Answer.selector` when the linear ranker and the support rule decided.
LINEAR_RANKER = "linear ranker"
_PLACE_HINT = re.compile(r"在|于|产自|位于|来自|落户")
_PLACE_SUFFIX = re.compile(r"(?<=..)(?:市|省|县|区|自治区|地区)$")
# What an organisation's or a people's name may be shortened to in a text (奥斯曼帝国: 奥斯曼).
_NAME_SUFFIX = re.compile(r"(?<=..)(?:帝国|王国|政府|国会|大学|学院|公司|集团|州|省|市|县|区|国|族|人)$")
# Articles an answerer keeps read (their text and matching forms), most recently used first.
ARTICLES_KEPT = 1024


@dataclass(frozen=True)
class Judged:
    """A candidate sentence with everything the answerer weighed."""

    hit: Hit
    score: float
    support: float
    confidence: float
    type_ok: bool
    unit_ok: bool
    focus_ok: bool
    agrees: bool
    names_ok: bool  # its article names every person and organisation the question names
    around: "Neighbourhood"  # the question's candidates and their neighbours, as read from the store


def eligible(judged: Judged, question: Question) -> bool:
    """Whether a candidate may be the answer: it agrees with the years and places the question
    names, its article names the persons and organisations the question names, and it holds a
    number or a date when one is asked. The one rule of serving and training."""
    return judged.agrees and judged.names_ok and (judged.type_ok or question.expected not in (NUMBER, DATE))


LEFT_OUT_KINDS = ("years", "places", "names")


def reading_question(question: Question, sentence: str, left_out: Sequence[str]) -> str:
    """The question's matching form without the years, places or names (`left_out` kinds) that the
    candidate's sentence (matching form) does not hold: what the selector reads beside that sentence.

    Only for an eligible candidate: its paragraph holds the years, its article the places and
    names (`eligible`), so leaving them out loses no check; a sentence that leaves them to its
    paragraph ("2022年，全市…", "该公司…") is then read for what it says. English questions are
    read whole (their names are in English, the sentences in Chinese).
    """
    if question.is_english or not left_out:
        return question.match
    text = question.match
    if "years" in left_out:
        for year in question.years:
            if year not in sentence:
                text = re.sub(rf"{year}年?", "", text)
    if "places" in left_out:
        for place in question.places:
            if _place_stem(place) not in sentence:
                text = text.replace(place, "")
    if "names" in left_out:
        for name in question.names:
            if not names_in(name, sentence):
                text = text.replace(name, "")
    text = re.sub(r"^[\s,，、的]+", "", text)
    return text if re.search(r"[\u4e00-\u9fffA-Za-z0-9]", text) else question.match


def names_in(name: str, text: str) -> bool:
    """Whether a text names a person or organisation: as written, by a short form (奥斯曼帝国:
    奥斯曼), or, for a name of three or more characters, without its first or last character,
    where jieba cut the question's name with a neighbouring character (和望平, 南云忠)."""
    if name in text:
        return True
    short = _NAME_SUFFIX.sub("", name)
    if short != name and short in text:
        return True
    return len(name) >= 3 and (name[1:] in text or name[:-1] in text)


@lru_cache(maxsize=4096)
def _names(match_text: str, flag_prefix: str) -> frozenset[str]:
    """Words of one part-of-speech family (jieba: nr persons, ns places) in a text."""
    from qa.question import _posseg

    return frozenset(p.word for p in _posseg().cut(match_text) if p.flag.startswith(flag_prefix) and len(p.word) >= 2)


def _has_unit(match_text: str, unit: str) -> bool:
    if not unit:
        return False
    return re.search(rf"[\d{_CN_DIGITS}.]\s*{re.escape(unit)}", match_text) is not None


def _type_ok(question: Question, match_text: str) -> bool:
    """Does the sentence hold something of the kind the question asks for?"""
    if question.expected == NUMBER:
        # A number the question itself states (its year, "三年") is not an answer.
        return any(number not in question.match for number in _NUMBER.findall(match_text))
    if question.expected == DATE:
        return _DATE.search(match_text) is not None
    if question.expected == PERSON:
        return bool(_names(match_text, "nr") - _names(question.match, "nr"))
    if question.expected == PLACE:
        return bool(_names(match_text, "ns") - set(question.places)) or _PLACE_HINT.search(match_text) is not None
    return True


# A year a text compares with or counts from ("比2022年增长", "2019年以来") dates nothing in it.
_COMPARED_BEFORE = re.compile(r"(?:比|较|与|同|自|从|和|跟|相比)\s*$")
_COMPARED_AFTER = re.compile(r"年?(?:以来|来|至今|相比|同期|底以来)")


def dates_itself(paragraph: str) -> bool:
    """Whether a paragraph (matching form) names a year for what it reports: a year it does not
    only compare with or count from."""
    return any(not _COMPARED_BEFORE.search(paragraph[max(found.start() - 3, 0):found.start()])
               and not _COMPARED_AFTER.match(paragraph, found.end())
               for found in YEAR.finditer(paragraph))


def _place_stem(place: str) -> str:
    return _PLACE_SUFFIX.sub("", place)


@dataclass(frozen=True)
class ArticleView:
    """What the answerer reads of one article, in matching form."""

    title: str  # the title
    whole: str  # title and text: where the question's places must occur
    context: str  # title, date and source: read with every sentence of the article
    paragraphs: tuple[str, ...]  # paragraph p (1-based) is paragraphs[p - 1]
    dated: tuple[bool, ...]  # whether paragraph p names a year of its own (`dates_itself`): dated[p - 1]


def article_view(article: Article) -> ArticleView:
    paragraphs = tuple(normalize(article.text[start:end]) for start, end in split_paragraphs(article.text))
    return ArticleView(normalize(article.title), normalize(article.title + "\n" + article.text),
                       normalize(f"{article.title} {article.date} {article.source}"), paragraphs,
                       tuple(dates_itself(paragraph) for paragraph in paragraphs))


@dataclass(frozen=True)
class Neighbourhood:
    """The candidate sentences of one question and the sentences around them, read from the store at once."""

    sentences: dict[int, Sentence]
    matches: dict[int, str]

    @classmethod
    def read(cls, index: IndexStore, sentences: Iterable[Sentence]) -> "Neighbourhood":
        ids = sorted({s.id + step for s in sentences for step in (-1, 0, 1) if s.id + step >= 0})
        return cls(index.get_sentences(ids), index.get_sentence_matches(ids))

    def match(self, sentence: Sentence) -> str:
        return self.matches[sentence.id]

    def neighbour(self, sentence: Sentence, step: int) -> str:
        """Matching text of the sentence `step` away in the same paragraph, or ""."""
        other = self.sentences.get(sentence.id + step)
        if other is not None and other.doc == sentence.doc and other.paragraph == sentence.paragraph:
            return self.matches.get(other.id, "")
        return ""


def cite(sentence, article) -> Citation:
    """The citation of a sentence of an article: the one place both answer paths build it."""
    return Citation(doc=sentence.doc, title=article.title, source=article.source, date=article.date,
                    paragraph=sentence.paragraph, start=sentence.start, end=sentence.end,
                    author=getattr(article, "author", ""))


class SentenceAnswerer:
    """Chooses one sentence among the retriever's candidates.

    A candidate is eligible only when every year the question names occurs in
    its paragraph or, when the paragraph dates nothing itself, in the article's
    date or title, and every place, person and
    organisation the question names occurs in its article: a figure for another
    year, city or company must never be returned as the answer. Among eligible candidates, one holding the kind
    of thing asked for (a number with the asked unit, a date, a name) wins
    over a mere restatement of the question. The answer is "not found" when
    its support (how much of the question the sentence covers, lexically and
    in the dense space) is below `Settings.min_support` and the ranker's
    confidence in it is below `Settings.min_confidence`.
    """

    def __init__(self, index: IndexStore, settings: Settings, ranker: LinearRanker | None = None,
                 selector: AnswerSelector | None = None):
        self.index = index
        self.settings = settings
        self.ranker = ranker or (default_ranker() if settings.ranker == "trained" else LinearRanker.hand_set())
        self.selector = selector
        # Articles are read from the store as candidates name them, and kept for later questions.
        self._article = lru_cache(maxsize=ARTICLES_KEPT)(index.get_article)
        self._view = lru_cache(maxsize=ARTICLES_KEPT)(lambda doc: article_view(self._article(doc)))

    # -- evidence ------------------------------------------------------------------
    def _token_weights(self, question: Question) -> dict[str, float]:
        """IDF of each question token over the sentences: rare words weigh more."""
        frequencies, n = self.index.document_frequencies(question.tokens)
        n = max(n, 1)
        weights = {}
        for token in question.tokens:
            df = frequencies[token]
            weights[token] = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
        return weights

    def _support(self, question: Question, weights: dict[str, float], hit: Hit, match: str) -> float:
        """How well the sentence itself bears on the question, in [0, 1].

        Half is lexical: the share of the question's IDF weight that the
        sentence (with its article's title, date and source) covers. Half is
        the sentence's cosine to the question, mapped from the band where e5
        puts related Chinese text (0.85 .. 0.95) to 0 .. 1. For an English
        question only the lexical half counts (over its translated tokens):
        e5-small's cross-lingual cosines bunch together (0.74 .. 0.80 for
        answers and unrelated sentences alike) and carry no signal.
        """
        covered = self._coverage(weights, match + self._view(hit.sentence.doc).context)
        low, high = self.settings.dense_band
        dense = min(max((hit.dense - low) / (high - low), 0.0), 1.0)
        return covered if question.is_english else 0.5 * covered + 0.5 * dense

    def _agrees(self, question: Question, sentence: Sentence) -> bool:
        view = self._view(sentence.doc)
        paragraph = view.paragraphs[sentence.paragraph - 1]
        # The article's date and title stand for a year only in a paragraph that dates nothing
        # itself: "2022年,全市铝产业总产值…" in an article of 2023 is 2022's figure, not 2023's.
        dated_by_article = "" if view.dated[sentence.paragraph - 1] else view.context
        if any(year not in paragraph and year not in dated_by_article for year in question.years):
            return False
        return all(_place_stem(place) in view.whole for place in question.places)

    def _names_agree(self, question: Question, sentence: Sentence) -> bool:
        whole = self._view(sentence.doc).whole
        return all(names_in(name, whole) for name in question.names)

    def _coverage(self, weights: dict[str, float], text: str) -> float:
        total = sum(weights.values())
        return sum(w for t, w in weights.items() if t in text) / total if total else 0.0

    def features(self, question: Question, retrieval: Retrieval, around: Neighbourhood | None = None,
                 weights: dict[str, float] | None = None) -> tuple[np.ndarray, list[tuple[bool, bool, bool]]]:
        """Feature rows (in `qa.ranker.FEATURES` order) of the candidates, and their (type, unit, focus) flags.

        `around` and `weights` are read from the index when not given (`judge` reads them once for both uses).
        """
        around = around or Neighbourhood.read(self.index, [hit.sentence for hit in retrieval.hits])
        weights = self._token_weights(question) if weights is None else weights
        question_bigrams = char_bigrams(question.match)
        question_chars = max(len(question.match), 1)
        rows, flags = [], []
        for rank, hit in enumerate(retrieval.hits):
            sentence = hit.sentence
            match = around.match(sentence)
            type_ok = _type_ok(question, match)
            unit_ok = _has_unit(match, question.unit)
            focus_ok = any(word in match for word in question.focus)
            bigrams = char_bigrams(match)
            row = {
                "fused": hit.score, "dense": hit.dense, "lexical": hit.lexical, "passage": hit.passage_score,
                "passage_dense": hit.passage_dense,
                "coverage": self._coverage(weights, match + self._view(sentence.doc).context),
                "coverage_prev": self._coverage(weights, around.neighbour(sentence, -1)),
                "coverage_next": self._coverage(weights, around.neighbour(sentence, +1)),
                "bigrams": len(question_bigrams & bigrams) / max(len(question_bigrams), 1),
                "longest_common": min(longest_common_substring(question.match, match) / question_chars, 1.0),
                "type_ok": float(type_ok), "unit_ok": float(unit_ok or focus_ok),
                "novelty": novelty(question.match, match), "log_length": log_length(match),
                "rank": 1.0 / (rank + 1),
            }
            rows.append([row[name] for name in FEATURES])  # by name: the ranker's weights follow FEATURES
            flags.append((type_ok, unit_ok, focus_ok))
        return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(FEATURES)), flags

    def judge(self, question: Question, retrieval: Retrieval) -> list[Judged]:
        """Score every candidate with the ranker; eligible candidates first, best first."""
        around = Neighbourhood.read(self.index, [hit.sentence for hit in retrieval.hits])
        weights = self._token_weights(question)  # one read of the document frequencies per question
        matrix, flags = self.features(question, retrieval, around, weights)
        # The trained ranker learnt from Chinese questions; English ones (translated
        # tokens, low cross-lingual cosines) lie outside what it saw.
        ranker = LinearRanker.hand_set() if question.is_english else self.ranker
        scores = ranker.score(matrix) if len(matrix) else np.zeros(0)
        # The ranker's softmax over the candidates: its belief that each one is the answer.
        confidence = np.exp(scores - scores.max()) if len(scores) else scores
        confidence = confidence / confidence.sum() if len(scores) else confidence
        judged = [
            Judged(hit, float(score), self._support(question, weights, hit, around.match(hit.sentence)),
                   float(belief), type_ok, unit_ok, focus_ok, self._agrees(question, hit.sentence),
                   self._names_agree(question, hit.sentence), around)
            for hit, score, belief, (type_ok, unit_ok, focus_ok) in zip(retrieval.hits, scores, confidence, flags)
        ]
        # Names do not reorder the candidates (they only make some ineligible), so the candidates
        # the selector was trained on keep their order.
        judged.sort(key=lambda j: (j.agrees, j.score), reverse=True)
        return judged

    # -- the answer ----------------------------------------------------------------
    def answer(self, question: Question, retrieval: Retrieval, notes: tuple[Note, ...] = ()) -> Answer:
        judged = self.judge(question, retrieval)
        # The multilingual selector reads English questions as it reads Chinese ones (it was trained on both).
        if self.selector is not None and judged and (not question.is_english or self.selector.config.english):
            return self._select(question, retrieval, judged, notes)
        best = judged[0] if judged else None
        found = (
            best is not None
            and eligible(best, question)
            # Weak support alone does not refuse: a paraphrase shares few words with its
            # answer. Weak support *and* a ranker torn between candidates does.
            and (best.support >= self.settings.min_support or best.confidence >= self.settings.min_confidence)
            and self._corpus_speaks_of(question)
        )
        passages = self._passages(retrieval, best.hit.sentence.passage if found else None)
        candidates = tuple(j.hit.sentence.text for j in judged[:3])
        if not found:
            return Answer(question=question.text, found=False, sentence=None, citation=None, passages=passages,
                          notes=notes, candidates=candidates, selector=LINEAR_RANKER,
                          support=best.support if best else 0.0)
        sentence = best.hit.sentence
        article = self._article(sentence.doc)
        citation = cite(sentence, article)
        return Answer(question=question.text, found=True, sentence=sentence.text, citation=citation, passages=passages,
                      notes=notes, candidates=candidates, selector=LINEAR_RANKER, support=best.support)

    def _corpus_speaks_of(self, question: Question) -> bool:
        """False for an English question most of whose words have no Chinese counterpart in the corpus.

        Such a question (“What is the population of Paris?”, `<script>...`) is about
        something the corpus does not cover; the selector, which reads the
        English with the candidates, does not refuse all of them by itself.
        """
        return not question.is_english or question.translated_share > self.settings.min_translated_share

    def selector_inputs(self, judged: list[Judged]) -> tuple[list[Judged], list[str], list[str], list[str]]:
        """The candidates the selector reads: their sentences, article titles and preceding sentences
        (same paragraph, "" for a paragraph's first), all in matching form."""
        pool = judged[: self.settings.selector_candidates or self.selector.config.candidates]
        return (pool, [j.around.match(j.hit.sentence) for j in pool],
                [self._view(j.hit.sentence.doc).title for j in pool],
                [j.around.neighbour(j.hit.sentence, -1) for j in pool])

    def _select(self, question: Question, retrieval: Retrieval, judged: list[Judged],
                notes: tuple[Note, ...]) -> Answer:
        """The cross-encoder reads the top candidates; its logit against "no answer" decides.

        A candidate stays eligible only when it agrees with the question's years
        and places and, for a number or date question, holds one: checks, not
        scores. Only eligible candidates are read, the first alone, the rest
        only when it is not sure enough (`qa.selector.choose_in_turn`).
        """
        config = self.selector.config
        pool, sentences, titles, previous = self.selector_inputs(judged)
        hints = selector_hints(question)
        spans: dict[int, MatchSpan | None] = {}

        def logits_of(positions: list[int]) -> np.ndarray:
            texts = [config.question_text(reading_question(question, sentences[i], config.checked_left_out), hints)
                     for i in positions]
            reading = self.selector.read(texts, [sentences[i] for i in positions], [titles[i] for i in positions],
                                         [previous[i] for i in positions])
            spans.update(zip(positions, reading.spans))
            return reading.logits

        pick = choose_in_turn(logits_of, np.array([j.confidence for j in pool]), [eligible(j, question) for j in pool],
                              config.weight_for(question.is_english), config.refuse_below,
                              config.stop_above if self.settings.selector_stops_early else None)
        order = sorted(range(len(pool)), key=lambda i: -pick.combined[i])
        candidates = tuple(pool[i].hit.sentence.text for i in order[:3])
        # The probability the model gives this sentence over "no answer".
        score = 1.0 / (1.0 + math.exp(-pick.logit)) if pick.position is not None else 0.0
        best = pool[pick.position] if pick.position is not None else None
        found = pick.found and self._corpus_speaks_of(question)
        passages = self._passages(retrieval, best.hit.sentence.passage if found else None)
        if not found:
            return Answer(question=question.text, found=False, sentence=None, citation=None, passages=passages,
                          notes=notes, candidates=candidates, selector=self.selector.name, probability=score)
        sentence = best.hit.sentence
        article = self._article(sentence.doc)
        citation = cite(sentence, article)
        span = self._span(sentence, sentences[pick.position], spans[pick.position])
        return Answer(question=question.text, found=True, sentence=sentence.text, citation=citation, passages=passages,
                      notes=notes, candidates=candidates, selector=self.selector.name, probability=score,
                      span=span)

    def _span(self, sentence: Sentence, match: str, guess) -> AnswerSpan | None:
        """The selector's span as offsets in the sentence and the article, when it is sure enough."""
        threshold = self.settings.span_threshold
        if guess is None or guess.probability < (threshold if threshold >= 0 else self.selector.config.span_threshold):
            return None
        offsets = original_span(sentence.text, match, guess.start, guess.end)
        if offsets is None:
            return None
        start, end = offsets
        return AnswerSpan(sentence.text[start:end], start, end, sentence.start + start, sentence.start + end,
                          guess.probability)

    def _passages(self, retrieval: Retrieval, answer_passage: int | None) -> tuple[PassageHit, ...]:
        """The answer's own passage first, then the best others."""
        ranked = sorted(retrieval.passages, key=lambda p: p.passage.id != answer_passage)
        if answer_passage is not None and (not ranked or ranked[0].passage.id != answer_passage):
            # The answer's passage ranked below those kept: show it first all the same.
            ranked[:0] = [PassageScore(p, 0.0, 0.0) for p in self.index.get_passages([answer_passage]).values()]
        return tuple(
            PassageHit(p.passage.doc, p.passage.text, p.score, p.passage.paragraph, p.passage.start, p.passage.end)
            for p in ranked[: self.settings.top_passages]
        )
