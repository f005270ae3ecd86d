"""Does a candidate's selector score depend on the candidates read with it? fp32 and int8, in one process.

The answerer reads a question's candidates in one ONNX pass, padded to the
longest. The int8 variant quantises each activation matrix with one scale
(dynamic quantisation), so the other rows of the pass, padding included, can
move a row's score; fp32 should not move beyond rounding. This is what any
batching of several questions into one pass (issue: throughput) has to face.
For the seed questions' real selector inputs it reports, per variant:

- the largest and median logit difference between reading the candidates
  together (as served) and one at a time, unpadded;
- on how many questions the best-scored candidate is the same both ways, and
  the same as the fp32 pass over all candidates together (the reference);
- time per question both ways, alternating question by question (on shared
  cores only the ratio means anything).

    PYTHONPATH=. python -m bench.selector_rows [--rounds 5] [--json FILE]
"""

from __future__ import annotations

import argparse

import numpy as np

from bench.common import machine_notes, median, print_table, seed_questions, write_json
from bench.quantized import Swap, alternate, selector_batches


def _unpad(ids: np.ndarray, mask: np.ndarray) -> list[np.ndarray]:
    return [row[: int(m.sum())] for row, m in zip(ids, mask)]


def main(argv=None) -> int:
    from qa import QA
    from qa.selector import pad_batch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    qa = QA()
    qa.warm_up()
    swap = Swap(qa, selector_threads=2)
    batches = selector_batches(qa, swap, seed_questions())
    models = {"fp32": swap.models["selector", False], "int8": swap.models["selector", True]}

    def together(model, batch):
        return np.asarray(model.run_all(*batch)[0], dtype=np.float32).reshape(-1)

    def apart(model, batch):
        return np.concatenate([together(model, pad_batch([row.tolist()])) for row in _unpad(*batch)])

    reference = [int(np.argmax(together(models["fp32"], batch))) for batch in batches]
    rows = []
    for name, model in models.items():
        joint = [together(model, batch) for batch in batches]
        single = [apart(model, batch) for batch in batches]
        moved = [float(np.max(np.abs(a - b))) for a, b in zip(joint, single)]
        times = alternate({"together": lambda b, m=model: together(m, b), "apart": lambda b, m=model: apart(m, b)},
                          batches, args.rounds)
        rows.append({"variant": name, "questions": len(batches),
                     "largest_logit_move": round(max(moved), 4), "median_logit_move": round(median(moved), 4),
                     "same_best_both_ways": sum(int(np.argmax(a) == np.argmax(b)) for a, b in zip(joint, single)),
                     "together_best_as_fp32": sum(int(np.argmax(a) == r) for a, r in zip(joint, reference)),
                     "apart_best_as_fp32": sum(int(np.argmax(b) == r) for b, r in zip(single, reference)),
                     "together_ms_p50": round(median(times["together"]), 1),
                     "apart_ms_p50": round(median(times["apart"]), 1),
                     "apart_over_together": round(median(times["apart"]) / median(times["together"]), 3)})
    padded = sum(b[0].size for b in batches)
    real = sum(int(b[1].sum()) for b in batches)
    print_table(rows, title="the selector's candidates read together (padded) and one at a time")
    print(f"tokens read together {padded}, of which real {real} ({real / padded:.1%})")
    write_json(args.json, {"machine": machine_notes(), "rows": rows, "padded_tokens": padded, "real_tokens": real})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
