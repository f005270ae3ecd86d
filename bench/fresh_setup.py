"""A fresh clone's `make run`, timed until its page answers a question: the set-up a new user goes through.

Clones the committed HEAD into a temporary folder and runs `make run` there
with nothing cached: pip's cache off (`PIP_NO_CACHE_DIR=1`), a new virtual
environment, an empty AluQA cache (`ALUQA_CACHE_DIR`), so the model is
converted, exported to ONNX and the seed index built inside the run. Records
when each step's output appears (packages installed, model, ONNX exports,
index), when the page answers HTTP 200 on port 7860 (`make run` serves there)
and when it answers a question through its `/answer` endpoint; then stops the
server and deletes the folder.

    PYTHONPATH=. python -m bench.fresh_setup --json docs/figures/fresh_setup.json
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.common import ROOT, machine_notes, print_table, write_json

PORT = 7860  # where `make run` serves
QUESTION = "2022年百色市铝产业总产值是多少？"


def _page_answers() -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=3600.0, help="give up after this long (s)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary clone (for inspection)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here ('-': stdout)")
    args = parser.parse_args(argv)
    if _page_answers():
        raise SystemExit(f"something already serves on port {PORT}; stop it first")

    work = Path(tempfile.mkdtemp(prefix="aluqa-fresh-"))
    clone, cache = work / "repo", work / "cache"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    shared = ROOT.parent / "shared"
    if shared.exists():
        (work / "shared").symlink_to(shared.resolve())
    env = dict(os.environ, PIP_NO_CACHE_DIR="1", ALUQA_CACHE_DIR=str(cache))
    env.pop("VIRTUAL_ENV", None)
    milestones = {
        "packages installed": lambda: (clone / ".venv" / ".stamps" / "installed").exists(),
        "model converted": lambda: any(cache.glob("models/*/aluqa_build.json")),
        "encoder exported to ONNX": lambda: any(cache.glob("models/*-onnx/aluqa_onnx.json")),
        "selector exported to ONNX": lambda: any(cache.glob("selector/selector-*.onnx")),
        "seed index built": lambda: (clone / "index" / "manifest.json").exists(),
        "page answers HTTP 200": _page_answers,
    }
    seen: dict[str, float] = {}
    log = open(work / "make-run.log", "w", encoding="utf-8")
    started = time.perf_counter()
    process = subprocess.Popen(["make", "run"], cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        while len(seen) < len(milestones) and time.perf_counter() - started < args.timeout:
            if process.poll() is not None:
                raise SystemExit(f"make run stopped with code {process.returncode}; see {work / 'make-run.log'}")
            for name, reached in milestones.items():
                if name not in seen and reached():
                    seen[name] = time.perf_counter() - started
                    print(f"{seen[name]:8.1f} s  {name}", flush=True)
            time.sleep(0.5)
        answered = None
        if "page answers HTTP 200" in seen:
            from gradio_client import Client

            reply = Client(f"http://127.0.0.1:{PORT}/", verbose=False).predict(QUESTION, api_name="/answer")
            seen["page answers a question"] = time.perf_counter() - started
            answered = bool(reply.get("found")) and "1045" in str(reply.get("sentence", ""))
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # make and the server it started, nothing else
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()
    rows = [{"step": name, "seconds_since_make_run": seconds} for name, seconds in seen.items()]
    print_table(rows, title="fresh clone: make run (pip cache off, empty AluQA cache)")
    print(f"answer right: {answered}")
    write_json(args.json, {"rows": rows, "answer_right": answered, "machine": machine_notes(),
                           "disk_mb": {"venv": _size_mb(clone / ".venv"), "cache": _size_mb(cache)}})
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _size_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20 if folder.exists() else 0.0


if __name__ == "__main__":
    raise SystemExit(main())
