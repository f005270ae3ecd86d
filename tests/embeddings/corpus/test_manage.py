"""Removing and listing articles (`embeddings.corpus.articles`, `embeddings.corpus.catalogue`, `aluqa remove/list`), with the stub encoder."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import SEEDS, StubEncoder
from embeddings.corpus.articles import remove_articles
from embeddings.corpus.catalogue import list_corpus
from embeddings.text.read import CorpusError
from embeddings.store.local import CorpusIndex
from embeddings.corpus.lock import BuildBusyError, build_lock
from embeddings.store.manifest import Manifest

BAISE = "004_7ed03d3179984da0.txt"  # the Baise article: 2022年...总产值1045亿元


@pytest.fixture()
def folders(tmp_path, stub_index_dir):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(SEEDS, corpus)
    shutil.copytree(stub_index_dir, index)
    return corpus, index


def _ask(index, question):
    from qa import QA, Settings

    return QA(index, settings=Settings(dense_band=(0.3, 0.7), selector="off"), encoder=StubEncoder()).ask(question)


def _answer_of(reply):
    return reply.found, reply.sentence, reply.citation


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_removed_article_is_never_cited_and_the_others_answer_as_before(folders):
    corpus, index = folders
    others = ["魏桥创业集团三年关停热电厂，停运了多少台机组？", "广元市铝产业产值同比增长多少？"]
    before = [_answer_of(_ask(index, q)) for q in others]
    assert _ask(index, "2022年百色市铝产业总产值是多少？").citation.doc == BAISE

    report = remove_articles([BAISE], corpus, index, encoder=StubEncoder())

    assert report.removed == (BAISE,) and not report.refused
    assert "indexed 4 documents" in report.summary and "0 texts embedded" in report.summary
    assert not (corpus / BAISE).exists() and not any(n.startswith(".") for n in _files(corpus))
    loaded = CorpusIndex.load(index)
    assert BAISE not in loaded.articles and all(s.doc != BAISE for s in loaded.sentences)
    for question in ("2022年百色市铝产业总产值是多少？", "百色市电解铝产能占全国多少？", "Baise aluminium output value"):
        reply = _ask(index, question)
        assert all(p.doc != BAISE for p in reply.passages)
        assert not reply.found or reply.citation.doc != BAISE
    # Scores move (BM25 weights depend on the whole corpus); the answers do not.
    assert [_answer_of(_ask(index, q)) for q in others] == before


def test_unknown_name_is_refused_with_a_suggestion_and_nothing_changes(folders):
    corpus, index = folders
    files, manifest = _files(corpus), (index / "manifest.json").read_bytes()
    report = remove_articles(["004_7ed03d3179984da.txt"], corpus, index, encoder=StubEncoder())
    assert report.removed == () and report.summary == ""
    assert report.refused == (f"004_7ed03d3179984da.txt: no such article in {corpus} (did you mean {BAISE}?)",)
    assert _files(corpus) == files and (index / "manifest.json").read_bytes() == manifest


def test_a_path_outside_the_corpus_is_not_taken_for_its_name(folders, tmp_path):
    corpus, index = folders
    report = remove_articles([str(tmp_path / BAISE)], corpus, index, encoder=StubEncoder())
    assert report.removed == () and (corpus / BAISE).exists()
    report = remove_articles([str(corpus / BAISE)], corpus, index, encoder=StubEncoder())
    assert report.removed == (BAISE,)


def test_the_last_article_is_never_removed(tmp_path, stub_encoder):
    from embeddings.corpus.build import build_index

    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    shutil.copy(SEEDS / BAISE, corpus)
    build_index(corpus, index, encoder=stub_encoder)
    report = remove_articles([BAISE], corpus, index, encoder=stub_encoder)
    assert report.removed == () and "last article of the corpus" in report.refused[0]
    assert (corpus / BAISE).exists() and BAISE in CorpusIndex.load(index).articles


def test_removing_every_article_at_once_is_refused_too(folders):
    corpus, index = folders
    report = remove_articles(_files(corpus), corpus, index, encoder=StubEncoder())
    assert report.removed == () and len(report.refused) == 5
    assert all("they are all the articles" in message for message in report.refused)
    assert _files(corpus) == _files(SEEDS)


def test_a_failed_rebuild_puts_the_files_back(folders, monkeypatch):
    corpus, index = folders
    files, manifest = _files(corpus), (index / "manifest.json").read_bytes()

    def broken_build(*args, **kwargs):
        raise CorpusError("disk full")

    monkeypatch.setattr("embeddings.corpus.build.build_index", broken_build)
    with pytest.raises(CorpusError, match="disk full"):
        remove_articles([BAISE], corpus, index, encoder=StubEncoder())
    assert _files(corpus) == files and (index / "manifest.json").read_bytes() == manifest


def test_removing_while_another_build_runs_is_refused(folders):
    corpus, index = folders
    with build_lock(index):
        # Another thread stands for the page's second request; a process is tested below.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(1) as pool:
            future = pool.submit(remove_articles, [BAISE], corpus, index, encoder=StubEncoder())
            with pytest.raises(BuildBusyError, match="another build of the index .* nothing was changed"):
                future.result()
    assert (corpus / BAISE).exists()


def test_catalogue_lists_articles_with_sentence_counts_and_notes_differences(folders):
    corpus, index = folders
    (corpus / "copy.txt").write_bytes((SEEDS / BAISE).read_bytes())
    (corpus / "broken.txt").write_bytes(b"\x00\x01")
    shutil.move(str(corpus / "000_e9b847b5c34d142c.txt"), str(corpus.parent / "gone.txt"))
    entries = {e.doc: e for e in list_corpus(corpus, index)}
    loaded = CorpusIndex.load(index)
    baise = entries[BAISE]
    assert baise.indexed and baise.note == ""
    assert baise.sentences == sum(s.doc == BAISE for s in loaded.sentences) > 0
    assert (baise.title, baise.date, baise.source) == (loaded.articles[BAISE].title, loaded.articles[BAISE].date,
                                                        loaded.articles[BAISE].source)
    assert entries["copy.txt"].note == f"not indexed: same article as {BAISE}"
    assert entries["broken.txt"].note.startswith("not indexed: binary file")
    assert "gone from the corpus folder" in entries["000_e9b847b5c34d142c.txt"].note


def _cli(*args):
    from ui.cli import main

    return main(list(args))


@pytest.fixture()
def stub_model(monkeypatch):
    # The CLI loads the index's model by name; here that name is the stub's.
    monkeypatch.setattr("embeddings.model.encoder.load_encoder", lambda *args, **kwargs: StubEncoder())


def test_cli_remove_and_list(folders, stub_model, capsys):
    corpus, index = folders
    assert _cli("list", "--corpus", str(corpus), "--index", str(index)) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["FILE", "DATE", "SOURCE", "AUTHOR", "SENTENCES", "TITLE"]
    assert BAISE in out and out.rstrip().endswith(f"(corpus {corpus})")
    assert f"5 articles, {Manifest.read(index).sentences} sentences" in out

    assert _cli("remove", BAISE, "nope.txt", "--corpus", str(corpus), "--index", str(index)) == 2
    out, err = capsys.readouterr()
    assert f"removed {BAISE} from {corpus}" in out and "indexed 4 documents" in out
    assert f"aluqa remove: nope.txt: no such article in {corpus}" in err

    assert _cli("list", "--json", "--corpus", str(corpus), "--index", str(index)) == 0
    listed = json.loads(capsys.readouterr().out)
    assert BAISE not in [e["doc"] for e in listed] and len(listed) == 4
    assert set(listed[0]) == {"doc", "title", "date", "source", "sentences", "note", "author"}


def test_cli_remove_during_another_build_says_so_and_keeps_the_file(folders, stub_model, capsys):
    import subprocess
    import sys

    corpus, index = folders
    # A separate process holds the lock, as a running `aluqa build` would.
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from embeddings.corpus.lock import build_lock\n"
        f"with build_lock({str(index)!r}):\n    print('held', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert _cli("remove", BAISE, "--corpus", str(corpus), "--index", str(index)) == 4
        assert "another build of the index" in capsys.readouterr().err
        assert (corpus / BAISE).exists()
    finally:
        holder.kill()
        holder.wait()
    assert _cli("remove", BAISE, "--corpus", str(corpus), "--index", str(index)) == 0


def test_cli_list_without_an_index_names_the_fix(tmp_path, capsys):
    assert _cli("list", "--corpus", str(SEEDS), "--index", str(tmp_path / "none")) == 3
    assert "aluqa build --index" in capsys.readouterr().err


def test_what_a_killed_remove_leaves_goes_with_the_next_build_even_when_nothing_changed(folders, stub_model):
    from ui.cli.build import add_build_arguments, run_build

    corpus, index = folders
    # A remove killed after the swap: the article is set aside and the index no longer holds it.
    (corpus / BAISE).rename(corpus / f".{BAISE}.removed")
    from embeddings.corpus.build import build_index

    build_index(corpus, index, encoder=StubEncoder())
    assert not (corpus / f".{BAISE}.removed").exists()
    # Killed folders and parked files are cleaned up by a build that finds the index up to date, too.
    (corpus / ".other.txt.removed").write_text("x", encoding="utf-8")
    (corpus / ".new.txt.part").write_text("x", encoding="utf-8")
    (index.parent / f".{index.name}.tmp-123").mkdir()
    import argparse

    parser = argparse.ArgumentParser()
    add_build_arguments(parser)
    assert run_build(parser.parse_args(["--corpus", str(corpus), "--index", str(index), "--model", stub_model])) == 0
    assert not [p.name for p in corpus.iterdir() if p.name.startswith(".")]
    assert not list(index.parent.glob(f".{index.name}.tmp-*"))


def test_adding_again_an_article_a_killed_add_left_unindexed_indexes_it(folders, tmp_path):
    from embeddings.corpus.articles import add_articles

    corpus, index = folders
    article = tmp_path / "new.txt"
    article.write_text("新闻标题\n\n2023年,某市铝产业总产值达到987亿元,同比增长12%。", encoding="utf-8")
    shutil.copy(article, corpus / "new.txt")  # the copy a killed add left, never indexed
    report = add_articles([article], corpus, index, encoder=StubEncoder())
    assert report.present and report.summary
    assert "new.txt" in CorpusIndex.load(index).articles
    # Asked once more, with the index now current: nothing to do.
    assert not add_articles([article], corpus, index, encoder=StubEncoder()).summary
