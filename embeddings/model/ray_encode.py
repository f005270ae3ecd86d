"""RayEncoder: the build's document encoding spread over a Ray cluster with Ray Data.

Imported only by `aluqa build --ray` (and its tests): nothing else imports Ray.
The texts of a build are cut into batches by Ray Data and encoded by a pool
of Ray actors, each loading the model once; the vectors come back to the build in
order, which writes them to the chosen store as with the local encoder. The
questions themselves are encoded in the driver (one short text is not worth a
round trip).
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

from embeddings.model.encoder import SentenceTransformerEncoder

logger = logging.getLogger(__name__)

# Texts per batch sent to one worker: large enough that scheduling costs little
# next to encoding (about 1 s per 256 sentences on one core), small enough to spread.
BATCH_TEXTS = 256


class _Worker:
    """One encoding worker (a Ray actor holding one CPU): loads the model once, then encodes batch after batch."""

    def __init__(self, model: str | None):
        import torch

        # The actor holds one CPU: one thread avoids oversubscribing the node.
        torch.set_num_threads(1)
        self.encoder = SentenceTransformerEncoder(model)
        self.encoder.warm_up()

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.encoder.encode_documents(texts)

# Ray waits 30 s by default for a starting node's GCS server to publish its port
# file (`RAY_gcs_server_port_wait_time_s`, read by `ray._private.node`). The
# first start on a fresh machine (nothing cached, the cores busy) can take
# longer and then fails with "Timed out waiting for file .../gcs_server_port_...";
# a node that does not come up in time is also reported as "timed out during
# startup". The wait is lengthened (unless the user set it), and a start that
# still times out is tried again: later starts find their files cached.
GCS_PORT_WAIT_S = "120"
LOCAL_START_ATTEMPTS = 3
_START_TIMEOUTS = ("timed out during startup", "timed out waiting for file")


def start_local_ray(**options) -> None:
    """`ray.init` of a Ray on this machine, given time to start, and started again when it times out."""
    import os

    import ray

    os.environ.setdefault("RAY_gcs_server_port_wait_time_s", GCS_PORT_WAIT_S)
    for attempt in range(1, LOCAL_START_ATTEMPTS + 1):
        try:
            ray.init(**options)
            return
        except Exception as error:  # Ray raises bare Exception / RuntimeError for these timeouts
            if not any(text in str(error).lower() for text in _START_TIMEOUTS) or attempt == LOCAL_START_ATTEMPTS:
                raise
            logger.warning("Ray did not start in time (attempt %d of %d): %s; starting it again",
                           attempt, LOCAL_START_ATTEMPTS, error)
            ray.shutdown()


class RayEncoder:
    """A `TextEncoder` whose `encode_documents` runs on Ray; vectors equal the local encoder's.

    A build calls `encode_documents` several times (passages, then sentences;
    in Milvus, per batch of articles). The workers are Ray actors made on the
    first call and kept for the encoder's life, so each loads the model once
    per build; Ray Data cuts every call's texts into batches and hands them
    out to the workers (its own map actors would be made anew, and load the
    model again, on every call).

    Args:
        model: model name or folder, as for `SentenceTransformerEncoder` (every
            worker must be able to load it: the same path, or the default model
            that each worker converts into its own cache).
        address: "local" starts Ray on this machine; anything else is given to
            `ray.init(address=...)` (e.g. "auto", "ray://head:10001").
        workers: encoding workers (default: one per CPU of the cluster).
    """

    def __init__(self, model: str | None = None, address: str = "local", workers: int | None = None):
        self._local = SentenceTransformerEncoder(model)  # the name, the dimension and the queries
        self.name = self._local.name
        self.model = model
        self.address = address
        self.workers = workers
        self._actors: list = []

    @property
    def dimension(self) -> int:
        return self._local.dimension

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._local.encode_queries(texts)

    def _pool(self) -> list:
        import ray

        if not ray.is_initialized():
            if self.address == "local":
                start_local_ray(logging_level=logging.WARNING)
            else:
                ray.init(address=self.address, logging_level=logging.WARNING)
        if not self._actors:
            size = self.workers or max(int(ray.cluster_resources().get("CPU", 1)), 1)
            worker = ray.remote(num_cpus=1)(_Worker)
            self._actors = [worker.remote(self.model) for _ in range(size)]
        return self._actors

    def encode_documents(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        import ray
        import ray.data

        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        actors = self._pool()

        def relay(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            # Batches go round the workers by their first row; the relay itself needs no CPU.
            actor = actors[int(batch["row"][0]) // BATCH_TEXTS % len(actors)]
            vectors = ray.get(actor.encode.remote([str(t) for t in batch["text"]]))
            return {"row": batch["row"], "vector": vectors}

        blocks = max(1, min(-(-len(texts) // BATCH_TEXTS), 4 * len(actors)))
        dataset = ray.data.from_items([{"row": i, "text": t} for i, t in enumerate(texts)],
                                      override_num_blocks=blocks)
        encoded = dataset.map_batches(relay, batch_size=BATCH_TEXTS, batch_format="numpy", num_cpus=0)
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for batch in encoded.iter_batches(batch_size=None, batch_format="numpy"):
            vectors[np.asarray(batch["row"], dtype=np.int64)] = np.stack(batch["vector"])
        logger.info("encoded %d texts on Ray with %d workers", len(texts), len(actors))
        return vectors
