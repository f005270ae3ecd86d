"""ONNX Runtime against sentence-transformers on the same texts, in one run: load, throughput, latency, agreement.

Both encoders are AluQA's own (`OnnxEncoder` on the export in the user cache,
`SentenceTransformerEncoder` on the model it was exported from). Rounds
alternate the two so machine noise hits both alike; medians are reported.
The texts are every sentence and passage text a build of seeds/ embeds; the
questions are the seed dev questions. With `--int8`, a dynamically quantised
int8 copy of the graph (ONNX Runtime's quantize_dynamic) is measured too.

    PYTHONPATH=. python -m bench.runtimes --rounds 3
    PYTHONPATH=. python -m bench.runtimes --rounds 3 --int8
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import SEEDS, machine_notes, median, print_table, seed_questions, write_json


def seed_texts() -> list[str]:
    """The document texts a build of seeds/ sends to the encoder (sentences, then passages)."""
    from embeddings.text.read import load_corpus
    from embeddings.store.local import passage_embedding_text
    from embeddings.text.normalize import normalize
    from embeddings.text.split import segment_articles

    articles = load_corpus(SEEDS)
    sentences, passages = segment_articles(articles)
    by_doc = {a.doc: a for a in articles}
    texts = [normalize(s.text) for s in sentences]
    texts += [passage_embedding_text(by_doc[p.doc], normalize(p.text)) for p in passages]
    return list(dict.fromkeys(texts))


def timed(function, *args):
    started = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - started, result


def measure(make, texts: list[str], questions: list[str]) -> tuple[dict, np.ndarray, np.ndarray]:
    """Load, embed the texts, then each question alone; returns figures and the vectors."""
    load_s, encoder = timed(make)
    first_s, _ = timed(encoder.encode_queries, [questions[0]])  # includes the session / model load
    docs_s, doc_vectors = timed(encoder.encode_documents, texts)
    per_question, query_vectors = [], []
    for question in questions:
        seconds, vector = timed(encoder.encode_queries, [question])
        per_question.append(seconds * 1000)
        query_vectors.append(vector[0])
    return ({"construct_s": load_s, "first_query_s": first_s, "documents_s": docs_s,
             "texts_per_s": len(texts) / docs_s, "query_p50_ms": median(per_question)},
            doc_vectors, np.array(query_vectors))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--int8", action="store_true", help="also measure an int8 quantised copy of the graph")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here ('-': stdout)")
    args = parser.parse_args(argv)

    from embeddings.model.encoder import SentenceTransformerEncoder
    from embeddings.model.build import build_default_onnx
    from embeddings.model.onnx_runtime import ONNX_FILE, OnnxEncoder

    texts, questions = seed_texts(), seed_questions()
    onnx_dir = build_default_onnx()

    def sentence_transformers():
        encoder = SentenceTransformerEncoder()
        encoder.warm_up()
        return encoder

    makers = {"sentence-transformers": sentence_transformers, "onnx": lambda: OnnxEncoder(onnx_dir)}
    scratch = tempfile.TemporaryDirectory(prefix="aluqa-int8-")
    if args.int8:
        import shutil

        from onnxruntime.quantization import QuantType, quantize_dynamic

        int8_dir = Path(scratch.name)
        for item in onnx_dir.iterdir():
            if item.name != ONNX_FILE:
                shutil.copy(item, int8_dir / item.name)
        quantize_dynamic(str(onnx_dir / ONNX_FILE), str(int8_dir / ONNX_FILE), weight_type=QuantType.QInt8)
        makers["onnx int8"] = lambda: OnnxEncoder(int8_dir)

    runs: dict[str, list[dict]] = {name: [] for name in makers}
    vectors: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for _ in range(args.rounds):
        for name, make in makers.items():
            figures, docs, queries = measure(make, texts, questions)
            runs[name].append(figures)
            vectors[name] = (docs, queries)
    reference_docs, reference_queries = vectors["sentence-transformers"]
    rows = []
    for name, figures in runs.items():
        docs, queries = vectors[name]
        doc_cos, query_cos = (docs * reference_docs).sum(1), (queries * reference_queries).sum(1)
        rows.append({"runtime": name, **{key: median(f[key] for f in figures) for key in figures[0]},
                     "min_cos_docs": float(doc_cos.min()), "min_cos_queries": float(query_cos.min())})
    print_table(rows, title=f"{len(texts)} seed texts, {len(questions)} questions, {args.rounds} rounds (medians)")
    write_json(args.json, {"rows": rows, "runs": runs, "machine": machine_notes()})
    scratch.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
