"""What the command line prints and returns for each error the stages raise: one table for every command.

Exit codes (README, "The command line"):
    0  done;
    2  what was asked cannot be done as asked (an unaskable question, a bad option, an
       unreadable article or data file, a Ray cluster address that cannot be reached, an
       `ALUQA_*` variable that is not understood);
       the rest of a batch was done;
    3  the index could not be read or written (missing, damaged, another model, Milvus
       unreachable): nothing changed;
    4  another build holds the index (try again when it has finished): nothing changed.
"""

from __future__ import annotations

import sys

USAGE, INDEX, BUSY = 2, 3, 4


def _table() -> tuple[tuple[type, int], ...]:
    # Read when an error is reported, so `aluqa --help` imports none of the stages.
    from embeddings.corpus.lock import BuildBusyError
    from embeddings.model.encoder import EncoderError
    from embeddings.model.ray_encode import RayClusterError  # imports no Ray
    from embeddings.store import StoreSpecError
    from embeddings.store.manifest import IndexLoadError
    from embeddings.text.read import CorpusError
    from qa.api import QuestionError
    from qa.settings import SettingsError
    from qa.training.datasets import EvalError

    # Most specific first: a StoreSpecError is an IndexLoadError, but a bad option.
    return ((BuildBusyError, BUSY), (StoreSpecError, USAGE), (IndexLoadError, INDEX), (CorpusError, USAGE),
            (QuestionError, USAGE), (EvalError, USAGE), (RayClusterError, USAGE), (SettingsError, USAGE),
            (EncoderError, USAGE))


def handled() -> tuple[type, ...]:
    """The error types a command reports with `fail` (anything else is a bug and keeps its traceback)."""
    return tuple(kind for kind, _ in _table())


def exit_code(error: BaseException) -> int:
    return next((code for kind, code in _table() if isinstance(error, kind)), USAGE)


def fail(command: str, error: BaseException | str, code: int | None = None, context: str = "") -> int:
    """Print `aluqa COMMAND: [context: ]message` on stderr and return the exit code of the error.

    `code` overrides the table for a message that is not an error of a stage (a bad option
    value found by the command itself: USAGE).
    """
    print(f"aluqa {command}: {context + ': ' if context else ''}{error}", file=sys.stderr)
    if code is not None:
        return code
    return exit_code(error) if isinstance(error, BaseException) else USAGE
