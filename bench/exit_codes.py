"""Exit codes of builds that reuse every vector: `aluqa build` after an article left, and `aluqa remove`.

Such a build finishes in about a second, before the encoder's warm-up thread
has loaded ONNX Runtime; a process that exits with that thread inside native
code aborts (exit 134). Each run works on a fresh copy of the seed corpus and
its built index, in a fresh process, as a user's command does.

    PYTHONPATH=. python -m bench.exit_codes --runs 100
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import write_json

ROOT = Path(__file__).resolve().parent.parent


def _aluqa(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qa", *args], cwd=ROOT, capture_output=True, text=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100, help="runs of each command (default 100)")
    parser.add_argument("--json", type=Path, default=None, help="also write the counts as JSON here ('-': stdout)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        corpus, index = base / "corpus", base / "index"
        shutil.copytree(ROOT / "seeds", corpus)
        built = _aluqa("build", "--corpus", str(corpus), "--index", str(index))
        if built.returncode != 0:
            print(built.stderr, file=sys.stderr)
            return 1
        first = sorted(p.name for p in corpus.glob("*.txt"))[0]
        codes = {"build": collections.Counter(), "remove": collections.Counter()}
        for run in range(args.runs):
            for command in codes:
                work_corpus, work_index = base / f"c{run}{command}", base / f"i{run}{command}"
                shutil.copytree(corpus, work_corpus)
                shutil.copytree(index, work_index)
                if command == "build":
                    (work_corpus / first).unlink()
                    done = _aluqa("build", "--corpus", str(work_corpus), "--index", str(work_index))
                else:
                    done = _aluqa("remove", first, "--corpus", str(work_corpus), "--index", str(work_index))
                codes[command][done.returncode] += 1
                if done.returncode != 0:
                    print(f"{command} run {run}: exit {done.returncode}: {done.stderr.strip()[-200:]}", file=sys.stderr)
                shutil.rmtree(work_corpus)
                shutil.rmtree(work_index)
    result = {command: dict(counter) for command, counter in codes.items()}
    print(f"exit codes over {args.runs} runs each: {result}")
    write_json(args.json, {"runs": args.runs, "exit_codes": result})
    return 0 if all(set(counter) == {0} for counter in codes.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
