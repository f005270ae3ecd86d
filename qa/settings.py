"""Settings: where the corpus and index live, and the knobs of retrieval and answering."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from embeddings import environment
from embeddings.environment import default_corpus_dir, default_index_dir

# Questions longer than this are cut (with a note in the reply): no real
# question is this long, and encoding cost grows with length.
MAX_QUESTION_CHARS = 500


@dataclass(frozen=True)
class Settings:
    """All configuration in one frozen object; per-call arguments override it.

    Attributes:
        corpus_dir: folder of article files (default: the project's `seeds/`).
        index_dir: folder of the built index (default: the project's `index/`).
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
            the support rule alone).
        min_translated_share: an English question at most this share of whose content words
            have a Chinese counterpart in the corpus is about something the
            corpus does not cover: "not found" (with the selector too: it
            does not refuse every such question by itself).
        selector_candidates: how many ranked candidates the selector reads;
            0 means the number it was calibrated with.
        span_threshold: the span probability from which the selector's exact
            answer is given (`Answer.span`); below 0 means the one it was
            calibrated with, 0 gives every span (for evaluation).
        api_key: the Bearer key `aluqa serve` asks chat clients for on `/v1`
            (default: `ALUQA_API_KEY`; `--api-key` overrides it). Never printed.
    """

    corpus_dir: Path = field(default_factory=default_corpus_dir)
    index_dir: Path = field(default_factory=default_index_dir)
    model: str | None = field(default_factory=environment.model)
    store: str = field(default_factory=lambda: environment.store() or "local")
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
    selector: str = field(default_factory=lambda: environment.selector() or "trained")
    selector_candidates: int = 0
    span_threshold: float = -1.0
    api_key: str | None = field(default_factory=environment.api_key,
                                repr=False)

    def __post_init__(self):
        for name in ("top_passages", "dense_candidates", "answer_candidates"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"Settings.{name} must be a positive integer, got {value!r}")
        if self.ranker not in ("trained", "hand-set"):
            raise ValueError(f"Settings.ranker must be 'trained' or 'hand-set', got {self.ranker!r}")
        if self.selector not in ("trained", "off"):
            raise ValueError(f"Settings.selector must be 'trained' or 'off', got {self.selector!r}")
        if not isinstance(self.selector_candidates, int) or self.selector_candidates < 0:
            raise ValueError(f"Settings.selector_candidates must be 0 or more, got {self.selector_candidates!r}")
        for name in ("min_support", "min_confidence", "min_translated_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"Settings.{name} must be within [0, 1], got {value!r}")

    def with_(self, **changes) -> "Settings":
        """A copy with some fields changed; None values are ignored (argument not given)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})
