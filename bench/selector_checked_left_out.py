"""The selector's validation figures when a question is read without what a candidate's sentence leaves to its context.

The validation split of the training command (its cached candidates,
retrieval misses made as it makes them) is scored by the shipped weights
(the torch module the training command scores validation with) once per way
of reading the question (`SelectorConfig.checked_left_out`: today's whole
question; without the years and places a candidate's sentence does not hold;
without persons and organisations too), each calibrated as the training
command calibrates (`train_selector.calibrate`, the card's refusal budget), and
decided by `train_selector.figures`. The figures of each variant are written as
they come.

    PYTHONPATH=. python -m bench.selector_checked_left_out --work ~/.cache/aluqa/selector-train --json /tmp/left-out.json

`--work` is a training command's work folder holding the collected
candidates (`candidates-*.jsonl`); without them the command collects them
first (about half an hour).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

from bench.common import SHARED, machine_notes, write_json

VARIANTS = {"whole question": (), "years, places": ("years", "places"),
            "years, places, names": ("years", "places", "names")}


def totals(groups, logits, config) -> dict:
    """Over all files: answerable right and refused, near misses and retrieval misses refused, English right."""
    from qa.training import train_selector as ts

    results = ts.decide(groups, logits, config.candidates, config.ranker_weight, config.refuse_below,
                        config.english_ranker_weight, config.stop_above)

    def count(values: list[bool]) -> dict:
        return {"count": int(sum(values)), "of": len(values), "share": round(sum(values) / max(len(values), 1), 4)}

    return {
        "answerable_right": count([right for g, (_, right) in zip(groups, results) if g.answerable]),
        "answerable_refused": count([not found for g, (found, _) in zip(groups, results) if g.answerable]),
        "near_misses_refused": count([not found for g, (found, _) in zip(groups, results)
                                      if g.kind.startswith(ts.NEAR_MISS)]),
        "retrieval_misses_refused": count([not found for g, (found, _) in zip(groups, results)
                                           if g.kind == ts.RETRIEVAL_MISS]),
        "english_right": count([right for g, (_, right) in zip(groups, results) if g.answerable and g.english]),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED / "data", help="folder holding the training files")
    parser.add_argument("--work", type=Path, default=None, help="the training command's work folder (its candidates)")
    parser.add_argument("--json", default=None, help="also write the figures as JSON here ('-': stdout)")
    parser.add_argument("--seed", type=int, default=13, help="the training command's seed")
    args = parser.parse_args(argv)

    from qa.settings import Settings
    from qa.training import train_selector as ts

    settings = Settings()
    card, tokenize, pieces, module = ts.shipped_scorer(settings.cache_dir)
    work = args.work or settings.cache_dir / "selector-train"
    groups = ts.load_groups(work, [args.data / name for name in ts.TRAINING_FILES], args.seed)
    valid = [g for g in groups if g.validation]
    valid += ts.retrieval_misses(valid, ts.RETRIEVAL_MISS_SHARE, args.seed + 1)
    budget = (card.figures or {}).get("max_answerable_refused", 0.03)
    result = {"selector": card.version, "machine": machine_notes(), "questions": len(valid),
              "max_answerable_refused": budget, "variants": {}}
    for name, left_out in VARIANTS.items():
        started = time.perf_counter()
        config = replace(card, checked_left_out=left_out)
        logits, _ = ts.score_groups(module, valid, tokenize, pieces, config)
        config = replace(config, **ts.calibrate(valid, logits, budget))
        changed = sum(ts.read_beside(g, c, config) != ts.read_as(g, config)
                      for g in valid for c in g.candidates[: config.candidates])
        result["variants"][name] = {
            "checked_left_out": list(left_out), "minutes": round((time.perf_counter() - started) / 60, 1),
            "calibrated": {key: getattr(config, key) for key in
                           ("candidates", "ranker_weight", "english_ranker_weight", "refuse_below", "stop_above")},
            "pairs_read_otherwise": changed, "totals": totals(valid, logits, config),
            "figures": ts.figures(valid, logits, config)}
        print(json.dumps({name: result["variants"][name]}, ensure_ascii=False, indent=1), file=sys.stderr, flush=True)
        if args.json and args.json != "-":
            write_json(args.json, result)
    if args.json:
        write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
