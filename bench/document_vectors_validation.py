"""What int8 document vectors do to the answer selector's validation figures, against fp32 ones, in one run.

For each training file, the validation articles' questions (answerable, near
misses; retrieval misses are made from them as the training command does)
are retrieved twice, as a served question is: once from the file's index built
with the default model (fp32 document vectors) and once from an index built
with `INT8_DOCUMENTS_MODEL` (int8 document vectors, one text per pass);
questions are encoded as the default settings encode them (`Settings.int8`).
Both candidate sets are scored by the shipped selector (the torch module the
training command scores validation with) and decided with the shipped card
(`train_selector.figures`), so the difference is the document vectors' alone.

    PYTHONPATH=. python -m bench.document_vectors_validation --json /tmp/int8-docs-validation.json

Builds the int8 indexes once in the cache (`eval-index/<file>-<hash>-onnx-int8`);
about half an hour on two cores, most of it making near misses and the indexes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench.common import SHARED, machine_notes, write_json


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED / "data", help="folder holding the training files")
    parser.add_argument("--json", default=None, help="also write the figures as JSON here ('-': stdout)")
    parser.add_argument("--seed", type=int, default=13, help="the training command's seed (its near misses)")
    args = parser.parse_args(argv)

    from embeddings.model.build import INT8_DOCUMENTS_MODEL
    from qa.api import encoder_for
    from qa.settings import Settings
    from qa.training import train_selector as ts
    from qa.training.datasets import default_eval_index_dir, read_squad

    settings = Settings()
    config, tokenize, pieces, module = ts.shipped_scorer(settings.cache_dir)

    encoders = {"fp32 documents": encoder_for(settings),
                "int8 documents": encoder_for(settings, INT8_DOCUMENTS_MODEL)}
    result = {"selector": config.version, "machine": machine_notes(), "figures": {}, "candidates_same": {}}
    groups = {name: [] for name in encoders}
    for file_name in ts.TRAINING_FILES:
        path = args.data / file_name
        squad = read_squad(path)
        for name, encoder in encoders.items():
            folder = default_eval_index_dir(squad, settings.cache_dir)
            if encoder.name == INT8_DOCUMENTS_MODEL:
                folder = folder.with_name(folder.name + "-onnx-int8")
            print(f"{file_name}: {name}", file=sys.stderr, flush=True)
            groups[name] += ts.collect(path, args.seed, encoder=encoder, index_dir=folder, validation_only=True)
    for name, rows in groups.items():
        rows += ts.retrieval_misses(rows, ts.RETRIEVAL_MISS_SHARE, args.seed + 1)
        logits, _ = ts.score_groups(module, rows, tokenize, pieces, config)
        result["figures"][name] = ts.figures(rows, logits, config)
    first, second = groups.values()
    result["candidates_same"] = {"questions": len(first),
                                 "same_sentences_read": sum(
                                     [c.sentence for c in a.candidates[:config.candidates]]
                                     == [c.sentence for c in b.candidates[:config.candidates]]
                                     for a, b in zip(first, second))}
    print(json.dumps(result["figures"], indent=1))
    print(json.dumps(result["candidates_same"]))
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
