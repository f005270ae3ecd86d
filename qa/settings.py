"""Settings: where the corpus, index and models live, and the knobs of retrieval and answering.

`Settings` is the one reader of the `ALUQA_*` environment variables: each
field that has one reads it when a `Settings` is made (not at import, so a
process or a test that sets one later is heard). The stages below take the
values as arguments; `qa.api` hands them down.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from embeddings.model.onnx_export import pairs_saturate
from embeddings.places import DEFAULT_CORPUS_DIR, DEFAULT_INDEX_DIR, user_cache_dir

# Questions longer than this are cut (with a note in the reply): no real
# question is this long, and encoding cost grows with length.
MAX_QUESTION_CHARS = 500

# The models that can answer with their int8 variant: the answer selector and the question side of
# the encoder. Documents are not among them: an index's vectors must not depend on a run-time
# setting, so int8 document vectors are a model of their own (`INT8_DOCUMENTS_MODEL` in
# embeddings/model/build.py; docs/performance.md, section 12).
INT8_CHOICES = ("selector", "query")
# What answers in int8 when ALUQA_INT8 is unset: the variants whose answers held on the
# measurements of docs/performance.md, section 10, where they are faster. Without VNNI (an x86
# CPU whose int8 products add in pairs, `pairs_saturate`) the selector's int8 blocks took 1.47x
# fp32's time per pass, so there it answers in fp32 ("int8 on CPUs without VNNI").
DEFAULT_INT8 = frozenset({"query"} if pairs_saturate() else {"selector", "query"})


class SettingsError(ValueError):
    """A setting (or the `ALUQA_*` variable it was read from) is not understood; the message says which."""


def _variable(name: str) -> str | None:
    """An `ALUQA_*` variable's value with surrounding blanks removed; None when unset or blank."""
    value = os.environ.get(name, "").strip()
    return value or None


def _folder(name: str, default: Path) -> Path:
    value = _variable(name)
    return Path(value).expanduser() if value else default


def parse_int8(value: str | None) -> frozenset[str]:
    """Which models answer with their int8 variant, from `ALUQA_INT8`'s form.

    A comma-separated list of `INT8_CHOICES`, `all`, or `none` (every model in
    fp32, the reference the variants are measured against); None means `DEFAULT_INT8`.

    Raises:
        SettingsError: an unknown name.
    """
    if value is None:
        return DEFAULT_INT8
    names = {name.strip().lower() for name in value.split(",") if name.strip()}
    if names == {"none"}:
        return frozenset()
    if names == {"all"}:
        return frozenset(INT8_CHOICES)
    unknown = names - set(INT8_CHOICES)
    if unknown:
        raise SettingsError(f"ALUQA_INT8={value!r}: unknown {', '.join(sorted(unknown))}; use none, all or "
                         f"a list of {', '.join(INT8_CHOICES)}")
    return frozenset(names)


