"""Build-time encoding throughput: `build_index` (full rebuild) vs the raw sentence-transformers forward pass.

Each round builds the index of the corpus from scratch (`incremental=False`,
model already loaded) and, on exactly the texts that build embedded, runs the
bare `SentenceTransformer.encode` with a large batch and nothing else. Rounds
alternate the two so machine noise hits both alike; medians are reported.

    PYTHONPATH=. python -m bench.encode_throughput                      # seeds/
    PYTHONPATH=. python -m bench.encode_throughput --squad ../shared/data/cmrc2018_dev.json --docs 60
    PYTHONPATH=. python -m bench.encode_throughput --quantize int8      # the encode-speed experiment
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.common import (SEED_QA, SEEDS, machine_notes, median, print_table, ratio, squad_articles,
                          write_corpus_folder, write_json)


class TimedEncoder:
    """Passes calls through to an encoder, adding up the time spent embedding documents."""

    def __init__(self, inner):
        self.inner, self.name = inner, inner.name
        self.seconds, self.texts = 0.0, []

    @property
    def dimension(self):
        return self.inner.dimension

    def encode_queries(self, texts):
        return self.inner.encode_queries(texts)

    def encode_documents(self, texts, show_progress=False):
        started = time.perf_counter()
        vectors = self.inner.encode_documents(texts, show_progress=show_progress)
        self.seconds += time.perf_counter() - started
        self.texts.extend(texts)
        return vectors


def one_round(corpus: Path, index_dir: Path, encoder, raw_batch: int) -> dict:
    """One build of our path, then the raw encoder on the same texts."""
    from embeddings.corpus.build import build_index

    timed = TimedEncoder(encoder)
    stages: list[tuple[str, float]] = []
    build_started = time.perf_counter()
    report = build_index(corpus, index_dir, encoder=timed, incremental=False,
                         on_stage=lambda label: stages.append((label, time.perf_counter())))
    build_s = time.perf_counter() - build_started
    model = encoder._model  # the same loaded SentenceTransformer, called bare
    started = time.perf_counter()
    model.encode(timed.texts, batch_size=raw_batch, prompt_name="document", normalize_embeddings=True,
                 convert_to_numpy=True, show_progress_bar=False)
    raw_s = time.perf_counter() - started
    n = len(timed.texts)
    # Time before the first stage: reading, cleaning and splitting the articles.
    read_split_s = stages[0][1] - build_started if stages else float("nan")
    return {"texts": n, "sentences": report.sentences, "passages": report.passages, "build_s": build_s,
            "encode_s": timed.seconds, "raw_s": raw_s, "other_s": build_s - timed.seconds,
            "read_split_s": read_split_s, "ours_per_s": n / build_s, "encode_per_s": n / timed.seconds,
            "raw_per_s": n / raw_s}


def seed_quality(encoder, index_dir: Path) -> dict:
    """The seed QA figures (`qa.training.evaluate.evaluate_seed_qa`) on an index of seeds/ built with `encoder`."""
    from embeddings.corpus.build import build_index
    from qa import QA
    from qa.training.evaluate import evaluate_seed_qa, read_seed_qa

    build_index(SEEDS, index_dir, encoder=encoder, incremental=False)
    return evaluate_seed_qa(QA(index_dir, encoder=encoder).ask, read_seed_qa(SEED_QA)).figures()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=SEEDS, help="folder of articles (default: seeds/)")
    parser.add_argument("--squad", type=Path, default=None, help="use the passages of this SQuAD-style file instead")
    parser.add_argument("--docs", type=int, default=60, help="with --squad: how many passages (default 60)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--raw-batch", type=int, default=256, help="batch size of the raw reference (default 256)")
    parser.add_argument("--batch", type=int, default=None, help="our encoder's batch size (default: its own)")
    parser.add_argument("--quantize", choices=("none", "int8"), default=None,
                        help="encoder quantisation (default: the encoder's own default)")
    parser.add_argument("--quality", action="store_true", help="also run the seed QA set with this encoder")
    parser.add_argument("--torch-threads", type=int, default=None, help="set torch's intra-op threads first")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here ('-': stdout)")
    args = parser.parse_args(argv)

    import torch

    from embeddings.model.encoder import SentenceTransformerEncoder

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    with tempfile.TemporaryDirectory(prefix="aluqa-bench-") as tmp:
        corpus = args.corpus
        if args.squad:
            articles, _ = squad_articles(args.squad, args.docs)
            corpus = write_corpus_folder(articles, Path(tmp) / "corpus")
        options = {"batch_size": args.batch} if args.batch else {}
        if args.quantize:
            options["quantize"] = args.quantize
        encoder = SentenceTransformerEncoder(**options)
        started = time.perf_counter()
        encoder.warm_up()
        load_s = time.perf_counter() - started
        encoder.encode_documents(["预热"])  # first call pays one-off allocations
        rounds = [one_round(corpus, Path(tmp) / "index", encoder, args.raw_batch) for _ in range(args.rounds)]
        quality = seed_quality(encoder, Path(tmp) / "seed-index") if args.quality else None

    keys = ("build_s", "encode_s", "raw_s", "other_s", "read_split_s", "ours_per_s", "encode_per_s", "raw_per_s")
    med = {key: median(r[key] for r in rounds) for key in keys}
    first = rounds[0]
    result = {
        "corpus": str(args.squad or corpus), "texts": first["texts"], "sentences": first["sentences"],
        "passages": first["passages"], "encoder": encoder.name, "batch_size": encoder.batch_size,
        "quantize": getattr(encoder, "quantize", "none"), "torch_threads": torch.get_num_threads(),
        "model_load_s": load_s, "rounds": rounds,
        "median": med, "ours_vs_raw": ratio(med["ours_per_s"], med["raw_per_s"]),
        "non_encode_share": ratio(med["other_s"], med["build_s"]), "seed_quality": quality,
        "machine": machine_notes(),
    }
    print_table([{"round": i + 1, **{k: r[k] for k in keys}} for i, r in enumerate(rounds)]
                + [{"round": "median", **med}], title=f"{result['texts']} texts ({first['sentences']} sentences, "
                f"{first['passages']} passages) from {result['corpus']}; model load {load_s:.1f} s; "
                f"{result['torch_threads']} torch threads; quantize {result['quantize']}")
    print(f"\nours/raw throughput: {result['ours_vs_raw']:.3f} (target >= 0.90); "
          f"non-encode share of build: {result['non_encode_share']:.3f} (target < 0.10)")
    if quality:
        print(f"seed QA with this encoder: {quality}")
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
