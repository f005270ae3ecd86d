"""`aluqa remove`, `aluqa list` (the corpus, beside `aluqa add`) and `aluqa feedback export` (verdicts)."""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from dataclasses import asdict
from pathlib import Path


def _folders(args: argparse.Namespace) -> tuple[Path, Path]:
    from embeddings.build import default_corpus_dir, default_index_dir

    return args.corpus or default_corpus_dir(), args.index or default_index_dir()


def _remove(args: argparse.Namespace) -> int:
    from embeddings.articles import remove_articles
    from embeddings.corpus import CorpusError
    from embeddings.lock import BuildBusyError
    from embeddings.manifest import IndexLoadError, Manifest

    corpus_dir, index_dir = _folders(args)
    try:
        model = Manifest.read(index_dir).model  # rebuild with the model the index was built with
    except IndexLoadError:
        model = None
    try:
        report = remove_articles(args.docs, corpus_dir, index_dir, model=model)
    except BuildBusyError as error:
        print(f"aluqa remove: {error}", file=sys.stderr)
        return 4
    except CorpusError as error:
        print(f"aluqa remove: the index could not be rebuilt, so nothing was removed: {error}", file=sys.stderr)
        return 3
    for name in report.removed:
        print(f"removed {name} from {corpus_dir}")
    for message in report.refused:
        print(f"aluqa remove: {message}", file=sys.stderr)
    if report.summary:
        print(report.summary)
    return 2 if report.refused else 0


def _width(text: str) -> int:
    """Columns a terminal gives `text`: two for wide (CJK) characters."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


def _list(args: argparse.Namespace) -> int:
    from embeddings.catalogue import list_corpus
    from embeddings.manifest import IndexLoadError

    corpus_dir, index_dir = _folders(args)
    try:
        entries = list_corpus(corpus_dir, index_dir)
    except IndexLoadError as error:
        print(f"aluqa list: {error}", file=sys.stderr)
        return 3
    if args.json:
        print(json.dumps([asdict(entry) for entry in entries], ensure_ascii=False, indent=2))
        return 0
    header = ("FILE", "DATE", "SOURCE", "SENTENCES", "TITLE")
    rows = [(e.doc, e.date or "-", e.source or "-", str(e.sentences), e.title + (f"  [{e.note}]" if e.note else ""))
            for e in entries]
    widths = [max(_width(row[i]) for row in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        print("  ".join(_pad(cell, width) for cell, width in zip(row, widths)) + "  " + row[4])
    indexed = [e for e in entries if e.indexed]
    print(f"{len(indexed)} articles, {sum(e.sentences for e in indexed)} sentences in the index at {index_dir} "
          f"(corpus {corpus_dir})")
    return 0


def _feedback_export(args: argparse.Namespace) -> int:
    from embeddings.build import default_index_dir
    from embeddings.index import CorpusIndex
    from embeddings.manifest import IndexLoadError
    from qa.feedback import export_seed_qa, feedback_path, read_verdicts

    index_dir = args.index or default_index_dir()
    source = args.verdicts or feedback_path(index_dir)
    try:
        verdicts = read_verdicts(source)
        index = CorpusIndex.load(index_dir)
    except FileNotFoundError:
        print(f"aluqa feedback: no verdicts yet at {source} (they are written there when answers are "
              "marked right or wrong on the page)", file=sys.stderr)
        return 2
    except (OSError, ValueError) as error:
        print(f"aluqa feedback: {error}", file=sys.stderr)
        return 2
    except IndexLoadError as error:
        print(f"aluqa feedback: {error}", file=sys.stderr)
        return 3
    export = export_seed_qa(verdicts, [(s.doc, s.text) for s in index.sentences], index.manifest.corpus_hash)
    try:
        with open(args.file, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(item, ensure_ascii=False) + "\n" for item in export.items)
    except OSError as error:
        print(f"aluqa feedback: cannot write {args.file} ({error.strerror or error})", file=sys.stderr)
        return 2
    for message in export.skipped:
        print(f"aluqa feedback: left out {message}", file=sys.stderr)
    print(f"wrote {len(export.items)} questions from {len(verdicts)} verdicts in {source} to {args.file}; "
          f"run them with: aluqa eval --qa {args.file} --index {index_dir}")
    return 0


def _corpus_options(parser: argparse.ArgumentParser) -> None:
    """`--corpus` and `--index`, as `aluqa add` has them."""
    parser.add_argument("--corpus", type=Path, default=None,
                        help="corpus folder (default: ALUQA_CORPUS_DIR or seeds/)")
    parser.add_argument("--index", type=Path, default=None,
                        help="index folder (default: ALUQA_INDEX_DIR or index/)")


def add_corpus_commands(commands) -> None:
    """Register `remove`, `list` and `feedback` on the `aluqa` sub-command parser."""
    remove = commands.add_parser("remove", help="remove articles from the corpus and rebuild the index")
    remove.add_argument("docs", nargs="+", metavar="DOC", help="article file names, as citations give them")
    _corpus_options(remove)
    remove.set_defaults(run=_remove)

    listing = commands.add_parser("list", help="list the articles: file, date, source, sentences, title")
    _corpus_options(listing)
    listing.add_argument("--json", action="store_true", help="print a JSON list")
    listing.set_defaults(run=_list)

    feedback = commands.add_parser("feedback", help="verdicts given on the page")
    actions = feedback.add_subparsers(dest="action", required=True)
    export = actions.add_parser("export", help="write the verdicts as a seed-format QA set for aluqa eval --qa")
    export.add_argument("file", type=Path, metavar="FILE", help="the JSONL file to write")
    export.add_argument("--index", type=Path, default=None,
                        help="the index the verdicts are kept beside (default: ALUQA_INDEX_DIR or index/)")
    export.add_argument("--verdicts", type=Path, default=None,
                        help="read verdicts from this file instead (default: INDEX-feedback.jsonl beside the index)")
    export.set_defaults(run=_feedback_export)
