"""The `aluqa` command: build the index, ask a question, evaluate, serve the page and chat endpoints."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from ui.cli.build import add_build_arguments, add_store_argument, run_build
from ui.cli.corpus import add_corpus_commands
from ui.cli.errors import fail, handled
from ui.cli.settings import command_settings, command_store


def _ask(args: argparse.Namespace) -> int:
    from qa.api import QA

    try:
        qa = QA(index_dir=args.index, settings=command_settings(args).with_(model=args.model, store=args.store))
        reply = qa.ask(args.question, since=args.since, until=args.until, source=args.source)
    except handled() as error:
        return fail("ask", error)
    if args.json:
        print(json.dumps(reply.to_dict(), ensure_ascii=False, indent=2))
        return 0
    if reply.note:
        print(f"({reply.note})")
    if reply.found:
        print(reply.sentence)
        print(f"— {reply.citation.line()}")
    else:
        print("The corpus holds no answer to this question. Closest material:")
        for passage in reply.passages:
            print(f"  [{passage.doc} ¶{passage.paragraph}] {passage.text[:120]}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    try:
        figures = (_eval_squad(args) if args.squad else _eval_conversations(args) if args.conversations
                   else _eval_seed(args))
    except handled() as error:
        return fail("eval", error)
    if args.json:
        print(json.dumps(figures, ensure_ascii=False, indent=2))
        return 0
    width = max(len(key) for key in figures)
    for key, value in figures.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        print(f"{key.replace('_at_', '@').replace('_', ' '):<{width}}  {'n/a' if value is None else value}")
    return 0


def _settings(args: argparse.Namespace):
    """Settings with the `--set NAME=VALUE` overrides of an evaluation (for ablations)."""
    from dataclasses import fields

    from qa.settings import Settings, parse_int8

    settings = command_settings(args)
    types = {f.name: type(getattr(settings, f.name)) for f in fields(Settings)}
    changes = {}
    for item in args.set or ():
        name, _, value = item.partition("=")
        if name not in types or name in ("corpus_dir", "index_dir", "cache_dir", "dense_band", "store", "api_key"):
            raise SystemExit(f"aluqa eval: --set {item!r}: not a tunable setting")
        if name == "int8":  # the form of ALUQA_INT8: --set int8=none
            changes[name] = parse_int8(value)
        elif types[name] is bool:  # bool("false") would be True
            if value.lower() not in ("true", "false"):
                raise SystemExit(f"aluqa eval: --set {item!r}: use {name}=true or {name}=false")
            changes[name] = value.lower() == "true"
        else:
            changes[name] = types[name](value) if types[name] is not type(None) else value
    return settings.with_(**changes)


def _selector_name(qa) -> str:
    from qa.answerer import LINEAR_RANKER

    selector = qa.answerer.selector
    return selector.name if selector is not None else LINEAR_RANKER


def _eval_squad(args: argparse.Namespace) -> dict:
    import time

    from qa.api import QA, encoder_for
    from qa.training.datasets import default_eval_index_dir, ensure_squad_index, evaluate_squad, read_squad, write_jsonl

    squad = read_squad(args.squad)
    settings = _settings(args)
    encoder = encoder_for(settings)
    ready = ensure_squad_index(squad, args.index or default_eval_index_dir(squad, settings.cache_dir), encoder,
                               show_progress=True,
                               on_stage=lambda label: print(f"[aluqa eval] {label} ...", file=sys.stderr, flush=True))
    started = time.perf_counter()
    qa = QA(ready.folder, settings=settings, encoder=encoder)
    report = evaluate_squad(qa, squad.questions[: args.limit])
    if args.errors:
        print(f"aluqa eval: {write_jsonl(args.errors, report.misses())} misses written to {args.errors}",
              file=sys.stderr)
    return {"file": str(args.squad), "documents": len(squad.articles), "selector": _selector_name(qa),
            **report.figures(),
            "index": str(ready.folder), "index_built": ready.built, "index_seconds": round(ready.seconds, 1),
            "run_seconds": round(time.perf_counter() - started, 1)}


def _read_jsonl(path: Path) -> list[dict]:
    """A seed-format JSONL file (QA items or conversations), or an EvalError that says what is wrong."""
    from qa.training.evaluate import read_seed_qa
    from qa.training.datasets import EvalError

    try:
        return read_seed_qa(path)
    except OSError as error:
        raise EvalError(f"cannot read {path} ({error.strerror or error})") from None
    except ValueError as error:
        raise EvalError(f"{path} is not a JSONL file ({error})") from None


def _eval_conversations(args: argparse.Namespace) -> dict:
    from qa.api import QA
    from qa.conversation import Conversation
    from qa.training.evaluate import evaluate_conversations
    from qa.training.datasets import write_jsonl

    conversations = _read_jsonl(args.conversations)[: args.limit]
    qa = QA(index_dir=args.index, settings=_settings(args).with_(store=args.store))
    report = evaluate_conversations(lambda: Conversation(qa=qa), conversations)
    if args.errors:
        write_jsonl(args.errors, [vars(turn) for turn in report.turns if not turn.correct])
    return {"file": str(args.conversations), "selector": _selector_name(qa), **report.figures()}


def _eval_seed(args: argparse.Namespace) -> dict:
    from tqdm import tqdm

    from qa.api import QA
    from qa.training.evaluate import evaluate_seed_qa
    from qa.training.datasets import refusal_figures, seed_misses, write_jsonl

    items = _read_jsonl(args.qa)[: args.limit]
    qa = QA(index_dir=args.index, settings=_settings(args).with_(store=args.store))
    qa.warm_up()
    with tqdm(total=len(items), desc="asking", unit="q", file=sys.stderr) as bar:
        def ask(question):
            reply = qa.ask(question)
            bar.update()
            return reply

        report = evaluate_seed_qa(ask, items)
    if args.errors:
        print(f"aluqa eval: {write_jsonl(args.errors, seed_misses(report))} misses written to {args.errors}",
              file=sys.stderr)
    refusals = refusal_figures(report)
    return {"file": str(args.qa), "selector": _selector_name(qa), **report.figures(), "refusals": refusals.refusals,
            "refusal_precision": refusals.precision, "refusal_recall": refusals.recall}


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _api_key(args: argparse.Namespace) -> tuple[str | None, bool]:
    """The chat endpoint's key: --api-key, else --api-key-file, else ALUQA_API_KEY (via Settings); ok flag."""
    if args.api_key is not None:
        key = args.api_key.strip()
        if not key:
            print("aluqa serve: --api-key must not be empty", file=sys.stderr)
            return None, False
        return key, True
    if args.api_key_file is not None:
        try:
            lines = [line.strip() for line in args.api_key_file.read_text(encoding="utf-8").splitlines() if line.strip()]
        except (OSError, UnicodeDecodeError) as error:
            print(f"aluqa serve: cannot read --api-key-file {args.api_key_file}: {error}", file=sys.stderr)
            return None, False
        if len(lines) != 1:
            print(f"aluqa serve: --api-key-file {args.api_key_file} must hold one line, the key", file=sys.stderr)
            return None, False
        return lines[0], True
    return command_settings(args).api_key, True


