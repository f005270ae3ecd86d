"""Warm question latency through `QA.trace`, split into stages, vs the question encode alone.

For each question, one timed `QA.trace` (what `qa.answer`/`QA.ask` run), then
the stages timed from the outside on the same loaded pipeline: parse, encode
the question (the reference), dense search (sentences + passages, k as the
retriever asks), lexical search (BM25 of sentences + passages), fusion (the
retriever with the encode and both searches taken out), the learned selector
(the cross-encoder reading the top candidates) and the rest of the answer
choice (features, linear ranker, checks).

    PYTHONPATH=. python -m bench.latency --corpus seed        # index/ of seeds/, the 40 seed questions
    PYTHONPATH=. python -m bench.latency --corpus cmrc --questions 300
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from bench.common import (CMRC_DEV, machine_notes, percentile, print_table, ratio, seed_questions, squad_articles,
                          squad_index, write_json)
from embeddings.store import PASSAGES, SENTENCES

STAGES = ("parse", "encode", "dense", "lexical", "fusion", "selector", "answer")


class FixedQueryEncoder:
    """Returns a question vector computed beforehand, so the retriever can be timed without the encoder."""

    def __init__(self, inner, vector):
        self.name, self.dimension, self.vector = inner.name, inner.dimension, vector

    def encode_queries(self, texts):
        return self.vector


def time_stages(qa, question: str) -> dict:
    """Every stage of one question, in ms, on the already warm pipeline."""
    from qa.api import prepare_question
    from qa.question import parse_question
    from qa.retriever import HybridRetriever, _dense, _lexical

    pipeline = qa._ready
    retriever, index, settings = pipeline.retriever, pipeline.retriever.index, qa.settings
    ms = {}
    clock = time.perf_counter
    t = clock()
    parsed = parse_question(prepare_question(question)[0], pipeline.translate)
    ms["parse"] = clock() - t
    t = clock()
    query = retriever.encoder.encode_queries([parsed.match])
    ms["encode"] = clock() - t
    k = settings.dense_candidates
    t = clock()
    _dense(index.dense_search(SENTENCES, query, k), index.count(SENTENCES))
    _dense(index.dense_search(PASSAGES, query, k), index.count(PASSAGES))
    ms["dense"] = clock() - t
    t = clock()
    _lexical(index.lexical_search(SENTENCES, parsed.tokens), index.count(SENTENCES))
    _lexical(index.lexical_search(PASSAGES, parsed.tokens), index.count(PASSAGES))
    ms["lexical"] = clock() - t
    fixed = HybridRetriever(index, FixedQueryEncoder(retriever.encoder, query), settings)
    t = clock()
    retrieval = fixed.retrieve(parsed)
    ms["fusion"] = max(clock() - t - ms["dense"] - ms["lexical"], 0.0)
    answerer = pipeline.answerer
    t = clock()
    answerer.answer(parsed, retrieval)
    answer_total = clock() - t
    ms["selector"] = 0.0
    if answerer.selector is not None and (not parsed.is_english or answerer.selector.config.english):
        _, sentences, titles, previous = answerer.selector_inputs(answerer.judge(parsed, retrieval))
        t = clock()
        answerer.selector.score(parsed.match, sentences, titles, previous)
        ms["selector"] = clock() - t
    ms["answer"] = max(answer_total - ms["selector"], 0.0)
    return {stage: seconds * 1000 for stage, seconds in ms.items()}


def run(index_dir: Path | None, questions: list[str], repeats: int, faiss_threads=None, torch_threads=None,
        settings=None) -> dict:
    import faiss
    import torch

    from qa import QA, Settings

    settings = settings or Settings()
    qa = QA(index_dir, settings=settings) if index_dir else QA(settings=settings)
    started = time.perf_counter()
    qa.warm_up()
    load_s = time.perf_counter() - started
    # Set after loading, so that whatever loading sets is overridden for the experiment.
    if faiss_threads:
        faiss.omp_set_num_threads(faiss_threads)
    if torch_threads:
        torch.set_num_threads(torch_threads)
    for question in questions[:3]:
        qa.trace(question)  # first calls fill caches (jieba, OpenCC, torch kernels)
    rows = []
    for _ in range(repeats):
        for question in questions:
            t = time.perf_counter()
            qa.trace(question)
            total = (time.perf_counter() - t) * 1000
            stages = time_stages(qa, question)
            rows.append({"total": total, **stages,
                         "not_encode": sum(v for k, v in stages.items() if k != "encode")})
    summary = {}
    for key in ("total", *STAGES, "not_encode"):
        values = [r[key] for r in rows]
        summary[key] = {"p50": percentile(values, 50), "p95": percentile(values, 95), "mean": float(np.mean(values))}
    index = qa.index
    return {"index": str(qa.settings.index_dir), "sentences": index.count(SENTENCES), "passages": index.count(PASSAGES),
            "vector_index": index.manifest.vector_index, "questions": len(questions), "samples": len(rows),
            "load_s": load_s, "ms": summary, "faiss_threads": faiss.omp_get_max_threads(),
            "torch_threads": torch.get_num_threads(),
            "not_encode_vs_encode_p50": ratio(summary["not_encode"]["p50"], summary["encode"]["p50"])}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", choices=("seed", "cmrc"), default="seed")
    parser.add_argument("--index", type=Path, default=None,
                        help="index folder (default: index/ for seed; the cached CMRC index, built if missing)")
    parser.add_argument("--questions", type=int, default=300, help="cmrc: how many questions (default 300)")
    parser.add_argument("--repeats", type=int, default=1, help="ask every question this many times (default 1)")
    parser.add_argument("--faiss-threads", type=int, default=None, help="set FAISS's OpenMP threads first")
    parser.add_argument("--torch-threads", type=int, default=None, help="set torch's intra-op threads first")
    parser.add_argument("--selector", choices=("trained", "off"), default="trained",
                        help="with or without the learned answer selector (default: trained)")
    parser.add_argument("--selector-candidates", type=int, default=0,
                        help="candidates the selector reads (default: as calibrated)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here ('-': stdout)")
    args = parser.parse_args(argv)
    from qa import Settings

    settings = Settings(selector=args.selector, selector_candidates=args.selector_candidates)

    if args.corpus == "seed":
        index_dir, questions = args.index, seed_questions()
    else:
        index_dir = args.index or squad_index(CMRC_DEV)
        _, items = squad_articles(CMRC_DEV)
        questions = [q.question for q in items[: args.questions]]
    result = run(index_dir, questions, args.repeats, args.faiss_threads, args.torch_threads, settings)
    result.update(corpus=args.corpus, machine=machine_notes(), selector=args.selector,
                  selector_candidates=args.selector_candidates)
    rows = [{"stage": key, **{k: round(v, 3) for k, v in result["ms"][key].items()}}
            for key in ("total", *STAGES, "not_encode")]
    print_table(rows, title=f"{args.corpus}: {result['samples']} questions over {result['sentences']} sentences "
                f"({result['vector_index']}; FAISS threads {result['faiss_threads']}, torch threads "
                f"{result['torch_threads']}), ms")
    not_encode = result["ms"]["not_encode"]["p50"]
    print(f"\neverything but the encode, p50: {not_encode:.2f} ms (target < 5 ms); encode alone p50 "
          f"{result['ms']['encode']['p50']:.2f} ms; ratio {result['not_encode_vs_encode_p50']:.3f}")
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