@dataclass(frozen=True)
class Settings:
    """All configuration in one frozen object; per-call arguments override it.

    Attributes:
        corpus_dir: folder of article files (default: `ALUQA_CORPUS_DIR`, else
            the project's `seeds/`).
        index_dir: folder of the built index (default: `ALUQA_INDEX_DIR`, else
            the project's `index/`).
        cache_dir: where the default model is built, its ONNX exports and the
            selector's go, and evaluation indexes (default: `ALUQA_CACHE_DIR`,
            else `$XDG_CACHE_HOME/aluqa`, else `~/.cache/aluqa`).
        runtime: how texts are encoded: "auto" (ONNX Runtime for the default
            model), "onnx" or "sentence-transformers" (default: `ALUQA_RUNTIME`,
            else "auto"; see `embeddings.model.encoder.load_encoder`).
        int8: the models that answer with their int8 variant, a subset of
            `INT8_CHOICES` (default: `ALUQA_INT8` read by `parse_int8`, else
            `DEFAULT_INT8`).
        store: where the index lives: "local" (`index_dir`) or "milvus:URI"
            (default: `ALUQA_STORE`, else "local"; see `embeddings.store`).
        model: embedding model name or folder; None means the default model
            (or `ALUQA_MODEL`). When loading an index, None means "the model the
            index was built with".
        top_passages: passages returned with an answer as supporting material.
        dense_candidates: sentences and passages taken from the vector search.
        answer_candidates: fused sentence candidates the answerer considers.
        weight_*: fusion weights (see `qa.retriever`).
        min_support, min_confidence: an answer whose support and ranker
            confidence are both below these is "not found".
        ranker: "trained" (qa/ranker.json) or "hand-set" (see `qa.ranker`).
        dense_band: question-sentence cosines mapped to support 0 and 1.
        selector: "trained" (the cross-encoder of `qa.selector` picks the
            sentence and decides "not found") or "off" (the linear ranker and
            the support rule alone) (default: `ALUQA_SELECTOR`, else "trained").
        min_translated_share: an English question at most this share of whose content words
            have a Chinese counterpart in the corpus is about something the
            corpus does not cover: "not found" (with the selector too: it
            does not refuse every such question by itself).
        selector_candidates: how many ranked candidates the selector reads;
            0 means the number it was calibrated with.
        selector_stops_early: the selector takes the first eligible candidate
            without reading the others when its logit reaches the card's
            `stop_above` (False reads them all, for comparison).
        span_threshold: the span probability from which the selector's exact
            answer is given (`Answer.span`); below 0 means the one it was
            calibrated with, 0 gives every span (for evaluation).
        api_key: the Bearer key `aluqa serve` asks chat clients for on `/v1`
            (default: `ALUQA_API_KEY`; `--api-key` overrides it). Never printed.
    """

    corpus_dir: Path = field(default_factory=lambda: _folder("ALUQA_CORPUS_DIR", DEFAULT_CORPUS_DIR))
    index_dir: Path = field(default_factory=lambda: _folder("ALUQA_INDEX_DIR", DEFAULT_INDEX_DIR))
    cache_dir: Path = field(default_factory=lambda: _folder("ALUQA_CACHE_DIR", user_cache_dir()))
    model: str | None = field(default_factory=lambda: _variable("ALUQA_MODEL"))
    store: str = field(default_factory=lambda: _variable("ALUQA_STORE") or "local")
    runtime: str = field(default_factory=lambda: _variable("ALUQA_RUNTIME") or "auto")
    int8: frozenset[str] = field(default_factory=lambda: parse_int8(_variable("ALUQA_INT8")))
    top_passages: int = 3
    dense_candidates: int = 100
    answer_candidates: int = 30
    weight_dense: float = 1.0
    weight_lexical: float = 1.0
    weight_passage: float = 0.6
    min_support: float = 0.45
    min_confidence: float = 0.4
    ranker: str = "trained"
    dense_band: tuple[float, float] = (0.85, 0.95)
    min_translated_share: float = 0.5
    selector: str = field(default_factory=lambda: _variable("ALUQA_SELECTOR") or "trained")
    selector_candidates: int = 0
    selector_stops_early: bool = True
    span_threshold: float = -1.0
    api_key: str | None = field(default_factory=lambda: _variable("ALUQA_API_KEY"),
                                repr=False)

    def __post_init__(self):
        for name in ("top_passages", "dense_candidates", "answer_candidates"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise SettingsError(f"Settings.{name} must be a positive integer, got {value!r}")
        if self.ranker not in ("trained", "hand-set"):
            raise SettingsError(f"Settings.ranker must be 'trained' or 'hand-set', got {self.ranker!r}")
        if self.selector not in ("trained", "off"):
            raise SettingsError(f"Settings.selector must be 'trained' or 'off', got {self.selector!r}")
        if not set(self.int8) <= set(INT8_CHOICES):
            raise SettingsError(f"Settings.int8 must be a subset of {INT8_CHOICES}, got {sorted(self.int8)!r}")
        if not isinstance(self.selector_candidates, int) or self.selector_candidates < 0:
            raise SettingsError(f"Settings.selector_candidates must be 0 or more, got {self.selector_candidates!r}")
        for name in ("min_support", "min_confidence", "min_translated_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise SettingsError(f"Settings.{name} must be within [0, 1], got {value!r}")

    def with_(self, **changes) -> "Settings":
        """A copy with some fields changed; None values are ignored (argument not given)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})
