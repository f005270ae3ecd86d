"""One build of an index at a time, across threads and processes, and the leftovers of killed builds."""

from __future__ import annotations

import logging
import os
import shutil
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

try:
    import fcntl
except ImportError:  # not a POSIX system: only the in-process lock applies
    fcntl = None

from embeddings.store.manifest import IndexLoadError

logger = logging.getLogger(__name__)

_GUARD = threading.Lock()
_HELD: dict[Path, int] = {}  # index folders this process is building, to the thread building each
_THREAD_LOCKS: dict[Path, threading.Lock] = {}


class BuildBusyError(IndexLoadError):
    """Another build of the same index is running; nothing was changed.

    An IndexLoadError too: a question that needs the index rebuilt first (the
    default index after its corpus changed) gets this message, not a crash.
    """


def lock_path(index_dir: Path) -> Path:
    """The lock file of an index: a hidden sibling, since the index folder itself is swapped by each build.

    It is never deleted: removing a lock file lets two processes lock two different files.
    """
    index_dir = Path(index_dir)
    return index_dir.parent / f".{index_dir.name}.lock"


def _key(index_dir: Path) -> Path:
    return Path(os.path.abspath(index_dir))


@contextmanager
def build_lock(index_dir: Path | str) -> Iterator[None]:
    """Hold the build lock of `index_dir`, or raise BuildBusyError at once when another build holds it.

    Re-entrant within a thread, so that adding articles (which holds the lock
    while it writes files) can call `build_index` (which takes it too).
    Another thread of this process, or another process, gets BuildBusyError
    rather than waiting: a person who asked for a change is told the index is
    busy instead of facing a page or command that hangs for minutes.
    """
    key = _key(Path(index_dir))
    me = threading.get_ident()
    with _GUARD:
        if _HELD.get(key) == me:
            owner_is_me = True
        else:
            owner_is_me = False
            thread_lock = _THREAD_LOCKS.setdefault(key, threading.Lock())
    if owner_is_me:
        yield
        return
    if not thread_lock.acquire(blocking=False):
        raise BuildBusyError(f"another build of the index at {index_dir} is running in this program; "
                             "nothing was changed, try again when it has finished")
    handle = None
    try:
        if fcntl is not None:
            path = lock_path(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(path, "a+b")
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise BuildBusyError(f"another build of the index at {index_dir} is running (another "
                                     "`aluqa` command or page); nothing was changed, try again when it "
                                     "has finished") from None
        with _GUARD:
            _HELD[key] = me
        try:
            yield
        finally:
            with _GUARD:
                _HELD.pop(key, None)
    finally:
        if handle is not None:
            handle.close()  # closing releases the flock
        thread_lock.release()


def remove_leftovers(index_dir: Path | str) -> list[str]:
    """Delete the temporary folders that killed builds of `index_dir` left beside it.

    A build writes into `.NAME.tmp-*` and may park the previous index in
    `.NAME.old-*`; a SIGKILL leaves them behind. Call this only while holding
    `build_lock(index_dir)`: then no build is running that could still own one.

    Returns:
        The names of the folders removed.
    """
    index_dir = Path(index_dir)
    if not index_dir.parent.is_dir():
        return []
    removed = []
    for prefix in (f".{index_dir.name}.tmp-", f".{index_dir.name}.old-"):
        for path in index_dir.parent.glob(prefix + "*"):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
                logger.info("removed %s, left by a build that did not finish", path)
                removed.append(path.name)
    return removed


# What a killed add or remove leaves in the corpus folder: a copy being written
# (`.NAME.part`) and an article set aside until the index without it is in place
# (`.NAME.removed`). Both are hidden, so no build reads them.
CORPUS_LEFTOVER_SUFFIXES = (".part", ".removed")


def remove_corpus_leftovers(corpus_dir: Path | str) -> list[str]:
    """Delete the hidden files killed adds and removes left in the corpus folder.

    Call this only while holding the build lock, once the index reflects the
    corpus without them: an article set aside by a killed remove is then
    removed for good (the remove is finished), and a half-written copy of a
    killed add is dropped (that add did not happen).

    Returns:
        The names of the files removed.
    """
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        return []
    removed = []
    for path in corpus_dir.glob(".*"):
        if path.is_file() and not path.is_symlink() and path.name.endswith(CORPUS_LEFTOVER_SUFFIXES):
            path.unlink(missing_ok=True)
            logger.info("removed %s, left by an add or remove that did not finish", path)
            removed.append(path.name)
    return removed
