"""`python -m qa.train_selector`: fine-tune the answer selector (a cross-encoder) and calibrate "not found".

Three stages, each written to `--work` as it finishes so a stopped run resumes:

1. candidates: every question of the training files goes through today's
   retriever and linear ranker on an index of its own file (as `aluqa eval
   --squad` does); its top candidates, labelled by whether they hold a gold
   span, are kept. SQuAD 2.0 `is_impossible` questions keep theirs, all wrong.
2. training: multilingual-e5-small with a linear head, lower layers frozen,
   trained with a softmax over each question's candidates plus a "no answer"
   option of logit 0 (the target of unanswerable questions). Checkpoints
   every `--checkpoint-every` steps.
3. calibration, on the validation split only (a fifth of the articles of
   each file, chosen by a hash of the article id, never by question): how
   many candidates to score, the weight of the linear ranker's confidence,
   and the refusal threshold: the highest one that refuses at most
   `--max-answerable-refused` of the answerable validation questions.

Only training data is read: CMRC 2018 trial, DRCD dev and ChineseSquad part A.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from qa.selector import (SELECTOR_CARD, SELECTOR_WEIGHTS, SelectorConfig, SelectorError, build_module, choose,
                         delta_state, load_delta, pad_batch, pair_ids)

DATA_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
TRAINING_FILES = ("cmrc2018_trial.json", "drcd_dev.json", "chinesesquad2_dev_a.json")
POOL = 8  # candidates kept per question (the most the selector may score)


@dataclass(frozen=True)
class Candidate:
    sentence: str  # matching form
    title: str  # matching form of the article title
    right: bool
    confidence: float  # linear ranker's softmax over the retriever's candidates
    eligible: bool  # agrees with the question's years and places, and holds an asked number/date
    previous: str = ""  # matching form of the sentence before it in its paragraph ("" for the first)


@dataclass(frozen=True)
class Group:
    """One training question with its candidates, best first by today's ranker."""

    source: str
    article: str
    question: str  # matching form
    answerable: bool
    candidates: tuple[Candidate, ...]

    @property
    def validation(self) -> bool:
        digest = hashlib.sha256(f"{self.source}/{self.article}".encode("utf-8")).digest()
        return digest[0] % 5 == 0


def _article_key(doc: str) -> str:
    return doc.rsplit("#", 1)[0]


def collect(squad_file: Path) -> list[Group]:
    """Today's top candidates for every question of a SQuAD-style file."""
    from tqdm import tqdm

    from embeddings.encoder import SentenceTransformerEncoder
    from embeddings.normalize import normalize
    from qa.api import QA, QuestionError, prepare_question
    from qa.evaluate_squad import contains_answer, default_eval_index_dir, ensure_squad_index, read_squad
    from qa.question import DATE, NUMBER, parse_question
    from qa.settings import Settings

    squad = read_squad(squad_file)
    encoder = SentenceTransformerEncoder()
    ready = ensure_squad_index(squad, default_eval_index_dir(squad), encoder, show_progress=True)
    qa = QA(ready.folder, settings=Settings(selector="off"), encoder=encoder)
    index, answerer = qa.index, qa.answerer
    titles = {doc: normalize(a.title) for doc, a in index.articles.items()}
    items, parsed = [], []
    for item in squad.questions:
        try:
            parsed.append(parse_question(prepare_question(item.question)[0]))
            items.append(item)
        except QuestionError:
            continue
    vectors = encoder.encode_queries([p.match for p in parsed])
    groups = []
    for item, question, vector in tqdm(list(zip(items, parsed, vectors)), desc=f"candidates {squad.name}",
                                       unit="q", file=sys.stderr):
        retrieval = qa.retriever.retrieve(question, vector[None, :])
        judged = answerer.judge(question, retrieval)[:POOL]
        needs_type = question.expected in (NUMBER, DATE)
        candidates = tuple(
            Candidate(j.around.match(j.hit.sentence), titles[j.hit.sentence.doc],
                      item.answerable and contains_answer(j.hit.sentence.text, item.answers), j.confidence,
                      j.agrees and (j.type_ok or not needs_type), j.around.neighbour(j.hit.sentence, -1))
            for j in judged)
        groups.append(Group(squad.name, _article_key(item.doc), question.match, item.answerable, candidates))
    return groups


