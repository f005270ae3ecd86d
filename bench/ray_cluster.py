"""Encoding on a Ray cluster started apart (`ray start`) beside the local encoder, in the same run.

`RayCluster` starts the cluster as a user does, with `ray start --head` and
`ray start --address=HEAD:PORT`, here as several one-CPU nodes on this machine
(the test `tests/embeddings/model/test_ray_cluster.py` uses it too, with
`run_build` for whole `aluqa build --ray HEAD:PORT` builds).

The bench joins that cluster from this process exactly as `aluqa build --ray
HEAD:PORT` does (`RayEncoder(address=HEAD:PORT)`), then encodes the same texts
(the seed corpus's sentences and passages, cycled up to --texts) in turns:
the local encoder of `aluqa build` (ONNX Runtime, every core), the same
encoder on one thread (what each one-CPU Ray worker runs), and the cluster;
round after round, so that a change in the machine's load falls on all three,
and reports medians. The workers' start and model load (the first call) is
timed apart; scheduling and the transfer of the vectors back are included.

    PYTHONPATH=. python -m bench.ray_cluster --texts 256 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.common import ROOT, SEEDS, corpus_texts, free_port, machine_notes, median, print_table, write_json

RAY = str(Path(sys.executable).with_name("ray"))
# `ray start` exits non-zero with one of these when a node is slow to come up
# (a fresh machine, busy cores: "Timed out waiting for file .../gcs_server_port_...",
# "The current node timed out during startup"). Ray's wait for the raylet to
# register is fixed at 30 s, so the node is ended and started again instead;
# the GCS waits are lengthened through RAY_gcs_server_port_wait_time_s.
START_TIMEOUTS = ("timed out",)  # not "timeout": Ray's tracebacks name `check_status_timeout_as_rpc_error`


class RayClusterStartError(RuntimeError):
    """A node of the test cluster did not start; the message holds the tail of `ray start`'s output."""


class RayCluster:
    """A Ray cluster of `nodes` one-CPU nodes on this machine, started with `ray start`, stopped by its own ids.

    `ray stop` cannot name a cluster: it ends every Ray process of the user on
    the machine, other people's sessions included. Each `ray start` here is
    therefore made the leader of a new session, so that every process of its
    node (GCS, raylet, agents and the workers the raylet spawns, which change
    their process group but not their session) carries its id; `stop` ends
    exactly the processes of those sessions, SIGTERM first, then SIGKILL.

    The temporary folder is short (`/tmp/rt-XXXXXXXX`): Ray puts unix sockets
    under it, whose paths may not exceed 107 bytes. Ports are chosen free
    (GCS, Ray Client, dashboard, dashboard agent), so a second Ray on the
    machine is left alone; object stores are bounded to `object_store_mb`.

    Args:
        nodes: the head and nodes - 1 workers.
        object_store_mb: each node's object store (Ray's minimum is about 75 MB).
        start_attempts: starts of a node that times out before giving up.
        start_timeout_s: how long one `ray start` may take (Ray's own waits are shorter).
    """

    def __init__(self, nodes: int = 2, object_store_mb: int = 128, start_attempts: int = 3,
                 start_timeout_s: float = 300.0):
        self.nodes = nodes
        self.object_store_mb = object_store_mb
        self.start_attempts = start_attempts
        self.start_timeout_s = start_timeout_s
        self.temp_dir = Path(tempfile.gettempdir()) / f"rt-{uuid.uuid4().hex[:8]}"
        self.address: str | None = None
        self.sessions: list[int] = []  # one session id (= the `ray start` pid) per start, failed ones included
        self.start_seconds: list[float] = []

    def __enter__(self) -> "RayCluster":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def environment(self) -> dict[str, str]:
        """The environment of `ray start` and of drivers: longer start-up waits, no usage reports."""
        env = dict(os.environ)
        env.setdefault("RAY_gcs_server_port_wait_time_s", "120")
        env["RAY_USAGE_STATS_ENABLED"] = "0"
        # A token in ~/.ray/auth_token (written by `ray get-auth-token --generate`, by anyone on the
        # machine) made a worker node's join fail here with "InvalidAuthToken" while the head had
        # started: this cluster runs without token auth, whatever that file holds.
        env["RAY_AUTH_MODE"] = "disabled"
        env["RAY_AUTH_TOKEN_PATH"] = str(self.temp_dir / "no-auth-token")
        env.pop("RAY_AUTH_TOKEN", None)
        env.pop("RAY_ADDRESS", None)  # a driver joins the address it is given, not the environment's
        return env

    def start(self) -> str:
        """Start the head, then the workers; returns the head's HOST:PORT."""
        self.temp_dir.mkdir(parents=True, exist_ok=False)
        port = None
        for attempt in range(1, self.start_attempts + 1):
            port = free_port()
            if self._start_node(["--head", "--port", str(port), "--include-dashboard=false",
                                 "--dashboard-port", str(free_port()),
                                 "--ray-client-server-port", str(free_port())],
                                self.temp_dir / "h", attempt):
                break
        self.address = f"127.0.0.1:{port}"
        for node in range(1, self.nodes):
            for attempt in range(1, self.start_attempts + 1):
                if self._start_node([f"--address={self.address}"], self.temp_dir / f"w{node}", attempt):
                    break
        return self.address

    def _start_node(self, options: list[str], temp_dir: Path, attempt: int) -> bool:
        """One `ray start`; False (its processes ended) when it timed out and may be tried again."""
        log = self.temp_dir / f"start-{temp_dir.name}-{attempt}.log"
        command = [RAY, "start", *options, "--num-cpus", "1", "--temp-dir", str(temp_dir),
                   "--object-store-memory", str(self.object_store_mb * 1024 * 1024),
                   "--dashboard-agent-listen-port", str(free_port()), "--disable-usage-stats"]
        started = time.perf_counter()
        with open(log, "w") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       env=self.environment(), start_new_session=True, cwd=ROOT)
        self.sessions.append(process.pid)
        try:
            code = process.wait(timeout=self.start_timeout_s)
        except subprocess.TimeoutExpired:
            code = None
        output = log.read_text(errors="replace")
        if code == 0:
            self.start_seconds.append(time.perf_counter() - started)
            return True
        _end_sessions([process.pid])
        timed_out = code is None or any(text in output.lower() for text in START_TIMEOUTS)
        tail = " | ".join(output.strip().splitlines()[-5:])
        if timed_out and attempt < self.start_attempts:
            print(f"ray start {options[0]} timed out (attempt {attempt} of {self.start_attempts}); "
                  f"starting it again: {tail[-300:]}", file=sys.stderr)
            return False
        raise RayClusterStartError(f"`ray start {options[0]}` failed (exit {code}, attempt {attempt}): {tail[-800:]}")

    def pids(self) -> list[int]:
        """The live processes of this cluster's nodes (and of any start that failed)."""
        return _session_members(self.sessions)

    def stop(self) -> None:
        """End every process of this cluster (and only those), then remove its temporary folder."""
        _end_sessions(self.sessions)
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def _session_members(sessions: list[int]) -> list[int]:
    """Pids of the live processes whose session id is one of `sessions` (read from /proc, Linux only).

    Zombies are left out: they have ended and wait only for their parent (here
    often init, once `ray start` has exited) to collect them.
    """
    wanted, members = set(sessions), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # After the name (which may hold spaces): state, ppid, pgrp, session, ...
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[3]) in wanted and fields[0] != "Z" and int(entry.name) != os.getpid():
            members.append(int(entry.name))
    return members


