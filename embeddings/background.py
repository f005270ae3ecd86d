"""Start-up work that runs in a thread while the process does something else.

A question process spends most of its first second loading things: jieba's
dictionary, the subword vocabulary, ONNX Runtime sessions. Some of those
release the GIL (SentencePiece, ONNX Runtime), so on two cores they overlap
with the rest for real; the others at least overlap with file reads.
"""

from __future__ import annotations

import threading
from typing import Callable


class BackgroundTask:
    """Run `work()` in a daemon thread at once; `join()` waits for it and raises what it raised.

    An error is kept for `join()` rather than printed by the thread, so the
    caller reports it the way it reports any other (one message, no traceback).
    """

    def __init__(self, work: Callable[[], object], name: str):
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(work,), name=name, daemon=True)
        self._thread.start()

    def _run(self, work: Callable[[], object]) -> None:
        try:
            work()
        except BaseException as exc:  # handed to join()
            self._error = exc

    def join(self) -> None:
        self._thread.join()
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def wait(self) -> None:
        """Wait for the work to end, keeping any error it raised for `join()`.

        For work whose result turned out to be unneeded: a process must not exit
        while the thread is inside native code (an ONNX Runtime session being
        created), which aborts it (exit 134) after everything else succeeded.
        """
        self._thread.join()
