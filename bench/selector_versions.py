"""Warm answer latency of two selector versions in one run: the shipped one and another, question by question.

Both read the same loaded index; questions alternate between them (A, B, A,
B ...) and the order of the pair flips every question, so whatever else runs
on the machine slows both alike. Also counts the questions both answer with
the same sentence.

    PYTHONPATH=. python -m bench.selector_versions --other-weights OLD.safetensors --other-card OLD.json
    # the selector of an earlier commit:
    git show 59c541e:qa/models/selector.safetensors > /tmp/old.safetensors
    git show 59c541e:qa/models/selector.json > /tmp/old.json
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench.common import machine_notes, percentile, ratio, seed_questions, write_json


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--other-weights", type=Path, required=True)
    parser.add_argument("--other-card", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=3, help="ask every question this many times per version")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here ('-': stdout)")
    args = parser.parse_args(argv)

    from qa import QA
    from qa.selector import AnswerSelector
    from qa.selector_export import export_selector

    qa = QA()
    export_selector(args.other_weights, args.other_card, cache_dir=qa.settings.cache_dir)  # once, outside the timing
    qa.warm_up()
    shipped = qa.answerer.selector
    # The same precision and cache as the shipped one (`Settings.int8`, `Settings.cache_dir`).
    other = AnswerSelector(args.other_weights, args.other_card, int8=shipped.int8, cache_dir=shipped.cache_dir)
    other.warm_up()
    versions = {"shipped": shipped, "other": other}
    questions = seed_questions()
    times = {name: [] for name in versions}
    sentences = {name: {} for name in versions}
    for name, selector in versions.items():  # first calls fill caches
        qa.answerer.selector = selector
        for question in questions[:3]:
            qa.ask(question)
    for repeat in range(args.repeats):
        for i, question in enumerate(questions):
            order = list(versions) if (i + repeat) % 2 == 0 else list(reversed(versions))
            for name in order:
                qa.answerer.selector = versions[name]
                started = time.perf_counter()
                reply = qa.ask(question)
                times[name].append((time.perf_counter() - started) * 1000)
                sentences[name][question] = reply.sentence
    qa.answerer.selector = shipped
    figures = {
        "questions": len(questions), "repeats": args.repeats,
        "versions": {name: {"selector": versions[name].name, "p50_ms": round(percentile(times[name], 50), 1),
                            "p95_ms": round(percentile(times[name], 95), 1)} for name in versions},
        "p50_ratio_shipped_to_other": ratio(percentile(times["shipped"], 50), percentile(times["other"], 50)),
        "same_sentence": sum(sentences["shipped"][q] == sentences["other"][q] for q in questions),
        "machine": machine_notes(),
    }
    for name, row in figures["versions"].items():
        print(f"{name:8s} {row['selector']:28s} p50 {row['p50_ms']:7.1f} ms  p95 {row['p95_ms']:7.1f} ms")
    print(f"p50 ratio shipped/other {figures['p50_ratio_shipped_to_other']}; "
          f"same sentence {figures['same_sentence']}/{len(questions)}")
    if args.json:
        write_json(args.json, figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
