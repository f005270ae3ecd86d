"""Answer quality and cost of the learned selector's choices, on the first N questions of a SQuAD-style file.

Rows: the selector off (linear ranker and support rule), and on with 3, 5,
the calibrated number and 8 candidates, with and without the article title
in its input, and (for a model trained with it) without the preceding
sentence as context. Every row asks the same questions on the same index in one run.

    PYTHONPATH=. python -m bench.selector_ablation --questions 1000 --json selector.json
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from bench.common import CMRC_DEV, machine_notes, print_table, write_json


def run(squad_file: Path, questions: int) -> list[dict]:
    from embeddings.model.encoder import SentenceTransformerEncoder
    from qa import QA, Settings
    from qa.training.datasets import default_eval_index_dir, ensure_squad_index, evaluate_squad, read_squad
    from qa.selector import AnswerSelector

    squad = read_squad(squad_file)
    encoder = SentenceTransformerEncoder()
    ready = ensure_squad_index(squad, default_eval_index_dir(squad), encoder, show_progress=True)
    asked = squad.questions[:questions]
    calibrated = AnswerSelector().config
    context = calibrated.max_context_tokens
    variants = [("off", None, True, context)] + [(str(k), k, True, context)
                                                 for k in sorted({3, 5, calibrated.candidates, 8})]
    variants.append((f"{calibrated.candidates}, no title", calibrated.candidates, False, context))
    if context:
        variants.append((f"{calibrated.candidates}, no context", calibrated.candidates, True, 0))
    rows = []
    for label, candidates, title, context_tokens in variants:
        if candidates is None:
            qa = QA(ready.folder, settings=Settings(selector="off"), encoder=encoder)
        else:
            qa = QA(ready.folder, settings=Settings(selector_candidates=candidates), encoder=encoder)
            qa.warm_up()
            selector = qa.answerer.selector
            # The same loaded model, its input with or without the article title and context.
            selector.config = replace(calibrated, use_title=title, max_context_tokens=context_tokens)
        figures = evaluate_squad(qa, asked, progress=False).figures()
        rows.append({"selector": label, "acc@1": figures["sentence_accuracy_at_1"],
                     "acc@3": figures["sentence_accuracy_at_3"], "not_found": figures["not_found_share"],
                     "p50_ms": figures["latency_p50_ms"], "p95_ms": figures["latency_p95_ms"]})
        print_table(rows[-1:], title=label)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--squad", type=Path, default=CMRC_DEV, help="SQuAD-style file (default: CMRC 2018 dev)")
    parser.add_argument("--questions", type=int, default=1000)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here ('-': stdout)")
    args = parser.parse_args(argv)
    rows = run(args.squad, args.questions)
    print_table(rows, title=f"{args.squad.name}, first {args.questions} questions")
    write_json(args.json, {"file": str(args.squad), "questions": args.questions, "rows": rows,
                           "machine": machine_notes()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
