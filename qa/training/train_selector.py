"""`python -m qa.training.train_selector`: fine-tune the answer selector (a cross-encoder with a span head) and calibrate "not found".

Three stages, each written to `--work` as it finishes so a stopped run resumes:

1. candidates: every question of the training files goes through today's
   retriever and linear ranker on an index of its own file (as `aluqa eval
   --squad` does); its top candidates, labelled by whether they hold a gold
   span (and which), are kept. Unanswerable questions are made too: near
   misses of a seeded half of the answerable questions (`qa.training.near_miss`: a
   year, number, place, organisation or person replaced by one of another
   article), and, once split, retrieval misses (answerable questions with
   their right candidates taken away).
2. training: multilingual-e5-small with a linear head on its pooled output
   and a span head on its tokens, lower layers frozen, trained with a softmax
   over each question's candidates plus a "no answer" option of logit 0 (the
   target of unanswerable questions), and the gold span's start and end in
   the right candidates. Checkpoints every `--checkpoint-every` steps.
3. calibration, on the validation split only (a fifth of the articles of
   each file, chosen by a hash of the article id, never by question; XQuAD's
   Chinese and English questions share their articles' split): how many
   candidates to score, the weight of the linear ranker's confidence, the
   refusal threshold (the highest one that refuses at most
   `--max-answerable-refused` of the answerable validation questions of all
   files together), and the probability from which a span is shown.

Only training data is read: CMRC 2018 trial, DRCD dev and XQuAD part A
(Chinese questions, and English questions over the Chinese passages). Never
an evaluation file, and never the project's own articles.
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
from functools import lru_cache
from pathlib import Path

import numpy as np

from qa.selector import (SELECTOR_CARD, SELECTOR_WEIGHTS, Choice, SelectorConfig, SelectorError, choose, choose_in_turn,
                         pad_batch, pair_layout)
from qa.selector_export import build_module, delta_state, load_delta
from qa.training.anaphor import ANAPHOR, anaphor_copies

DATA_DIR = Path(__file__).resolve().parents[3] / "shared" / "data"
# Only files whose licence lets the weights ship (`../shared/data/README.md`).
TRAINING_FILES = ("cmrc2018_trial.json", "drcd_dev.json", "xquad_zh_a.json", "xquad_en_zh_a.json")
# Files over the same articles share their split, so no article is in training through one and validation through
# the other (XQuAD's English questions are asked over the Chinese passages of its Chinese questions).
SPLIT_FAMILY = {"xquad_zh_a": "xquad", "xquad_en_zh_a": "xquad"}
POOL = 8  # candidates kept per question (the most the selector may score)
# Bump when what a cached candidate records changes (its eligibility rule, the hints), so an older
# cache is collected again rather than trusted: 2 added the names check and the English hints.
CANDIDATE_RULES = 2
NEAR_MISS_SHARE = 0.5  # of each file's answerable questions, turned into a near miss where one is safe
RETRIEVAL_MISS_SHARE = 0.2  # of the answerable questions, also asked with their right candidates taken away

ANSWERABLE, UNANSWERABLE, RETRIEVAL_MISS = "answerable", "unanswerable", "retrieval-miss"
NEAR_MISS = "near-miss"  # kinds are "near-miss:year", "near-miss:place", ...


@dataclass(frozen=True)
class Candidate:
    sentence: str  # matching form
    title: str  # matching form of the article title
    right: bool
    confidence: float  # linear ranker's softmax over the retriever's candidates
    eligible: bool  # agrees with the question's years and places, and holds an asked number/date
    previous: str = ""  # matching form of the sentence before it in its paragraph ("" for the first)
    answer: str = ""  # matching form of the gold span the sentence holds ("" when it holds none)


@dataclass(frozen=True)
class Group:
    """One training question with its candidates, best first by today's ranker."""

    source: str
    article: str
    question: str  # matching form
    answerable: bool
    candidates: tuple[Candidate, ...]
    kind: str = ANSWERABLE  # answerable, unanswerable (the file says so), near-miss:<kind>, retrieval-miss
    hints: str = ""  # for an English question, the Chinese words the dictionary gives for it

    @property
    def english(self) -> bool:
        """An English question (read with the English ranker weight)."""
        from qa.question import is_english_text

        return is_english_text(self.question)

    @property
    def validation(self) -> bool:
        return is_validation_article(self.source, self.article)


def is_validation_article(source: str, article: str) -> bool:
    """Whether an article of a training file is held apart for validation (a fifth, by a hash of its name)."""
    family = SPLIT_FAMILY.get(source, source)
    digest = hashlib.sha256(f"{family}/{article}".encode("utf-8")).digest()
    return digest[0] % 5 == 0


def _article_key(doc: str) -> str:
    return doc.rsplit("#", 1)[0]


def _made_near_misses(squad, seed: int):
    """The file's answerable questions and the near misses made from them: (index into them, NearMiss)."""
    from qa.training.near_miss import near_misses

    passages = {a.doc: a.text for a in squad.articles}
    answerable = [q for q in squad.questions if q.answerable]
    return answerable, near_misses([(_article_key(q.doc), q.question, passages[q.doc]) for q in answerable],
                                   NEAR_MISS_SHARE, seed)


def with_near_misses(squad, seed: int):
    """The file's questions, then a near miss (unanswerable) of a seeded half of its answerable ones."""
    from qa.training.datasets import SquadQuestion

    answerable, made = _made_near_misses(squad, seed)
    extra = [(SquadQuestion(f"{answerable[i].id}~{miss.kind}", miss.question, (), answerable[i].doc, False),
              f"{NEAR_MISS}:{miss.kind}") for i, miss in made]
    return [(q, ANSWERABLE if q.answerable else UNANSWERABLE) for q in squad.questions] + extra


def replaced_values(files: list[Path], seed: int) -> dict[tuple[str, str], str]:
    """What each near miss replaced, by (file, near miss in matching form): made again as collection made them."""
    from embeddings.text.normalize import normalize
    from qa.training.datasets import read_squad

    found = {}
    for path in files:
        squad = read_squad(path)
        for _, miss in _made_near_misses(squad, seed)[1]:
            found[(squad.name, normalize(miss.question))] = normalize(miss.replaced)
    return found


