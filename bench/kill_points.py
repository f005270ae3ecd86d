"""Kill -9 at each point of an index write, for `add`, `remove` and `build --full`, then the next `aluqa build`.

Each repetition works on a fresh copy of `seeds/` and its index (stub vectors:
the write path is the same as with the real model, and a run takes a fraction
of a second). A forked child runs the command and SIGKILLs itself at the
chosen point, so no handler or `finally` runs, exactly as with `kill -9`:

- tmp: the temporary index folder holds its first file;
- vectors: the FAISS vector files are written;
- manifest: the manifest is written (the new index is complete, not swapped in);
- swap: the new index has been exchanged into place, the old one not yet deleted.

Then what `aluqa build` does runs (`embeddings.corpus.build.update_index`), and the
script checks: the corpus and the index agree (`index_is_current`), no hidden
leftover (`.*.tmp-*`, `.*.old-*`, `.*.removed`, `.*.part`) remains, the index
loads whole, and a question is answered from it.

    PYTHONPATH=. python -m bench.kill_points --repetitions 100 --json kill_points.json
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from bench.common import ROOT, SEEDS, print_figures, write_json

sys.path.insert(0, str(ROOT / "tests"))  # the stub encoder of the tests

POINTS = ("tmp", "vectors", "manifest", "swap")
COMMANDS = ("add", "remove", "build-full")
NEW_ARTICLE = "新华社讯:某市2024年铝产业总产值为2000亿元,同比增长12%。\n"
QUESTION = "2022年百色市铝产业总产值是多少？"


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _arm(point: str) -> None:
    """In the child: make the index write SIGKILL this process at `point`."""
    import embeddings.store.local as index_module
    from embeddings.store.manifest import Manifest

    if point == "tmp":
        write_json = index_module._write_json

        def dying_write_json(path, data):
            write_json(path, data)
            if path.parent.name.startswith("."):  # a file of the temporary folder
                _die()

        index_module._write_json = dying_write_json
    elif point == "vectors":
        import faiss

        write_index = faiss.write_index
        written = []

        def dying_write_index(vectors, path):
            write_index(vectors, path)
            written.append(path)
            if len(written) == 2:  # sentence and passage vectors
                _die()

        faiss.write_index = dying_write_index
    elif point == "manifest":
        write = Manifest.write

        def dying_write(self, folder):
            write(self, folder)
            _die()

        Manifest.write = dying_write
    elif point == "swap":
        exchange = index_module._exchange

        def dying_exchange(a, b):
            if not exchange(a, b):
                raise RuntimeError("no atomic exchange on this file system")
            _die()

        index_module._exchange = dying_exchange


def _run_command(command: str, corpus: Path, index: Path, extra: Path, encoder) -> None:
    from embeddings.corpus.articles import add_articles, remove_articles
    from embeddings.corpus.build import build_index

    if command == "add":
        add_articles([extra], corpus, index, encoder=encoder)
    elif command == "remove":
        remove_articles([sorted(p.name for p in corpus.glob("*.txt"))[0]], corpus, index, encoder=encoder)
    else:
        build_index(corpus, index, encoder=encoder, incremental=False)


def _killed_at(command: str, point: str, corpus: Path, index: Path, extra: Path, encoder) -> str:
    """Fork a child that runs `command` and dies at `point`; how it ended."""
    child = os.fork()
    if child == 0:  # the child: never returns
        try:
            _arm(point)
            _run_command(command, corpus, index, extra, encoder)
            os._exit(0)  # the point was never reached
        except BaseException:  # noqa: BLE001 - an error in the child is reported by its exit code
            os._exit(3)
    _, status = os.waitpid(child, 0)
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
        return "killed"
    return f"exit {os.WEXITSTATUS(status)}" if os.WIFEXITED(status) else f"status {status}"


def _leftovers(corpus: Path, index: Path) -> list[str]:
    from embeddings.corpus.lock import lock_path

    hidden = [p.name for p in corpus.iterdir() if p.name.startswith(".")]
    beside = [p.name for p in index.parent.iterdir() if p not in (index, lock_path(index), corpus)
              and p.name.startswith(".")]
    return hidden + beside


def _check(corpus: Path, index: Path, encoder) -> list[str]:
    """What is wrong after the next command (empty when all is well)."""
    from embeddings.corpus.build import index_is_current
    from embeddings.store.local import CorpusIndex
    from qa import QA, Settings

    problems = []
    if not index_is_current(corpus, index, encoder.name):
        problems.append("index behind the corpus")
    leftovers = _leftovers(corpus, index)
    if leftovers:
        problems.append(f"leftovers {leftovers}")
    try:
        loaded = CorpusIndex.load(index)
        docs = {p.name for p in corpus.glob("*.txt")} | {p.name for p in corpus.glob("*.md")}
        if set(loaded.articles) != docs:
            problems.append("index articles differ from the corpus files")
        QA(index, settings=Settings(corpus_dir=corpus, dense_band=(0.3, 0.7), selector="off"),
           encoder=encoder).ask(QUESTION)
    except Exception as error:  # noqa: BLE001 - every failure is a finding
        problems.append(f"{type(error).__name__}: {error}")
    return problems


def run(repetitions: int) -> dict:
    import faiss
    from conftest import StubEncoder

    from embeddings.corpus.build import build_index, update_index

    faiss.omp_set_num_threads(1)  # no OpenMP pool to inherit across fork
    import logging

    logging.getLogger("embeddings").setLevel(logging.ERROR)  # each repetition's clean-up says what it removed
    encoder = StubEncoder()
    outcomes = collections.Counter()
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="aluqa-kill-") as scratch:
        base = Path(scratch)
        template_corpus, template_index = base / "seed-corpus", base / "seed-index"
        shutil.copytree(SEEDS, template_corpus)
        build_index(template_corpus, template_index, encoder=encoder)
        extra = base / "new_article.txt"
        extra.write_text(NEW_ARTICLE, encoding="utf-8")
        for repetition in range(repetitions):
            for command in COMMANDS:
                for point in POINTS:
                    work = base / "work"
                    shutil.rmtree(work, ignore_errors=True)
                    corpus, index = work / "corpus", work / "index"
                    shutil.copytree(template_corpus, corpus)
                    shutil.copytree(template_index, index)
                    ended = _killed_at(command, point, corpus, index, extra, encoder)
                    outcomes[f"{command}@{point}: {ended}"] += 1
                    update_index(corpus, index, encoder=encoder)  # the next `aluqa build`
                    found = _check(corpus, index, encoder)
                    if found:
                        problems.append(f"{command}@{point} #{repetition}: {'; '.join(found)}")
                        outcomes[f"{command}@{point}: problem"] += 1
            if repetition % 10 == 9:
                print(f"{repetition + 1} repetitions, {len(problems)} problems", file=sys.stderr, flush=True)
    return {"repetitions": repetitions, "runs": repetitions * len(COMMANDS) * len(POINTS),
            "outcomes": dict(sorted(outcomes.items())), "problems": len(problems), "problem_examples": problems[:10]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.kill_points", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repetitions", type=int, default=100, help="repetitions of each kill point (default 100)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here ('-': stdout)")
    args = parser.parse_args(argv)
    figures = run(args.repetitions)
    print_figures(figures)
    write_json(args.json, figures)
    return 0 if figures["problems"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
