"""Readers never see a half-swapped index: `CorpusIndex.load` in a loop while articles are added and removed.

A reader process loads the index again and again while this process runs
add/remove cycles on the same folder (stub vectors, so a cycle takes well
under a second and swaps happen often). Every load must give one whole index:
a manifest that matches its files, of either the old or the new corpus. The
reader stops after --loads loads; the cycles go on until then (at least
--cycles of them).

    PYTHONPATH=. python -m bench.loads_across_swaps --loads 10000 --cycles 50 --json loads.json
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import sys
import tempfile
from pathlib import Path

from bench.common import ROOT, SEEDS, print_figures, write_json

sys.path.insert(0, str(ROOT / "tests"))  # the stub encoder of the tests

NEW_ARTICLE = "新华社讯:某市2024年铝产业总产值为2000亿元,同比增长12%。\n"


def _reader(index: str, loads: int, results) -> None:
    from embeddings.store.local import CorpusIndex

    errors, sizes = [], set()
    for _ in range(loads):
        try:
            loaded = CorpusIndex.load(index)
            sizes.add(len(loaded.articles))
        except Exception as error:  # noqa: BLE001 - every failed load is a finding
            errors.append(f"{type(error).__name__}: {error}"[:300])
    results.put({"loads": loads, "errors": len(errors), "error_examples": errors[:5],
                 "article_counts_seen": sorted(sizes)})


def run(loads: int, cycles: int) -> dict:
    import logging

    from conftest import StubEncoder

    from embeddings.corpus.articles import add_articles, remove_articles
    from embeddings.corpus.build import build_index

    logging.getLogger("embeddings").setLevel(logging.ERROR)
    encoder = StubEncoder()
    with tempfile.TemporaryDirectory(prefix="aluqa-loads-") as scratch:
        base = Path(scratch)
        corpus, index, extra = base / "corpus", base / "index", base / "new_article.txt"
        shutil.copytree(SEEDS, corpus)
        extra.write_text(NEW_ARTICLE, encoding="utf-8")
        build_index(corpus, index, encoder=encoder)
        results = multiprocessing.get_context("spawn").Queue()
        reader = multiprocessing.get_context("spawn").Process(target=_reader, args=(str(index), loads, results))
        reader.start()
        done = 0
        while reader.is_alive() or done < cycles:
            added = add_articles([extra], corpus, index, encoder=encoder).added
            remove_articles(list(added), corpus, index, encoder=encoder)  # the names the add gave them
            done += 1
            if done >= 10 * cycles and not reader.is_alive():
                break
        reader.join()
        figures = results.get(timeout=60)
    return {**figures, "add_remove_cycles": done, "swaps": 2 * done}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loads_across_swaps", description=__doc__.split("\n\n")[0])
    parser.add_argument("--loads", type=int, default=10_000, help="loads by the reader (default 10,000)")
    parser.add_argument("--cycles", type=int, default=50, help="add/remove cycles at least (default 50)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here ('-': stdout)")
    args = parser.parse_args(argv)
    figures = run(args.loads, args.cycles)
    print_figures(figures)
    write_json(args.json, figures)
    return 0 if figures["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