def visible_near_misses(groups: list[Group], replaced: dict[tuple[str, str], str], negatives: int) -> list[Group]:
    """The groups without the near misses whose replaced value none of the candidates it is trained on holds.

    A near miss made by swapping a place the gold sentence never names (it
    says "全市", the whole city, where the question names the city) reads, for
    the selector, exactly as its answerable original: the same sentence, a
    question naming another place. Trained on such pairs it may learn to
    distrust a sentence for what it does not say, while news sentences often
    leave the place to their paragraph. Kept are near misses whose replaced
    value a read candidate's sentence or title holds, so the reader can see
    what differs; other groups pass unchanged. (Measured as selector v8 in
    docs/answer-model.md: not shipped.)
    """
    kept = []
    for group in groups:
        if group.kind.startswith(NEAR_MISS):
            value = replaced.get((group.source, group.question))
            _, wrong = read_with(group, negatives)
            if value is None or not any(value in c.sentence or value in c.title for c in wrong):
                continue
        kept.append(group)
    return kept


def gold_span(match_sentence: str, answers) -> str:
    """The matching form of the first gold span the sentence holds, or ""."""
    from embeddings.text.normalize import normalize

    return next((normalize(a) for a in answers if normalize(a) and normalize(a) in match_sentence), "")


def collect(squad_file: Path, seed: int, encoder=None, index_dir: Path | None = None,
            validation_only: bool = False) -> list[Group]:
    """Today's top candidates for every question of a SQuAD-style file, and for its near misses.

    Args:
        encoder: the embedding model the file's index is built with and its
            questions are encoded with (default: the default model in fp32,
            with sentence-transformers, as the shipped selector was trained).
        index_dir: where that index is (default: the evaluation index of the file).
        validation_only: only the questions of the validation articles (to
            measure what another retrieval does to the validation figures).
    """
    from tqdm import tqdm

    from embeddings.model.encoder import SentenceTransformerEncoder
    from embeddings.text.normalize import normalize
    from qa.answerer import eligible
    from qa.api import QA, QuestionError
    from qa.question import selector_hints
    from qa.training.datasets import contains_answer, default_eval_index_dir, ensure_squad_index, read_squad
    from qa.settings import Settings

    squad = read_squad(squad_file)
    settings = Settings(selector="off")
    encoder = encoder or SentenceTransformerEncoder(cache_dir=settings.cache_dir)
    ready = ensure_squad_index(squad, index_dir or default_eval_index_dir(squad, settings.cache_dir), encoder,
                               show_progress=True)
    qa = QA(ready.folder, settings=settings, encoder=encoder)
    index, answerer = qa.index, qa.answerer
    titles = {doc: normalize(a.title) for doc, a in index.articles.items()}
    items, parsed = [], []
    for item, kind in with_near_misses(squad, seed):
        if validation_only and not is_validation_article(squad.name, _article_key(item.doc)):
            continue
        try:
            parsed.append(qa.parse(item.question))
            items.append((item, kind))
        except QuestionError:
            continue
    vectors = encoder.encode_queries([p.match for p in parsed])
    groups = []
    for (item, kind), question, vector in tqdm(list(zip(items, parsed, vectors)), desc=f"candidates {squad.name}",
                                               unit="q", file=sys.stderr):
        retrieval = qa.retriever.retrieve(question, vector[None, :])
        judged = answerer.judge(question, retrieval)[:POOL]
        candidates = []
        for j in judged:
            match = j.around.match(j.hit.sentence)
            right = item.answerable and contains_answer(j.hit.sentence.text, item.answers)
            candidates.append(Candidate(match, titles[j.hit.sentence.doc], right, j.confidence,
                                        eligible(j, question),
                                        j.around.neighbour(j.hit.sentence, -1),
                                        gold_span(match, item.answers) if right else ""))
        groups.append(Group(squad.name, _article_key(item.doc), question.match, item.answerable, tuple(candidates),
                            kind, selector_hints(question)))
    return groups


def load_groups(work: Path, files: list[Path], seed: int) -> list[Group]:
    groups = []
    for path in files:
        cache = work / f"candidates-{path.stem}-rules{CANDIDATE_RULES}.jsonl"
        if not cache.is_file():
            rows = collect(path, seed)
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


def retrieval_misses(groups: list[Group], share: float, seed: int) -> list[Group]:
    """Answerable questions whose right candidates are taken away: the retriever missed, so "no answer"."""
    rng = random.Random(seed)
    result = []
    for group in groups:
        if group.kind != ANSWERABLE or rng.random() >= share:
            continue
        wrong = tuple(c for c in group.candidates if not c.right)
        if len(wrong) < len(group.candidates) and wrong:
            result.append(replace(group, answerable=False, candidates=wrong, kind=RETRIEVAL_MISS))
    return result


# -- training -------------------------------------------------------------------------
@dataclass(frozen=True)
class Example:
    """A training question as token ids: the pairs to score, which are right, and where their answer span is.

    `spans[i]` is the (first, last) position of the gold span in pair i, or None
    (a wrong candidate, or a span the tokens or the cut do not hold).
    """

    pairs: tuple[tuple[int, ...], ...]
    right: tuple[bool, ...]
    answerable: bool
    spans: tuple[tuple[int, int] | None, ...] = ()
    windows: tuple[tuple[int, int], ...] = ()  # where each pair's sentence tokens are: [start, end)


def token_table(groups: list[Group], tokenize, config: SelectorConfig) -> dict[str, tuple[int, ...]]:
    """Token ids of every question (as the model reads it, and beside each candidate), sentence and
    title of the groups, each text tokenized once."""
    texts = sorted({t for g in groups for c in g.candidates for t in (c.sentence, c.title, c.previous)}
                   | {read_as(g, config) for g in groups}
                   | {read_beside(g, c, config) for g in groups for c in g.candidates})
    return dict(zip(texts, tokenize(texts)))


