"""Document encoding throughput: the local encoder vs Ray Data with 1 and 2 workers (one CPU each).

Texts are the seed corpus's sentences and passages (matching form), cycled up
to --texts. The Ray figures include Ray Data's scheduling and the transfer
of the vectors back to the driver; the workers' start and model loading is
timed apart (`pool_start_s`, a first call of 8 texts).

    PYTHONPATH=. python -m bench.ray_throughput --texts 1024
"""

from __future__ import annotations

import argparse
import time

from bench.common import corpus_texts, machine_notes, print_table, write_json


def main(argv=None) -> int:
    import ray

    from embeddings.model.ray_encode import RayEncoder
    from qa.api import encoder_for
    from qa.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=1024)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    settings = Settings()
    texts = corpus_texts(settings.corpus_dir, args.texts)

    rows = []
    local = encoder_for(settings)  # what `aluqa build` encodes with
    local.warm_up(for_documents=True)
    started = time.perf_counter()
    local.encode_documents(texts)
    seconds = time.perf_counter() - started
    rows.append({"encoder": "local (aluqa build, every core)", "texts": len(texts), "seconds": round(seconds, 1),
                 "texts_per_s": round(len(texts) / seconds, 1)})
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        for workers in (1, 2):
            encoder = RayEncoder(settings.model, workers=workers, runtime=settings.runtime)
            started = time.perf_counter()
            encoder.encode_documents(texts[:8])  # starts the pool: ray data actors load the model
            start_s = time.perf_counter() - started
            started = time.perf_counter()
            encoder.encode_documents(texts)
            seconds = time.perf_counter() - started
            rows.append({"encoder": f"ray data, {workers} worker(s) x 1 CPU", "texts": len(texts),
                         "seconds": round(seconds, 1), "texts_per_s": round(len(texts) / seconds, 1),
                         "pool_start_s": round(start_s, 1)})
    finally:
        ray.shutdown()
    print_table(rows, title="document encoding throughput")
    write_json(args.json, {"rows": rows, "machine": machine_notes()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
