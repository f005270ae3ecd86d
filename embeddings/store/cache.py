"""Content-addressed cache of document embeddings (sha256 of model + text -> vector), kept as .npy + JSON."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Sequence

import numpy as np

logger = logging.getLogger(__name__)

# The cache is a sub-folder of the index folder, so it is replaced together
# with the index (atomically, by `CorpusIndex.save`) and never outlives it.
CACHE_DIR = "embedding_cache"
KEYS_FILE = "keys.json"
VECTORS_FILE = "vectors.npy"
# Bump when the key recipe or the files change; older caches are then ignored.
CACHE_FORMAT = 1


def text_key(model: str, text: str) -> str:
    """The cache key of one document text embedded by `model`."""
    # "document" names the prompt side: query vectors are never cached here.
    return hashlib.sha256(f"{model}\0document\0{text}".encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Document vectors of one model, looked up by `text_key`.

    Args:
        model: the encoder name the vectors were made with (the manifest's model).
        dimension: vector length, or None while the cache is empty.
    """

    def __init__(self, model: str, dimension: int | None = None):
        self.model = model
        self.dimension = dimension
        self._rows: dict[str, int] = {}
        self._chunks: list[np.ndarray] = []
        self._size = 0
        self._matrix: np.ndarray | None = None

    def __len__(self) -> int:
        return self._size

    def __contains__(self, key: str) -> bool:
        return key in self._rows

    def _vectors(self) -> np.ndarray:
        # Chunks are joined lazily, once per batch of look-ups, not per put().
        if self._matrix is None or len(self._matrix) != self._size:
            dim = self.dimension or 0
            self._matrix = (np.concatenate(self._chunks) if self._chunks
                            else np.zeros((0, dim), dtype=np.float32))
            self._chunks = [self._matrix]
        return self._matrix

    def get(self, keys: Sequence[str]) -> np.ndarray:
        """The vectors of `keys` (all must be present), one row each."""
        return self._vectors()[[self._rows[key] for key in keys]]

    def put(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        """Add vectors; keys already present keep their first vector."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if len(keys) != len(vectors):
            raise ValueError(f"{len(keys)} keys for {len(vectors)} vectors")
        if self.dimension is None and vectors.ndim == 2:
            self.dimension = int(vectors.shape[1])
        new_rows = []
        for i, key in enumerate(keys):
            if key not in self._rows:  # also skips a key repeated within this call
                self._rows[key] = self._size + len(new_rows)
                new_rows.append(i)
        if new_rows:
            self._chunks.append(vectors[new_rows])
            self._size += len(new_rows)

    def save(self, folder: Path | str) -> None:
        """Write `keys.json` and `vectors.npy` into `folder` (created)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        keys = sorted(self._rows, key=self._rows.__getitem__)
        np.save(folder / VECTORS_FILE, self._vectors(), allow_pickle=False)
        meta = {"format": CACHE_FORMAT, "model": self.model, "dimension": self.dimension, "keys": keys}
        (folder / KEYS_FILE).write_text(json.dumps(meta), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path | str, model: str) -> "EmbeddingCache":
        """Read a cache saved by `save`; an empty cache when there is none usable for `model`.

        A missing, damaged or other-model cache is not an error: it only means
        every text is embedded again.
        """
        folder = Path(folder)
        cache = cls(model)
        if not (folder / KEYS_FILE).is_file():
            return cache
        try:
            meta = json.loads((folder / KEYS_FILE).read_text(encoding="utf-8"))
            if meta.get("format") != CACHE_FORMAT or meta.get("model") != model:
                return cache
            vectors = np.load(folder / VECTORS_FILE, allow_pickle=False)
            keys = meta["keys"]
            if vectors.ndim != 2 or len(vectors) != len(keys) or vectors.shape[1] != meta["dimension"]:
                raise ValueError(f"{len(keys)} keys for vectors of shape {vectors.shape}")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            logger.warning("ignoring the embedding cache at %s (%s): every text is embedded again", folder, exc)
            return cache
        cache.dimension = int(meta["dimension"])
        cache._rows = {key: row for row, key in enumerate(keys)}
        cache._chunks = [np.asarray(vectors, dtype=np.float32)]
        cache._size = len(keys)
        return cache


class CachingEncoder:
    """Wraps an encoder: document texts already in `previous` are not embedded again.

    Every document vector it returns (reused or new) is also put in `fresh`,
    so `fresh` ends up holding exactly the texts of the current build: vectors
    of removed or changed texts are not carried over.

    Args:
        encoder: the real encoder (a `TextEncoder`).
        previous: vectors from the last build (same model), possibly empty.

    Attributes:
        embedded: texts sent to the real encoder so far.
        reused: texts answered from `previous` (or repeated within this build).
    """

    def __init__(self, encoder, previous: EmbeddingCache | None = None):
        self.encoder = encoder
        self.name = encoder.name
        self.previous = previous if previous is not None else EmbeddingCache(encoder.name)
        self.fresh = EmbeddingCache(encoder.name, self.previous.dimension)
        self.embedded = 0
        self.reused = 0

    @property
    def dimension(self) -> int:
        # Known from the cache, the real model need not load for a build that embeds nothing.
        if self.previous.dimension is not None and len(self.previous):
            return self.previous.dimension
        return int(self.encoder.dimension)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.encoder.encode_queries(texts)

    def encode_documents(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        keys = [text_key(self.name, text) for text in texts]
        missing: dict[str, str] = {}
        for key, text in zip(keys, texts):
            if key not in self.previous and key not in self.fresh and key not in missing:
                missing[key] = text
        if missing:
            vectors = self.encoder.encode_documents(list(missing.values()), show_progress=show_progress)
            self.fresh.put(list(missing), vectors)
        self.embedded += len(missing)
        self.reused += len(keys) - len(missing)
        carried = [key for key in dict.fromkeys(keys) if key not in self.fresh]
        if carried:
            self.fresh.put(carried, self.previous.get(carried))
        if not keys:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self.fresh.get(keys)
