"""int8 variants of the ONNX models against fp32, in one process: answers first, then time per pass.

Loads the seed QA once, then swaps the ONNX Runtime model behind the answer
selector and behind the question encoder between the fp32 export and its int8
variant (`embeddings.model.onnx_export.quantize_int8`), so everything else
(index, tokenizer, caches) is shared. It reports:

- answers: for each configuration (fp32; selector int8; questions int8; both;
  and documents int8, which needs its own index of seeds/), how many of the
  seed questions get the same decision as fp32 (found / not found, the same
  sentence and citation, the same exact span), and which differ;
- how far the outputs move: the selector's largest logit difference on the
  candidates it reads, the cosine of int8 to fp32 question and document vectors;
- time per pass, each variant and its fp32 reference alternating question by
  question: the selector's pass over one question's candidates, one question's
  encode, and the whole `QA.ask` with fp32 against the shipped default;
- document encoding throughput over the texts of the seed index (texts/s),
  rounds alternating the fp32 encoder and `INT8_DOCUMENTS_MODEL`'s (one text per pass);
- the start of a session (what a cold question pays per model), fresh
  sessions alternating fp32 and int8.

    PYTHONPATH=. python -m bench.quantized                       # seeds/, 40 seed questions, 5 rounds
    PYTHONPATH=. python -m bench.quantized --rounds 9 --json /tmp/quantized.json

Medians of per-question (or per-round) times and the median of the per-pair
ratios int8 / fp32; on shared cores only the ratios mean anything.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import SEEDS, machine_notes, median, print_table, seed_questions, write_json

clock = time.perf_counter


def decision(answer) -> tuple:
    """What a user sees decided: found or not, the sentence, where it stands, and the exact span shown."""
    citation = answer.citation
    return (answer.found, answer.sentence, citation and (citation.doc, citation.start),
            answer.span.text if answer.span else None)


def ask_all(qa, questions: list[str]) -> list[tuple]:
    from qa.api import QuestionError

    decisions = []
    for question in questions:
        try:
            decisions.append(decision(qa.ask(question)))
        except QuestionError as error:
            decisions.append(("error", str(error)))
    return decisions


def agreement(questions: list[str], reference: list[tuple], other: list[tuple]) -> dict:
    """How many decisions equal the reference's, and the questions whose decision differs."""
    same_found = sum(a[0] == b[0] for a, b in zip(reference, other))
    same = sum(a == b for a, b in zip(reference, other))
    return {"questions": len(questions), "same_found": same_found, "same_decision": same,
            "found": sum(d[0] is True for d in other),
            "differ": [q for q, a, b in zip(questions, reference, other) if a != b]}


class Swap:
    """The pipeline's ONNX models, and a way to put the fp32 or the int8 one behind each."""

    def __init__(self, qa, selector_threads: int):
        from embeddings.model.onnx_runtime import ONNX_FILE, OnnxModel
        from qa.selector import selector_onnx_path

        pipeline = qa._ready
        self.selector = pipeline.answerer.selector
        self.encoder = pipeline.retriever.encoder
        selector_path = selector_onnx_path(self.selector.config, self.selector.cache_dir)
        graph = self.encoder.folder / ONNX_FILE
        self.models = {
            ("selector", False): OnnxModel(selector_path, threads=selector_threads),
            ("selector", True): OnnxModel(selector_path, threads=selector_threads, int8=True),
            ("query", False): OnnxModel(graph, threads=1),
            ("query", True): OnnxModel(graph, threads=1, int8=True),
        }
        for model in self.models.values():
            model.session()

    def use(self, selector_int8: bool, query_int8: bool) -> None:
        self.selector._model = self.models["selector", selector_int8]
        self.selector.int8 = selector_int8
        self.encoder._query_model = self.models["query", query_int8]


