"""`aluqa add`, `aluqa remove`, `aluqa list` (the corpus) and `aluqa feedback export` (verdicts)."""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from dataclasses import asdict
from pathlib import Path

from ui.cli.errors import INDEX, USAGE, fail, handled
from ui.cli.settings import command_settings, command_store


def _folders(args: argparse.Namespace) -> tuple[Path, Path]:
    settings = command_settings(args)
    return args.corpus or settings.corpus_dir, args.index or settings.index_dir


def _change_corpus(command: str, change) -> int:
    """Run `change(args, corpus_dir, index_dir, model, store, encoder) -> report` with one set of messages and exit codes.

    2: something asked for was refused (the rest was done); 3: the index could
    not be read or rebuilt, nothing changed; 4: another build is running.
    """
    from embeddings.text.read import CorpusError
    from embeddings.corpus.build import index_model
    from embeddings.corpus.lock import BuildBusyError
    from embeddings.store.manifest import IndexLoadError
    from qa.api import encoder_for

    def run(args: argparse.Namespace) -> int:
        settings = command_settings(args)
        corpus_dir, index_dir = _folders(args)
        try:
            spec = command_store(args)
            # The index's own model, so that a rebuild embeds with it; the settings' for a first build.
            model = index_model(index_dir, str(spec)) or settings.model
            encoder = encoder_for(settings, model)
        except handled() as error:
            return fail(command, error)
        try:
            report = change(args, corpus_dir, index_dir, model, str(spec), encoder)
        except BuildBusyError as error:
            return fail(command, error)
        except (CorpusError, IndexLoadError) as error:  # met while rebuilding: the index's failure
            return fail(command, error, INDEX, "the index could not be rebuilt, so nothing changed")
        if report.summary:
            print(report.summary)
        return 2 if report.refused else 0

    return run


def _add(args, corpus_dir: Path, index_dir: Path, model: str | None, store: str, encoder):
    from embeddings.corpus.articles import add_articles

    report = add_articles(args.files, corpus_dir, index_dir, encoder=encoder, model=model, store=store)
    for name in report.added:
        print(f"added {name} to {corpus_dir}")
    for message in report.present:
        print(f"unchanged: {message}")
    for message in report.refused:
        print(f"aluqa add: refused {message}; nothing written", file=sys.stderr)
    return report


def _remove(args, corpus_dir: Path, index_dir: Path, model: str | None, store: str, encoder):
    from embeddings.corpus.articles import remove_articles

    report = remove_articles(args.docs, corpus_dir, index_dir, encoder=encoder, model=model, store=store)
    for name in report.removed:
        print(f"removed {name} from {corpus_dir}")
    for message in report.refused:
        print(f"aluqa remove: {message}", file=sys.stderr)
    return report


def _width(text: str) -> int:
    """Columns a terminal gives `text`: two for wide (CJK) characters."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


def _list(args: argparse.Namespace) -> int:
    from embeddings.corpus.catalogue import list_corpus

    corpus_dir, index_dir = _folders(args)
    try:
        spec = command_store(args)
        entries = list_corpus(corpus_dir, index_dir, store=str(spec))
    except handled() as error:
        return fail("list", error)
    if args.json:
        print(json.dumps([asdict(entry) for entry in entries], ensure_ascii=False, indent=2))
        return 0
    header = ("FILE", "DATE", "SOURCE", "AUTHOR", "SENTENCES", "TITLE")
    rows = [(e.doc, e.date or "-", e.source or "-", e.author or "-", str(e.sentences),
             e.title + (f"  [{e.note}]" if e.note else "")) for e in entries]
    widths = [max(_width(row[i]) for row in [header, *rows]) for i in range(5)]
    for row in [header, *rows]:
        print("  ".join(_pad(cell, width) for cell, width in zip(row, widths)) + "  " + row[5])
    indexed = [e for e in entries if e.indexed]
    where = spec.where(index_dir)
    print(f"{len(indexed)} articles, {sum(e.sentences for e in indexed)} sentences in the index at {where} "
          f"(corpus {corpus_dir})")
    return 0


def _feedback_export(args: argparse.Namespace) -> int:
    from embeddings.store.local import CorpusIndex
    from qa.training.feedback import export_seed_qa, feedback_path, read_verdicts

    index_dir = args.index or command_settings(args).index_dir
    source = args.verdicts or feedback_path(index_dir)
    try:
        verdicts = read_verdicts(source)
        index = CorpusIndex.load(index_dir)
    except FileNotFoundError:
        return fail("feedback", f"no verdicts yet at {source} (they are written there when answers are "
                                "marked right or wrong on the page)")
    except handled() as error:
        return fail("feedback", error)
    except (OSError, ValueError) as error:
        return fail("feedback", error, USAGE)
    export = export_seed_qa(verdicts, [(s.doc, s.text) for s in index.sentences], index.manifest.corpus_hash)
    try:
        with open(args.file, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(item, ensure_ascii=False) + "\n" for item in export.items)
    except OSError as error:
        return fail("feedback", f"cannot write {args.file} ({error.strerror or error})")
    for message in export.skipped:
        print(f"aluqa feedback: left out {message}", file=sys.stderr)
    print(f"wrote {len(export.items)} questions from {len(verdicts)} verdicts in {source} to {args.file}; "
          f"run them with: aluqa eval --qa {args.file} --index {index_dir}")
    return 0


def _corpus_options(parser: argparse.ArgumentParser) -> None:
    """`--corpus`, `--index` and `--store`, the same on add, remove and list."""
    from ui.cli.build import add_store_argument

    parser.add_argument("--corpus", type=Path, default=None,
                        help="corpus folder (default: ALUQA_CORPUS_DIR or seeds/)")
    parser.add_argument("--index", type=Path, default=None,
                        help="index folder (default: ALUQA_INDEX_DIR or index/)")
    add_store_argument(parser)


def add_corpus_commands(commands) -> None:
    """Register `add`, `remove`, `list` and `feedback` on the `aluqa` sub-command parser."""
    add = commands.add_parser("add", help="add .txt/.md articles to the corpus and rebuild the index")
    add.add_argument("files", nargs="+", type=Path, metavar="FILE", help="article files to add")
    _corpus_options(add)
    add.set_defaults(run=_change_corpus("add", _add))

    remove = commands.add_parser("remove", help="remove articles from the corpus and rebuild the index")
    remove.add_argument("docs", nargs="+", metavar="DOC", help="article file names, as citations give them")
    _corpus_options(remove)
    remove.set_defaults(run=_change_corpus("remove", _remove))

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
