"""The question-answering entry points: `answer()` and the `QA` class behind it."""

from __future__ import annotations

import logging
import re
import threading
from functools import lru_cache
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from qa.settings import MAX_QUESTION_CHARS, Settings
from qa.types import Answer, Note

if TYPE_CHECKING:
    from qa.crosslingual import Translation
    from qa.answerer import SentenceAnswerer
    from qa.question import Question
    from qa.retriever import HybridRetriever, Retrieval

logger = logging.getLogger(__name__)

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Invisible format characters (zero-width spaces and joiners, bidi overrides,
# soft hyphen, BOM, tag characters) and lone surrogates (from JSON "\ud800"
# or undecodable command-line bytes): removed, so they cannot split a word or
# crash an encoder that needs valid UTF-8.
_INVISIBLE = re.compile(r"[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f"
                        r"\ufeff\ufff9-\ufffb\ud800-\udfff\U000e0000-\U000e007f]")
_WORDLIKE = re.compile(r"[^\W_]", re.UNICODE)
# A number as people write one: digits with separators, a sign, a decimal point, a percent sign.
_NUMBER_ONLY = re.compile(r"[\s\d.,，。:：+\-−/%％?？!！]*", re.UNICODE)
# Text longer than this is cut before cleaning, so that a huge paste costs
# little; what is left is still far above MAX_QUESTION_CHARS.
_RAW_LIMIT = 20 * MAX_QUESTION_CHARS
EXAMPLE_QUESTION = "2022年百色市铝产业总产值是多少？"
NO_WORDS = "the question has no words to search for: type a question in Chinese or English"
OTHER_SCRIPT_NOTE = ("AluQA reads questions in Chinese or English and its articles are in Chinese; "
                     "this question is written in another script")


def _is_han_or_latin(ch: str) -> bool:
    """A letter of the scripts the corpus and the query translation handle."""
    o = ord(ch)
    return (o < 0x250 or 0x1E00 <= o <= 0x1EFF or 0xFF21 <= o <= 0xFF5A  # Latin, full-width Latin
            or 0x3400 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF or 0x20000 <= o <= 0x3134F)  # Han


class QuestionError(ValueError):
    """A question that cannot be asked (empty, or nothing searchable in it).

    `code` and `params` name the message for the page's catalogues (`ui/messages/`, key
    `error_<code>`); `str(error)` is the English wording. A code of "" has no translation.
    """

    def __init__(self, message: str, code: str = "", **params):
        super().__init__(message)
        self.code = code
        self.params = params


def prepare_question(text: object) -> tuple[str, str]:
    """`prepare` with its notes as one English line ("" for none)."""
    cleaned, notes = prepare(text)
    return cleaned, "; ".join(note.text for note in notes)


def prepare(text: object) -> tuple[str, tuple[Note, ...]]:
    """Clean a user's question; returns (question, notes for the user).

    Control characters become spaces, invisible format characters and lone
    surrogates are removed, whitespace runs collapse to one space, and the
    result is cut to MAX_QUESTION_CHARS (the note says so). A question in a
    script that is neither Chinese nor Latin (Russian, Arabic, kana...) is
    still asked, with a note saying AluQA reads Chinese and English.

    Raises:
        QuestionError: not text; empty; without a single letter, digit or
            character; or only a number (nothing says what to look for).
    """
    if not isinstance(text, str):
        raise QuestionError(f"a question must be text, got {type(text).__name__}", "not_text",
                            kind=type(text).__name__)
    notes = []
    cut = len(text) > _RAW_LIMIT
    if cut:
        text = text[:_RAW_LIMIT]
    cleaned = " ".join(_CONTROL.sub(" ", _INVISIBLE.sub("", text)).split())
    if not cleaned:
        raise QuestionError(f"the question is empty: type a question, e.g. {EXAMPLE_QUESTION}", "empty",
                            example=EXAMPLE_QUESTION)
    if len(cleaned) > MAX_QUESTION_CHARS or cut:
        cleaned = cleaned[:MAX_QUESTION_CHARS].rstrip()
        notes.append(Note("cut", f"the question was cut to its first {MAX_QUESTION_CHARS} characters",
                          (("count", MAX_QUESTION_CHARS),)))
    if not _WORDLIKE.search(cleaned):
        raise QuestionError(NO_WORDS, "no_words")
    letters = [ch for ch in cleaned if ch.isalpha()]
    if not letters:
        if _NUMBER_ONLY.fullmatch(cleaned):
            raise QuestionError(f"the question is only a number ({cleaned[:40]}): say what you want to know "
                                f"about it, e.g. {EXAMPLE_QUESTION}", "only_number", number=cleaned[:40],
                                example=EXAMPLE_QUESTION)
        # Digits among other signs ("{0}", "{{7*7}}"): no words, and not a number either.
        raise QuestionError(NO_WORDS, "no_words")
    if not any(_is_han_or_latin(ch) for ch in letters):
        notes.append(Note("other_script", OTHER_SCRIPT_NOTE))
    return cleaned, tuple(notes)


def encoder_for(settings: Settings, model: str | None = None):
    """The text encoder `settings` ask for (`model`, else `settings.model`): runtime, cache and int8 questions.

    The one place where the settings' values reach the encoder: the answering
    pipeline, builds and evaluations all make theirs here.
    """
    from embeddings.model.encoder import load_encoder

    return load_encoder(model or settings.model, runtime=settings.runtime, cache_dir=settings.cache_dir,
                        int8_queries="query" in settings.int8)


class QA:
    """Answers questions from one index.

    Example:
        >>> qa = QA()                      # the index built from the project's seeds/
        >>> a = qa.ask("2022年百色市铝产业总产值是多少？")
        >>> a.found, a.citation.doc

    Args:
        index_dir: the index folder (default: `settings.index_dir`).
        settings: configuration; per-argument values override it.
        encoder: an encoder to use instead of the index's model (tests).

    The index and the model load on first use (`warm_up`). The default index
    (settings' index and corpus folders untouched) is built, or rebuilt when
    the corpus has changed, on first use; any other index must be built with
    `aluqa build`.
    """

    def __init__(self, index_dir: Path | str | None = None, settings: Settings | None = None, encoder=None,
                 watch_index: bool = False):
        settings = settings or Settings()
        self.settings = settings.with_(index_dir=Path(index_dir) if index_dir is not None else None)
        self._encoder = encoder
        self._ready = None
        self._lock = threading.Lock()
        self.watch_index = watch_index
        self._loaded_manifest: tuple | None = None

    def warm_up(self) -> None:
        """Load (and for the default index, build if needed) the index and the model.

        With `watch_index`, a local index that another process replaced since it
        was loaded (`aluqa add`, `remove`, `build`: a new manifest) is loaded again.
        """
        self._pipeline()

    def _pipeline(self) -> "_Pipeline":
        """The loaded pipeline (loading it first when needed), for one question."""
        with self._lock:
            if self._ready is not None and self.watch_index and self._manifest_stamp() != self._loaded_manifest:
                logger.info("the index at %s changed on disk: loading it again", self.settings.index_dir)
                self._ready = None
            if self._ready is None:
                stamp = self._manifest_stamp()
                self._ready = self._load()
                # The stamp from before loading: a swap during the load is seen on the next question.
                self._loaded_manifest = stamp
            return self._ready

    def _manifest_stamp(self) -> tuple | None:
        """What identifies the local index's manifest file on disk (a swap makes a new file), or None."""
        from embeddings.store.manifest import MANIFEST_FILE

        try:
            info = (self.settings.index_dir / MANIFEST_FILE).stat()
        except OSError:
            return None
        return info.st_ino, info.st_mtime_ns, info.st_size

    def reload(self) -> None:
        """Forget the loaded index so the next question loads it again (after a rebuild)."""
        with self._lock:
            self._ready = None

    def _load(self):
        from embeddings.background import BackgroundTask
        from embeddings.model.encoder import warm_up_in_background
        from qa.answerer import SentenceAnswerer
        from qa.crosslingual import EnglishQueryExpander
        from qa.retriever import HybridRetriever

        from embeddings.store import open_index_store, parse_store
        from embeddings.text.tokenize import load_in_background

        settings = self.settings
        # Start-up work in threads, joined before returning. First what loads off the GIL
        # (ONNX Runtime sessions, the SentencePiece vocabulary the selector shares with the
        # encoder), then jieba's and OpenCC's dictionaries, which hold it; meanwhile the index.
        selector = None
        selector_loading = None
        if settings.selector == "trained":
            from qa.selector import default_selector

            selector = default_selector(int8="selector" in settings.int8, cache_dir=settings.cache_dir)
            selector_loading = BackgroundTask(selector.warm_up, name="aluqa-selector-load")
        dictionaries_loading = load_in_background()
        spec = parse_store(settings.store)
        if not spec.is_milvus and self._owns_default_index():
            self._refresh_default_index()
        index = open_index_store(spec, settings.index_dir, expected_model=self._expected_model())
        # ONNX Runtime for the default model: a question never imports torch.
        encoder = self._encoder or encoder_for(settings, settings.model or index.manifest.model)
        if getattr(encoder, "dimension", index.manifest.dimension) != index.manifest.dimension:
            from embeddings.store.manifest import IndexMismatchError, rebuild_hint

            raise IndexMismatchError(f"the model gives {encoder.dimension}-dim vectors, the index holds "
                                     f"{index.manifest.dimension}; {rebuild_hint(settings.index_dir)}")
        encoder_loading = warm_up_in_background(encoder)
        translator = EnglishQueryExpander(index.vocabulary)  # read on the first English question
        for loading in (selector_loading, encoder_loading, dictionaries_loading):
            if loading is not None:
                loading.join()
        return _Pipeline(HybridRetriever(index, encoder, settings), SentenceAnswerer(index, settings, selector=selector),
                         translator.translate)

    def _expected_model(self) -> str | None:
        if self._encoder is not None:
            return self._encoder.name
        if self.settings.model is None:
            return None
        from embeddings.model.build import model_name

        return model_name(self.settings.model)

    def _owns_default_index(self) -> bool:
        default = Settings()
        return (self.settings.index_dir == default.index_dir and self.settings.corpus_dir == default.corpus_dir)

    def _refresh_default_index(self) -> None:
        from embeddings.corpus.build import build_index, index_is_current, model_to_build

        settings = self.settings
        model = self._encoder.name if self._encoder is not None else model_to_build(settings.index_dir, settings.model)
        if index_is_current(settings.corpus_dir, settings.index_dir, model):
            return
        logger.warning("building the index of %s into %s (first use, or the corpus changed)",
                       settings.corpus_dir, settings.index_dir)
        build_index(settings.corpus_dir, settings.index_dir, model=model,
                    encoder=self._encoder or encoder_for(settings, model))

    @property
    def retriever(self) -> "HybridRetriever":
        return self._pipeline().retriever

    @property
    def answerer(self) -> "SentenceAnswerer":
        return self._pipeline().answerer

    @property
    def index(self):
        return self._pipeline().retriever.index

    def ask(self, question: str, since: str | None = None, until: str | None = None,
            source: str | None = None) -> Answer:
        """Answer one question with one cited sentence, or an explicit "not found".

        Args:
            question: the question, in Chinese or English.
            since, until: only articles dated in this range ("2022", "2022-08" or
                "2022-08-14", both ends included); articles without a date are left out
                and the answer's note says how many.
            source: only articles whose source holds this name.

        Raises:
            QuestionError: the question is empty or has nothing to search for, or a date is unreadable.
            IndexLoadError: the index is missing, damaged or built with another model.
        """
        return self.trace(question, since=since, until=until, source=source).answer

    def ask_in_article(self, question: str, doc: str, paragraph: int | None = None, since: str | None = None,
                       until: str | None = None, source: str | None = None) -> Answer | None:
        """The answer from one article alone, or None when it holds none (or is outside the filter, or gone).

        With `paragraph`, the candidates of that paragraph are read first and the
        whole article's only when they hold no answer: a follow-up most often asks
        what is said next to what it was just told (`qa.conversation`).

        Raises:
            QuestionError: as `ask`.
        """
        from qa.retriever import Retrieval
        from qa.scope import Scope

        scope = Scope(since or "", until or "", source or "")
        parsed, notes, pipeline = self._parse(question)
        try:
            article = pipeline.retriever.index.get_article(doc)
        except KeyError:
            return None  # removed from the index since it was cited
        if scope and not scope.admits(article):
            return None
        retrieval = pipeline.retriever.retrieve(parsed, docs=frozenset({doc}))
        tries = [retrieval]
        if paragraph is not None:
            tries.insert(0, Retrieval(tuple(hit for hit in retrieval.hits if hit.sentence.paragraph == paragraph),
                                      retrieval.passages))
        for candidates in tries:
            answer = pipeline.answerer.answer(parsed, candidates, notes=notes) if candidates.hits else None
            if answer is not None and answer.found:
                return answer
        return None

    def parse(self, question: str) -> "Question":
        """The question as the retriever and answerer read it (English ones with their Chinese search words).

        Raises:
            QuestionError: the question is empty or has nothing to search for.
        """
        return self._parse(question)[0]

    def _parse(self, question: str) -> tuple["Question", tuple[Note, ...], "_Pipeline"]:
        from qa.question import parse_question

        text, notes = prepare(question)
        pipeline = self._pipeline()  # one pipeline for the whole question, even if a reload follows
        return parse_question(text, pipeline.translate), notes, pipeline

    def trace(self, question: str, since: str | None = None, until: str | None = None,
              source: str | None = None) -> "Trace":
        """Answer a question and keep what led to the answer (for evaluation and debugging)."""
        from qa.scope import Scope, scope_docs

        scope = Scope(since or "", until or "", source or "")  # a bad date is refused before any work
        parsed, notes, pipeline = self._parse(question)
        if not scope:
            retrieval = pipeline.retriever.retrieve(parsed)
            return Trace(parsed, retrieval, pipeline.answerer.answer(parsed, retrieval, notes=notes))
        docs, undated = scope_docs(scope, pipeline.articles())
        if undated:
            notes += (Note("undated", f"{undated} articles without a date were left out by the date filter",
                           (("count", undated),)),)
        retrieval = pipeline.retriever.retrieve(parsed, docs=docs)
        answer = pipeline.answerer.answer(parsed, retrieval, notes=notes)
        within = (Note("within", f"answered within the filter ({scope.describe()})",
                       (("filter", scope.describe()),)) if answer.found else
                  Note("nothing_within", f"nothing found within the filter ({scope.describe()}, {len(docs)} articles); "
                                         "the filter may be why", (("filter", scope.describe()), ("count", len(docs)))))
        return Trace(parsed, retrieval, replace(answer, notes=answer.notes + (within,)))


@dataclass(frozen=True)
class _Pipeline:
    retriever: "HybridRetriever"
    answerer: "SentenceAnswerer"
    translate: Callable[[str], "Translation"]
    _articles: list = field(default_factory=list, compare=False)  # read on the first filtered question
    _articles_lock: threading.Lock = field(default_factory=threading.Lock, compare=False)

    def articles(self) -> list:
        """The index's articles (their dates and sources decide what a filter lets in)."""
        with self._articles_lock:  # filtered questions may arrive together: read them once
            if not self._articles:
                self._articles.extend(self.retriever.index.iter_articles())
        return self._articles


@dataclass(frozen=True)
class Trace:
    """One question's way through the system: parsed question, retrieval, answer."""

    question: "Question"
    retrieval: "Retrieval"
    answer: Answer


@lru_cache(maxsize=4)
def _shared_qa(settings: Settings) -> QA:
    # One loaded model and index per configuration, reused across calls.
    return QA(settings=settings)


def answer(question: str, settings: Settings | None = None) -> Answer:
    """Answer a question from the default index (built from `seeds/` on first use).

    Example:
        >>> from qa import answer
        >>> answer("2022年百色市铝产业总产值是多少？").sentence
    """
    return _shared_qa(settings or Settings()).ask(question)
