"""A rebuild killed with SIGKILL leaves the previous index loadable and answering identically.

Each test copies the session's stub index of seeds/, then starts a child
Python process that rebuilds that same folder from a different corpus with a
stub encoder, pauses it at a chosen point (while encoding, right after a file
of the new index is written, just before the swap, between the two renames of
the swap), kills it with SIGKILL there and looks at what is left.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import ROOT, SEEDS, StubEncoder
from embeddings.store.local import CorpusIndex, corpus_hash
from embeddings.corpus.lock import lock_path
from embeddings.store.manifest import IndexLoadError

QUESTIONS = (
    "2022年百色市铝产业总产值是多少？",
    "魏桥创业集团三年关停热电厂，停运了多少台机组？",
    "广元铝产业产值同比增长多少？",
    "百色市2021年铝产业总产值是多少？",
)
CHILD = textwrap.dedent('''
    import os, sys, time
    from pathlib import Path

    sys.path[:0] = [sys.argv[5], sys.argv[6]]  # the project, its tests/ (for StubEncoder)
    from conftest import StubEncoder
    from embeddings.corpus.build import build_index

    corpus, index, marker, where = sys.argv[1:5]

    real_replace = os.replace

    def pause(label):
        Path(marker + ".part").write_text(label, encoding="utf-8")
        real_replace(marker + ".part", marker)  # the marker appears whole
        time.sleep(300)  # the test kills us here

    class SlowEncoder(StubEncoder):
        name = "slow-stub"  # another model: an embedding cache of the old index is not used

        def encode_documents(self, texts, show_progress=False):
            if where == "encoding":
                pause("encoding")
            return super().encode_documents(texts, show_progress)

    if where == "writing":
        import faiss
        write_index = faiss.write_index

        def slow_write(vectors, path):
            write_index(vectors, path)
            pause("writing " + path)

        faiss.write_index = slow_write
    elif where == "before-swap":
        import embeddings.store.local as index_module
        swap = index_module._swap_into_place

        def slow_swap(new, target):
            pause("before-swap")
            swap(new, target)

        index_module._swap_into_place = slow_swap
    elif where == "after-exchange":
        import embeddings.store.local as index_module
        exchange = index_module._exchange

        def slow_exchange(a, b):
            done = exchange(a, b)
            pause("after-exchange" if done else "after-exchange unavailable")
            return done

        index_module._exchange = slow_exchange
    elif where == "mid-swap":
        import embeddings.store.local as index_module
        index_module._exchange = lambda a, b: False  # the fallback of systems without an atomic exchange

        def slow_replace(src, dst):
            real_replace(src, dst)
            if Path(src) == Path(index):  # the old index was just moved aside
                pause("mid-swap")

        os.replace = slow_replace

    build_index(Path(corpus), Path(index), encoder=SlowEncoder())
    Path(marker).write_text("finished", encoding="utf-8")
''')


def _qa(folder: Path):
    from qa import QA, Settings

    return QA(folder, settings=Settings(dense_band=(0.3, 0.7), selector="off"), encoder=StubEncoder())


def _answers(folder: Path) -> list[dict]:
    qa = _qa(folder)
    return [qa.ask(question).to_dict() for question in QUESTIONS]


def _fingerprint(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def before(stub_index_dir):
    """The answers of the intact stub index, once per module."""
    return _answers(stub_index_dir)


@pytest.fixture
def setup(stub_index_dir, tmp_path):
    """An index folder (copy of the stub index) and a different corpus to rebuild it from."""
    index = tmp_path / "work" / "index"
    shutil.copytree(stub_index_dir, index)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for path in sorted(SEEDS.glob("*.txt"))[:4]:  # 004 (Baise) left out
        shutil.copy(path, corpus / path.name)
    (corpus / "new.txt").write_text("新华社讯:某市2024年铝产业总产值为2000亿元。\n", encoding="utf-8")
    script = tmp_path / "child.py"
    script.write_text(CHILD, encoding="utf-8")
    return index, corpus, script


def _kill_build_at(where: str, index: Path, corpus: Path, script: Path, must_reach: bool = True) -> bool:
    """Run the child build, wait until it pauses at `where`, SIGKILL it.

    Returns False when the build finished without passing `where` (only
    allowed with must_reach=False).
    """
    marker = script.with_name(f"marker-{where}")
    log = script.with_name(f"child-{where}.log")
    with open(log, "wb") as output:  # a file, not a pipe: a chatty child never blocks
        child = subprocess.Popen([sys.executable, str(script), str(corpus), str(index), str(marker), where,
                                  str(ROOT), str(ROOT / "tests")],
                                 stdout=output, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            if child.poll() is not None:
                if not must_reach and child.returncode == 0:
                    return False
                output = log.read_text(encoding="utf-8", errors="replace")[-2000:]
                pytest.fail(f"the build ended before reaching {where}: {output}")
            if time.monotonic() > deadline:
                pytest.fail(f"the build did not reach {where} within 120 s")
            time.sleep(0.05)
        assert marker.read_text(encoding="utf-8").startswith(where)
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
        return True
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)


def _leftovers(index: Path) -> list[Path]:
    # The build's lock file stays beside the index by design (see embeddings/corpus/lock.py).
    return sorted(p for p in index.parent.iterdir() if p not in (index, lock_path(index)))


@pytest.mark.parametrize("where", ["encoding", "writing", "before-swap"])
def test_killed_rebuild_leaves_the_previous_index_answering_identically(where, setup, before):
    index, corpus, script = setup
    files_before = _fingerprint(index)
    # Had the build finished, the index would hold another corpus.
    from embeddings.text.read import load_corpus

    assert corpus_hash(load_corpus(corpus)) != CorpusIndex.load(index).manifest.corpus_hash

    _kill_build_at(where, index, corpus, script)

    assert _fingerprint(index) == files_before, "not one byte of the previous index changed"
    assert _answers(index) == before
    for leftover in _leftovers(index):
        # Only a hidden temporary sibling can be left; nothing ever loads it in
        # place of the index (the index folder is always named explicitly).
        assert leftover.name.startswith(f".{index.name}.tmp-"), leftover.name
        if where == "writing":
            with pytest.raises(IndexLoadError, match="aluqa build"):
                CorpusIndex.load(leftover)  # no manifest yet: never taken for an index
    if where != "encoding":
        assert _leftovers(index), "SIGKILL leaves the temporary folder behind (see docs/reliability.md)"


def test_a_rebuild_after_a_killed_one_succeeds(setup):
    from embeddings.corpus.build import build_index

    index, corpus, script = setup
    _kill_build_at("writing", index, corpus, script)
    assert _leftovers(index), "the killed build left its temporary folder"
    report = build_index(corpus, index, encoder=StubEncoder())
    assert report.documents == 5
    loaded = CorpusIndex.load(index)
    assert "new.txt" in loaded.articles and "004_7ed03d3179984da0.txt" not in loaded.articles
    assert _leftovers(index) == [], "the next build removes what the killed one left"


def test_kill_right_after_the_atomic_exchange_leaves_the_new_index_in_place(setup):
    """The swap exchanges the two folders in one step: killed just after, the new index is complete."""
    index, corpus, script = setup
    _kill_build_at("after-exchange", index, corpus, script)
    if script.with_name("marker-after-exchange").read_text(encoding="utf-8").endswith("unavailable"):
        pytest.skip("this file system has no atomic exchange (renameat2 RENAME_EXCHANGE)")
    loaded = CorpusIndex.load(index)
    assert "new.txt" in loaded.articles and "004_7ed03d3179984da0.txt" not in loaded.articles
    # The previous index, now in the temporary folder, is what is left behind.
    assert [p.name.startswith(f".{index.name}.tmp-") for p in _leftovers(index)] == [True]


def test_kill_between_the_two_renames_of_the_fallback_swap(setup, before):
    """Where there is no atomic exchange the swap is two renames (old aside, new in).

    A kill between them leaves no index at the folder. The window is two system
    calls wide, so it is forced here. What is left is recoverable: loading says
    which command fixes it, and the previous index is intact beside the folder
    as `.index.old-<pid>`.
    """
    index, corpus, script = setup
    files_before = _fingerprint(index)
    if not _kill_build_at("mid-swap", index, corpus, script, must_reach=False):
        pytest.skip("the swap no longer moves the old index aside before moving the new one in")
    olds = [p for p in _leftovers(index) if p.name.startswith(f".{index.name}.old-")]
    assert len(olds) == 1 and _fingerprint(olds[0]) == files_before
    if index.exists():
        assert _answers(index) == before
        return
    # Where renameat2(RENAME_EXCHANGE) is unavailable, a kill between the two renames leaves
    # no index at the folder (docs/reliability.md): loading names the command that fixes it,
    # and that command (the next `aluqa build`) brings an index back and removes the old one.
    with pytest.raises(IndexLoadError, match="aluqa build --index"):
        CorpusIndex.load(index)
    from embeddings.corpus.build import update_index
    from embeddings.text.read import load_corpus

    update_index(corpus, index, encoder=StubEncoder())
    assert CorpusIndex.load(index).manifest.corpus_hash == corpus_hash(load_corpus(corpus))
    assert not [p for p in _leftovers(index) if p.name.startswith(f".{index.name}.")]


def test_every_kill_point_of_add_remove_and_full_build_is_healed_by_the_next_build():
    """bench/kill_points.py once over its 12 cases (4 kill points x add, remove, build --full):
    each child dies at its point, and after the next `aluqa build` corpus and index agree,
    nothing hidden is left and the index answers."""
    from bench.kill_points import COMMANDS, POINTS, run

    figures = run(repetitions=1)
    assert figures["problems"] == 0, figures["problem_examples"]
    assert figures["outcomes"] == {f"{c}@{p}: killed": 1 for c in COMMANDS for p in POINTS}
