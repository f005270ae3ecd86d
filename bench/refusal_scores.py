"""How well does a refusal score separate unanswerable questions from answerable ones, on validation?

Reads what `python -m qa.training.train_selector` left in its work folder (the
candidates of each training file and the selector's logits on the validation
split), takes the selector's own decision (`qa.selector.choose` with the
shipped candidates and ranker weight), and for several candidate refusal
scores reports, on ChineseSquad part A's validation questions: ROC AUC
(unanswerable against answerable), and the share of unanswerable questions
refused when the threshold refuses 2.5 % or 3 % of all answerable validation
questions, or 3 % of part A's own answerable ones.

Only training data is read (the validation split of the training files).

    PYTHONPATH=. python -m bench.refusal_scores [--work ~/.cache/aluqa/selector-train]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from bench.common import print_table, write_json

PART_A = "chinesesquad2_dev_a"


def refused_at(scores: np.ndarray, answerable: np.ndarray, reference: np.ndarray, share: float) -> float:
    """Unanswerable refused when the threshold refuses `share` of the `reference` answerable questions."""
    ordered = np.sort(scores[reference])
    threshold = ordered[min(int(math.floor(share * len(ordered))), len(ordered) - 1)]
    return float(np.mean(scores[~answerable] < threshold))


def main(argv=None) -> int:
    from sklearn.metrics import roc_auc_score

    from qa.settings import Settings
    from qa.selector import SelectorConfig, choose
    from qa.training.train_selector import DATA_DIR, TRAINING_FILES, load_groups

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=None, help="the training command's work folder")
    parser.add_argument("--data", type=Path, default=DATA_DIR)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    work = args.work or Settings().cache_dir / "selector-train"
    if not (work / "logits-validation.json").is_file():
        raise SystemExit(f"no validation logits in {work}: run python -m qa.training.train_selector first (or pass --work)")
    groups = [g for g in load_groups(work, [args.data / name for name in TRAINING_FILES]) if g.validation]
    logits = [np.asarray(v, dtype=np.float64) for v in json.loads((work / "logits-validation.json").read_text())]
    if len(logits) != len(groups):
        raise SystemExit(f"{work} holds logits of {len(logits)} questions, the validation split has {len(groups)}")
    config = SelectorConfig.read()

    features = {name: [] for name in ("chosen logit", "chosen logit + ranker weight x log confidence",
                                      "largest logit of 8", "log-sum-exp of 8 logits and no-answer",
                                      "chosen logit - largest other logit")}
    for group, values in zip(groups, logits):
        pool = group.candidates[: config.candidates]
        confidences = np.array([c.confidence for c in pool])
        weight = config.weight_for(group.english)
        pick = choose(values[: len(pool)], confidences, [c.eligible for c in pool], weight, -math.inf)
        if pick.position is None:
            chosen, bonus, other = -1e9, 0.0, 0.0
        else:
            chosen = pick.logit
            bonus = weight * math.log(max(confidences[pick.position], 1e-6))
            rest = np.delete(values, pick.position)
            other = float(rest.max()) if rest.size else 0.0
        features["chosen logit"].append(chosen)
        features["chosen logit + ranker weight x log confidence"].append(chosen + bonus)
        features["largest logit of 8"].append(float(values.max()) if values.size else -1e9)
        features["log-sum-exp of 8 logits and no-answer"].append(float(np.logaddexp.reduce(np.append(values, 0.0))))
        features["chosen logit - largest other logit"].append(chosen - other)

    answerable = np.array([g.answerable for g in groups])
    part_a = np.array([g.source == PART_A for g in groups])
    articles = sorted({g.article for g in groups if g.source == PART_A})
    rows = []
    for name, values in features.items():
        scores = np.asarray(values)
        rows.append({
            "score": name,
            "AUC part A": round(float(roc_auc_score(answerable[part_a], scores[part_a])), 3),
            "unans. refused @2.5% all": round(refused_at(scores, answerable, answerable, 0.025), 3),
            "@3% all": round(refused_at(scores, answerable, answerable, 0.03), 3),
            "@3% part A": round(refused_at(scores, answerable, answerable & part_a, 0.03), 3),
        })
    print_table(rows, title=(f"validation: {int(answerable.sum())} answerable, {int((~answerable).sum())} unanswerable "
                             f"(part A articles: {', '.join(articles)})"))
    write_json(args.json, {"work": str(work), "part_a_articles": articles, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