def load_groups(work: Path, files: list[Path]) -> list[Group]:
    groups = []
    for path in files:
        cache = work / f"candidates-{path.stem}.jsonl"
        if not cache.is_file():
            rows = collect(path)
            partial = cache.with_suffix(".part")
            with open(partial, "w", encoding="utf-8") as handle:
                for group in rows:
                    handle.write(json.dumps(asdict(group), ensure_ascii=False) + "\n")
            partial.replace(cache)
        with open(cache, encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                row["candidates"] = tuple(Candidate(**c) for c in row["candidates"])
                groups.append(Group(**row))
    return groups


# -- training -------------------------------------------------------------------------
@dataclass(frozen=True)
class Example:
    """A training question as token ids: the pairs to score and which are right."""

    pairs: tuple[tuple[int, ...], ...]
    right: tuple[bool, ...]
    answerable: bool


def token_table(groups: list[Group], tokenize) -> dict[str, tuple[int, ...]]:
    """Token ids of every question, sentence and title of the groups, each text tokenized once."""
    texts = sorted({t for g in groups for c in g.candidates for t in (c.sentence, c.title, c.previous)}
                   | {g.question for g in groups})
    return dict(zip(texts, tokenize(texts)))


def to_examples(groups: list[Group], tokenize, config: SelectorConfig, negatives: int,
                rng: random.Random) -> list[Example]:
    """Up to 2 right candidates and the `negatives` best-ranked wrong ones per question.

    Answerable questions whose candidates hold no right sentence teach nothing
    reliable (the answer may sit in a sentence the retriever missed) and are left out.
    """
    ids = token_table(groups, tokenize)
    examples = []
    for group in groups:
        right = [c for c in group.candidates if c.right][:2]
        wrong = [c for c in group.candidates if not c.right][:negatives]
        if group.answerable and not right:
            continue
        chosen = right + wrong
        rng.shuffle(chosen)
        pairs = tuple(tuple(pair_ids(ids[group.question], ids[c.sentence], ids[c.title], config, ids[c.previous]))
                      for c in chosen)
        examples.append(Example(pairs, tuple(c.right for c in chosen), group.answerable))
    return examples


def batches(examples: list[Example], pairs_per_batch: int, rng: random.Random) -> list[list[Example]]:
    """Questions of similar length together (little padding), in a shuffled order of batches."""
    order = sorted(range(len(examples)), key=lambda i: (max(len(p) for p in examples[i].pairs), rng.random()))
    result, current, size = [], [], 0
    for i in order:
        current.append(examples[i])
        size += len(examples[i].pairs)
        if size >= pairs_per_batch:
            result.append(current)
            current, size = [], 0
    if current:
        result.append(current)
    rng.shuffle(result)
    return result


def group_loss(torch, logits, batch: list[Example]):
    """Mean over questions of -log P(right), P a softmax over the candidates and a no-answer logit 0."""
    losses, start = [], 0
    zero = logits.new_zeros(1)
    for example in batch:
        scores = torch.cat([zero, logits[start: start + len(example.pairs)]])
        start += len(example.pairs)
        log_p = torch.log_softmax(scores, dim=0)
        if example.answerable:
            mask = torch.tensor([False, *example.right])
            losses.append(-torch.logsumexp(log_p[mask], dim=0))
        else:
            losses.append(-log_p[0])
    return torch.stack(losses).mean()


def train(examples: list[Example], config: SelectorConfig, base_folder: Path, work: Path, epochs: float,
          pairs_per_batch: int, learning_rate: float, seed: int, checkpoint_every: int, init: Path | None = None):
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(max(torch.get_num_threads(), 1))
    module = build_module(base_folder, config.frozen_layers)
    if init is not None:
        # Continue from earlier delta weights (e.g. the shipped ones) instead of the base model.
        try:
            load_delta(module, init)
        except SelectorError as error:
            raise SystemExit(str(error)) from error
    module.train()
    rng = random.Random(seed)
    plan = []
    for epoch in range(math.ceil(epochs)):
        plan.extend(batches(examples, pairs_per_batch, rng))
    total = int(len(plan) * epochs / math.ceil(epochs))
    parameters = [p for p in module.parameters() if p.requires_grad]
    head = list(module.head.parameters())
    body = [p for p in parameters if all(p is not h for h in head)]
    optimizer = torch.optim.AdamW([{"params": body, "lr": learning_rate},
                                   {"params": head, "lr": learning_rate * 20}], weight_decay=0.01)
    warmup = max(total // 20, 1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(total - step, 0) / max(total - warmup, 1)))
    checkpoint = work / "checkpoint.pt"
    step = 0
    if checkpoint.is_file():
        state = torch.load(checkpoint, weights_only=False)
        module.load_state_dict(state["trainable"], strict=False)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step = state["step"]
        torch.set_rng_state(state["torch_rng"])
        print(f"resumed at step {step} of {total}", file=sys.stderr, flush=True)
    started, seen, running = time.perf_counter(), 0, []
    log = open(work / "train.log", "a", encoding="utf-8")
    while step < total:
        batch = plan[step]
        rows = [pair for example in batch for pair in example.pairs]
        ids, mask = pad_batch(rows)
        logits = module(torch.from_numpy(ids), torch.from_numpy(mask))
        loss = group_loss(torch, logits, batch)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        scheduler.step()
        step += 1
        seen += len(rows)
        running.append(loss.item())
        if step % 20 == 0 or step == total:
            rate = seen / (time.perf_counter() - started)
            line = (f"step {step}/{total} loss {np.mean(running[-20:]):.4f} {rate:.1f} pairs/s "
                    f"eta {(total - step) * pairs_per_batch / max(rate, 1e-9) / 60:.1f} min")
            print(line, file=sys.stderr, flush=True)
            log.write(line + "\n")
            log.flush()
        if step % checkpoint_every == 0 or step == total:
            partial = checkpoint.with_suffix(".part")
            torch.save({"trainable": {n: p.detach().clone() for n, p in module.named_parameters() if p.requires_grad},
                        "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "step": step,
                        "torch_rng": torch.get_rng_state()}, partial)
            partial.replace(checkpoint)
    log.close()
    module.eval()
    return module


# -- calibration ------------------------------------------------------------------------
def score_groups(module, groups: list[Group], tokenize, config: SelectorConfig) -> list[np.ndarray]:
    """Logits of every pooled candidate of every group."""
    import torch

    ids = token_table(groups, tokenize)
    rows = [(gi, ci, pair_ids(ids[g.question], ids[c.sentence], ids[c.title], config, ids[c.previous]))
            for gi, g in enumerate(groups) for ci, c in enumerate(g.candidates)]
    rows.sort(key=lambda r: len(r[2]))
    logits = [np.zeros(len(g.candidates), dtype=np.float32) for g in groups]
    with torch.inference_mode():
        for start in range(0, len(rows), 64):
            chunk = rows[start: start + 64]
            input_ids, mask = pad_batch([r[2] for r in chunk])
            values = module(torch.from_numpy(input_ids), torch.from_numpy(mask)).numpy()
            for (gi, ci, _), value in zip(chunk, values):
                logits[gi][ci] = value
    return logits


def decide(groups: list[Group], logits: list[np.ndarray], candidates: int, ranker_weight: float,
           refuse_below: float) -> list[tuple[bool, bool]]:
    """(found, right) per group, with exactly the answerer's decision (`qa.selector.choose`)."""
    results = []
    for group, values in zip(groups, logits):
        pool = group.candidates[:candidates]
        if not pool:
            results.append((False, not group.answerable))
            continue
        pick = choose(values[: len(pool)], np.array([c.confidence for c in pool]), [c.eligible for c in pool],
                      ranker_weight, refuse_below)
        if not pick.found:
            results.append((False, not group.answerable))
        else:
            results.append((True, group.answerable and pool[pick.position].right))
    return results


def calibrate(groups: list[Group], logits: list[np.ndarray], max_answerable_refused: float,
              candidate_tolerance: float = 0.005) -> dict:
    """Candidates and ranker weight by answerable top-1, then the refusal threshold.

    Each candidate read costs a forward pass per question, so the fewest
    candidates whose best top-1 is within `candidate_tolerance` of the overall
    best are taken.
    """
    answerable = [i for i, g in enumerate(groups) if g.answerable]
    best_by_count = {}
    for candidates in (3, 5, 6, 8):
        for ranker_weight in (0.0, 0.25, 0.5, 0.75, 1.0):
            results = decide([groups[i] for i in answerable], [logits[i] for i in answerable], candidates,
                             ranker_weight, -math.inf)
            accuracy = float(np.mean([right for _, right in results]))
            if candidates not in best_by_count or accuracy > best_by_count[candidates][0] + 1e-9:
                best_by_count[candidates] = (accuracy, ranker_weight)
    top = max(accuracy for accuracy, _ in best_by_count.values())
    candidates = min(k for k, (accuracy, _) in best_by_count.items() if accuracy >= top - candidate_tolerance)
    ranker_weight = best_by_count[candidates][1]
    picks = [choose(logits[i][:candidates], np.array([c.confidence for c in groups[i].candidates[:candidates]]),
                    [c.eligible for c in groups[i].candidates[:candidates]], ranker_weight, -math.inf)
             for i in answerable]
    picked = np.array(sorted(p.logit for p in picks if p.position is not None))
    # The threshold below which at most the allowed share of answerable questions falls.
    allowed = int(math.floor(max_answerable_refused * len(answerable))) - sum(p.position is None for p in picks)
    refuse_below = float(picked[max(allowed, 0)]) if len(picked) else 0.0
    return {"candidates": candidates, "ranker_weight": ranker_weight, "refuse_below": refuse_below}


def figures(groups: list[Group], logits: list[np.ndarray], config: SelectorConfig) -> dict:
    """Validation figures per source file: answerable top-1, refusals."""
    out = {}
    for source in sorted({g.source for g in groups}):
        chosen = [i for i, g in enumerate(groups) if g.source == source]
        subset, values = [groups[i] for i in chosen], [logits[i] for i in chosen]
        results = decide(subset, values, config.candidates, config.ranker_weight, config.refuse_below)
        before = decide(subset, [np.zeros(len(g.candidates)) for g in subset], 1, 0.0, -math.inf)
        answerable = [r for g, r in zip(subset, results) if g.answerable]
        unanswerable = [r for g, r in zip(subset, results) if not g.answerable]
        row = {
            "questions": len(subset),
            "answerable_accuracy": round(float(np.mean([right for _, right in answerable])), 4),
            "answerable_accuracy_linear_ranker": round(float(np.mean(
                [right for g, (_, right) in zip(subset, before) if g.answerable])), 4),
            "answerable_refused": round(float(np.mean([not found for found, _ in answerable])), 4),
        }
        if unanswerable:
            row["unanswerable_refused"] = round(float(np.mean([not found for found, _ in unanswerable])), 4)
        out[source] = row
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qa.train_selector", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA_DIR, help="folder holding the training files")
    parser.add_argument("--work", type=Path, default=None,
                        help="folder for candidates, checkpoints and logs (default: <cache>/selector-train)")
    parser.add_argument("--out", type=Path, default=SELECTOR_WEIGHTS, help="where the delta weights go")
    parser.add_argument("--epochs", type=float, default=1.5)
    parser.add_argument("--negatives", type=int, default=3, help="wrong candidates per question in training")
    parser.add_argument("--frozen-layers", type=int, default=6)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--no-title", action="store_true", help="leave the article title out of the input")
    parser.add_argument("--context-tokens", type=int, default=0,
                        help="tokens of the preceding sentence read as context (default 0: none, as shipped)")
    parser.add_argument("--init", type=Path, default=None,
                        help="start from these delta weights (a .safetensors written by this command)")
    parser.add_argument("--pairs-per-batch", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--max-answerable-refused", type=float, default=0.025)
    parser.add_argument("--candidate-tolerance", type=float, default=0.005,
                        help="take the fewest candidates within this of the best validation top-1")
    parser.add_argument("--calibrate-only", action="store_true",
                        help="keep the trained weights; calibrate again from the validation logits the "
                             "last training run saved in --work")
    parser.add_argument("--checkpoint-every", type=int, default=50)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N training questions (smoke runs)")
    args = parser.parse_args(argv)

    from embeddings.model_build import DEFAULT_MODEL, default_cache_dir, resolve_model

    work = args.work or default_cache_dir() / "selector-train"
    work.mkdir(parents=True, exist_ok=True)
    files = [args.data / name for name in TRAINING_FILES]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise SystemExit(f"training files not found: {', '.join(missing)} (pass --data FOLDER)")
    base_name, base_folder = resolve_model(DEFAULT_MODEL)
    config = SelectorConfig(base_model=base_name, frozen_layers=args.frozen_layers, max_length=args.max_length,
                            use_title=not args.no_title, max_context_tokens=args.context_tokens)
    groups = load_groups(work, files)
    if args.limit:
        groups = random.Random(args.seed).sample(groups, min(args.limit, len(groups)))
    train_groups = [g for g in groups if not g.validation]
    valid_groups = [g for g in groups if g.validation]
    print(f"{len(train_groups)} training and {len(valid_groups)} validation questions "
          f"({sum(not g.answerable for g in valid_groups)} unanswerable)", file=sys.stderr, flush=True)

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(base_folder))

    def tokenize(texts):
        return [tuple(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]]

    if args.calibrate_only:
        return _calibrate_only(work, valid_groups, args)
    # Read before training: --out may be the very file training started from.
    init_version = (f"{args.init.name} ({hashlib.sha256(args.init.read_bytes()).hexdigest()[:12]})"
                    if args.init else None)
    examples = to_examples(train_groups, tokenize, config, args.negatives, random.Random(args.seed))
    print(f"{len(examples)} training questions, {sum(len(e.pairs) for e in examples)} pairs", file=sys.stderr,
          flush=True)
    started = time.perf_counter()
    module = train(examples, config, Path(base_folder), work, args.epochs, args.pairs_per_batch, args.learning_rate,
                   args.seed, args.checkpoint_every, args.init)
    train_minutes = (time.perf_counter() - started) / 60
    logits = score_groups(module, valid_groups, tokenize, config)
    config = replace(config, **calibrate(valid_groups, logits, args.max_answerable_refused,
                                         args.candidate_tolerance))
    result = figures(valid_groups, logits, config)
    from safetensors.torch import save_file

    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_file(delta_state(module), str(args.out))
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()[:12]
    config = replace(config, version=digest, figures={
        "validation": result, "training_questions": len(examples), "epochs": args.epochs, "seed": args.seed,
        "negatives": args.negatives, "learning_rate": args.learning_rate,
        "init": init_version, "train_minutes": round(train_minutes, 1),
        "files": list(TRAINING_FILES)})
    card = args.out.with_suffix(".json") if args.out != SELECTOR_WEIGHTS else SELECTOR_CARD
    config.write(card)
    (work / "logits-validation.json").write_text(json.dumps([v.tolist() for v in logits]), encoding="utf-8")
    print(json.dumps(asdict(config), ensure_ascii=False, indent=2))
    return 0


def _calibrate_only(work: Path, valid_groups: list[Group], args) -> int:
    """Re-run calibration on the saved validation logits of the shipped weights; rewrite the card."""
    saved = work / "logits-validation.json"
    config = SelectorConfig.read(SELECTOR_CARD)
    if not saved.is_file():
        raise SystemExit(f"no saved validation logits in {saved}: run the training command first")
    logits = [np.asarray(v, dtype=np.float32) for v in json.loads(saved.read_text(encoding="utf-8"))]
    if len(logits) != len(valid_groups):
        raise SystemExit(f"{saved} holds {len(logits)} questions, the validation split {len(valid_groups)}")
    config = replace(config, **calibrate(valid_groups, logits, args.max_answerable_refused, args.candidate_tolerance))
    config = replace(config, figures={**(config.figures or {}), "validation": figures(valid_groups, logits, config)})
    config.write(SELECTOR_CARD)
    print(json.dumps(asdict(config), ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