def read_as(group: Group, config: SelectorConfig) -> str:
    """The group's question as the selector reads it (`SelectorConfig.question_text`)."""
    return config.question_text(group.question, group.hints)


def read_beside(group: Group, candidate: Candidate, config: SelectorConfig) -> str:
    """The group's question as the selector reads it beside one candidate: without what
    `SelectorConfig.checked_left_out` names and the candidate's sentence does not hold, as the
    answerer reads it (`qa.answerer.reading_question`). Training, validation and serving read
    alike, so weights trained with a reading are calibrated and served with it."""
    if not config.checked_left_out or not candidate.eligible:
        return read_as(group, config)
    from qa.answerer import reading_question

    return config.question_text(reading_question(_parsed(group.question), candidate.sentence,
                                                 config.checked_left_out), group.hints)


@lru_cache(maxsize=None)
def _parsed(question: str):
    from qa.question import parse_question

    return parse_question(question)


def span_in_pair(candidate: Candidate, sentence_ids, layout, pieces) -> tuple[int, int] | None:
    """Positions in the pair of the candidate's gold span, or None."""
    from qa.span import label_span, token_offsets

    if not candidate.answer:
        return None
    at = candidate.sentence.find(candidate.answer)
    if at < 0:
        return None
    offsets = token_offsets(candidate.sentence, pieces(sentence_ids[: layout.sentence_kept]))
    tokens = label_span(offsets, at, at + len(candidate.answer))
    if tokens is None or offsets[tokens[1]][1] < at + len(candidate.answer):
        return None  # the span is cut off, or no token ends where it does
    return layout.sentence_start + tokens[0], layout.sentence_start + tokens[1]


def read_with(group: Group, negatives: int) -> tuple[list[Candidate], list[Candidate]]:
    """The candidates a training question is read with: up to 2 right ones, and the `negatives` best-ranked wrong ones."""
    return [c for c in group.candidates if c.right][:2], [c for c in group.candidates if not c.right][:negatives]


def to_examples(groups: list[Group], tokenize, pieces, config: SelectorConfig, negatives: int,
                rng: random.Random) -> list[Example]:
    """Up to 2 right candidates and the `negatives` best-ranked wrong ones per question.

    Answerable questions whose candidates hold no right sentence teach nothing
    reliable (the answer may sit in a sentence the retriever missed) and are left out.
    """
    ids = token_table(groups, tokenize, config)
    examples = []
    for group in groups:
        right, wrong = read_with(group, negatives)
        if group.answerable and not right:
            continue
        chosen = right + wrong
        rng.shuffle(chosen)
        layouts = [pair_layout(ids[read_beside(group, c, config)], ids[c.sentence], ids[c.title], config,
                               ids[c.previous]) for c in chosen]
        spans = tuple(span_in_pair(c, ids[c.sentence], layout, pieces) for c, layout in zip(chosen, layouts))
        examples.append(Example(tuple(tuple(layout.ids) for layout in layouts), tuple(c.right for c in chosen),
                                group.answerable, spans,
                                tuple((l.sentence_start, l.sentence_start + l.sentence_kept) for l in layouts)))
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


def span_loss(torch, start_logits, end_logits, batch: list[Example]):
    """Mean cross-entropy of the gold span's first and last token, over the pairs that hold one."""
    rows, firsts, lasts = [], [], []
    outside = torch.ones(start_logits.shape, dtype=torch.bool)
    pairs = [(span, window) for example in batch for span, window in zip(example.spans, example.windows)]
    for offset, (span, (begin, end)) in enumerate(pairs):
        if span is not None:
            rows.append(offset)
            firsts.append(span[0])
            lasts.append(span[1])
            outside[offset, begin:end] = False
    if not rows:
        return start_logits.new_zeros(())
    rows = torch.tensor(rows)
    # Only the sentence's own tokens can start or end its answer.
    start = start_logits.float().masked_fill(outside, -1e4)[rows]
    end = end_logits.float().masked_fill(outside, -1e4)[rows]
    return 0.5 * (torch.nn.functional.cross_entropy(start, torch.tensor(firsts))
                  + torch.nn.functional.cross_entropy(end, torch.tensor(lasts)))


def group_loss(torch, logits, batch: list[Example], unanswerable_weight: float = 1.0):
    """Mean over questions of -log P(right), P a softmax over the candidates and a no-answer logit 0.

    An unanswerable question's term is multiplied by `unanswerable_weight`: above 1 it
    spends more of the training on refusing, leaving answerable questions' terms as they are.
    """
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
            losses.append(-unanswerable_weight * log_p[0])
    return torch.stack(losses).mean()


def _new_module(config: SelectorConfig, base_folder: Path, init: Path | None):
    module = build_module(base_folder, config.frozen_layers, config.span_head)
    if init is not None:
        # Continue from earlier delta weights (e.g. the shipped ones) instead of the base model.
        try:
            load_delta(module, init)
        except SelectorError as error:
            raise SystemExit(str(error)) from error
    module.train()
    return module


