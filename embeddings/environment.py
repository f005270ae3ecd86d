"""The one reader of the `ALUQA_*` environment variables.

Each is read when asked for, not at import, so a process (or a test) that sets one later is
heard. `qa.Settings` takes its defaults from here; the stages below it ask here directly. It
imports nothing but the standard library, so anything may use it.
"""

from __future__ import annotations

import os
from pathlib import Path


# The checkout: seeds/ and index/ beside the packages are the defaults of a fresh clone.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def default_corpus_dir() -> Path:
    """`ALUQA_CORPUS_DIR`, else the project's `seeds/`."""
    return corpus_dir() or PROJECT_ROOT / "seeds"


def default_index_dir() -> Path:
    """`ALUQA_INDEX_DIR`, else the project's `index/`."""
    return index_dir() or PROJECT_ROOT / "index"


def _value(name: str) -> str | None:
    """The variable's value with surrounding blanks removed; None when unset or blank."""
    value = os.environ.get(name, "").strip()
    return value or None


def corpus_dir() -> Path | None:
    """`ALUQA_CORPUS_DIR`: the corpus folder."""
    value = _value("ALUQA_CORPUS_DIR")
    return Path(value).expanduser() if value else None


def index_dir() -> Path | None:
    """`ALUQA_INDEX_DIR`: the index folder."""
    value = _value("ALUQA_INDEX_DIR")
    return Path(value).expanduser() if value else None


def cache_dir() -> Path | None:
    """`ALUQA_CACHE_DIR`: where the built model, ONNX exports and vector cache live."""
    value = _value("ALUQA_CACHE_DIR")
    return Path(value).expanduser() if value else None


def model() -> str | None:
    """`ALUQA_MODEL`: the embedding model's name or folder."""
    return _value("ALUQA_MODEL")


def store() -> str | None:
    """`ALUQA_STORE`: `local` or `milvus:URI`."""
    return _value("ALUQA_STORE")


def runtime() -> str | None:
    """`ALUQA_RUNTIME`: how texts are encoded (auto, onnx, torch)."""
    return _value("ALUQA_RUNTIME")


def selector() -> str | None:
    """`ALUQA_SELECTOR`: `trained` or `off`."""
    return _value("ALUQA_SELECTOR")


def int8() -> str | None:
    """`ALUQA_INT8`: which models answer with their int8 variant (`none`, `all`, or e.g. `selector,query`)."""
    return _value("ALUQA_INT8")


def api_key() -> str | None:
    """`ALUQA_API_KEY`: the key `/v1` asks for."""
    return _value("ALUQA_API_KEY")