def _end_sessions(sessions: list[int], grace_s: float = 10.0) -> None:
    """SIGTERM the sessions' processes, SIGKILL what is left after `grace_s`, and wait until none is left."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
        members = _session_members(sessions)
        for pid in members:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait_s
        while members and time.monotonic() < deadline:
            time.sleep(0.2)
            members = _session_members(sessions)
        if not members:
            return


def run_build(index: Path, ray: str | None = None, corpus: Path = SEEDS, env: dict | None = None,
              timeout_s: float = 1800.0) -> tuple[float, str]:
    """`python -m qa -v build` into a fresh `index`; returns (seconds, stderr). Raises on a failed build."""
    command = [sys.executable, "-m", "qa", "-v", "build", "--corpus", str(corpus), "--index", str(index), "--full"]
    if ray:
        command += ["--ray", ray]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, cwd=ROOT,
                            env=env, stdin=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"build {'--ray ' + ray if ray else '(local)'} failed ({result.returncode}): "
                           f"{result.stderr[-2000:]}")
    return seconds, result.stderr


def index_texts(index: Path) -> int:
    """Sentences and passages in an index folder (its manifest): the texts a build encoded."""
    manifest = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
    return int(manifest["sentences"]) + int(manifest["passages"])


def main(argv=None) -> int:
    import ray

    from embeddings.model.encoder import load_encoder
    from embeddings.model.ray_encode import RayEncoder
    from qa.api import encoder_for
    from qa.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3, help="rounds of the three encoders, in turns")
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    texts = corpus_texts(SEEDS, args.texts)

    settings = Settings()
    encoders = {"local, ONNX Runtime (aluqa build)": encoder_for(settings),
                "local, one thread (what a worker runs)": load_encoder(settings.model, settings.runtime,
                                                                       settings.cache_dir, document_threads=1)}
    for encoder in encoders.values():
        encoder.warm_up(for_documents=True)
    times: dict[str, list[float]] = {}
    with RayCluster(nodes=args.nodes) as cluster:
        os.environ.update({key: value for key, value in cluster.environment().items()
                           if key.startswith("RAY_")})
        label = f"cluster: ray start, {args.nodes} nodes x 1 CPU (--ray HEAD:PORT)"
        cluster_encoder = RayEncoder(settings.model, address=cluster.address, runtime=settings.runtime)
        started = time.perf_counter()
        cluster_encoder.encode_documents(texts[:8])  # joins the cluster, starts the workers, loads the model
        pool_start_s = time.perf_counter() - started
        encoders[label] = cluster_encoder
        try:
            for repeat in range(args.repeats):
                for name, encoder in encoders.items():
                    started = time.perf_counter()
                    encoder.encode_documents(texts)
                    times.setdefault(name, []).append(time.perf_counter() - started)
                print(f"round {repeat + 1}: " + ", ".join(f"{t[-1]:.1f} s" for t in times.values()),
                      file=sys.stderr, flush=True)
        finally:
            ray.shutdown()
        per_node = dict(cluster_encoder.texts_per_node)
        start_s = cluster.start_seconds
    local_s = median(times[next(iter(times))])
    rows = [{"encoder": name, "texts": len(texts), "median_s": round(median(runs), 1),
             "texts_per_s": round(len(texts) / median(runs), 1), "vs_local_onnx": round(local_s / median(runs), 2),
             "runs_s": " ".join(f"{r:.1f}" for r in runs)} for name, runs in times.items()]
    print_table(rows, title="document encoding, same run, in turns")
    print(f"ray start per node: {' '.join(f'{s:.0f}' for s in start_s)} s; cluster workers' start and model load: "
          f"{pool_start_s:.0f} s; texts per node: {sorted(per_node.values())}", file=sys.stderr)
    write_json(args.json, {"rows": rows, "ray_start_s": start_s, "pool_start_s": pool_start_s,
                           "texts_per_node": per_node, "machine": machine_notes()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
