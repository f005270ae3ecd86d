"""Shared fixtures: a fast stub encoder, indexes built from seeds/, and the real default QA."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SHARED = ROOT.parent / "shared"
SEED_QA = SHARED / "eval" / "seed_qa_dev.jsonl"


class StubEncoder:
    """A deterministic bag-of-character-bigrams encoder: fast, no model files.

    It lets the index, retriever and API be tested in milliseconds; the real
    model is exercised by the tests marked `slow`.
    """

    name = "stub-char-bigrams"
    dimension = 256

    def _encode(self, texts):
        from embeddings.text.normalize import normalize

        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            text = normalize(text)
            for a, b in zip(text, text[1:] + " "):
                slot = int(hashlib.md5((a + b).encode("utf-8")).hexdigest()[:8], 16) % self.dimension
                vectors[row, slot] += 1.0
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-9)

    def encode_queries(self, texts):
        return self._encode(list(texts))

    def encode_documents(self, texts, show_progress=False):
        return self._encode(list(texts))


@pytest.fixture(scope="session")
def stub_encoder():
    return StubEncoder()


@pytest.fixture(scope="session")
def stub_index_dir(tmp_path_factory, stub_encoder):
    """An index of seeds/ built with the stub encoder, once per session."""
    from embeddings.corpus.build import build_index

    folder = tmp_path_factory.mktemp("stub-index") / "index"
    build_index(SEEDS, folder, encoder=stub_encoder)
    return folder


@pytest.fixture(scope="session")
def stub_qa(stub_index_dir, stub_encoder):
    from qa import QA, Settings

    # Bigram-bag cosines are lower than e5's: the dense band is set for the stub. The learned
    # selector reads real text with the real model: off here, tested with `real_qa`.
    return QA(stub_index_dir, settings=Settings(dense_band=(0.3, 0.7), selector="off"), encoder=stub_encoder)


@pytest.fixture(scope="session")
def real_qa():
    """The default QA exactly as users get it: real model, index of seeds/."""
    from qa import QA

    qa = QA()
    qa.warm_up()
    return qa


def load_seed_qa() -> list[dict]:
    if not SEED_QA.is_file():
        pytest.skip(f"seed QA set not found at {SEED_QA}")
    with open(SEED_QA, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def free_port() -> int:
    """A port nothing listens on now (for live servers in tests)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """An ASGI app served by uvicorn in a thread, on a free loopback port, as `aluqa serve` serves it."""

    def __init__(self, app):
        import threading

        import uvicorn

        from ui.server import listen

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._sock = listen("127.0.0.1", self.port)
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)

    def __enter__(self) -> "LiveServer":
        import time

        self._thread.start()
        deadline = time.monotonic() + 60
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._sock.close()
