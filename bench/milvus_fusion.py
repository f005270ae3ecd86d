"""Which fusion of dense and BM25 evidence gives the answerer the best candidates, on a Milvus index?

AluQA's retriever fuses the two searches itself (`qa.retriever`): min-max
scaled dense and BM25 scores of each sentence plus those of its passage. Milvus
can fuse them server-side in one `hybrid_search` call (RRF, or a weighted sum
of normalised scores), but returns only the fused score, not each candidate's
own dense and BM25 evidence that the linear ranker reads. This script measures
what each fusion would hand on, on the same Milvus Lite index and questions:
how often a sentence holding a gold answer is first, in the top 8 (what the
ranker narrows down to the selector) and in the top 30 (what the answerer
considers), and the time per question.

Run it on a training file (never on an evaluation-only set: its figure would
choose the fusion):

    PYTHONPATH=. python -m bench.milvus_fusion --file ../shared/data/cmrc2018_trial.json --json bench-fusion.json
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import SHARED, machine_notes, percentile, print_table, write_json

DEPTHS = (1, 8, 30)


def main(argv=None) -> int:
    from pymilvus import AnnSearchRequest, RRFRanker, WeightedRanker
    from tqdm import tqdm

    from embeddings.model.encoder import SentenceTransformerEncoder
    from embeddings.store.milvus import HNSW_EF_MIN, collection, encode_tokens
    from embeddings.store.milvus_write import sync_milvus
    from embeddings.store import SENTENCES
    from qa.api import QA, QuestionError, prepare_question
    from qa.training.datasets import contains_answer, read_squad
    from qa.question import parse_question
    from qa.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=SHARED / "data" / "cmrc2018_trial.json",
                        help="a SQuAD-style training file (its passages become the corpus)")
    parser.add_argument("--questions", type=int, default=None, help="only the first N answerable questions")
    parser.add_argument("--db", type=Path, default=None,
                        help="Milvus Lite file (default: a temporary one); an existing one is brought up to date")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    squad = read_squad(args.file)
    encoder = SentenceTransformerEncoder()
    uri = str(args.db or Path(tempfile.mkdtemp(prefix="aluqa-fusion-")) / "fusion.db")
    started = time.perf_counter()
    sync_milvus(uri, list(squad.articles), encoder)
    print(f"built {uri} in {time.perf_counter() - started:.0f} s")
    settings = Settings(store=f"milvus:{uri}", selector="off")
    qa = QA(settings=settings, encoder=encoder)
    store, retriever = qa.index, qa.retriever
    k_dense, pool = settings.dense_candidates, max(DEPTHS)

    questions = [q for q in squad.questions if q.answerable][: args.questions]
    parsed = []
    for item in questions:
        try:
            parsed.append((item, parse_question(prepare_question(item.question)[0])))
        except QuestionError:
            continue
    vectors = encoder.encode_queries([question.match for _, question in parsed])

    def hybrid(ranker):
        def ranked(question, vector) -> list[int]:
            requests = [
                AnnSearchRequest(data=[vector.tolist()], anns_field="dense", limit=k_dense,
                                 param={"metric_type": "IP", "params": {"ef": max(k_dense, HNSW_EF_MIN)}}),
                AnnSearchRequest(data=[encode_tokens(question.tokens) or "x"], anns_field="sparse", limit=k_dense,
                                 param={"metric_type": "BM25"}),
            ]
            result = store.client.hybrid_search(collection(SENTENCES), reqs=requests, ranker=ranker, limit=pool,
                                                output_fields=["passage"])
            return store._hits(SENTENCES, result).ids.tolist()
        return ranked

    def own_fusion(question, vector) -> list[int]:
        return [hit.sentence.id for hit in retriever.retrieve(question, vector[None, :]).hits]

    methods = {
        "AluQA's own (dense + BM25 + passage, min-max)": own_fusion,
        "hybrid_search RRF k=60": hybrid(RRFRanker(60)),
        "hybrid_search weighted 0.5/0.5": hybrid(WeightedRanker(0.5, 0.5)),
    }
    rows, figures = [], {}
    for name, method in methods.items():
        found = {depth: 0 for depth in DEPTHS}
        seconds = []
        for (item, question), vector in tqdm(list(zip(parsed, vectors)), desc=name, unit="q", file=sys.stderr):
            tick = time.perf_counter()
            ids = method(question, np.asarray(vector, dtype=np.float32))
            seconds.append(time.perf_counter() - tick)
            sentences = store.get_sentences(ids)
            right = [contains_answer(sentences[i].text, item.answers) for i in ids if i in sentences]
            for depth in DEPTHS:
                found[depth] += any(right[:depth])
        row = {"fusion": name, **{f"right @{d}": round(found[d] / len(parsed), 4) for d in DEPTHS},
               "p50 ms": round(percentile([s * 1000 for s in seconds], 50), 1),
               "p95 ms": round(percentile([s * 1000 for s in seconds], 95), 1)}
        rows.append(row)
        figures[name] = row
    print_table(rows, title=f"{squad.name}: {len(parsed)} answerable questions, {store.count(SENTENCES)} sentences")
    write_json(args.json, {"file": str(args.file), "questions": len(parsed), "sentences": store.count(SENTENCES),
                           "figures": figures, "machine": machine_notes()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