def _optimizer(torch, module, learning_rate: float, total: int):
    parameters = [p for p in module.parameters() if p.requires_grad]
    heads = [p for name, p in module.named_parameters() if p.requires_grad and not name.startswith("encoder.")]
    body = [p for p in parameters if all(p is not h for h in heads)]
    optimizer = torch.optim.AdamW([{"params": body, "lr": learning_rate},
                                   {"params": heads, "lr": learning_rate * 20}], weight_decay=0.01)
    warmup = max(total // 20, 1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(total - step, 0) / max(total - warmup, 1)))
    return parameters, optimizer, scheduler


def _step(torch, module, optimizer, scheduler, parameters, batch: list[Example], bf16: bool,
          span_weight: float, unanswerable_weight: float = 1.0) -> tuple[float, int]:
    """One optimiser step on one batch; (loss, pairs read)."""
    rows = [pair for example in batch for pair in example.pairs]
    ids, mask = pad_batch(rows)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        outputs = module(torch.from_numpy(ids), torch.from_numpy(mask))
    logits, starts, ends = outputs if isinstance(outputs, tuple) else (outputs, None, None)
    loss = group_loss(torch, logits.float(), batch, unanswerable_weight)
    if starts is not None and span_weight:
        loss = loss + span_weight * span_loss(torch, starts, ends, batch)
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(parameters, 1.0)
    optimizer.step()
    scheduler.step()
    return loss.item(), len(rows)


def _plan(examples: list[Example], pairs_per_batch: int, epochs: float, seed: int) -> tuple[list, int]:
    rng = random.Random(seed)
    plan = []
    for _ in range(math.ceil(epochs)):
        plan.extend(batches(examples, pairs_per_batch, rng))
    return plan, int(len(plan) * epochs / math.ceil(epochs))


def train(examples: list[Example], config: SelectorConfig, base_folder: Path, work: Path, epochs: float,
          pairs_per_batch: int, learning_rate: float, seed: int, checkpoint_every: int, init: Path | None = None,
          bf16: bool = False, span_weight: float = 1.0, unanswerable_weight: float = 1.0):
    import torch

    torch.manual_seed(seed)
    module = _new_module(config, base_folder, init)
    plan, total = _plan(examples, pairs_per_batch, epochs, seed)
    parameters, optimizer, scheduler = _optimizer(torch, module, learning_rate, total)
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
        loss, pairs = _step(torch, module, optimizer, scheduler, parameters, plan[step], bf16, span_weight,
                            unanswerable_weight)
        step += 1
        seen += pairs
        running.append(loss)
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


def average_into(module, other: Path) -> None:
    """Make each trained tensor the mean of its value and the same tensor in `other` (delta weights
    written by this command from the same base and --frozen-layers): a "model soup" of two runs.

    Two fine-tunings of one base model with other batch orders usually sit in
    one basin of the loss, where the mean of their weights keeps what each
    learned and averages away part of what each learned by chance.
    """
    import torch
    from safetensors.torch import load_file

    partner = load_file(str(other))
    trained = [(name, p) for name, p in module.named_parameters() if p.requires_grad]
    missing = [name for name, _ in trained if name not in partner]
    if missing:
        raise SystemExit(f"{other} lacks {len(missing)} of the trained tensors (e.g. {missing[0]}): it was trained "
                         "with other settings")
    with torch.no_grad():
        for name, p in trained:
            p.copy_((p.float() + partner[name].float()) / 2)


def compare_precisions(examples: list[Example], config: SelectorConfig, base_folder: Path, steps: int,
                       pairs_per_batch: int, learning_rate: float, seed: int, epochs: float) -> dict:
    """fp32 against bf16 autocast on the same first `steps` batches, two models trained side by side.

    The steps alternate between the two, so whatever else runs on the machine
    slows both alike; each model has its own optimiser and schedule (that of
    the full run).
    """
    import torch

    plan, total = _plan(examples, pairs_per_batch, epochs, seed)
    runs = {}
    for name in ("fp32", "bf16"):
        torch.manual_seed(seed)
        module = _new_module(config, base_folder, None)
        runs[name] = (module, *_optimizer(torch, module, learning_rate, total))
    seconds = {name: 0.0 for name in runs}
    pairs = {name: 0 for name in runs}
    losses = {name: [] for name in runs}
    for step in range(min(steps, len(plan))):
        for name, (module, parameters, optimizer, scheduler) in runs.items():
            began = time.perf_counter()
            loss, count = _step(torch, module, optimizer, scheduler, parameters, plan[step], name == "bf16", 1.0)
            seconds[name] += time.perf_counter() - began
            pairs[name] += count
            losses[name].append(loss)
        if (step + 1) % 20 == 0 or steps <= 20:
            print(f"compare step {step + 1}/{steps}: " + ", ".join(
                f"{n} {pairs[n] / seconds[n]:.1f} pairs/s loss {np.mean(losses[n][-20:]):.4f}" for n in runs),
                file=sys.stderr, flush=True)
    return {name: {"pairs_per_s": round(pairs[name] / seconds[name], 2), "steps": len(losses[name]),
                   "mean_loss_last_50": round(float(np.mean(losses[name][-50:])), 4),
                   "loss_every_20": [round(float(np.mean(losses[name][i:i + 20])), 4)
                                     for i in range(0, len(losses[name]), 20)]}
            for name in runs}


# -- calibration ------------------------------------------------------------------------
@dataclass(frozen=True)
class SpanGuess:
    """The span head's best span in one candidate: its text (matching form) and probability."""

    text: str
    probability: float


def shipped_module(config: SelectorConfig, base_folder: Path):
    """The shipped weights as the torch module the validation split is scored with."""
    return load_delta(build_module(base_folder, config.frozen_layers, config.span_head), SELECTOR_WEIGHTS).eval()


def shipped_scorer(cache_dir: Path):
    """(card, tokenize, pieces, module): what `score_groups` needs to score with the shipped selector."""
    from embeddings.model.build import DEFAULT_MODEL, resolve_model

    config = SelectorConfig.read(SELECTOR_CARD)
    base = Path(resolve_model(DEFAULT_MODEL, cache_dir)[1])
    return (config, *token_functions(base), shipped_module(config, base))


def token_functions(base_folder: Path):
    """(tokenize, pieces) of the base model's tokenizer: texts to token id tuples (no special tokens),
    and token ids to their pieces (for the span's character offsets)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(base_folder))

    def tokenize(texts):
        return [tuple(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]]

    def pieces(ids):
        return tokenizer.convert_ids_to_tokens(list(ids))

    return tokenize, pieces


def score_groups(module, groups: list[Group], tokenize, pieces, config: SelectorConfig
                 ) -> tuple[list[np.ndarray], list[list[SpanGuess | None]]]:
    """Logits of every pooled candidate of every group, and the span head's best span in each."""
    import torch

    from qa.span import best_span, token_offsets

    texts = [[read_beside(g, c, config) for c in g.candidates] for g in groups]
    ids = token_table(groups, tokenize, config)
    rows = [(gi, ci, pair_layout(ids[texts[gi][ci]], ids[c.sentence], ids[c.title], config, ids[c.previous]))
            for gi, g in enumerate(groups) for ci, c in enumerate(g.candidates)]
    rows.sort(key=lambda r: len(r[2].ids))
    logits = [np.zeros(len(g.candidates), dtype=np.float32) for g in groups]
    spans: list[list[SpanGuess | None]] = [[None] * len(g.candidates) for g in groups]
    with torch.inference_mode():
        for start in range(0, len(rows), 64):
            chunk = rows[start: start + 64]
            input_ids, mask = pad_batch([r[2].ids for r in chunk])
            outputs = module(torch.from_numpy(input_ids), torch.from_numpy(mask))
            values, starts, ends = outputs if isinstance(outputs, tuple) else (outputs, None, None)
            for row, (gi, ci, layout) in enumerate(chunk):
                logits[gi][ci] = values[row]
                if starts is None:
                    continue
                window = slice(layout.sentence_start, layout.sentence_start + layout.sentence_kept)
                guess = best_span(starts[row, window].numpy(), ends[row, window].numpy())
                if guess is not None:
                    sentence = groups[gi].candidates[ci].sentence
                    offsets = token_offsets(sentence, pieces(ids[sentence][: layout.sentence_kept]))
                    text = sentence[offsets[guess.first][0]: offsets[guess.last][1]]
                    spans[gi][ci] = SpanGuess(text, guess.probability)
    return logits, spans


def span_threshold(groups: list[Group], spans: list[list[SpanGuess | None]], precision: float) -> dict:
    """The lowest span probability at and above which the right candidates' spans match exactly `precision` of the time.

    Spans below it are not shown as the exact figure; the sentence still is.
    """
    from qa.span import char_f1

    scored = sorted(((guess.probability, guess.text == c.answer, char_f1(guess.text, c.answer))
                     for g, row in zip(groups, spans) for c, guess in zip(g.candidates, row)
                     if c.right and c.answer and guess is not None), reverse=True)
    if not scored:
        return {"span_threshold": 1.01, "span_exact": None, "span_f1": None, "span_shown": 0.0}
    exact = np.cumsum([e for _, e, _ in scored]) / np.arange(1, len(scored) + 1)
    passing = [i for i in range(len(scored)) if exact[i] >= precision]
    threshold = scored[passing[-1]][0] if passing else 1.01
    return {"span_threshold": round(float(threshold), 4),
            "span_exact": round(float(np.mean([e for _, e, _ in scored])), 4),
            "span_f1": round(float(np.mean([f for _, _, f in scored])), 4),
            "span_shown": round(float(np.mean([p >= threshold for p, _, _ in scored])), 4)}


def decide(groups: list[Group], logits: list[np.ndarray], candidates: int, ranker_weight: float,
           refuse_below: float, english_ranker_weight: float | None = None,
           stop_above: float | None = None) -> list[tuple[bool, bool]]:
    """(found, right) per group, with exactly the answerer's decision (`qa.selector.choose_in_turn`).

    Right: the answer is a right sentence, or an unanswerable question is refused.
    """
    results = []
    for group, pick in zip(groups, picks(groups, logits, candidates, ranker_weight, refuse_below,
                                         english_ranker_weight, stop_above)):
        if pick is None or not pick.found:
            results.append((False, not group.answerable))
        else:
            results.append((True, group.answerable and group.candidates[pick.position].right))
    return results


def picks(groups: list[Group], logits: list[np.ndarray], candidates: int, ranker_weight: float,
          refuse_below: float, english_ranker_weight: float | None = None,
          stop_above: float | None = None) -> list[Choice | None]:
    """The answerer's pick for each group (None when it has no candidate), from the saved logits."""
    result = []
    for group, values in zip(groups, logits):
        pool = group.candidates[:candidates]
        if not pool:
            result.append(None)
            continue
        weight = english_ranker_weight if group.english and english_ranker_weight is not None else ranker_weight
        result.append(choose_in_turn(lambda positions: values[positions], np.array([c.confidence for c in pool]),
                                     [c.eligible for c in pool], weight, refuse_below, stop_above))
    return result


# Ranker weights tried by the calibration, for Chinese and for English questions apart.
RANKER_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)


