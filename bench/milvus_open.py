"""What opening a Milvus store costs a page server: time and the Python memory the open store holds.

Run it on an index already written (for example the one `bench.milvus_fusion
--db` leaves), after the Milvus Lite server has started, so that only the
store's own work is measured:

    PYTHONPATH=. python -m bench.milvus_open --db /tmp/aluqa-fusion.db --repeats 3
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
from pathlib import Path

from bench.common import machine_notes, print_table, write_json


def main(argv=None) -> int:
    from embeddings.store.milvus import MilvusStore, connect

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True, help="a Milvus Lite file holding an AluQA index")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    uri = str(args.db)
    connect(uri)  # starts the Milvus Lite server: not the store's cost
    seconds = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        store = MilvusStore.open(uri)
        seconds.append(time.perf_counter() - started)
        del store
        gc.collect()
    tracemalloc.start()
    store = MilvusStore.open(uri)
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    result = {"db": uri, "sentences": store.manifest.sentences, "passages": store.manifest.passages,
              "open_s_median": round(sorted(seconds)[len(seconds) // 2], 3),
              "held_mb": round(held / 2**20, 2)}
    print_table([result], title="opening a Milvus store")
    write_json(args.json, {"result": result, "machine": machine_notes()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
