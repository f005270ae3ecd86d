"""The Milvus store (Milvus Lite files here) against the local index: same answers, per-article updates, clear errors."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, SEEDS, load_seed_qa
from embeddings.store.manifest import IndexMismatchError, IndexMissingError
from embeddings.store import StoreSpec, StoreSpecError, parse_store

BAISE = "004_7ed03d3179984da0.txt"
BAISE_QUESTION = "2022年百色市铝产业总产值是多少？"


def test_store_specs_parse_and_a_bad_one_says_what_is_accepted():
    assert parse_store(None) == parse_store("") == StoreSpec("local")
    assert parse_store("milvus:./aluqa.db") == StoreSpec("milvus", "./aluqa.db")
    assert parse_store("milvus:http://host:19530") == StoreSpec("milvus", "http://host:19530")
    assert parse_store("local").kind == "local"
    for bad in ("milvus:", "faiss", "milvus"):
        with pytest.raises(StoreSpecError, match="milvus:URI"):
            parse_store(bad)


def test_tokens_survive_the_milvus_analyzer_encoding():
    from embeddings.store.milvus import decode_tokens, encode_tokens

    tokens = ["铝产业", "2022", "80%", "3.5", "电解铝", "ａｌ"]
    text = encode_tokens(tokens)
    # One ASCII word per token: Milvus's standard analyzer keeps each whole.
    assert text.isascii() and len(text.split()) == len(tokens) and all(w.isalnum() for w in text.split())
    assert decode_tokens(text) == tokens


def _ask_all(qa, items):
    return [(r.found, r.sentence, r.citation.doc if r.citation else None)
            for r in (qa.ask(item["question"]) for item in items)]


@pytest.fixture(scope="module")
def stub_milvus(tmp_path_factory, stub_encoder):
    from embeddings.corpus.build import build_index

    uri = str(tmp_path_factory.mktemp("milvus") / "seeds.db")
    build_index(SEEDS, tmp_path_factory.mktemp("unused"), encoder=stub_encoder, store=f"milvus:{uri}")
    return uri


@pytest.mark.slow
def test_milvus_answers_the_seed_set_like_the_local_index_stub(stub_milvus, stub_qa, stub_encoder):
    from qa import QA

    items = load_seed_qa()
    milvus = QA(settings=stub_qa.settings.with_(store=f"milvus:{stub_milvus}"), encoder=stub_encoder)
    local, remote = _ask_all(stub_qa, items), _ask_all(milvus, items)
    same = sum(a == b for a, b in zip(local, remote))
    assert same >= len(items) - 1, [(i["id"], a, b) for i, a, b in zip(items, local, remote) if a != b]
    assert milvus.index.manifest.vector_index.startswith("milvus HNSW")
    # The IDF the answerer weighs question words by: Milvus's terms table counts as bm25s does.
    vocabulary = sorted(milvus.index.vocabulary())
    assert set(vocabulary) == set(stub_qa.index.vocabulary()) - {""}
    assert milvus.index.document_frequencies(vocabulary) == stub_qa.index.document_frequencies(vocabulary)


@pytest.mark.slow
def test_a_question_fetches_only_the_units_it_reads(stub_milvus, stub_qa, stub_encoder, monkeypatch):
    from embeddings.store import PASSAGES, SENTENCES
    from qa import QA

    qa = QA(settings=stub_qa.settings.with_(store=f"milvus:{stub_milvus}"), encoder=stub_encoder)
    store = qa.index  # opening reads the manifest and the row counts, none of the rows
    reads = []
    fetch = store.client.get
    monkeypatch.setattr(store.client, "get", lambda name, ids, **kw: reads.append((name, len(ids)))
                        or fetch(name, ids=ids, **kw))
    reply = qa.ask(BAISE_QUESTION)
    assert reply.found and "1045亿元" in reply.sentence
    fetched = {name: sum(n for kind, n in reads if kind == name) for name in ("aluqa_sentences", "aluqa_passages")}
    # The answer candidates and the sentences beside them, and the passages ranked: a part of the index.
    candidates = stub_qa.settings.answer_candidates
    assert 0 < fetched["aluqa_sentences"] <= 3 * candidates < store.count(SENTENCES)
    assert 0 < fetched["aluqa_passages"] < store.count(PASSAGES)


@pytest.mark.slow
def test_a_collection_built_with_another_model_is_refused(stub_milvus):
    from embeddings.store.milvus import MilvusStore

    with pytest.raises(IndexMismatchError, match="built with model 'stub-char-bigrams', not 'other-model'"):
        MilvusStore.open(stub_milvus, expected_model="other-model")


@pytest.mark.slow
def test_adding_changing_and_removing_an_article_touches_only_its_rows(tmp_path, stub_encoder):
    from embeddings.corpus.build import build_index
    from embeddings.store.milvus import MilvusStore
    from qa import QA, Settings

    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    (corpus / BAISE).unlink()
    uri, store = str(tmp_path / "a.db"), f"milvus:{tmp_path / 'a.db'}"
    first = build_index(corpus, tmp_path / "unused", encoder=stub_encoder, store=store)
    assert first.documents == 4 and first.reused == 0
    settings = Settings(dense_band=(0.3, 0.7), store=store)

    def cited_docs():
        qa = QA(settings=settings, encoder=stub_encoder)
        trace = qa.trace(BAISE_QUESTION)
        return qa.index, trace.answer, {p.passage.doc for p in trace.retrieval.passages}

    def stored_texts(index):
        from embeddings.store.milvus import collection, scan_rows

        return [(row["doc"], row["text"]) for row in scan_rows(index.client, collection("sentences"), ["doc", "text"])]

    def frequencies(index):
        vocabulary = sorted(index.vocabulary())
        return index.document_frequencies(vocabulary)

    index, reply, docs = cited_docs()
    assert BAISE not in index.sentence_counts() and BAISE not in docs
    first_frequencies = frequencies(index)
    assert first_frequencies[1] == first.sentences and min(first_frequencies[0].values()) >= 1

    shutil.copy(SEEDS / BAISE, corpus / BAISE)
    added = build_index(corpus, tmp_path / "unused", encoder=stub_encoder, store=store)
    baise_units = added.sentences + added.passages - first.sentences - first.passages
    assert added.embedded == baise_units > 0, "only the new article is embedded"
    assert added.reused == first.sentences + first.passages, "the other articles' rows stay"
    index, reply, docs = cited_docs()
    assert reply.found and reply.citation.doc == BAISE and "1045亿元" in reply.sentence

    # A changed article: its rows are replaced (the old text is no longer found).
    text = (corpus / BAISE).read_text(encoding="utf-8").replace("1045亿元", "1046亿元")
    (corpus / BAISE).write_text(text, encoding="utf-8")
    changed = build_index(corpus, tmp_path / "unused", encoder=stub_encoder, store=store)
    assert changed.embedded == baise_units and changed.sentences == added.sentences
    index, reply, docs = cited_docs()
    assert "1046亿元" in reply.sentence and not any("1045亿元" in text for _, text in stored_texts(index))

    (corpus / BAISE).unlink()
    removed = build_index(corpus, tmp_path / "unused", encoder=stub_encoder, store=store)
    assert removed.embedded == 0 and (removed.sentences, removed.passages) == (first.sentences, first.passages)
    index, reply, docs = cited_docs()
    assert BAISE not in {a.doc for a in index.iter_articles()} and BAISE not in docs
    assert not reply.found or reply.citation.doc != BAISE
    assert all(doc != BAISE for doc, _ in stored_texts(MilvusStore.open(uri)))
    # The IDF table, kept up to date article by article, is again that of the four articles alone.
    assert frequencies(index) == first_frequencies


def test_cli_list_and_remove_work_on_a_milvus_index(tmp_path, stub_encoder, monkeypatch, capsys):
    from embeddings.corpus.build import build_index
    from embeddings.store.milvus import MilvusStore
    from ui.cli import main

    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    store = f"milvus:{tmp_path / 'a.db'}"
    build_index(corpus, tmp_path / "unused", encoder=stub_encoder, store=store)
    # The CLI loads the index's model by name; here that name is the stub's.
    monkeypatch.setattr("embeddings.model.encoder.load_encoder", lambda *args, **kwargs: stub_encoder)
    options = ["--corpus", str(corpus), "--index", str(tmp_path / "unused"), "--store", store]
    assert main(["list", *options]) == 0
    out = capsys.readouterr().out
    assert BAISE in out and "5 articles" in out and f"in the index at {store}" in out
    assert main(["remove", BAISE, *options]) == 0
    assert f"removed {BAISE}" in capsys.readouterr().out
    assert BAISE not in MilvusStore.open(str(tmp_path / "a.db")).sentence_counts() and not (corpus / BAISE).exists()
    assert not (tmp_path / "unused").exists(), "nothing is written to the local index folder"


def _cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "qa", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout)


@pytest.mark.slow
def test_unreachable_milvus_and_missing_index_give_one_clear_line(tmp_path):
    result = _cli("ask", "--store", "milvus:http://127.0.0.1:9", BAISE_QUESTION)
    assert result.returncode == 3
    assert "cannot reach Milvus at http://127.0.0.1:9" in result.stderr and "Traceback" not in result.stderr
    result = _cli("ask", "--store", f"milvus:{tmp_path / 'empty.db'}", BAISE_QUESTION)
    assert result.returncode == 3 and "Traceback" not in result.stderr
    assert f"build it with: aluqa build --store milvus:{tmp_path / 'empty.db'}" in result.stderr
    assert not (tmp_path / "empty.db").exists(), "asking must not leave an empty Milvus Lite file behind"
    result = _cli("build", "--corpus", str(SEEDS), "--store", "milvus:/nonexistent/dir/a.db")
    assert result.returncode == 3 and "cannot reach Milvus at /nonexistent/dir/a.db" in result.stderr
    assert "no folder /nonexistent/dir" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_milvus_file_without_the_collections_is_no_index(tmp_path):
    from embeddings.store.milvus import MilvusStore, connect

    connect(str(tmp_path / "empty.db"))  # creates the Milvus Lite file, with no collection
    assert (tmp_path / "empty.db").exists()
    with pytest.raises(IndexMissingError, match="no AluQA index in Milvus"):
        MilvusStore.open(str(tmp_path / "empty.db"))


@pytest.mark.slow
def test_an_index_of_an_earlier_store_format_is_refused_with_the_rebuild_command(tmp_path, stub_encoder):
    from embeddings.corpus.build import build_index
    from embeddings.store.milvus import MilvusStore, collection, connect

    uri = str(tmp_path / "old.db")
    build_index(SEEDS, tmp_path / "unused", encoder=stub_encoder, store=f"milvus:{uri}")
    connect(uri).drop_collection(collection("terms"))  # what a format-1 index lacks
    with pytest.raises(IndexMismatchError, match=f"rebuild it with: aluqa build --full --store milvus:{uri}"):
        MilvusStore.open(uri)
    report = build_index(SEEDS, tmp_path / "unused", encoder=stub_encoder, store=f"milvus:{uri}", incremental=False)
    assert MilvusStore.open(uri).count("sentences") == report.sentences > 0


@pytest.mark.slow
def test_real_model_milvus_gives_the_local_answers_on_the_seed_set(tmp_path, real_qa):
    """The acceptance check of the Milvus store: the seed dev set, real model, Milvus Lite vs the local index."""
    from embeddings.corpus.build import build_index
    from qa import QA

    store = f"milvus:{tmp_path / 'seeds.db'}"
    report = build_index(SEEDS, tmp_path / "unused", encoder=real_qa.retriever.encoder, store=store)
    assert (report.sentences, report.passages) == (len(real_qa.index.sentences), len(real_qa.index.passages))
    milvus = QA(settings=real_qa.settings.with_(store=store), encoder=real_qa.retriever.encoder)
    items = load_seed_qa()
    local, remote = _ask_all(real_qa, items), _ask_all(milvus, items)
    same = sum(a == b for a, b in zip(local, remote))
    assert same >= len(items) - 1, [(i["id"], a, b) for i, a, b in zip(items, local, remote) if a != b]
    reply = milvus.ask(BAISE_QUESTION)
    assert reply.found and "1045亿元" in reply.sentence and reply.citation.doc == BAISE
