"""Cold start: seconds from process start to the first answer, and to the Gradio page answering HTTP.

Each round starts fresh processes (the OS file cache stays warm, as on a
machine that has run AluQA before): (a) the Python API, `QA(index).ask(q)`,
until the answer is printed; (b) `python -m qa ask` until it exits; (c)
`python -m qa serve --port <free>` until its page answers HTTP 200 (then it is
stopped); (d) `python -m qa --help`. References in the same run: (e) the old
torch path, (a) and (b) with `ALUQA_RUNTIME=sentence-transformers`; (f) a bare
`python -c "import numpy, faiss"`; (g) a bare process that imports
sentence-transformers, loads the model and encodes one query.

    PYTHONPATH=. python -m bench.cold_start                   # index/ of seeds/
    PYTHONPATH=. python -m bench.cold_start --index ~/.cache/aluqa/eval-index/cmrc2018_dev-... --rounds 3
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
import urllib.request
from pathlib import Path

from bench.common import PYTHON, ROOT, free_port, machine_notes, median, print_table, ratio, wait_for_port, write_json

QUESTION = "2022年百色市铝产业总产值是多少？"
API_CHILD = """
import sys
from qa import QA
reply = QA(sys.argv[1]).ask(sys.argv[2])
print("READY", reply.found, flush=True)
"""
REFERENCE_CHILD = """
from embeddings.model.build import resolve_model
from qa.settings import Settings
from sentence_transformers import SentenceTransformer
model = SentenceTransformer(str(resolve_model(None, Settings().cache_dir)[1]), device="cpu")
model.encode_query(["2022年百色市铝产业总产值是多少？"])
print("READY", flush=True)
"""


def child_env(**extra: str) -> dict:
    env = dict(os.environ, **extra)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["HF_HUB_OFFLINE"] = "1"
    return env


def until_ready(args: list[str], **env: str) -> float:
    """Seconds from starting `args` to its first line starting with READY (the process is then waited for)."""
    started = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               env=child_env(**env), cwd=ROOT)
    seconds = float("nan")
    for line in process.stdout:
        if line.startswith("READY"):
            seconds = time.perf_counter() - started
            break
    process.wait()
    return seconds


def until_exit(args: list[str], **env: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=child_env(**env), cwd=ROOT)
    return time.perf_counter() - started if done.returncode == 0 else float("nan")


def until_page(index: str, timeout: float) -> float:
    """Seconds until `python -m qa serve` answers HTTP 200 on its page; the server is then stopped."""
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen([PYTHON, "-m", "qa", "serve", "--index", index, "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=child_env(), cwd=ROOT)
    try:
        seconds = float("nan")
        if wait_for_port(port, process, timeout):
            while time.perf_counter() - started < timeout:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                        if response.status == 200:
                            seconds = time.perf_counter() - started
                            break
                except OSError:
                    time.sleep(0.05)
        return seconds
    finally:
        process.terminate()  # only the server this function started
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=ROOT / "index", help="a built index (default: index/)")
    parser.add_argument("--question", default=QUESTION)
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each starting every process once (default 3)")
    parser.add_argument("--timeout", type=float, default=120.0, help="give the page this long (s)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here ('-': stdout)")
    args = parser.parse_args(argv)

    index = str(args.index.expanduser())
    old = {"ALUQA_RUNTIME": "sentence-transformers"}
    api = [PYTHON, "-c", API_CHILD, index, args.question]
    ask = [PYTHON, "-m", "qa", "ask", "--index", index, args.question]
    runs = {name: [] for name in ("api_first_answer", "cli_ask_exit", "serve_page_ready", "cli_help_exit",
                                  "old_torch_path_api_first_answer", "old_torch_path_cli_ask_exit",
                                  "reference_import_numpy_faiss", "reference_model_encode")}
    for _ in range(args.rounds):
        runs["reference_import_numpy_faiss"].append(until_exit([PYTHON, "-c", "import numpy, faiss"]))
        runs["reference_model_encode"].append(until_ready([PYTHON, "-c", REFERENCE_CHILD]))
        runs["old_torch_path_api_first_answer"].append(until_ready(api, **old))
        runs["api_first_answer"].append(until_ready(api))
        runs["old_torch_path_cli_ask_exit"].append(until_exit(ask, **old))
        runs["cli_ask_exit"].append(until_exit(ask))
        runs["cli_help_exit"].append(until_exit([PYTHON, "-m", "qa", "--help"]))
        runs["serve_page_ready"].append(until_page(index, args.timeout))
    bare = median(runs["reference_import_numpy_faiss"])
    # The minimum beside the median: on shared cores a round can be stretched many
    # times by other processes, never shortened, so the fastest run is the least disturbed.
    rows = [{"what": name, "median_s": median(values), "min_s": min(values),
             "runs_s": " ".join(f"{v:.2f}" for v in values),
             "beyond_numpy_faiss_s": median(values) - bare} for name, values in runs.items()]
    print_table(rows, title=f"cold start, index {index} ({args.rounds} rounds, medians)")
    for new, previous in (("api_first_answer", "old_torch_path_api_first_answer"),
                          ("cli_ask_exit", "old_torch_path_cli_ask_exit")):
        # Each round's two runs follow each other, so their ratio shares that round's load.
        per_round = [ratio(a, b) for a, b in zip(runs[new], runs[previous])]
        print(f"{new}: median {median(runs[new]):.2f} s, min {min(runs[new]):.2f} s; old torch path median "
              f"{median(runs[previous]):.2f} s, min {min(runs[previous]):.2f} s; per-round ratio "
              f"{' '.join(f'{r:.2f}' for r in per_round)} (median {median(per_round):.2f}); target <= 3 s")
    write_json(args.json, {"index": index, "runs_s": runs, "rows": rows, "machine": machine_notes()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