def _best_weight(groups: list[Group], logits: list[np.ndarray], candidates: int) -> tuple[int, float]:
    """(questions right, ranker weight) of the weight with the most right at the first place (never refusing)."""
    best = (-1, 0.0)
    for weight in RANKER_WEIGHTS:
        right = sum(r for _, r in decide(groups, logits, candidates, weight, -math.inf))
        if right > best[0]:
            best = (right, weight)
    return best


def calibrate(groups: list[Group], logits: list[np.ndarray], max_answerable_refused: float,
              candidate_tolerance: float = 0.005) -> dict:
    """Candidates and ranker weights by answerable top-1, then the refusal threshold.

    Each candidate read costs a forward pass per question, so the fewest
    candidates whose best top-1 is within `candidate_tolerance` of the overall
    best are taken. Chinese and English questions get their ranker weights
    apart (each the best for its own questions); the threshold is one, over
    all answerable questions together.
    """
    answerable = [i for i, g in enumerate(groups) if g.answerable]
    by_language = {english: [i for i in answerable if groups[i].english == english] for english in (False, True)}
    best_by_count = {}
    for candidates in (3, 5, 6, 8):
        chosen = {english: _best_weight([groups[i] for i in chosen], [logits[i] for i in chosen], candidates)
                  for english, chosen in by_language.items()}
        accuracy = sum(right for right, _ in chosen.values()) / max(len(answerable), 1)
        best_by_count[candidates] = (accuracy, chosen[False][1], chosen[True][1])
    top = max(accuracy for accuracy, _, _ in best_by_count.values())
    candidates = min(k for k, (accuracy, _, _) in best_by_count.items() if accuracy >= top - candidate_tolerance)
    _, ranker_weight, english_ranker_weight = best_by_count[candidates]
    never_refusing = [choose(logits[i][:candidates], np.array([c.confidence for c in groups[i].candidates[:candidates]]),
                             [c.eligible for c in groups[i].candidates[:candidates]],
                             english_ranker_weight if groups[i].english else ranker_weight, -math.inf)
                      for i in answerable]
    picked = np.array(sorted(p.logit for p in never_refusing if p.position is not None))
    # The threshold below which at most the allowed share of answerable questions falls.
    allowed = int(math.floor(max_answerable_refused * len(answerable))) - sum(p.position is None
                                                                           for p in never_refusing)
    refuse_below = float(picked[max(allowed, 0)]) if len(picked) else 0.0
    return {"candidates": candidates, "ranker_weight": ranker_weight, "english_ranker_weight": english_ranker_weight,
            "refuse_below": refuse_below,
            "stop_above": stop_point(groups, logits, candidates, ranker_weight, refuse_below, english_ranker_weight)}


