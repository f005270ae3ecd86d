"""Dense search at scale: exact flat search vs the index `make_vector_index` picks, at 100k / 1M (/ 5M) vectors.

For each size: build time, index memory (size of the written index), p50/p95
of one-question searches with k as the retriever asks (100), and recall@10
of the picked index against exact search on the same vectors. Data:
`random` (uniform unit vectors: no neighbour structure at all, the worst
case for any approximate index) or `e5fit` (a Gaussian with the mean and
covariance of real e5-small sentence vectors from the CMRC index, so the
spectrum, hence the difficulty, is that of real embeddings).

    PYTHONPATH=. python -m bench.faiss_scale --sizes 100k,1M --data random
    PYTHONPATH=. python -m bench.faiss_scale --sizes 1M --data e5fit --ef-sweep 64,128,256
    PYTHONPATH=. python -m bench.faiss_scale --sizes 1M --candidate "IVF4096_HNSW32,Flat|nprobe=32"
    PYTHONPATH=. python -m bench.faiss_scale --sizes 1M --data e5fit --no-picked \
        --candidate "IVF16384_HNSW32,Flat" --sweep nprobe=32,64,128
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import machine_notes, percentile, print_table, ratio, rss_mb, write_json


def parse_size(text: str) -> int:
    text = text.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1], 1)
    return int(float(text.rstrip("km")) * scale)


def unit_rows(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def make_data(kind: str, n: int, queries: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(database, queries), float32 unit rows, generated in chunks to bound peak memory."""
    rng = np.random.default_rng(seed)
    if kind == "random":
        def sample(m):
            return unit_rows(rng.standard_normal((m, dim), dtype=np.float32))
    else:
        mean, transform = e5_fit(dim)

        def sample(m):
            z = rng.standard_normal((m, dim), dtype=np.float32)
            return unit_rows(z @ transform + mean)
    data = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        stop = min(start + 100_000, n)
        data[start:stop] = sample(stop - start)
    return data, sample(queries)


