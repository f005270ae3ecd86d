"""`aluqa build --ray ADDRESS` against a Ray cluster started apart, as users who outgrow one machine run it.

The cluster is two real nodes on this machine, started with `ray start --head`
and `ray start --address=HEAD:PORT` (one CPU and a bounded object store each,
`bench.ray_cluster.RayCluster`), and always stopped by the test, by the ids of
its own processes, so that no other Ray session on the machine is touched.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import ROOT, SEEDS, load_seed_qa


def _vectors(index) -> dict[str, np.ndarray]:
    import faiss

    found = {}
    for unit in ("sentences", "passages"):
        store = faiss.read_index(str(index / f"{unit}.faiss"))
        found[unit] = store.reconstruct_n(0, store.ntotal)
    return found


def _texts(index) -> dict[str, list[str]]:
    return {unit: [item["text"] for item in json.loads((index / f"{unit}.json").read_text(encoding="utf-8"))[unit]]
            for unit in ("sentences", "passages")}


def _ask_all(qa, items):
    return [(r.found, r.sentence, r.citation.doc if r.citation else None)
            for r in (qa.ask(item["question"]) for item in items)]


@pytest.mark.slow
def test_a_build_on_a_two_node_ray_start_cluster_equals_the_local_build(tmp_path):
    """The acceptance check of `--ray HEAD:PORT`: same vectors (cosine >= 0.9999), both nodes encoding,
    the same answers on the seed dev set, and no process of the cluster left behind."""
    from bench.ray_cluster import RayCluster, run_build
    from embeddings.model.encoder import load_encoder
    from qa import QA

    local_index, ray_index = tmp_path / "local", tmp_path / "ray"
    local_s, _ = run_build(local_index, timeout_s=1200)
    cluster = RayCluster(nodes=2, object_store_mb=128)
    with cluster:
        assert len(cluster.pids()) >= 4, "each node runs at least a GCS or raylet and its agents"
        ray_s, log = run_build(ray_index, ray=cluster.address, env=cluster.environment(), timeout_s=1500)
    print(f"whole builds: local {local_s:.0f} s, --ray HEAD:PORT {ray_s:.0f} s; "
          f"ray start per node {[round(s) for s in cluster.start_seconds]} s")  # shown by pytest -rA
    assert cluster.pids() == [], "the cluster's processes are all ended"
    assert not cluster.temp_dir.exists()

    # Both nodes encoded texts: the build logs its texts per node id (`RayEncoder.texts_per_node`).
    per_node = re.findall(r"texts per node so far: (.*)", log)
    assert per_node, log[-2000:]
    counts = {node: int(count) for node, count in (part.split("=") for part in per_node[-1].split())}
    assert len(counts) == 2 and all(counts.values()), counts

    assert _texts(local_index) == _texts(ray_index)
    mine, theirs = _vectors(local_index), _vectors(ray_index)
    for unit in ("sentences", "passages"):
        assert mine[unit].shape == theirs[unit].shape and len(mine[unit]) > 10
        assert sum(counts.values()) >= len(mine[unit])
        cosines = np.sum(mine[unit] * theirs[unit], axis=1)  # both L2-normalised
        assert cosines.min() >= 0.9999, (unit, float(cosines.min()))

    items = load_seed_qa()
    encoder = load_encoder()
    local, remote = (_ask_all(QA(index, encoder=encoder), items) for index in (local_index, ray_index))
    differ = [(item["id"], a, b) for item, a, b in zip(items, local, remote) if a != b]
    assert not differ, differ


@pytest.mark.slow
def test_a_cluster_whose_start_times_out_is_started_again_and_stopped(monkeypatch):
    """The start-up timeout seen on a fresh machine: the node's processes are ended and it is started again."""
    import bench.ray_cluster as ray_cluster

    starts = []
    real_popen = subprocess.Popen

    def popen(command, **options):
        # The first head start is a process that prints Ray's timeout and exits 1, in a session of its own
        # with a child that outlives it, as a half-started node's processes do.
        starts.append(command)
        if len(starts) == 1:
            script = ("import subprocess, sys;"
                      "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']);"
                      "print('The current node timed out during startup.'); sys.exit(1)")
            return real_popen([sys.executable, "-c", script], **options)
        return real_popen(command, **options)

    monkeypatch.setattr(ray_cluster.subprocess, "Popen", popen)
    cluster = ray_cluster.RayCluster(nodes=1, object_store_mb=80)
    try:
        with cluster:
            first_session = cluster.sessions[0]
            assert ray_cluster._session_members([first_session]) == [], "the failed start's processes are ended"
            assert len(starts) == 2 and "--head" in starts[1]
            assert cluster.pids()
    finally:
        cluster.stop()
    assert cluster.pids() == []


def test_an_unreachable_address_is_refused_in_seconds(tmp_path):
    """`aluqa build --ray HOST:PORT` where nothing listens: one line naming the fix, within seconds,
    where `ray.init` alone retries without end."""
    from conftest import free_port

    port = free_port()
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "qa", "build", "--corpus", str(SEEDS),
                             "--index", str(tmp_path / "index"), "--ray", f"127.0.0.1:{port}"],
                            capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(f"aluqa build: cannot reach a Ray cluster at 127.0.0.1:{port}"), result.stderr[-2000:]
    assert f"ray start --head --port {port}" in lines[-1]
    assert time.monotonic() - started < 200  # the process start and imports; the refusal itself takes milliseconds
    assert not (tmp_path / "index").exists()


@pytest.mark.parametrize("address", ["http://head:8265", "head", "head:port", "ray://head", "head:70000"])
def test_an_address_that_is_no_ray_address_is_refused(address):
    from embeddings.model.ray_encode import RayClusterError, connect_ray

    with pytest.raises(RayClusterError, match="is not a Ray address; give HOST:PORT"):
        connect_ray(address)


def test_ray_start_forms_of_the_address_are_checked_before_ray_is_asked(monkeypatch):
    """HOST:PORT and ray://HOST:PORT reach `ray.init` as given, once their port answers; "auto" is
    resolved as Ray resolves it and checked the same way."""
    import socket

    import ray

    import embeddings.model.ray_encode as ray_encode

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    joined = []
    monkeypatch.setattr(ray, "init", lambda **options: joined.append(options["address"]))
    try:
        ray_encode.connect_ray(f"127.0.0.1:{port}")
        ray_encode.connect_ray(f"ray://127.0.0.1:{port}")
        monkeypatch.setattr(ray_encode, "_resolve_auto", lambda: f"127.0.0.1:{port}")
        ray_encode.connect_ray("auto")
    finally:
        listener.close()
    assert joined == [f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}", "auto"]
    refused = r"cannot reach a Ray cluster at 127\.0\.0\.1:\d+ \(--ray auto\)"
    with pytest.raises(ray_encode.RayClusterError, match=refused):
        ray_encode.connect_ray("auto")  # the port is closed now: a stale cluster file of a crashed head


def test_auto_without_any_cluster_names_the_fix(monkeypatch):
    import ray._private.services as services

    from embeddings.model.ray_encode import RayClusterError, connect_ray

    def nothing(address):
        raise ConnectionError("Could not find any running Ray instance.")

    monkeypatch.setattr(services, "canonicalize_bootstrap_address", nothing)
    with pytest.raises(RayClusterError, match=r"found no running Ray cluster.*ray start --head"):
        connect_ray("auto")
