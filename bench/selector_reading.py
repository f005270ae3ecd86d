"""Warm `QA.ask` with the selector's early stop against reading every eligible candidate, in one run.

Two `QA` objects share the process and the model caches: the default (the
first eligible candidate alone when its logit reaches the card's
`stop_above`) and `Settings(selector_stops_early=False)` (every eligible
candidate read). Questions alternate between them and the order of the pair
flips every round, so whatever else runs on the machine slows both alike.
Reports how many questions get the same decision (found or not, sentence,
citation, exact span), how many candidates the selector read, and the
latency percentiles and their ratio.

    PYTHONPATH=. python -m bench.selector_reading --rounds 5
"""

from __future__ import annotations

import argparse
import time

from bench.common import machine_notes, median, percentile, ratio, seed_questions, write_json


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="times every question is asked per setting")
    parser.add_argument("--json", default=None, help="also write the figures as JSON here ('-': stdout)")
    args = parser.parse_args(argv)

    from bench.quantized import decision
    from qa import QA, Settings

    setups = {"stops early": QA(settings=Settings()),
              "reads all eligible": QA(settings=Settings(selector_stops_early=False))}
    for qa in setups.values():
        qa.warm_up()
    questions = seed_questions()
    rows_read = {name: 0 for name in setups}
    decisions = {name: [] for name in setups}
    for name, qa in setups.items():
        read = qa.answerer.selector.read

        def counting(question, sentences, *rest, _name=name, _read=read):
            rows_read[_name] += len(sentences)
            return _read(question, sentences, *rest)

        qa.answerer.selector.read = counting
        decisions[name] = [decision(qa.ask(q)) for q in questions]
        qa.answerer.selector.read = read
    times = {name: [] for name in setups}
    order = list(setups)
    for round_ in range(args.rounds):
        for question in questions:
            for name in order if round_ % 2 == 0 else order[::-1]:
                started = time.perf_counter()
                setups[name].ask(question)
                times[name].append(time.perf_counter() - started)
    same = sum(a == b for a, b in zip(*decisions.values()))
    result = {"questions": len(questions), "rounds": args.rounds, "same_decision": same,
              "candidates_read": rows_read, "machine": machine_notes()}
    for name, values in times.items():
        result[name] = {"p50_ms": round(1000 * median(values), 1), "p95_ms": round(1000 * percentile(values, 95), 1)}
    result["p50_ratio"] = round(ratio(result["stops early"]["p50_ms"], result["reads all eligible"]["p50_ms"]), 3)
    for name in setups:
        print(f"{name}: p50 {result[name]['p50_ms']} ms, p95 {result[name]['p95_ms']} ms, "
              f"candidates read {rows_read[name]} for {len(questions)} questions")
    print(f"same decision {same}/{len(questions)}; p50 ratio {result['p50_ratio']}")
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
