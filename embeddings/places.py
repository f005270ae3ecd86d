"""The default folders: the corpus and index of a fresh clone, and the user cache.

No `ALUQA_*` variable is read here or anywhere below `qa.Settings`, which is
the one reader and hands the values down as arguments; these are the values
when nothing is set. It imports nothing but the standard library, so any
stage may use it.
"""

from __future__ import annotations

import os
from pathlib import Path

# The checkout: seeds/ and index/ beside the packages are the defaults of a fresh clone.
PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_CORPUS_DIR = PROJECT_ROOT / "seeds"
DEFAULT_INDEX_DIR = PROJECT_ROOT / "index"


def user_cache_dir() -> Path:
    """Where the built model, ONNX exports and evaluation indexes go: `$XDG_CACHE_HOME/aluqa`, else `~/.cache/aluqa`.

    Read when asked for, not at import, so a process (or a test) that sets
    `XDG_CACHE_HOME` later is heard.
    """
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "aluqa"
    return Path.home() / ".cache" / "aluqa"
