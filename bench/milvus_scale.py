"""Milvus Lite at scale: write N sentence rows into the AluQA collections, then time searches.

Rows have `e5fit` vectors (a Gaussian with the mean and covariance of real
e5-small vectors from an AluQA index, as in bench/faiss_scale.py) and the
jieba tokens of real sentences (cycled) for BM25. Reported: write time
(insert + index), p50/p95 of one-question dense search (k=100, the
retriever's) and BM25 search, recall@10 of the dense search against exact
search over the same vectors.

    PYTHONPATH=. python -m bench.milvus_scale --rows 100000 --source ~/.cache/aluqa/eval-index/cmrc2018_trial-*/
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np

from bench.common import machine_notes, percentile, print_table, write_json


def fitted_sampler(real: np.ndarray, seed: int):
    rng = np.random.default_rng(seed)
    mean = real.mean(axis=0)
    values, vectors = np.linalg.eigh(np.cov(real - mean, rowvar=False))
    transform = (vectors * np.sqrt(np.clip(values, 0, None))).T.astype(np.float32)

    def sample(m: int) -> np.ndarray:
        x = rng.standard_normal((m, real.shape[1]), dtype=np.float32) @ transform + mean
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    return sample


def main(argv=None) -> int:
    from embeddings.store.local import CorpusIndex
    from embeddings.store.milvus import KINDS, collection, connect, encode_tokens
    from embeddings.store.milvus_write import _create, _insert
    from embeddings.text.tokenize import tokenize_normalized

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--source", type=Path, required=True, help="an AluQA index folder: vectors and texts")
    parser.add_argument("--db", type=Path, default=Path("/tmp/aluqa-milvus-bench.db"))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    source = CorpusIndex.load(args.source)
    real = np.concatenate([v.reconstruct_n(0, v.ntotal) for v in (source.sentence_vectors, source.passage_vectors)])
    sample = fitted_sampler(real, seed=0)
    texts = source.sentence_match
    tokens = [encode_tokens(tokenize_normalized(t)) for t in texts]
    data, queries = sample(args.rows), sample(args.queries)

    shutil.rmtree(args.db, ignore_errors=True)  # a Milvus Lite "file" is a folder
    client = connect(str(args.db))
    for kind in KINDS:
        if client.has_collection(collection(kind)):
            client.drop_collection(collection(kind))
    _create(client, real.shape[1])
    name = collection("sentences")
    started = time.perf_counter()
    for start in range(0, args.rows, 5000):
        rows = [{"id": i, "doc": f"d{i // 50}", "paragraph": 1, "start": 0,
                 "end": 1, "text": texts[i % len(texts)], "match": texts[i % len(texts)], "passage": 0,
                 "tokens": tokens[i % len(tokens)], "dense": data[i].tolist(), "title": "", "source": "", "date": ""}
                for i in range(start, min(start + 5000, args.rows))]
        _insert(client, "sentences", rows)
    inserted = time.perf_counter() - started
    client.flush(name)
    client.release_collection(name)
    client.load_collection(name)  # after the flush the segments are sealed and indexed
    written = time.perf_counter() - started

    truth = np.argsort(-(queries @ data.T), axis=1)[:, :10]
    dense_ms, bm25_ms, recalls = [], [], []
    for row, query in enumerate(queries):
        t = time.perf_counter()
        hits = client.search(name, data=[query.tolist()], anns_field="dense", limit=100, output_fields=["passage"],
                             search_params={"metric_type": "IP", "params": {"ef": 100}})[0]
        dense_ms.append((time.perf_counter() - t) * 1000)
        found = [int(h["id"]) for h in hits[:10]]
        recalls.append(len(set(found) & set(truth[row].tolist())) / 10)
        t = time.perf_counter()
        client.search(name, data=[tokens[(row * 7919) % len(tokens)]], anns_field="sparse", limit=100,
                      output_fields=["passage"], search_params={"metric_type": "BM25"})
        bm25_ms.append((time.perf_counter() - t) * 1000)
    result = {"rows": args.rows, "insert_s": round(inserted, 1), "write_and_index_s": round(written, 1),
              "rows_per_s": round(args.rows / written), "dense_p50_ms": round(percentile(dense_ms, 50), 2),
              "dense_p95_ms": round(percentile(dense_ms, 95), 2), "recall@10": round(float(np.mean(recalls)), 3),
              "bm25_p50_ms": round(percentile(bm25_ms, 50), 2), "bm25_p95_ms": round(percentile(bm25_ms, 95), 2),
              "db_mb": round(sum(p.stat().st_size for p in args.db.rglob("*") if p.is_file()) / 2**20, 1)}
    print_table([result], title=f"Milvus Lite, {args.rows} sentence rows")
    write_json(args.json, {"result": result, "machine": machine_notes()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