def _serve(args: argparse.Namespace) -> int:
    from ui.server import serve

    def login(text: str, where: str) -> tuple[str, str] | None:
        user, colon, password = text.strip().partition(":")  # the password may hold ":"
        if not (colon and user and password):
            print(f"aluqa serve: {where} must be USER:PASSWORD, both non-empty", file=sys.stderr)
            return None
        return user, password

    auth = None
    if args.auth is not None:
        auth = login(args.auth, "--auth")
        if auth is None:
            return 2
    elif args.auth_file is not None:
        try:
            lines = [line for line in args.auth_file.read_text(encoding="utf-8").splitlines() if line.strip()]
        except (OSError, UnicodeDecodeError) as error:
            print(f"aluqa serve: cannot read --auth-file {args.auth_file}: {error}", file=sys.stderr)
            return 2
        if len(lines) != 1:
            print(f"aluqa serve: --auth-file {args.auth_file} must hold one USER:PASSWORD line", file=sys.stderr)
            return 2
        auth = login(lines[0], f"the line of {args.auth_file}")
        if auth is None:
            return 2
    try:
        command_store(args)  # a bad --store or ALUQA_STORE is said before the server starts
    except handled() as error:
        return fail("serve", error)
    api_key, ok = _api_key(args)
    if not ok:
        return 2
    return serve(index_dir=args.index, host=args.host, port=args.port, auth=auth, store=args.store, api_key=api_key)


