"""Peak memory (RSS) of `python -m qa serve` answering questions, vs the bare model in a process of its own.

Starts the server on a free port, asks questions through its `/answer`
endpoint (gradio_client), then reads the server's peak RSS (VmHWM) and
current RSS from /proc. Reference: a process that only loads the model and
encodes one query. Linux only.

    PYTHONPATH=. python -m bench.memory --corpus seed
    PYTHONPATH=. python -m bench.memory --corpus cmrc --questions 50
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

from bench.common import (CMRC_DEV, PYTHON, ROOT, free_port, machine_notes, print_table, ratio, rss_mb,
                          seed_questions, squad_articles, squad_index, wait_for_port, write_json)
from bench.cold_start import REFERENCE_CHILD, child_env

REFERENCE_PEAK = REFERENCE_CHILD.replace('print("READY", flush=True)', """
from bench.common import rss_mb
print("READY", *rss_mb(), flush=True)
""")


def serve_peak(index: str, questions: list[str], timeout: float) -> dict:
    from gradio_client import Client

    port = free_port()
    process = subprocess.Popen([PYTHON, "-m", "qa", "serve", "--index", index, "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=child_env(), cwd=ROOT)
    try:
        if not wait_for_port(port, process, timeout):
            raise RuntimeError(f"the server did not listen on port {port} within {timeout} s")
        idle_rss, idle_peak = rss_mb(process.pid)
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        found = sum(bool(client.predict(q, api_name="/answer").get("found")) for q in questions)
        rss, peak = rss_mb(process.pid)
        return {"rss_idle_mb": idle_rss, "rss_after_mb": rss, "peak_mb": peak, "asked": len(questions),
                "found": found}
    finally:
        process.terminate()  # only the server started here
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def reference_peak() -> float:
    done = subprocess.run([PYTHON, "-c", REFERENCE_PEAK], capture_output=True, text=True, env=child_env(), cwd=ROOT)
    line = next(line for line in done.stdout.splitlines() if line.startswith("READY"))
    return float(line.split()[2])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", choices=("seed", "cmrc"), default="seed")
    parser.add_argument("--index", type=Path, default=None, help="index folder (default: index/ or the CMRC index)")
    parser.add_argument("--questions", type=int, default=40, help="questions to ask (default 40)")
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here ('-': stdout)")
    args = parser.parse_args(argv)

    if args.corpus == "seed":
        index, questions = args.index or ROOT / "index", seed_questions()[: args.questions]
    else:
        index = args.index or squad_index(CMRC_DEV)
        questions = [q.question for q in squad_articles(CMRC_DEV)[1][: args.questions]]
    served = serve_peak(str(Path(index).expanduser()), questions, args.timeout)
    reference = reference_peak()
    row = {"corpus": args.corpus, **served, "reference_peak_mb": reference,
           "peak_vs_reference": ratio(served["peak_mb"], reference)}
    print_table([row], title=f"peak RSS serving {index}")
    write_json(args.json, {**row, "index": str(index), "machine": machine_notes()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
