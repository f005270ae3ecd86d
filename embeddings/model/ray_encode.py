"""RayEncoder: the build's document encoding spread over a Ray cluster with Ray Data.

Imported only by `aluqa build --ray` (and its tests): nothing else imports Ray.
The texts of a build are cut into batches by Ray Data and encoded by a pool
of Ray actors, each loading the model once; the vectors come back to the build in
order, which writes them to the chosen store as with the local encoder. The
questions themselves are encoded in the driver (one short text is not worth a
round trip).

`--ray ADDRESS` takes what `ray.init` takes: "local" (start Ray here), "auto"
(the cluster this machine belongs to), HOST:PORT (the head's GCS port, as
`ray start --head` prints it) or ray://HOST:PORT (Ray Client). The address is
checked before Ray is asked to join it, because `ray.init` on an address where
nothing listens keeps retrying (measured: still retrying after 60 s, and deaf
to SIGTERM meanwhile); `check_address` refuses it within seconds with a
`RayClusterError` instead.
"""

from __future__ import annotations

import logging
import socket
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np

from embeddings.model.encoder import SentenceTransformerEncoder

logger = logging.getLogger(__name__)

# Texts per batch sent to one worker: large enough that scheduling costs little
# next to encoding (about 1 s per 256 sentences on one core), small enough to spread.
BATCH_TEXTS = 256


class _Worker:
    """One encoding worker (a Ray actor holding one CPU): loads the model once, then encodes batch after batch.

    It loads the model as a local build does (`load_encoder`: ONNX Runtime for
    the default model in either form, sentence-transformers for others), so
    its vectors are the local build's.
    """

    def __init__(self, model: str | None, runtime: str, cache_dir: Path | None):
        from embeddings.model.encoder import load_encoder  # bound when called, as in qa.api, not once at import

        # The actor holds one CPU: one thread avoids oversubscribing the node.
        self.encoder = load_encoder(model, runtime=runtime, cache_dir=cache_dir, document_threads=1)
        if isinstance(self.encoder, SentenceTransformerEncoder):
            import torch

            torch.set_num_threads(1)
        self.encoder.warm_up(for_documents=True)

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.encoder.encode_documents(texts)

    def node(self) -> str:
        """The id of the Ray node this worker runs on (the build logs how many nodes took part)."""
        import ray

        return ray.get_runtime_context().get_node_id()

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


class RayClusterError(RuntimeError):
    """`--ray ADDRESS` names no Ray cluster this process can join; the one-line message says what to do."""


# How long the head's port may take to accept a TCP connection before the
# address is refused: a live head answers in milliseconds, even on a busy machine.
CONNECT_TIMEOUT_S = 10.0
_FORMS = "HOST:PORT (the head's port, 6379 unless `ray start --head --port` said otherwise), ray://HOST:10001 or auto"


def _host_and_port(address: str) -> tuple[str, int]:
    """HOST and PORT of "HOST:PORT" or "ray://HOST:PORT" (IPv6 hosts in brackets)."""
    rest = address[len("ray://"):] if address.startswith("ray://") else address
    host, _, port = rest.rpartition(":")
    host = host.strip("[]")
    if "://" in rest or "/" in rest or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise RayClusterError(f"--ray {address!r} is not a Ray address; give {_FORMS}")
    return host, int(port)


def _resolve_auto() -> str | None:
    """The HOST:PORT that `ray.init(address="auto")` would join, or None where Ray's lookup is not available.

    Ray finds it from RAY_ADDRESS or the cluster file of its default temp
    folder; that file outlives a head that crashed, so the address is
    checked like any other.
    """
    try:
        from ray._private.services import canonicalize_bootstrap_address  # not public: may move
    except ImportError:
        return None
    try:
        return canonicalize_bootstrap_address("auto")
    except ConnectionError as error:
        raise RayClusterError("--ray auto found no running Ray cluster on this machine; start one with "
                              "`ray start --head`, set RAY_ADDRESS, or give its address (--ray HOST:PORT)") from error


def _check_reachable(address: str, host: str, port: int) -> None:
    """Refuse within CONNECT_TIMEOUT_S an address where nothing accepts a connection."""
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise RayClusterError(f"cannot reach a Ray cluster at {address} ({reason}); start its head there "
                              f"(`ray start --head --port {port}`) or give the address it printed") from error


def check_address(address: str) -> None:
    """Refuse, within seconds and before any work, an address that is malformed or where nothing listens.

    "local" needs no check. Ray itself is joined later (`connect_ray`), on
    the build's first texts.

    Raises:
        RayClusterError: with the one line that says what to do.
    """
    if address == "local":
        return
    if address == "auto":
        resolved = _resolve_auto()
        if resolved is not None:
            _check_reachable(f"{resolved} (--ray auto)", *_host_and_port(resolved))
        return
    _check_reachable(address, *_host_and_port(address))


