"""What `aluqa serve` guarantees around the page: bounded uploads, and a newer index picked up between questions."""

from __future__ import annotations

import os
import shutil

from fastapi.testclient import TestClient

from conftest import SEEDS
from embeddings.text.read import MAX_ARTICLE_BYTES
from test_app import FakeQA
from ui.server import build_app

BOUNDARY = "aluqa-test-boundary"


def _multipart(chunks: int, chunk: bytes):
    """A multipart upload streamed in pieces: `chunks` times `chunk` as one file."""
    yield (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.txt\"\r\n"
           "Content-Type: text/plain\r\n\r\n").encode()
    for _ in range(chunks):
        yield chunk
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def _files_under(folder) -> set[str]:
    return {os.path.join(root, name) for root, _, names in os.walk(folder) for name in names}


def test_a_100_mb_upload_is_refused_by_the_server_and_leaves_nothing():
    app = build_app(FakeQA())
    page = next(route.app for route in app.routes if hasattr(getattr(route, "app", None), "uploaded_file_dir"))
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    chunk = b"x" * (1 << 20)
    with TestClient(app) as client:
        before = _files_under(page.uploaded_file_dir)
        refused = client.post("/gradio_api/upload", content=_multipart(100, chunk), headers=headers)
        assert refused.status_code == 413 and str(MAX_ARTICLE_BYTES) in refused.text
        assert _files_under(page.uploaded_file_dir) == before, "a refused upload leaves no file behind"
        # Under the limit, the same route takes the file (the page then checks it as an article).
        accepted = client.post("/gradio_api/upload", content=_multipart(1, b"x" * 1000), headers=headers)
        assert accepted.status_code == 200
        for path in _files_under(page.uploaded_file_dir) - before:
            os.remove(path)


def test_a_watching_qa_loads_the_index_another_process_rebuilt(tmp_path, stub_encoder):
    from embeddings.corpus.build import build_index
    from qa import QA, Settings

    corpus, index = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(SEEDS, corpus)
    build_index(corpus, index, encoder=stub_encoder)
    settings = Settings(corpus_dir=corpus, dense_band=(0.3, 0.7), selector="off")
    watching = QA(index, settings=settings, encoder=stub_encoder, watch_index=True)
    still = QA(index, settings=settings, encoder=stub_encoder)
    question = "2030年火星铝厂的电解槽有多少台？"
    first = watching.ask(question)
    assert first.citation is None or first.citation.doc != "mars.txt"
    still.warm_up()
    (corpus / "mars.txt").write_text("火星铝厂\n\n2030年，火星铝厂的电解槽达到4242台。\n", encoding="utf-8")
    build_index(corpus, index, encoder=stub_encoder)  # as `aluqa add` in another process does
    answer = watching.ask(question)
    assert answer.found and answer.citation.doc == "mars.txt" and "4242" in answer.sentence
    assert "mars.txt" not in still.index.articles, "without watching, the old index stays"
