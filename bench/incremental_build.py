"""Incremental `aluqa build`: full build vs rebuild after adding one article vs rebuild with nothing changed.

Each step is `python -m qa build` in a fresh process, as a user runs it, on a
copy of seeds/ with one article held back at first: (1) `--full` build of
four articles, (2) the fifth article added, (3) nothing changed (the build
finds the index up to date and returns), (4) `--full` again of all five (the
reference for 2). Each round runs these steps with
the default runtime (ONNX Runtime) and again with the old torch path
(`ALUQA_RUNTIME=sentence-transformers`), so both are measured in one run.
Wall time includes the interpreter and imports; `build_s` is the time
`build_index` itself reports. References for imports: `python -c "import ui.cli"`
plus the first use of jieba, and a bare `python -c "import numpy, faiss"`.

    PYTHONPATH=. python -m bench.incremental_build --rounds 3
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import PYTHON, ROOT, SEEDS, machine_notes, median, print_table, ratio, write_json
from bench.cold_start import child_env

SUMMARY = re.compile(r"in ([\d.]+) s \((\d+) texts embedded, (\d+) reused\)")
IMPORTS_CHILD = "import ui.cli, embeddings.store.local, faiss, bm25s; from embeddings.text.tokenize import tokenize; tokenize('铝')"


RUNTIMES = {"onnx": {}, "old torch path": {"ALUQA_RUNTIME": "sentence-transformers"}}


def run_build(corpus: Path, index: Path, full: bool, env: dict) -> dict:
    args = [PYTHON, "-m", "qa", "build", "--corpus", str(corpus), "--index", str(index)] + (["--full"] if full else [])
    started = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, env=child_env(**env), cwd=ROOT)
    wall = time.perf_counter() - started
    match = SUMMARY.search(done.stdout)
    if done.returncode == 0 and "is up to date" in done.stdout:
        return {"wall_s": wall, "build_s": 0.0, "embedded": 0, "reused": 0}  # nothing was rebuilt
    if done.returncode != 0 or not match:
        raise RuntimeError(f"build failed ({done.returncode}): {done.stdout}{done.stderr[-2000:]}")
    return {"wall_s": wall, "build_s": float(match.group(1)), "embedded": int(match.group(2)),
            "reused": int(match.group(3))}


def one_round(held_back: str) -> dict:
    steps = {}
    for runtime, env in RUNTIMES.items():
        with tempfile.TemporaryDirectory(prefix="aluqa-incr-") as tmp:
            corpus, index = Path(tmp) / "corpus", Path(tmp) / "index"
            shutil.copytree(SEEDS, corpus)
            aside = Path(tmp) / held_back
            shutil.move(corpus / held_back, aside)
            steps[f"{runtime}: full build, 4 articles"] = run_build(corpus, index, True, env)
            shutil.move(aside, corpus / held_back)
            steps[f"{runtime}: add 1 article"] = run_build(corpus, index, False, env)
            steps[f"{runtime}: no change"] = run_build(corpus, index, False, env)
            steps[f"{runtime}: full build, 5 articles"] = run_build(corpus, index, True, env)
    for name, code in (("imports only", IMPORTS_CHILD), ("import numpy, faiss", "import numpy, faiss")):
        started = time.perf_counter()
        subprocess.run([PYTHON, "-c", code], check=True, env=child_env(), cwd=ROOT)
        steps[name] = {"wall_s": time.perf_counter() - started}
    return steps


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--article", default="004_7ed03d3179984da0.txt", help="the seed article held back, then added")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here ('-': stdout)")
    args = parser.parse_args(argv)

    rounds = []
    for number in range(args.rounds):
        rounds.append(one_round(args.article))
        # Each round as it ends, so a long run on busy cores still leaves figures behind.
        print(f"round {number + 1}: " + "; ".join(f"{step} {v['wall_s']:.2f} s wall" + (
            f", {v['build_s']:.2f} s build" if "build_s" in v else "") for step, v in rounds[-1].items()),
            file=sys.stderr, flush=True)
    rows = []
    for step in rounds[0]:
        values = [r[step] for r in rounds]
        row = {"step": step, **{key: median(v[key] for v in values) for key in values[0]}}
        runtime = step.split(":")[0]
        if "build_s" in row:
            # Both ratios against the full build of the same runtime, measured in the same rounds.
            full = f"{runtime}: full build, 5 articles"
            row["wall_vs_full"] = ratio(row["wall_s"], median(r[full]["wall_s"] for r in rounds))
            row["build_vs_full"] = ratio(row["build_s"], median(r[full]["build_s"] for r in rounds))
        rows.append(row)
    print_table(rows, ("step", "wall_s", "build_s", "embedded", "reused", "wall_vs_full", "build_vs_full"),
                title=f"aluqa build on seeds/ ({args.rounds} rounds, medians)")
    imports = next(r["wall_s"] for r in rows if r["step"] == "imports only")
    for runtime in RUNTIMES:
        no_op = next(r for r in rows if r["step"] == f"{runtime}: no change")
        added = next(r for r in rows if r["step"] == f"{runtime}: add 1 article")
        print(f"{runtime}: no-op rebuild {no_op['wall_s']:.2f} s wall ({no_op['wall_s'] - imports:.2f} s beyond the "
              f"{imports:.2f} s of imports; target <= 1.5 s); one article added: {added['wall_vs_full']:.2f} of a "
              f"full build's wall time (target <= 0.5)")
    write_json(args.json, {"rows": rows, "rounds": rounds, "machine": machine_notes()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
