"""The `aluqa` command: build the index, ask a question, serve the chat page."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from embeddings.build import add_build_arguments, run_build


def _ask(args: argparse.Namespace) -> int:
    from embeddings.manifest import IndexLoadError
    from qa.api import QA, QuestionError
    from qa.settings import Settings

    qa = QA(index_dir=args.index, settings=Settings().with_(model=args.model))
    try:
        reply = qa.ask(args.question)
    except QuestionError as error:
        print(f"aluqa ask: {error}", file=sys.stderr)
        return 2
    except IndexLoadError as error:
        print(f"aluqa ask: {error}", file=sys.stderr)
        return 3
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


def _serve(args: argparse.Namespace) -> int:
    from ui.app import serve

    return serve(index_dir=args.index, host=args.host, port=args.port)


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
    ask.set_defaults(run=_ask)

    serve = commands.add_parser("serve", help="serve the chat page")
    serve.add_argument("--index", type=Path, default=None, help="index folder (default: the index of seeds/)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    serve.set_defaults(run=_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    return args.run(args)
