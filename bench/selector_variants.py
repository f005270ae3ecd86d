"""The answer selector's int8 variants against fp32 on training questions' real candidates, in one process.

Compares three graphs of the shipped selector on the candidates the training
command collected from the training files (`candidates-*.jsonl` in its work
folder; no evaluation set is read):

- fp32, the reference;
- dynamic int8 with the feed-forward outputs kept fp32 (the variant shipped
  before; made here in a scratch folder with ONNX Runtime's `quantize_dynamic`);
- int8 blocks (`quantize_int8_blockwise`, the variant shipped now).

For each: how often the best of a question's first 3 candidates and the
refusal decision (best logit against the shipped threshold) equal fp32's, how
often the best is a right sentence, the logit differences, time per pass
(alternating question by question), and whether a candidate's logit moves when
it is read alone instead of with its question's others. Then questions/s when
1, 4 or 16 questions' candidates share one pass.

    PYTHONPATH=. python -m bench.selector_variants [--per-file 250] [--work DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import machine_notes, median, print_table, write_json
from bench.quantized import alternate

# The second linear layer of each feed-forward block, which the earlier dynamic variant kept fp32.
FFN_OUTPUT = "/output/dense/"


def dynamic_variant(graph: Path, out: Path) -> Path:
    """The earlier shipped variant: dynamic int8, every `MatMul` but the feed-forward outputs."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    keep = [node.name for node in onnx.load(str(graph), load_external_data=False).graph.node
            if node.op_type == "MatMul" and FFN_OUTPUT in node.name and "/attention/" not in node.name]
    quantize_dynamic(graph, out, op_types_to_quantize=["MatMul"], per_channel=True, reduce_range=False,
                     weight_type=QuantType.QInt8, nodes_to_exclude=keep)
    return out


def load_questions(work: Path, per_file: int) -> list[dict]:
    files = sorted(work.glob("candidates-*.jsonl"))
    if not files:
        raise SystemExit(f"no candidates-*.jsonl in {work}: run `python -m qa.training.train_selector "
                         f"--collect-only --work {work}` first")
    questions = []
    for path in files:
        rows = [json.loads(line) for line in path.open(encoding="utf-8")]
        random.Random(1).shuffle(rows)
        questions += [row for row in rows if len(row["candidates"]) >= 2][:per_file]
    return questions


def main(argv=None) -> int:
    import os

    from embeddings.model.build import cache_folder
    from embeddings.model.onnx_runtime import OnnxModel, table_path
    from qa.selector import AnswerSelector, pad_batch, selector_onnx_path
    from qa.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-file", type=int, default=250, help="questions per training file (default 250)")
    parser.add_argument("--work", type=Path, default=None,
                        help="the training command's work folder (default: <cache>/selector-train)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    settings = Settings()
    work = args.work or cache_folder(settings.cache_dir) / "selector-train"
    questions = load_questions(work, args.per_file)
    selector = AnswerSelector(cache_dir=settings.cache_dir)
    selector.warm_up()
    graph = selector_onnx_path(selector.config, settings.cache_dir)

    inputs = []
    for row in questions:
        candidates = row["candidates"][:3]
        text = selector.config.question_text(row["question"], "")
        layouts, _ = selector.layouts(text, [c["sentence"] for c in candidates], [c["title"] for c in candidates])
        inputs.append([layout.ids for layout in layouts])

    with tempfile.TemporaryDirectory() as scratch:
        dynamic = dynamic_variant(graph, Path(scratch) / "dynamic.onnx")
        os.link(table_path(graph), table_path(dynamic))  # the same token table, as the shipped variants read it
        # The threads the answerer gives the selector (`AnswerSelector`: 2).
        sessions = {"fp32": OnnxModel(graph, threads=2), "dynamic int8 (before)": OnnxModel(dynamic, threads=2),
                    "int8 blocks (now)": OnnxModel(graph, threads=2, int8=True)}

        def run(name, rows):
            return np.asarray(sessions[name].run(*pad_batch(rows)), dtype=np.float32).reshape(-1)

        logits = {name: [run(name, rows) for rows in inputs] for name in sessions}
        times = alternate({name: (lambda rows, n=name: run(n, rows)) for name in sessions}, inputs, 1)
        threshold = selector.config.refuse_below  # on the logit alone: the ranker term is left out here
        reference = logits["fp32"]
        rows_out = []
        for name in sessions:
            moved = np.concatenate([np.abs(a - b) for a, b in zip(logits[name], reference)])
            alone = [np.array([run(name, [r])[0] for r in rows]) for rows in inputs[:120]]
            apart = max(float(np.max(np.abs(a - b))) for a, b in zip(alone, logits[name][:120]))
            rows_out.append({
                "variant": name, "questions": len(inputs),
                "best_is_right": sum(int(q["candidates"][int(np.argmax(a))]["right"])
                                     for q, a in zip(questions, logits[name])),
                "same_best_as_fp32": sum(int(np.argmax(a) == np.argmax(b)) for a, b in zip(logits[name], reference)),
                "same_refusal_as_fp32": sum(int((a.max() < threshold) == (b.max() < threshold))
                                            for a, b in zip(logits[name], reference)),
                "logit_diff_max": round(float(moved.max()), 3), "logit_diff_p99": round(float(np.quantile(moved, 0.99)), 3),
                "logit_diff_median": round(float(np.median(moved)), 3),
                "pass_ms_p50": round(median(times[name]), 1),
                "ratio_to_fp32": round(median([a / b for a, b in zip(times[name], times["fp32"])]), 3),
                "alone_vs_together_max_move (120 q)": round(apart, 4)})
        print_table(rows_out, title=f"selector variants, {len(inputs)} training questions' first 3 candidates")

        batching, sample = [], inputs[:96]
        for name in sessions:
            for per_pass in (1, 4, 16):
                start = time.perf_counter()
                for first in range(0, len(sample), per_pass):
                    run(name, [row for rows in sample[first: first + per_pass] for row in rows])
                batching.append({"variant": name, "questions_per_pass": per_pass,
                                 "questions_per_s": round(len(sample) / (time.perf_counter() - start), 2)})
        print_table(batching, title=f"several questions' candidates in one pass ({len(sample)} questions)")
    write_json(args.json, {"machine": machine_notes(), "threshold": threshold, "variants": rows_out,
                           "batching": batching})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
