"""Stability under corpus growth: do unrelated articles change answers that were right?

Builds the index of a copy of `seeds/`, asks the 40 seed dev questions, then
adds N unrelated articles (passages of CMRC 2018 dev, Wikipedia on other
topics, drawn with a fixed seed) through `aluqa add`'s own code path, and asks
again. Reports how many answers stayed the same (sentence text, citation doc,
found), how many were right before and after, and every change.

    PYTHONPATH=. python -m bench.corpus_growth --articles 20 --json growth.json

The CMRC passages are only distractors here: nothing is trained, tuned or
chosen on them.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
from pathlib import Path

from bench.common import CMRC_DEV, SEED_QA, SEEDS, print_figures, squad_articles, write_json


def _answers(qa, items) -> list[dict]:
    from qa.training.evaluate import is_right

    out = []
    for item in items:
        reply = qa.ask(item["question"])
        doc = reply.citation.doc if reply.citation else None
        out.append({"id": item["id"], "found": reply.found, "sentence": reply.sentence, "doc": doc,
                    "right": is_right(item, reply.found, reply.sentence, doc)})
    return out


def run(articles: int, seed: int) -> dict:
    from embeddings.corpus.articles import add_articles
    from embeddings.corpus.build import build_index
    from qa import QA, Settings
    from qa.api import encoder_for
    from qa.training.evaluate import read_seed_qa

    items = read_seed_qa(SEED_QA)
    passages, _ = squad_articles(CMRC_DEV)
    chosen = random.Random(seed).sample(passages, articles)
    with tempfile.TemporaryDirectory(prefix="aluqa-growth-") as scratch:
        base = Path(scratch)
        corpus, index, extra = base / "corpus", base / "index", base / "extra"
        shutil.copytree(SEEDS, corpus)
        extra.mkdir()
        encoder = encoder_for(Settings())
        build_index(corpus, index, encoder=encoder)
        settings = Settings(corpus_dir=corpus)
        before = _answers(QA(index, settings=settings, encoder=encoder), items)
        files = []
        for number, article in enumerate(chosen):
            path = extra / f"cmrc_{number:02d}.txt"
            path.write_text(f"{article.title}\n{article.text}\n", encoding="utf-8")
            files.append(path)
        report = add_articles(files, corpus, index, encoder=encoder)
        after = _answers(QA(index, settings=settings, encoder=encoder), items)
    changed = [{"id": b["id"], "before": {k: b[k] for k in ("found", "sentence", "doc", "right")},
                "after": {k: a[k] for k in ("found", "sentence", "doc", "right")}}
               for b, a in zip(before, after) if (b["found"], b["sentence"], b["doc"]) != (a["found"], a["sentence"], a["doc"])]
    return {
        "questions": len(items),
        "articles_added": len(report.added),
        "added_refused": list(report.refused),
        "unchanged": len(items) - len(changed),
        "right_before": sum(b["right"] for b in before),
        "right_after": sum(a["right"] for a in after),
        "right_then_changed": sum(c["before"]["right"] for c in changed),
        "changes": changed,
        "seed": seed,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.corpus_growth", description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=20, help="unrelated articles added (default 20)")
    parser.add_argument("--seed", type=int, default=13, help="which passages are drawn (default 13)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here ('-': stdout)")
    args = parser.parse_args(argv)
    figures = run(args.articles, args.seed)
    print_figures(figures, skip=("changes",))
    for change in figures["changes"]:
        print(f"  {change['id']}: {change['before']} -> {change['after']}")
    write_json(args.json, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
