"""`python -m qa.training.train_ranker`: fit the answer-sentence ranker on a SQuAD-style training file.

The ranker is a linear model over `qa.ranker.FEATURES`, fitted with a listwise
softmax loss: for each question, the candidates that hold a gold answer span
should take the probability mass. It is trained on CMRC 2018 *trial*
questions, never on the dev sets the quality figures are reported on.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from qa.ranker import FEATURES, RANKER_FILE, LinearRanker

DEFAULT_TRAINING_FILE = Path(__file__).resolve().parents[3] / "shared" / "data" / "cmrc2018_trial.json"


def collect(squad_file: Path, limit: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(features, labels) per question whose candidates hold at least one right sentence."""
    from tqdm import tqdm

    from qa.api import QA, encoder_for, prepare_question
    from qa.question import parse_question
    from qa.settings import Settings
    from qa.training.datasets import contains_answer, default_eval_index_dir, ensure_squad_index, read_squad

    squad = read_squad(squad_file)
    settings = Settings()
    encoder = encoder_for(settings)
    folder = default_eval_index_dir(squad, settings.cache_dir)
    ensure_squad_index(squad, folder, encoder, show_progress=True)
    qa = QA(folder, settings=settings, encoder=encoder)
    questions = [item for item in squad.questions[:limit] if item.question.strip()]
    parsed = [parse_question(prepare_question(item.question)[0]) for item in questions]
    # One batched encode instead of a thousand single ones: same vectors, a fraction of the time.
    vectors = encoder.encode_queries([p.match for p in parsed])
    retriever, answerer = qa.retriever, qa.answerer
    groups = []
    for item, question, vector in tqdm(list(zip(questions, parsed, vectors)), desc="features", unit="q",
                                       file=sys.stderr):
        retrieval = retriever.retrieve(question, vector[None, :])
        matrix, _ = answerer.features(question, retrieval)
        labels = np.array([contains_answer(h.sentence.text, item.answers) for h in retrieval.hits], float)
        if labels.any() and not labels.all():
            groups.append((matrix, labels))
    return groups


def fit(groups: list[tuple[np.ndarray, np.ndarray]], l2: float = 1e-3, steps: int = 1500,
        learning_rate: float = 0.5) -> LinearRanker:
    """Listwise softmax regression by full-batch gradient descent on standardised features."""
    stacked = np.vstack([m for m, _ in groups])
    mean, scale = stacked.mean(axis=0), stacked.std(axis=0)
    scale[scale < 1e-9] = 1.0
    # Pad every question's candidate list to one length; padding gets -inf logits.
    width = max(len(y) for _, y in groups)
    features = np.zeros((len(groups), width, len(FEATURES)))
    labels = np.zeros((len(groups), width))
    present = np.zeros((len(groups), width), dtype=bool)
    for row, (matrix, y) in enumerate(groups):
        features[row, : len(y)] = (matrix - mean) / scale
        labels[row, : len(y)] = y
        present[row, : len(y)] = True
    weights = np.zeros(len(FEATURES))
    for _ in range(steps):
        logits = np.where(present, features @ weights, -np.inf)
        p_all = np.exp(logits - logits.max(axis=1, keepdims=True))
        p_all /= p_all.sum(axis=1, keepdims=True)
        p_right = p_all * labels
        p_right /= p_right.sum(axis=1, keepdims=True)
        # d/dw of -log(sum over right candidates of softmax) = X^T (p_all - p_right)
        gradient = np.einsum("gk,gkf->f", p_all - p_right, features) / len(groups) + l2 * weights
        weights -= learning_rate * gradient
    return LinearRanker(FEATURES, tuple(float(w) for w in weights), tuple(float(m) for m in mean),
                        tuple(float(s) for s in scale), 0.0, "")


def save_groups(path: Path, groups) -> None:
    np.savez(path, features=np.vstack([m for m, _ in groups]), labels=np.concatenate([y for _, y in groups]),
             sizes=np.array([len(y) for _, y in groups]), names=np.array(FEATURES))


def load_groups(path: Path):
    data = np.load(path, allow_pickle=False)
    if tuple(data["names"]) != FEATURES:
        raise SystemExit(f"{path} holds other features; delete it to recompute")
    bounds = np.cumsum(data["sizes"])[:-1]
    return list(zip(np.split(data["features"], bounds), np.split(data["labels"], bounds)))


def top1(ranker: LinearRanker, groups) -> float:
    return float(np.mean([labels[int(np.argmax(ranker.score(matrix)))] for matrix, labels in groups]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qa.training.train_ranker", description=__doc__.splitlines()[0])
    parser.add_argument("--squad", type=Path, default=DEFAULT_TRAINING_FILE, help="SQuAD-style training file")
    parser.add_argument("--out", type=Path, default=RANKER_FILE, help="where to write the ranker JSON")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N questions")
    parser.add_argument("--features", type=Path, default=None,
                        help="an .npz to reuse features from (written there when it does not exist)")
    args = parser.parse_args(argv)
    if args.features and args.features.is_file():
        groups = load_groups(args.features)
    else:
        groups = collect(args.squad, args.limit)
        if args.features:
            save_groups(args.features, groups)
    half = len(groups) * 4 // 5
    # Fit on four fifths and report on the rest, so the printed figure is not a training score.
    held_out = fit(groups[:half])
    print(f"held-out top-1 among answerable candidate lists: hand-set {top1(LinearRanker.hand_set(), groups[half:]):.3f}"
          f", trained {top1(held_out, groups[half:]):.3f} ({len(groups) - half} questions)")
    ranker = fit(groups)
    ranker = LinearRanker(ranker.features, ranker.weights, ranker.mean, ranker.scale, 0.0,
                          f"{args.squad.name}, {len(groups)} questions")
    ranker.save(args.out)
    print(f"wrote {args.out}: " + ", ".join(f"{n} {w:+.2f}" for n, w in zip(ranker.features, ranker.weights)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