# The early stop is chosen among multiples of this (a coarse grid: the point must hold beyond these questions).
STOP_STEP = 0.25


def stop_point(groups: list[Group], logits: list[np.ndarray], candidates: int, ranker_weight: float,
               refuse_below: float, english_ranker_weight: float | None) -> float | None:
    """The lowest multiple of `STOP_STEP` from which taking a sure first candidate alone changes no decision.

    Compared with reading every eligible candidate, over all the groups
    (answerable and not): the same found / not found and the same sentence.
    None when only a value above every first candidate's logit would do
    (stopping early would never happen).
    """
    def outcomes(stop_above):
        return [(p.found, p.position if p.found else None) if p is not None else (False, None)
                for p in picks(groups, logits, candidates, ranker_weight, refuse_below, english_ranker_weight,
                               stop_above)]

    full = outcomes(None)
    firsts = [values[next(i for i, c in enumerate(g.candidates[:candidates]) if c.eligible)]
              for g, values in zip(groups, logits) if any(c.eligible for c in g.candidates[:candidates])]
    if not firsts:
        return None
    stop = math.ceil(refuse_below / STOP_STEP) * STOP_STEP
    while stop <= max(firsts):
        if outcomes(stop) == full:
            return stop
        stop += STOP_STEP
    return None


def _kind_family(kind: str) -> str:
    return NEAR_MISS if kind.startswith(NEAR_MISS) else kind


def figures(groups: list[Group], logits: list[np.ndarray], config: SelectorConfig) -> dict:
    """Validation figures per source file: answerable top-1 and refused, and each unanswerable kind refused."""
    out = {}
    for source in sorted({g.source for g in groups}):
        chosen = [i for i, g in enumerate(groups) if g.source == source]
        subset, values = [groups[i] for i in chosen], [logits[i] for i in chosen]
        results = decide(subset, values, config.candidates, config.ranker_weight, config.refuse_below,
                         config.english_ranker_weight, config.stop_above)
        before = decide(subset, [np.zeros(len(g.candidates)) for g in subset], 1, 0.0, -math.inf)
        answerable = [r for g, r in zip(subset, results) if g.answerable]
        row = {
            "questions": len(subset),
            "answerable": len(answerable),
            "answerable_accuracy": round(float(np.mean([right for _, right in answerable])), 4),
            "answerable_accuracy_linear_ranker": round(float(np.mean(
                [right for g, (_, right) in zip(subset, before) if g.answerable])), 4),
            "answerable_refused": round(float(np.mean([not found for found, _ in answerable])), 4),
        }
        for family in sorted({_kind_family(g.kind) for g in subset if not g.answerable}):
            refused = [not found for g, (found, _) in zip(subset, results)
                       if not g.answerable and _kind_family(g.kind) == family]
            row[f"{family}_questions"] = len(refused)
            row[f"{family}_refused"] = round(float(np.mean(refused)), 4)
        out[source] = row
    return out