def _mcp(args: argparse.Namespace) -> int:
    from ui.mcp_server import run_stdio

    try:
        command_store(args)
    except handled() as error:
        return fail("mcp", error)
    return run_stdio(index_dir=args.index, store=args.store)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aluqa", description="Question answering over the AluQA news corpus.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    commands = parser.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", help="rebuild the embeddings and the index")
    add_build_arguments(build)
    build.set_defaults(run=run_build)

    ask = commands.add_parser("ask", help="answer one question with a cited sentence")
    ask.add_argument("question")
    ask.add_argument("--index", type=Path, default=None, help="index folder (default: the index of seeds/)")
    ask.add_argument("--model", default=None, help="refuse an index built with another model")
    ask.add_argument("--json", action="store_true", help="print one JSON object")
    ask.add_argument("--since", metavar="DATE", default=None,
                     help="only articles dated on or after DATE (YYYY, YYYY-MM or YYYY-MM-DD); undated ones are left out")
    ask.add_argument("--until", metavar="DATE", default=None, help="only articles dated on or before DATE")
    ask.add_argument("--source", metavar="NAME", default=None, help="only articles whose source holds NAME")
    add_store_argument(ask)
    ask.set_defaults(run=_ask)

    add_corpus_commands(commands)

    evaluate = commands.add_parser("eval", help="measure answers on a SQuAD-style file or a seed-format QA set")
    source = evaluate.add_mutually_exclusive_group(required=True)
    source.add_argument("--squad", type=Path, help="SQuAD-style JSON: its passages are the corpus, its questions asked")
    source.add_argument("--qa", type=Path, help="seed-format JSONL QA set (asked against the index)")
    source.add_argument("--conversations", type=Path,
                        help="JSONL conversations in the seed format, turns asked in order (follow-ups)")
    evaluate.add_argument("--index", type=Path, default=None,
                          help="index folder (default: --squad: built in the cache, reused while current; "
                               "--qa: the index of seeds/)")
    evaluate.add_argument("--limit", type=_positive_int, default=None, help="ask only the first N questions")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object of the figures")
    evaluate.add_argument("--errors", type=Path, default=None, help="write the misses to this JSONL file")
    evaluate.add_argument("--set", action="append", metavar="NAME=VALUE",
                          help="override a setting for this run, e.g. --set ranker=hand-set (ablations)")
    add_store_argument(evaluate)  # for --qa; --squad always builds its own local index
    evaluate.set_defaults(run=_eval)

    serve = commands.add_parser("serve", help="serve the chat page")
    serve.add_argument("--index", type=Path, default=None, help="index folder (default: the index of seeds/)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    login = serve.add_mutually_exclusive_group()
    login.add_argument("--auth", metavar="USER:PASSWORD", default=None,
                       help="ask for this login (visible to other local users in the process list: "
                            "prefer --auth-file)")
    login.add_argument("--auth-file", metavar="FILE", type=Path, default=None,
                       help="ask for the login in FILE, one USER:PASSWORD line")
    key = serve.add_mutually_exclusive_group()
    key.add_argument("--api-key", metavar="KEY", default=None,
                     help="ask /v1 chat clients for this Bearer key (default: ALUQA_API_KEY; visible in the "
                          "process list: prefer --api-key-file)")
    key.add_argument("--api-key-file", metavar="FILE", type=Path, default=None,
                     help="ask /v1 chat clients for the key in FILE (one line)")
    add_store_argument(serve)
    serve.set_defaults(run=_serve)

    mcp = commands.add_parser("mcp", help="answer as an MCP server over stdio (for agents and desktop chat apps)")
    mcp.add_argument("--index", type=Path, default=None, help="index folder (default: the index of seeds/)")
    add_store_argument(mcp)
    mcp.set_defaults(run=_mcp)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    from qa.settings import SettingsError

    try:
        args.settings = command_settings(args)  # read once: every command runs with the same values
    except SettingsError as error:
        return fail(args.command, error)
    status = args.run(args)
    if argv is None and args.run is _ask:
        # A one-question process from the shell: once the answer is out, freeing
        # the model vocabulary and the index one object at a time would cost
        # ~0.4 s more before the shell gets its prompt back, and nothing is left
        # to write. (Only for the real command line: tests call main(argv).)
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(status)
    return status