def e5_fit(dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and a square root of the covariance of the CMRC index's real sentence and passage vectors."""
    from bench.common import CMRC_DEV, squad_index
    from embeddings.store.local import CorpusIndex

    index = CorpusIndex.load(squad_index(CMRC_DEV))
    real = np.concatenate([v.reconstruct_n(0, v.ntotal) for v in (index.sentence_vectors, index.passage_vectors)])
    if real.shape[1] != dim:
        raise SystemExit(f"the CMRC index holds {real.shape[1]}-dim vectors, not {dim}")
    mean = real.mean(axis=0)
    values, vectors = np.linalg.eigh(np.cov(real - mean, rowvar=False))
    transform = (vectors * np.sqrt(np.clip(values, 0, None))).T.astype(np.float32)
    return mean.astype(np.float32), transform


def index_bytes(index) -> int:
    import faiss

    with tempfile.TemporaryDirectory(prefix="aluqa-faiss-") as tmp:
        path = os.path.join(tmp, "index")
        faiss.write_index(index, path)
        return os.path.getsize(path)


SEARCH_THREADS = 1  # OpenMP threads while searching: one, as `CorpusIndex.load` sets for questions (--search-threads)


def time_search(index, queries: np.ndarray, k: int) -> tuple[list[float], np.ndarray]:
    """Per-question search times (ms), one question per call as the retriever does, and the ids found."""
    import faiss

    times, found = [], []
    building_threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(SEARCH_THREADS)
    try:
        for row in range(len(queries)):
            started = time.perf_counter()
            _, ids = index.search(queries[row:row + 1], k)
            times.append((time.perf_counter() - started) * 1000)
            found.append(ids[0])
    finally:
        faiss.omp_set_num_threads(building_threads)
    return times, np.array(found)


def recall_at(found: np.ndarray, truth: np.ndarray, at: int = 10) -> float:
    return float(np.mean([len(set(f[:at]) & set(t[:at])) / at for f, t in zip(found, truth)]))


def build_candidate(spec: str, data: np.ndarray):
    """An index from "factory string|param=value,..." (efConstruction applies before adding)."""
    import faiss

    factory, _, params = spec.partition("|")
    settings = dict(p.split("=") for p in params.split(",") if p)
    index = faiss.index_factory(data.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
    if "efConstruction" in settings:
        # Graph quality is fixed while adding; the IVF variants keep their graph in the quantizer.
        graph = index if hasattr(index, "hnsw") else faiss.downcast_index(faiss.extract_index_ivf(index).quantizer)
        graph.hnsw.efConstruction = int(settings.pop("efConstruction"))
    if not index.is_trained:
        sample = data[np.random.default_rng(1).choice(len(data), min(len(data), 200_000), replace=False)]
        index.train(sample)
    index.add(data)
    space = faiss.ParameterSpace()
    for key, value in settings.items():
        space.set_index_parameter(index, key, float(value))
    return index


def measure(name: str, build, data, queries, truth, k: int) -> dict:
    rss_before = rss_mb()[0]
    started = time.perf_counter()
    index = build(data)
    build_s = time.perf_counter() - started
    rss_delta = rss_mb()[0] - rss_before
    times, found = time_search(index, queries, k)
    return {"index": name, "type": describe(index), "build_s": build_s, "p50_ms": percentile(times, 50),
            "p95_ms": percentile(times, 95), "recall@10": recall_at(found, truth),
            "size_mb": index_bytes(index) / 2**20, "rss_delta_mb": rss_delta, "_index": index}


def describe(index) -> str:
    from embeddings.store.vectors import describe_vector_index

    return describe_vector_index(index)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100k,1M", help="comma-separated sizes, e.g. 100k,1M,5M")
    parser.add_argument("--data", choices=("random", "e5fit"), default="random")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200, help="questions timed (default 200)")
    parser.add_argument("--exact-timed", type=int, default=50, help="questions timed one by one on flat (default 50)")
    parser.add_argument("--k", type=int, default=100, help="neighbours asked per search (the retriever asks 100)")
    parser.add_argument("--ef-sweep", default="", help="also search the picked HNSW with these efSearch values")
    parser.add_argument("--kf-sweep", default="1", help="with --ef-sweep, for a refined index: these k_factors")
    parser.add_argument("--candidate", action="append", default=[], help="extra index to compare: "
                        "'faiss factory string|param=value,...' (built at every size)")
    parser.add_argument("--sweep", default="", help="search every candidate again with each value of one "
                        "parameter, e.g. nprobe=32,64,128 (one build, several settings)")
    parser.add_argument("--no-picked", action="store_true", help="skip the index make_vector_index picks "
                        "(its build takes 20+ minutes at 1M)")
    parser.add_argument("--search-threads", type=int, default=1,
                        help="OpenMP threads while timing searches (default 1, as AluQA searches)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here ('-': stdout)")
    args = parser.parse_args(argv)
    global SEARCH_THREADS
    SEARCH_THREADS = args.search_threads

    import faiss

    from embeddings.store.vectors import find_hnsw, make_vector_index

    rows = []
    for size in map(parse_size, args.sizes.split(",")):
        data, queries = make_data(args.data, size, args.queries, args.dim, args.seed)
        flat = faiss.IndexFlatIP(args.dim)
        flat.add(data)
        _, truth = flat.search(queries, 10)  # ground truth, batched (BLAS)
        exact_times, _ = time_search(flat, queries[: args.exact_timed], args.k)
        exact = {"size": size, "index": "exact", "type": "IndexFlatIP", "build_s": 0.0,
                 "p50_ms": percentile(exact_times, 50), "p95_ms": percentile(exact_times, 95), "recall@10": 1.0,
                 "size_mb": size * args.dim * 4 / 2**20}
        del flat
        rows.append(exact)
        index, graph = None, None
        if not args.no_picked:
            picked = measure("project", make_vector_index, data, queries, truth, args.k)
            rows.append({"size": size, **picked})
            index = picked.pop("_index")
            graph = find_hnsw(index)
        if args.ef_sweep and graph is not None:
            default_ef, default_kf = graph.hnsw.efSearch, getattr(index, "k_factor", None)
            factors = [float(f) for f in args.kf_sweep.split(",")] if default_kf is not None else [None]
            for kf in factors:
                for ef in map(int, args.ef_sweep.split(",")):
                    graph.hnsw.efSearch = ef
                    if kf is not None:
                        index.k_factor = kf
                    times, found = time_search(index, queries, args.k)
                    rows.append({"size": size, "index": f"project efSearch={ef}" + (f" k_factor={kf:g}" if kf else ""),
                                 "type": "(sweep)", "p50_ms": percentile(times, 50),
                                 "p95_ms": percentile(times, 95), "recall@10": recall_at(found, truth)})
            graph.hnsw.efSearch = default_ef
            if default_kf is not None:
                index.k_factor = default_kf
        del graph
        del index
        for spec in args.candidate:
            row = measure(spec, lambda d, s=spec: build_candidate(s, d), data, queries, truth, args.k)
            candidate = row.pop("_index")
            rows.append({"size": size, **row})
            if args.sweep:
                name, _, values = args.sweep.partition("=")
                space = faiss.ParameterSpace()
                for value in values.split(","):
                    space.set_index_parameter(candidate, name, float(value))
                    times, found = time_search(candidate, queries, args.k)
                    rows.append({"size": size, "index": f"{spec.partition('|')[0]} {name}={value}", "type": "(sweep)",
                                 "p50_ms": percentile(times, 50), "p95_ms": percentile(times, 95),
                                 "recall@10": recall_at(found, truth)})
            del candidate
        for row in rows:
            if row["size"] == size:
                row["speedup_vs_exact"] = ratio(exact["p50_ms"], row["p50_ms"])
        del data
    for row in rows:
        row.pop("_index", None)
    print_table(rows, ("size", "index", "type", "build_s", "p50_ms", "p95_ms", "speedup_vs_exact", "recall@10",
                       "size_mb", "rss_delta_mb"), title=f"FAISS search, {args.data} data, dim {args.dim}, k={args.k}")
    write_json(args.json, {"data": args.data, "k": args.k, "rows": rows, "machine": machine_notes(),
                           "omp_threads": faiss.omp_get_max_threads(), "search_threads": SEARCH_THREADS})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