def refusal_curve(groups: list[Group], logits: list[np.ndarray], config: SelectorConfig, points: int = 41) -> dict:
    """Per source and kind, the share refused at a range of thresholds around the chosen one."""
    thresholds = [round(config.refuse_below + step, 3) for step in np.linspace(-4.0, 4.0, points)]
    curve = {"thresholds": thresholds, "chosen": config.refuse_below, "rows": {}}
    for source in sorted({g.source for g in groups}):
        for family in sorted({ANSWERABLE if g.answerable else _kind_family(g.kind) for g in groups
                              if g.source == source}):
            chosen = [i for i, g in enumerate(groups) if g.source == source
                      and (ANSWERABLE if g.answerable else _kind_family(g.kind)) == family]
            shares = []
            for threshold in thresholds:
                results = decide([groups[i] for i in chosen], [logits[i] for i in chosen], config.candidates,
                                 config.ranker_weight, threshold, config.english_ranker_weight, config.stop_above)
                shares.append(round(float(np.mean([not found for found, _ in results])), 4))
            curve["rows"][f"{source}/{family}"] = {"questions": len(chosen), "refused": shares}
    return curve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qa.training.train_selector", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA_DIR, help="folder holding the training files")
    parser.add_argument("--work", type=Path, default=None,
                        help="folder for candidates, checkpoints and logs (default: <cache>/selector-train)")
    parser.add_argument("--out", type=Path, default=SELECTOR_WEIGHTS, help="where the delta weights go")
    parser.add_argument("--epochs", type=float, default=1.25)
    parser.add_argument("--negatives", type=int, default=3, help="wrong candidates per question in training")
    # Both off by default: the default command reproduces the shipped weights, trained without them.
    parser.add_argument("--english-hints", action=argparse.BooleanOptionalAction, default=False,
                        help="read English questions with the Chinese words the dictionary gives for them")
    parser.add_argument("--english-repeats", type=int, default=1,
                        help="times each English training question is seen per epoch (they are few beside Chinese)")
    parser.add_argument("--frozen-layers", type=int, default=6)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--no-title", action="store_true", help="leave the article title out of the input")
    parser.add_argument("--context-tokens", type=int, default=0,
                        help="tokens of the preceding sentence read as context (default 0: none, as shipped)")
    parser.add_argument("--init", type=Path, default=None,
                        help="start from these delta weights (a .safetensors written by this command)")
    parser.add_argument("--pairs-per-batch", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--max-answerable-refused", type=float, default=0.03,
                        help="the refusal threshold refuses at most this share of answerable validation questions")
    parser.add_argument("--span-weight", type=float, default=1.0, help="weight of the span loss (0: none)")
    parser.add_argument("--visible-near-misses", action=argparse.BooleanOptionalAction, default=False,
                        help="train only on near misses whose replaced value a candidate it reads holds "
                             "(validation keeps them all)")
    parser.add_argument("--anaphor-copies", action=argparse.BooleanOptionalAction, default=False,
                        help="add copies of answerable Chinese training questions whose sentences name their "
                             "place or organisation as news does (全市, 该公司; qa.training.anaphor)")
    parser.add_argument("--unanswerable-weight", type=float, default=1.0,
                        help="weight of an unanswerable question's loss beside an answerable one's (1: equal)")
    parser.add_argument("--span-precision", type=float, default=0.75,
                        help="spans are shown from the probability at which validation spans are this often exact")
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=False,
                        help="train under bfloat16 autocast (off by default: slower than fp32 on a CPU without "
                             "AVX-512 BF16, see docs/answer-model.md)")
    parser.add_argument("--compare-bf16", type=int, default=0, metavar="STEPS",
                        help="train fp32 and bf16 side by side for STEPS steps, write bf16-compare.json, stop")
    parser.add_argument("--candidate-tolerance", type=float, default=0.005,
                        help="take the fewest candidates within this of the best validation top-1")
    parser.add_argument("--checked-left-out", default="",
                        help="comma-separated kinds (years, places, names) a Chinese question is read without "
                             "beside a candidate whose sentence does not hold them, in training, when "
                             "validation is scored and in the card; default: none")
    parser.add_argument("--calibrate-only", action="store_true",
                        help="keep the trained weights; calibrate again from the validation logits the "
                             "last training run saved in --work")
    parser.add_argument("--rescore", action="store_true",
                        help="with --calibrate-only: score the validation split again with the shipped weights "
                             "(needed when --checked-left-out changes how they read it) and save those logits")
    parser.add_argument("--collect-only", action="store_true",
                        help="stop once every training file's candidates are collected (stage 1)")
    parser.add_argument("--checkpoint-every", type=int, default=50)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--training-seed", type=int, default=None,
                        help="seed of the training alone (negatives, batch order, new heads; default: --seed); "
                             "the questions, near misses and splits keep --seed")
    parser.add_argument("--average-with", type=Path, default=None, metavar="WEIGHTS",
                        help="after training, average the weights with these delta weights (same settings) "
                             "and calibrate the average; the run alone is scored and recorded too")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N training questions (smoke runs)")
    args = parser.parse_args(argv)
    from qa.answerer import LEFT_OUT_KINDS

    left_out = tuple(kind.strip() for kind in args.checked_left_out.split(",") if kind.strip())
    if any(kind not in LEFT_OUT_KINDS for kind in left_out):
        parser.error(f"--checked-left-out takes some of: {', '.join(LEFT_OUT_KINDS)}")
    args.checked_left_out = left_out
    if args.average_with and not args.average_with.is_file():
        parser.error(f"--average-with: no weights at {args.average_with}")  # before the long collection

    from embeddings.model.build import DEFAULT_MODEL, resolve_model
    from qa.settings import Settings

    settings = Settings()
    work = args.work or settings.cache_dir / "selector-train"
    work.mkdir(parents=True, exist_ok=True)
    files = [args.data / name for name in TRAINING_FILES]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise SystemExit(f"training files not found: {', '.join(missing)} (pass --data FOLDER)")
    base_name, base_folder = resolve_model(DEFAULT_MODEL, settings.cache_dir)
    config = SelectorConfig(base_model=base_name, frozen_layers=args.frozen_layers, max_length=args.max_length,
                            use_title=not args.no_title, max_context_tokens=args.context_tokens,
                            span_head=args.span_weight > 0,
                            english=any(name.startswith("xquad_en") for name in TRAINING_FILES),
                            english_hints=args.english_hints, checked_left_out=args.checked_left_out)
    groups = load_groups(work, files, args.seed)
    if args.collect_only:
        print(f"{len(groups)} questions' candidates in {work}", file=sys.stderr)
        return 0
    if args.limit:
        groups = random.Random(args.seed).sample(groups, min(args.limit, len(groups)))
    train_groups = [g for g in groups if not g.validation]
    valid_groups = [g for g in groups if g.validation]
    train_groups += retrieval_misses(train_groups, RETRIEVAL_MISS_SHARE, args.seed)
    valid_groups += retrieval_misses(valid_groups, RETRIEVAL_MISS_SHARE, args.seed + 1)
    near_misses_left_out = 0
    if args.visible_near_misses:
        before = len(train_groups)
        train_groups = visible_near_misses(train_groups, replaced_values(files, args.seed), args.negatives)
        near_misses_left_out = before - len(train_groups)
        print(f"{near_misses_left_out} training near misses left out: their replaced value is in no candidate "
              "they are read with", file=sys.stderr, flush=True)
    if args.anaphor_copies:
        train_groups += anaphor_copies(train_groups, args.seed)
    counts = {}
    made = (RETRIEVAL_MISS, ANAPHOR)
    for g in groups + [g for g in train_groups + valid_groups if g.kind in made]:
        key = f"{g.source}/{g.kind}/{'validation' if g.validation else 'training'}"
        counts[key] = counts.get(key, 0) + 1
    (work / "counts.json").write_text(json.dumps(dict(sorted(counts.items())), indent=1), encoding="utf-8")
    print(f"{len(train_groups)} training and {len(valid_groups)} validation questions "
          f"({sum(not g.answerable for g in valid_groups)} unanswerable)", file=sys.stderr, flush=True)
    # English questions are a tenth of the training questions: seen more often, they teach the reading of English.
    train_groups += [g for g in train_groups if g.english] * max(args.english_repeats - 1, 0)

    tokenize, pieces = token_functions(Path(base_folder))
    if args.calibrate_only:
        return _calibrate_only(work, valid_groups, args, tokenize, pieces, Path(base_folder))
    # Read before training: --out may be the very file training started from.
    init_version = (f"{args.init.name} ({hashlib.sha256(args.init.read_bytes()).hexdigest()[:12]})"
                    if args.init else None)
    averaged_version, partner = None, None
    if args.average_with:
        partner_bytes = args.average_with.read_bytes()  # kept in the work folder: --out may overwrite the original
        partner = work / "average-with.safetensors"
        partner.write_bytes(partner_bytes)
        averaged_version = f"{args.average_with.name} ({hashlib.sha256(partner_bytes).hexdigest()[:12]})"
    training_seed = args.seed if args.training_seed is None else args.training_seed
    examples = to_examples(train_groups, tokenize, pieces, config, args.negatives, random.Random(training_seed))
    print(f"{len(examples)} training questions, {sum(len(e.pairs) for e in examples)} pairs, "
          f"{sum(s is not None for e in examples for s in e.spans)} with a gold span", file=sys.stderr, flush=True)
    if args.compare_bf16:
        result = compare_precisions(examples, config, Path(base_folder), args.compare_bf16, args.pairs_per_batch,
                                    args.learning_rate, args.seed, args.epochs)
        (work / "bf16-compare.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
        print(json.dumps(result, indent=1))
        return 0
    started = time.perf_counter()
    module = train(examples, config, Path(base_folder), work, args.epochs, args.pairs_per_batch, args.learning_rate,
                   training_seed, args.checkpoint_every, args.init, bf16=args.bf16, span_weight=args.span_weight,
                   unanswerable_weight=args.unanswerable_weight)
    train_minutes = (time.perf_counter() - started) / 60
    alone = None
    if partner is not None:
        logits, _ = score_groups(module, valid_groups, tokenize, pieces, config)
        alone_config = replace(config, **calibrate(valid_groups, logits, args.max_answerable_refused,
                                                   args.candidate_tolerance))
        alone = figures(valid_groups, logits, alone_config)
        (work / "figures-alone.json").write_text(json.dumps(alone, indent=1), encoding="utf-8")
        print(f"the run alone: {json.dumps(alone)}", file=sys.stderr, flush=True)
        average_into(module, partner)
    logits, spans = score_groups(module, valid_groups, tokenize, pieces, config)
    config = replace(config, **calibrate(valid_groups, logits, args.max_answerable_refused,
                                         args.candidate_tolerance))
    span_figures = span_threshold(valid_groups, spans, args.span_precision)
    config = replace(config, span_threshold=span_figures["span_threshold"])
    result = figures(valid_groups, logits, config)
    from safetensors.torch import save_file

    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_file(delta_state(module), str(args.out))
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()[:12]
    config = replace(config, version=digest, figures={
        "validation": result, "validation_spans": span_figures, "questions": dict(sorted(counts.items())),
        "training_questions": len(examples), "epochs": args.epochs, "seed": args.seed,
        "negatives": args.negatives, "learning_rate": args.learning_rate, "bf16": args.bf16,
        "english_repeats": args.english_repeats,
        "span_weight": args.span_weight, "unanswerable_weight": args.unanswerable_weight,
        "visible_near_misses": args.visible_near_misses, "near_misses_left_out": near_misses_left_out,
        "anaphor_copies": args.anaphor_copies,
        "max_answerable_refused": args.max_answerable_refused,
        "init": init_version, "train_minutes": round(train_minutes, 1),
        "training_seed": training_seed, "averaged_with": averaged_version, "validation_alone": alone,
        "files": list(TRAINING_FILES)})
    card = args.out.with_suffix(".json") if args.out != SELECTOR_WEIGHTS else SELECTOR_CARD
    config.write(card)
    (work / "logits-validation.json").write_text(json.dumps([v.tolist() for v in logits]), encoding="utf-8")
    (work / "refusal-curve.json").write_text(json.dumps(refusal_curve(valid_groups, logits, config)), encoding="utf-8")
    print(json.dumps(asdict(config), ensure_ascii=False, indent=2))
    return 0


def _calibrate_only(work: Path, valid_groups: list[Group], args, tokenize, pieces, base_folder: Path) -> int:
    """Re-run calibration for the shipped weights and rewrite the card: on the validation logits the
    last run saved, or, with `--rescore`, on logits scored again (as `--checked-left-out` reads them)."""
    saved = work / "logits-validation.json"
    card = SelectorConfig.read(SELECTOR_CARD)
    config = replace(card, checked_left_out=args.checked_left_out)
    span_figures = None
    if args.rescore:
        logits, spans = score_groups(shipped_module(config, base_folder), valid_groups, tokenize, pieces, config)
        span_figures = span_threshold(valid_groups, spans, args.span_precision)
        saved.write_text(json.dumps([v.tolist() for v in logits]), encoding="utf-8")
    else:
        if config.checked_left_out != card.checked_left_out:
            raise SystemExit("the saved logits were scored reading questions as the card says: "
                             "add --rescore to read them otherwise")
        if not saved.is_file():
            raise SystemExit(f"no saved validation logits in {saved}: run the training command first")
        logits = [np.asarray(v, dtype=np.float32) for v in json.loads(saved.read_text(encoding="utf-8"))]
        if len(logits) != len(valid_groups):
            raise SystemExit(f"{saved} holds {len(logits)} questions, the validation split {len(valid_groups)}")
    config = replace(config, **calibrate(valid_groups, logits, args.max_answerable_refused, args.candidate_tolerance))
    extra = {"validation_spans": span_figures} if span_figures else {}
    if span_figures:
        config = replace(config, span_threshold=span_figures["span_threshold"])
    config = replace(config, figures={**(config.figures or {}), "validation": figures(valid_groups, logits, config),
                                      "max_answerable_refused": args.max_answerable_refused, **extra})
    config.write(SELECTOR_CARD)
    (work / "refusal-curve.json").write_text(json.dumps(refusal_curve(valid_groups, logits, config)), encoding="utf-8")
    print(json.dumps(asdict(config), ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