def connect_ray(address: str = "local") -> None:
    """Join the Ray cluster at `address` (see the module's docstring), or start one here for "local".

    Raises:
        RayClusterError: a malformed address, nothing listening there, or a
            cluster that refused this driver.
    """
    import ray

    if address == "local":
        start_local_ray(logging_level=logging.WARNING)
        return
    check_address(address)
    try:
        ray.init(address=address, logging_level=logging.WARNING)
    except (ConnectionError, TimeoutError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise RayClusterError(f"could not join the Ray cluster at {address} ({first_line}); check that "
                              f"`ray status --address {address}` works from this machine") from error


class RayEncoder:
    """A `TextEncoder` whose `encode_documents` runs on Ray; vectors equal the local encoder's.

    A build calls `encode_documents` several times (passages, then sentences;
    in Milvus, per batch of articles). The workers are Ray actors made on the
    first call and kept for the encoder's life, so each loads the model once
    per build; Ray Data cuts every call's texts into batches and hands them
    out to the workers (its own map actors would be made anew, and load the
    model again, on every call).

    Args:
        model: model name or folder, as for `load_encoder` (every worker must
            be able to load it: the same path, or the default model in either
            form, which each worker converts and exports into the user cache of
            its node).
        address: "local" starts Ray on this machine; "auto", HOST:PORT or
            ray://HOST:PORT join a running cluster (`connect_ray`).
        workers: encoding workers (default: one per CPU of the cluster).
        runtime: as for `load_encoder` ("auto": ONNX Runtime for the default model).
        cache_dir: this machine's AluQA cache, for the model that encodes
            questions and says the name and dimension, and for the workers of
            a "local" cluster (None: the user cache); the workers of another
            cluster use the user cache of their node.

    Raises:
        RayClusterError: an address that is malformed or where nothing listens
            (at once), or a cluster that refuses this driver (on the first texts).
    """

    def __init__(self, model: str | None = None, address: str = "local", workers: int | None = None,
                 cache_dir: Path | None = None, runtime: str = "auto"):
        check_address(address)  # a wrong address fails now, not after the corpus has been read
        from embeddings.model.encoder import load_encoder

        # The name, the dimension and the questions; also refuses a model the runtime cannot load, before Ray starts.
        self._local = load_encoder(model, runtime=runtime, cache_dir=cache_dir)
        self.runtime = runtime
        self.name = self._local.name
        self.model = model
        self.address = address
        self._worker_cache = cache_dir if address == "local" else None
        self.workers = workers
        self._actors: list = []
        self._worker_nodes: list[str] = []  # the Ray node of each worker
        # Texts each Ray node has encoded (by node id): says which nodes took part.
        self.texts_per_node: Counter[str] = Counter()

    @property
    def dimension(self) -> int:
        return self._local.dimension

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._local.encode_queries(texts)

    def _pool(self) -> list:
        import ray

        if not ray.is_initialized():
            connect_ray(self.address)
        if not self._actors:
            size = self.workers or max(int(ray.cluster_resources().get("CPU", 1)), 1)
            worker = ray.remote(num_cpus=1)(_Worker)
            actors = [worker.remote(self.model, self.runtime, self._worker_cache) for _ in range(size)]
            # Waits for every worker's model to load, which the first batch waits for anyway.
            self._worker_nodes = ray.get([actor.node.remote() for actor in actors])
            self._actors = actors
            logger.info("%d Ray workers on %d nodes", len(actors), len(set(self._worker_nodes)))
        return self._actors

    def encode_documents(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        import ray
        import ray.data

        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        actors = self._pool()
        # A call smaller than a full batch per worker (a small corpus, an added
        # article) is cut into one batch per worker, so that every worker takes part.
        batch_texts = max(1, min(BATCH_TEXTS, -(-len(texts) // len(actors))))

        def relay(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            # Batches go round the workers by their first row; the relay itself needs no CPU.
            index = int(batch["row"][0]) // batch_texts % len(actors)
            vectors = ray.get(actors[index].encode.remote([str(t) for t in batch["text"]]))
            return {"row": batch["row"], "vector": vectors, "worker": np.full(len(batch["row"]), index)}

        blocks = max(1, min(-(-len(texts) // batch_texts), 4 * len(actors)))
        dataset = ray.data.from_items([{"row": i, "text": t} for i, t in enumerate(texts)],
                                      override_num_blocks=blocks)
        encoded = dataset.map_batches(relay, batch_size=batch_texts, batch_format="numpy", num_cpus=0)
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for batch in encoded.iter_batches(batch_size=None, batch_format="numpy"):
            vectors[np.asarray(batch["row"], dtype=np.int64)] = np.stack(batch["vector"])
            workers, counts = np.unique(np.asarray(batch["worker"]), return_counts=True)
            for index, count in zip(workers.tolist(), counts.tolist()):
                self.texts_per_node[self._worker_nodes[index]] += count
        logger.info("encoded %d texts on Ray with %d workers; texts per node so far: %s", len(texts), len(actors),
                    " ".join(f"{node[:8]}={count}" for node, count in sorted(self.texts_per_node.items())))
        return vectors