def selector_batches(qa, swap: Swap, questions: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
    """The padded (ids, mask) the selector reads for each seed question, as the answerer builds them."""
    from qa.api import QuestionError, prepare_question
    from qa.question import parse_question, selector_hints
    from qa.selector import pad_batch

    pipeline, selector = qa._ready, swap.selector
    answerer = pipeline.answerer
    batches = []
    for question in questions:
        try:
            parsed = parse_question(prepare_question(question)[0], pipeline.translate)
        except QuestionError:
            continue
        if parsed.is_english and not selector.config.english:
            continue
        _, sentences, titles, previous = answerer.selector_inputs(
            answerer.judge(parsed, pipeline.retriever.retrieve(parsed)))
        if sentences:
            text = selector.config.question_text(parsed.match, selector_hints(parsed))
            layouts, _ = selector.layouts(text, sentences, titles, previous)
            batches.append(pad_batch([layout.ids for layout in layouts]))
    return batches


def alternate(runs: dict, inputs: list, rounds: int) -> dict:
    """Time each named callable on every input, alternating their order input by input; ms per call."""
    names = list(runs)
    times = {name: [] for name in names}
    for round_ in range(rounds):
        for i, item in enumerate(inputs):
            order = names if (i + round_) % 2 == 0 else names[::-1]
            for name in order:
                t = clock()
                runs[name](item)
                times[name].append((clock() - t) * 1000)
    return times


def summarise(times: dict, reference: str) -> list[dict]:
    rows = []
    for name, values in times.items():
        ratios = [a / b for a, b in zip(values, times[reference]) if b > 0]
        rows.append({"variant": name, "calls": len(values), "p50_ms": median(values),
                     "mean_ms": float(np.mean(values)), f"ratio_to_{reference}": median(ratios)})
    return rows


def fresh_session(model, int8: bool) -> None:
    """Start a new session of the model's graph (or of its int8 variant), as a cold process does."""
    from embeddings.model.onnx_runtime import OnnxModel

    OnnxModel(model.path, threads=model.threads, int8=int8).session()


def document_texts(encoder) -> list[str]:
    """The texts a full build of seeds/ embeds (sentences and passages with their context)."""
    from embeddings.corpus.build import build_index

    class Recorder:
        def __init__(self):
            self.name, self.dimension, self.texts = encoder.name, encoder.dimension, []

        def encode_queries(self, texts):
            return encoder.encode_queries(texts)

        def encode_documents(self, texts, show_progress=False):
            self.texts.extend(texts)
            return np.zeros((len(texts), self.dimension), dtype=np.float32)

    recorder = Recorder()
    with tempfile.TemporaryDirectory() as folder:
        build_index(SEEDS, Path(folder) / "index", encoder=recorder, incremental=False)
    return recorder.texts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="timing rounds over the questions / texts (default 5)")
    parser.add_argument("--selector-threads", type=int, default=2, help="intra-op threads of the selector (default 2)")
    parser.add_argument("--skip-documents", action="store_true", help="no document throughput, no int8 index")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here ('-': stdout)")
    args = parser.parse_args(argv)

    from embeddings.model.onnx_runtime import pad_batch
    from qa import QA, Settings
    from qa.settings import DEFAULT_INT8

    questions = seed_questions()
    qa = QA(settings=Settings(selector="trained"))
    qa.warm_up()
    swap = Swap(qa, args.selector_threads)
    result = {"machine": machine_notes(), "rounds": args.rounds, "selector_threads": args.selector_threads,
              "default_int8": sorted(DEFAULT_INT8)}

    # Answers: every configuration on the same loaded pipeline.
    configurations = {"fp32": (False, False), "selector int8": (True, False), "questions int8": (False, True),
                      "selector + questions int8": (True, True)}
    answers = {}
    for name, (selector_int8, query_int8) in configurations.items():
        swap.use(selector_int8, query_int8)
        answers[name] = ask_all(qa, questions)
    swap.use(False, False)
    result["answers"] = {name: agreement(questions, answers["fp32"], got) for name, got in answers.items()}

    # How far the outputs move.
    batches = selector_batches(qa, swap, questions)
    worst_logit = max(float(np.abs(swap.models["selector", True].run(*b) - swap.models["selector", False].run(*b))
                            .max()) for b in batches)
    tokenized = [swap.encoder._tokenize([swap.encoder._query_prefix + q])[0] for q in questions]
    query_inputs = [pad_batch([ids], swap.encoder._pad_id) for ids in tokenized]
    cosines = [float(np.dot(swap.models["query", True].run(*x)[0], swap.models["query", False].run(*x)[0]))
               for x in query_inputs]
    result["outputs"] = {"selector_batches": len(batches), "selector_candidates": int(sum(len(b[0]) for b in batches)),
                         "selector_max_abs_logit_diff": worst_logit,
                         "query_cosine_min": min(cosines), "query_cosine_median": median(cosines)}

    # Time per pass, alternating.
    selector_times = alternate({"fp32": lambda b: swap.models["selector", False].run_all(*b),
                                "int8": lambda b: swap.models["selector", True].run_all(*b)}, batches, args.rounds)
    query_times = alternate({"fp32": lambda x: swap.models["query", False].run(*x),
                             "int8": lambda x: swap.models["query", True].run(*x)}, query_inputs, args.rounds)

    def ask_with(selector_int8, query_int8):
        def ask(question):
            swap.use(selector_int8, query_int8)
            qa.ask(question)
        return ask

    default = ("selector" in DEFAULT_INT8, "query" in DEFAULT_INT8)
    ask_times = alternate({"fp32": ask_with(False, False), "default": ask_with(*default)}, questions, args.rounds)
    swap.use(False, False)
    start_times = {key: alternate({"fp32": lambda _, m=swap.models[key, False]: fresh_session(m, False),
                                   "int8": lambda _, m=swap.models[key, False]: fresh_session(m, True)},
                                  [None] * args.rounds, 1) for key in ("selector", "query")}
    result["session_start"] = {key: summarise(times, "fp32") for key, times in start_times.items()}
    result["selector_pass"] = summarise(selector_times, "fp32")
    result["query_pass"] = summarise(query_times, "fp32")
    result["ask"] = summarise(ask_times, "fp32")

    if not args.skip_documents:
        from embeddings.model.build import INT8_DOCUMENTS_MODEL
        from embeddings.model.encoder import load_encoder

        texts = document_texts(swap.encoder)
        # The fp32 encoder in batches, the int8 one as builds run it: one text per pass.
        encoders = {False: swap.encoder, True: load_encoder(INT8_DOCUMENTS_MODEL, cache_dir=qa.settings.cache_dir)}
        vectors = {}
        throughput = {False: [], True: []}
        for round_ in range(args.rounds):
            for int8 in ((False, True) if round_ % 2 == 0 else (True, False)):
                t = clock()
                vectors[int8] = encoders[int8].encode_documents(texts)
                throughput[int8].append(len(texts) / (clock() - t))
        document_cosines = np.sum(vectors[True] * vectors[False], axis=1)
        result["documents"] = {
            "texts": len(texts), "fp32_texts_per_s": median(throughput[False]),
            "int8_texts_per_s": median(throughput[True]),
            "ratio_int8_to_fp32": median([a / b for a, b in zip(throughput[True], throughput[False])]),
            "cosine_min": float(document_cosines.min()), "cosine_median": float(np.median(document_cosines))}
        # Answers from an index built as INT8_DOCUMENTS_MODEL, questions and selector in fp32.
        from embeddings.corpus.build import build_index

        with tempfile.TemporaryDirectory() as folder:
            build_index(SEEDS, Path(folder) / "index", encoder=encoders[True], incremental=False)
            other = QA(Path(folder) / "index", settings=Settings(selector="trained", int8=frozenset(),
                                                                 cache_dir=qa.settings.cache_dir))
            result["answers"]["documents int8 (own index)"] = agreement(questions, answers["fp32"],
                                                                        ask_all(other, questions))

    rows = [{"configuration": name, **{k: v for k, v in figures.items() if k != "differ"},
             "differ": "; ".join(figures["differ"])[:120]} for name, figures in result["answers"].items()]
    print_table(rows, title=f"answers on the {len(questions)} seed questions, against fp32")
    print(f"\noutputs: {result['outputs']}")
    print_table(result["selector_pass"], title=f"selector pass over one question's candidates "
                f"({len(batches)} questions x {args.rounds} rounds, {args.selector_threads} threads), ms")
    print_table(result["query_pass"], title="question encode pass (1 thread), ms")
    print_table(result["ask"], title=f"QA.ask, fp32 against the default (int8: {', '.join(sorted(DEFAULT_INT8))}), ms")
    for key, rows in result["session_start"].items():
        print_table(rows, title=f"{key} session start, ms")
    if "documents" in result:
        print(f"\ndocuments: {result['documents']}")
    print(f"\nmachine: {result['machine']}")
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
