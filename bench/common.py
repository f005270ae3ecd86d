"""Shared helpers of the benchmarks: timing statistics, tables, JSON output, corpora, memory."""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterable, Sequence

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SHARED = ROOT.parent / "shared"
CMRC_DEV = SHARED / "data" / "cmrc2018_dev.json"
SEED_QA = SHARED / "eval" / "seed_qa_dev.jsonl"
PYTHON = sys.executable


def percentile(values: Sequence[float], share: float) -> float:
    """The `share` percentile (0..100) by linear interpolation, as numpy does."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * share / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Iterable[float]) -> float:
    values = list(values)
    return statistics.median(values) if values else float("nan")


def ratio(value: float, reference: float) -> float:
    return value / reference if reference else float("nan")


def print_table(rows: list[dict], columns: Sequence[str] | None = None, title: str = "") -> None:
    """Print rows as an aligned text table (floats with 3 significant decimals)."""
    if not rows:
        return
    columns = list(columns or rows[0].keys())

    def cell(value) -> str:
        if isinstance(value, float):
            return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
        return str(value)

    cells = [[cell(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    if title:
        print(f"\n{title}")
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))


def print_figures(figures: dict, skip: Sequence[str] = ()) -> None:
    """The figures of a run, one `key  value` line each (what `--json` writes, for reading)."""
    shown = {key: value for key, value in figures.items() if key not in skip}
    width = max(map(len, shown), default=0)
    for key, value in shown.items():
        print(f"{key:<{width}}  {value}")


def write_json(path: Path | None, data) -> None:
    """Write `data` as JSON to `path` ("-" is stdout); nothing when path is None."""
    if path is None:
        return
    text = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    if str(path) == "-":
        print(text)
    else:
        Path(path).write_text(text + "\n", encoding="utf-8")


def machine_notes() -> dict:
    """CPU count, model name, load average and library versions, for the report."""
    import platform

    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo", encoding="utf-8")
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpus": os.cpu_count(), "cpu": cpu, "load_avg_1m": round(os.getloadavg()[0], 2),
            "python": platform.python_version()}


def rss_mb(pid: int | str = "self") -> tuple[float, float]:
    """(current RSS, peak RSS) of a process in MB, from /proc (Linux)."""
    fields = {}
    with open(f"/proc/{pid}/status", encoding="utf-8") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) / 1024
    return fields.get("VmRSS", float("nan")), fields.get("VmHWM", float("nan"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float) -> bool:
    """Poll until something accepts connections on 127.0.0.1:port; False if the process died or time ran out."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.02)
    return False


def squad_articles(path: Path, limit: int | None = None):
    """The passages of a SQuAD-style file as Articles, and its questions (qa.training.datasets's reader)."""
    from qa.training.datasets import read_squad

    squad = read_squad(path)
    articles = squad.articles[:limit] if limit else squad.articles
    docs = {a.doc for a in articles}
    return list(articles), [q for q in squad.questions if q.doc in docs]


def write_corpus_folder(articles, folder: Path) -> Path:
    """Write Articles as .txt files (title line, then text) so `build_index` can read them."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for number, article in enumerate(articles):
        (folder / f"{number:05d}.txt").write_text(f"{article.title}\n{article.text}\n", encoding="utf-8")
    return folder


def squad_index(path: Path = CMRC_DEV, encoder=None) -> Path:
    """The index of every passage of a SQuAD-style file, built once into the AluQA cache and reused."""
    from qa.api import encoder_for
    from qa.settings import Settings
    from qa.training.datasets import default_eval_index_dir, ensure_squad_index, read_squad

    squad = read_squad(path)
    settings = Settings()
    folder = default_eval_index_dir(squad, settings.cache_dir)
    ready = ensure_squad_index(squad, folder, encoder or encoder_for(settings), show_progress=True)
    if ready.built:
        print(f"built the index of {path.name} in {ready.seconds:.0f} s -> {folder}", file=sys.stderr)
    return folder


def seed_questions() -> list[str]:
    with open(SEED_QA, encoding="utf-8") as handle:
        return [json.loads(line)["question"] for line in handle if line.strip()]


def corpus_texts(corpus: Path, count: int) -> list[str]:
    """`count` texts as a build embeds them (sentences and passages, matching form) from a corpus folder,
    the folder's own texts repeated as often as needed: what the encoding benchmarks feed their encoders."""
    import numpy as np

    from embeddings.store.local import embed_units
    from embeddings.text.read import load_corpus
    from embeddings.text.split import segment_articles

    class NoVectors:
        """Only the texts of `embed_units` are wanted here, not vectors."""

        name = "none"
        dimension = 1

        def encode_documents(self, texts, show_progress=False):
            return np.zeros((len(texts), 1), dtype=np.float32)

    articles = load_corpus(corpus)
    sentences, passages = segment_articles(articles)
    units = embed_units(articles, sentences, passages, NoVectors())
    pool = units.sentence_match + units.passage_match
    return [pool[i % len(pool)] for i in range(count)]
