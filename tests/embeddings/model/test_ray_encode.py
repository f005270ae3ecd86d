"""`aluqa build --ray`: Ray Data encoding gives the local encoder's vectors; without --ray, Ray is never imported."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, SEEDS


def test_building_without_ray_imports_no_ray(tmp_path):
    code = ("import sys; sys.path[:0] = [{root!r}, {tests!r}]\n"
            "from conftest import StubEncoder\n"
            "from embeddings.corpus.build import build_index\n"
            "from ui.cli import build_parser\n"
            "build_index({seeds!r}, {index!r}, encoder=StubEncoder())\n"
            "build_parser().parse_args(['build'])\n"
            "assert 'ray' not in sys.modules, 'ray imported'\n").format(
        root=str(ROOT), tests=str(ROOT / "tests"), seeds=str(SEEDS), index=str(tmp_path / "index"))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_ray_vectors_equal_the_local_build():
    """Workers load the model as a local build does; here its int8-documents form (the two-node
    cluster test, tests/embeddings/model/test_ray_cluster.py, builds with the default fp32 one)."""
    import ray

    from embeddings.model.build import INT8_DOCUMENTS_MODEL
    from embeddings.model.encoder import load_encoder
    from embeddings.text.read import load_corpus
    from embeddings.store.local import embed_units
    from embeddings.model.ray_encode import RayEncoder, start_local_ray
    from embeddings.text.split import segment_articles

    articles = load_corpus(SEEDS)[:2]  # two articles (about 100 texts): the same code path, minutes less
    sentences, passages = segment_articles(articles)
    local_encoder = load_encoder(INT8_DOCUMENTS_MODEL)
    local = embed_units(articles, sentences, passages, local_encoder)
    start_local_ray(num_cpus=2, include_dashboard=False)
    try:
        encoder = RayEncoder(INT8_DOCUMENTS_MODEL, workers=2)
        assert encoder.name == local_encoder.name == INT8_DOCUMENTS_MODEL  # the stores accept its vectors
        remote = embed_units(articles, sentences, passages, encoder)
    finally:
        ray.shutdown()
    for mine, theirs in ((local.sentence_vectors, remote.sentence_vectors),
                         (local.passage_vectors, remote.passage_vectors)):
        assert mine.shape == theirs.shape and len(mine) > 10
        cosines = np.sum(mine * theirs, axis=1)  # both L2-normalised
        assert cosines.min() >= 0.9999, cosines.min()


def test_a_local_ray_that_times_out_while_starting_is_started_again(monkeypatch):
    import ray

    from embeddings.model.ray_encode import start_local_ray

    calls = []

    def init(**options):
        calls.append("init")
        if calls.count("init") == 1:
            raise Exception("The current node timed out during startup. This could happen because ...")

    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray, "shutdown", lambda: calls.append("shutdown"))
    start_local_ray(num_cpus=2)
    assert calls == ["init", "shutdown", "init"]

    def refuse(**options):
        calls.append("refused")
        raise ValueError("a bad option")

    monkeypatch.setattr(ray, "init", refuse)
    with pytest.raises(ValueError, match="a bad option"):
        start_local_ray(num_cpus=2)
    assert calls.count("refused") == 1, "only the startup timeouts are tried again"


def test_the_gcs_port_file_timeout_of_a_first_start_is_waited_out_and_tried_again(monkeypatch):
    """The failure seen on a fresh machine: Ray's port-file wait ran out. The wait is
    lengthened (Ray's documented variable, unless the user set one), and the start tried again."""
    import ray

    from embeddings.model.ray_encode import GCS_PORT_WAIT_S, start_local_ray

    monkeypatch.delenv("RAY_gcs_server_port_wait_time_s", raising=False)
    calls, waits = [], []

    def init(**options):
        import os

        waits.append(os.environ.get("RAY_gcs_server_port_wait_time_s"))
        calls.append("init")
        if len(calls) == 1:
            raise RuntimeError("Timed out waiting for file /tmp/ray/session_x/gcs_server_port_abc.")

    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray, "shutdown", lambda: calls.append("shutdown"))
    start_local_ray(num_cpus=2)
    assert calls == ["init", "shutdown", "init"] and waits == [GCS_PORT_WAIT_S, GCS_PORT_WAIT_S]
    monkeypatch.setenv("RAY_gcs_server_port_wait_time_s", "300")
    calls.clear()
    start_local_ray(num_cpus=2)
    assert waits[-1] == "300", "a wait the user set is kept"
