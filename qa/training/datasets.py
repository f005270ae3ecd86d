"""Open-corpus evaluation on SQuAD-style files (every passage a document), and refusal figures."""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from embeddings.store.local import corpus_hash
from embeddings.text.normalize import normalize
from embeddings.types import Article
from qa.training.evaluate import SeedQAReport

# Written into an index folder this module built: such a folder may be rebuilt in place.
MARKER_FILE = "eval-source.json"


class EvalError(ValueError):
    """An evaluation that cannot run (unreadable file, a folder that is not ours); the message says why."""


@dataclass(frozen=True)
class SquadQuestion:
    """One question of a SQuAD-style file; `doc` is the passage it was written on.

    `answerable` is False for SQuAD 2.0's `is_impossible` questions (no answers):
    refusing them is the right reply.
    """

    id: str
    question: str
    answers: tuple[str, ...]
    doc: str
    answerable: bool = True


@dataclass(frozen=True)
class SquadSet:
    """A SQuAD-style file read as a corpus (one Article per passage) and its questions."""

    name: str
    articles: tuple[Article, ...]
    questions: tuple[SquadQuestion, ...]

    @property
    def corpus_hash(self) -> str:
        return corpus_hash(self.articles)


def read_squad(path: Path | str) -> SquadSet:
    """Read `data[].paragraphs[]`: each context becomes the Article `<article id or title>#<n>`.

    Raises:
        EvalError: the file is missing, not JSON, or not in the SQuAD layout.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))["data"]
        articles, questions = [], []
        for entry in data:
            title = str(entry.get("title") or "")
            key = str(entry.get("id") or title)
            for number, paragraph in enumerate(entry["paragraphs"], start=1):
                context = paragraph["context"]
                if not context.strip():
                    continue
                doc = f"{key}#{number}"
                articles.append(Article(doc=doc, title=title, source="", date="", text=context,
                                        content_hash=hashlib.sha256(context.encode("utf-8")).hexdigest()))
                for qa in paragraph.get("qas", ()):
                    spans = tuple(dict.fromkeys(a["text"].strip() for a in qa.get("answers", ()) if a["text"].strip()))
                    if qa.get("is_impossible"):
                        questions.append(SquadQuestion(str(qa.get("id", "")), qa["question"], (), doc, False))
                    elif spans:
                        questions.append(SquadQuestion(str(qa.get("id", "")), qa["question"], spans, doc))
    except OSError as exc:
        raise EvalError(f"cannot read {path} ({exc.strerror or exc})") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise EvalError(f"{path} is not a SQuAD-style file ({type(exc).__name__}: {exc})") from None
    if not articles:
        raise EvalError(f"{path} holds no passage")
    return SquadSet(path.stem, tuple(articles), tuple(questions))


def default_eval_index_dir(squad: SquadSet, cache_dir: Path | None = None) -> Path:
    """`<cache>/eval-index/<file stem>-<corpus hash[:12]>`, in `cache_dir` (`Settings.cache_dir`; None: the user cache)."""
    from embeddings.model.build import cache_folder

    return cache_folder(cache_dir) / "eval-index" / f"{squad.name}-{squad.corpus_hash[:12]}"


@dataclass(frozen=True)
class IndexReady:
    """The index an evaluation runs on, and whether this run had to build it."""

    folder: Path
    built: bool
    seconds: float


def _is_current(folder: Path, squad: SquadSet, model: str) -> bool:
    from embeddings.store.manifest import IndexLoadError, Manifest

    try:
        manifest = Manifest.read(folder)
    except IndexLoadError:
        return False
    return manifest.matches(squad.corpus_hash, model)


def ensure_squad_index(squad: SquadSet, folder: Path, encoder, show_progress: bool = False,
                       on_stage: Callable[[str], None] | None = None) -> IndexReady:
    """Reuse `folder` when it holds this corpus made with `encoder`'s model, else build it there.

    Raises:
        EvalError: the folder holds something this module did not build (never overwritten).
    """
    from embeddings.store.local import CorpusIndex
    from embeddings.text.split import segment_articles

    started = time.perf_counter()
    folder = Path(folder)
    if _is_current(folder, squad, encoder.name):
        return IndexReady(folder, False, time.perf_counter() - started)
    if folder.exists() and any(folder.iterdir()) and not (folder / MARKER_FILE).is_file():
        raise EvalError(f"{folder} holds another index or other files; remove it or pick another --index")
    sentences, passages = segment_articles(list(squad.articles))
    index = CorpusIndex.build(squad.articles, sentences, passages, encoder, show_progress=show_progress,
                              on_stage=on_stage)
    index.save(folder)
    (folder / MARKER_FILE).write_text(json.dumps({"squad": squad.name, "corpus_hash": squad.corpus_hash}) + "\n",
                                      encoding="utf-8")
    return IndexReady(folder, True, time.perf_counter() - started)


# -- scoring ------------------------------------------------------------------------
def contains_answer(sentence: str | None, answers: Sequence[str]) -> bool:
    """Does the sentence hold a gold span? Both sides compared in `normalize`d form."""
    if not sentence:
        return False
    text = normalize(sentence)
    return any(normalize(answer) in text for answer in answers)


def first_right_rank(candidates: Sequence[str], answers: Sequence[str]) -> int | None:
    """1-based rank of the first candidate holding a gold span, or None."""
    return next((rank for rank, text in enumerate(candidates, start=1) if contains_answer(text, answers)), None)


def ranked_docs(passage_docs: Iterable[str]) -> tuple[str, ...]:
    """The docs of passages ranked best first, each kept at its first place."""
    return tuple(dict.fromkeys(passage_docs))


@dataclass(frozen=True)
class Outcome:
    """What the system did with one question."""

    question: SquadQuestion
    found: bool
    sentence: str | None
    candidates: tuple[str, ...]  # best first, as `Answer.candidates`
    passage_docs: tuple[str, ...]  # docs of the retrieved passages, best first
    seconds: float  # wall time of `QA.ask`
    answer_text: str | None = None  # the exact answer the selector's span head gave, if any
    span_probability: float = 0.0  # the span head's probability of it

    @property
    def right_rank(self) -> int | None:
        return first_right_rank(self.candidates, self.question.answers)

    @property
    def correct(self) -> bool:
        if not self.question.answerable:
            return not self.found
        return self.found and contains_answer(self.sentence, self.question.answers)

    @property
    def span_scores(self) -> tuple[float, float]:
        """(exact match, character F1) of the answer text against the best gold span; 0 without a span."""
        from qa.span import char_f1

        if not self.answer_text or not self.question.answers:
            return 0.0, 0.0
        guess = normalize(self.answer_text)
        golds = [normalize(a) for a in self.question.answers]
        return float(guess in golds), max(char_f1(guess, gold) for gold in golds)

    @property
    def doc_rank(self) -> int | None:
        docs = ranked_docs(self.passage_docs)
        return docs.index(self.question.doc) + 1 if self.question.doc in docs else None


def _percentile(values: Sequence[float], share: float) -> float:
    import numpy as np

    return float(np.percentile(values, share)) if values else 0.0


@dataclass
class SquadReport:
    """Every outcome of a run; `figures()` summarises them."""

    outcomes: list[Outcome]
    span_threshold: float = 0.0  # the probability from which the selector shows its span

    def figures(self) -> dict:
        """Sentence accuracy@1/@3, passage recall@1/@5 (docs deduped in rank order), refusals, latency.

        Accuracy@1 counts an unanswerable question as right when it is refused;
        accuracy@3 and the recalls are over answerable questions only. With
        unanswerable questions in the file, the refusal figures follow:
        precision (refusals that were of unanswerable questions), recall
        (unanswerable questions refused) and the share of answerable ones refused.
        """
        outcomes = self.outcomes
        n = max(len(outcomes), 1)
        answerable = [o for o in outcomes if o.question.answerable]
        unanswerable = [o for o in outcomes if not o.question.answerable]
        m = max(len(answerable), 1)
        ranks = [o.right_rank for o in answerable]
        doc_ranks = [o.doc_rank for o in answerable]
        millis = [o.seconds * 1000 for o in outcomes]
        figures = {
            "questions": len(outcomes),
            "sentence_accuracy_at_1": round(sum(o.correct for o in outcomes) / n, 4),
            "sentence_accuracy_at_3": round(sum(r is not None and r <= 3 for r in ranks) / m, 4),
            "passage_recall_at_1": round(sum(r == 1 for r in doc_ranks) / m, 4),
            "passage_recall_at_5": round(sum(r is not None and r <= 5 for r in doc_ranks) / m, 4),
            "not_found_share": round(sum(not o.found for o in outcomes) / n, 4),
            "latency_p50_ms": round(_percentile(millis, 50), 1),
            "latency_p95_ms": round(_percentile(millis, 95), 1),
        }
        spans = [o.span_scores for o in answerable]
        if any(o.answer_text for o in answerable):
            # Over every answerable question (no span, or a wrong sentence, scores 0); then the
            # spans the page shows (at or above the selector's threshold) among right sentences.
            shown = [o for o in answerable if o.correct and o.answer_text and o.span_probability >= self.span_threshold]
            figures.update({
                "span_exact_match": round(sum(e for e, _ in spans) / m, 4),
                "span_f1": round(sum(f for _, f in spans) / m, 4),
                "span_threshold": round(self.span_threshold, 4),
                "span_shown_share": round(len(shown) / m, 4),
                "span_exact_match_when_shown": round(sum(o.span_scores[0] for o in shown) / max(len(shown), 1), 4),
                "span_f1_when_shown": round(sum(o.span_scores[1] for o in shown) / max(len(shown), 1), 4),
            })
        if unanswerable:
            refused = [o for o in outcomes if not o.found]
            right_refusals = sum(not o.question.answerable for o in refused)
            figures.update({
                "answerable_questions": len(answerable),
                "answerable_accuracy_at_1": round(sum(o.correct for o in answerable) / m, 4),
                "unanswerable_questions": len(unanswerable),
                "refusal_precision": round(right_refusals / len(refused), 4) if refused else None,
                "refusal_recall": round(right_refusals / len(unanswerable), 4),
                "answerable_refused_share": round(sum(not o.found for o in answerable) / m, 4),
            })
        return figures

    def misses(self) -> list[dict]:
        """One JSON-ready row per question whose returned sentence holds no gold span."""
        return [{
            "id": o.question.id, "question": o.question.question, "answers": list(o.question.answers),
            "answerable": o.question.answerable,
            "sentence": o.sentence, "found": o.found, "right_rank": o.right_rank,
            "gold_doc": o.question.doc, "gold_doc_rank": o.doc_rank, "top_docs": list(ranked_docs(o.passage_docs)[:5]),
            "candidates": list(o.candidates),
        } for o in self.outcomes if not o.correct]


def evaluate_squad(qa, questions: Sequence[SquadQuestion], progress: bool = True) -> SquadReport:
    """Ask every question through `qa.trace` (what `QA.ask` runs), timed, keeping its retrieval.

    Args:
        qa: a `QA` on the index of the questions' corpus.
        questions: the questions to ask, in order.
        progress: show a tqdm bar on stderr.
    """
    from tqdm import tqdm

    from qa.api import QuestionError

    qa.warm_up()  # loading the model, and below the lazy parts (dictionaries), is not a question's latency
    for item in questions[:1]:
        try:
            qa.trace(item.question)
        except QuestionError:
            pass
    selector = qa.answerer.selector
    report = SquadReport([], selector.config.span_threshold if selector is not None else 0.0)
    for item in tqdm(questions, desc="asking", unit="q", file=sys.stderr, disable=not progress):
        started = time.perf_counter()
        try:
            trace = qa.trace(item.question)
        except QuestionError:
            report.outcomes.append(Outcome(item, False, None, (), (), time.perf_counter() - started))
            continue
        seconds, reply = time.perf_counter() - started, trace.answer
        report.outcomes.append(Outcome(item, reply.found, reply.sentence, tuple(reply.candidates),
                                       tuple(p.passage.doc for p in trace.retrieval.passages), seconds,
                                       reply.answer_text, reply.span.probability if reply.span else 0.0))
    return report


# -- the seed format ---------------------------------------------------------------
@dataclass(frozen=True)
class RefusalFigures:
    """How well "not found" separates unanswerable from answerable questions."""

    refusals: int
    right_refusals: int  # refusals of unanswerable questions
    unanswerable: int

    @property
    def precision(self) -> float | None:
        return round(self.right_refusals / self.refusals, 4) if self.refusals else None

    @property
    def recall(self) -> float | None:
        return round(self.right_refusals / self.unanswerable, 4) if self.unanswerable else None


def refusal_figures(report: SeedQAReport) -> RefusalFigures:
    """Count the refusals (`found: false`) of a seed-format run."""
    refused = [item for item in report.items if not item.found]
    return RefusalFigures(len(refused), sum(not item.answerable for item in refused), len(report.unanswerable))


def seed_misses(report: SeedQAReport) -> list[dict]:
    """One JSON-ready row per seed item answered wrongly."""
    return [{
        "id": i.id, "question": i.question, "style": i.style, "expected_doc": i.expected_doc,
        "must_contain": list(i.must_contain), "sentence": i.sentence, "doc": i.doc, "found": i.found,
    } for i in report.items if not i.correct]


def write_jsonl(path: Path | str, rows: Iterable[dict]) -> int:
    """Write rows as JSON lines; returns how many."""
    count = 0
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count
