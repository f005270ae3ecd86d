"""Incremental builds: only new or changed texts are embedded, and nothing stale stays retrievable."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from embeddings.corpus.build import build_index
from embeddings.store.cache import CACHE_DIR, KEYS_FILE, EmbeddingCache, text_key
from embeddings.text.read import read_article
from embeddings.store.local import CorpusIndex, passage_embedding_text
from embeddings.text.normalize import normalize
from embeddings.text.split import segment_articles
from conftest import StubEncoder
from qa import QA, Settings

SEEDS = Path(__file__).resolve().parents[3] / "seeds"
BAISE = "004_7ed03d3179984da0.txt"  # the article that answers QUESTION
QUESTION = "2022年百色市铝产业总产值是多少？"


class CountingEncoder:
    """The stub encoder, recording every document text it is asked to embed."""

    def __init__(self, inner):
        self.inner = inner
        self.name = inner.name
        self.documents: list[str] = []
        self.dimension_reads = 0

    @property
    def dimension(self) -> int:
        # Asking a real model its dimension loads it: a no-op build must not.
        self.dimension_reads += 1
        return self.inner.dimension

    def encode_queries(self, texts):
        return self.inner.encode_queries(texts)

    def encode_documents(self, texts, show_progress=False):
        self.documents.extend(texts)
        return self.inner.encode_documents(texts)


def embedded_texts(path: Path) -> set[str]:
    """What the index embeds for one article file: its sentences and (titled) passages."""
    article = read_article(path)
    sentences, passages = segment_articles([article])
    return ({normalize(s.text) for s in sentences}
            | {passage_embedding_text(article, normalize(p.text)) for p in passages})


@pytest.fixture
def corpus(tmp_path) -> Path:
    folder = tmp_path / "corpus"
    shutil.copytree(SEEDS, folder)
    return folder


@pytest.fixture
def counting(stub_encoder) -> CountingEncoder:
    return CountingEncoder(stub_encoder)


def ask(index_dir: Path, encoder, question: str = QUESTION):
    # A new QA each time: it loads the index as it is on disk now.
    return QA(index_dir, settings=Settings(dense_band=(0.3, 0.7), selector="off"), encoder=encoder).trace(question)


def test_no_op_rebuild_encodes_nothing(corpus, tmp_path, counting):
    index_dir = tmp_path / "index"
    first = build_index(corpus, index_dir, encoder=counting)
    # Every text once; a text repeated in the corpus (one here) is embedded once and reused.
    assert first.embedded == len(counting.documents) == len(set(counting.documents)) > 0
    assert first.embedded + first.reused == first.sentences + first.passages
    counting.documents.clear()
    counting.dimension_reads = 0

    again = build_index(corpus, index_dir, encoder=counting)
    assert counting.documents == [] and counting.dimension_reads == 0
    assert again.embedded == 0 and again.reused == first.sentences + first.passages
    assert "0 texts embedded" in again.summary()


def test_full_rebuild_embeds_everything_again(corpus, tmp_path, counting):
    index_dir = tmp_path / "index"
    build_index(corpus, index_dir, encoder=counting)
    counting.documents.clear()
    report = build_index(corpus, index_dir, encoder=counting, incremental=False)
    assert report.embedded == len(counting.documents) == len(set(counting.documents)) > 0
    assert report.embedded + report.reused == report.sentences + report.passages


def test_added_article_is_the_only_one_embedded_and_is_cited(corpus, tmp_path, counting, stub_encoder):
    held_back = tmp_path / BAISE
    shutil.move(corpus / BAISE, held_back)
    index_dir = tmp_path / "index"
    build_index(corpus, index_dir, encoder=counting)
    before = ask(index_dir, stub_encoder).answer
    assert not (before.found and before.citation.doc == BAISE)
    already = set(counting.documents)
    counting.documents.clear()

    shutil.move(held_back, corpus / BAISE)
    report = build_index(corpus, index_dir, encoder=counting)
    assert set(counting.documents) == embedded_texts(corpus / BAISE) - already
    assert report.embedded == len(counting.documents) and report.documents == 5
    after = ask(index_dir, stub_encoder).answer
    assert after.found and after.citation.doc == BAISE and "1045亿元" in after.sentence


def test_removed_article_is_never_cited_again(corpus, tmp_path, counting, stub_encoder):
    index_dir = tmp_path / "index"
    build_index(corpus, index_dir, encoder=counting)
    assert ask(index_dir, stub_encoder).answer.citation.doc == BAISE
    gone = embedded_texts(corpus / BAISE)
    counting.documents.clear()

    (corpus / BAISE).unlink()
    report = build_index(corpus, index_dir, encoder=counting)
    assert counting.documents == [] and report.documents == 4
    trace = ask(index_dir, stub_encoder)
    assert not (trace.answer.found and trace.answer.citation.doc == BAISE)
    assert all(hit.sentence.doc != BAISE for hit in trace.retrieval.hits)
    assert all(p.doc != BAISE for p in trace.answer.passages)
    index = CorpusIndex.load(index_dir)
    assert BAISE not in index.articles and all(s.doc != BAISE for s in index.sentences)
    assert index.sentence_vectors.ntotal == len(index.sentences)
    assert index.sentence_bm25.scores["num_docs"] == len(index.sentences)
    # Nor do its vectors linger in the cache the next build starts from.
    cache = EmbeddingCache.load(index_dir / CACHE_DIR, stub_encoder.name)
    others = set().union(*(embedded_texts(path) for path in corpus.glob("*.txt")))
    assert not any(text_key(stub_encoder.name, text) in cache for text in gone - others)
    assert len(cache) == len(others)


def test_changed_article_loses_its_old_sentences(corpus, tmp_path, counting, stub_encoder):
    index_dir = tmp_path / "index"
    build_index(corpus, index_dir, encoder=counting)
    counting.documents.clear()

    path = corpus / BAISE
    path.write_text(path.read_text(encoding="utf-8").replace("1045亿元", "2045亿元"), encoding="utf-8")
    build_index(corpus, index_dir, encoder=counting)
    assert counting.documents and all("2045亿元" in text for text in counting.documents)
    index = CorpusIndex.load(index_dir)
    assert not any("1045亿元" in s.text for s in index.sentences)
    assert not any("1045亿元" in p.text for p in index.passages)
    reply = ask(index_dir, stub_encoder).answer
    assert reply.found and "2045亿元" in reply.sentence and reply.citation.doc == BAISE


def test_cache_of_another_model_or_damaged_is_ignored(corpus, tmp_path, counting):
    index_dir = tmp_path / "index"
    first = build_index(corpus, index_dir, encoder=counting)
    keys = index_dir / CACHE_DIR / KEYS_FILE
    meta = json.loads(keys.read_text(encoding="utf-8"))
    keys.write_text(json.dumps({**meta, "model": "another-model"}), encoding="utf-8")
    assert build_index(corpus, index_dir, encoder=counting).embedded == first.embedded

    (index_dir / CACHE_DIR / "vectors.npy").write_bytes(b"not an array")
    assert build_index(corpus, index_dir, encoder=counting).embedded == first.embedded


def test_cached_vectors_equal_fresh_ones(corpus, tmp_path, counting, stub_encoder):
    index_dir = tmp_path / "index"
    build_index(corpus, index_dir, encoder=counting)
    build_index(corpus, index_dir, encoder=counting)  # every vector from the cache
    index = CorpusIndex.load(index_dir)
    stored = index.sentence_vectors.reconstruct_n(0, index.sentence_vectors.ntotal)
    np.testing.assert_allclose(stored, stub_encoder.encode_documents(index.sentence_match), atol=1e-6)


@pytest.mark.parametrize(("limits", "recorded"), [
    ({"MIN_PROJECTED_ENERGY": 0.0}, "IndexRefineFlat(project 256->64,IndexHNSWFlat(dim=64,"),
    # Projecting would keep too little of the vectors' energy: a graph over all dims.
    ({"MIN_PROJECTED_ENERGY": 1.0}, "IndexHNSWFlat(dim=256,"),
    # Beyond the inverted file's limit (every list searched: four lists of 50 sentences).
    ({"IVF_INDEX_FROM": 150},
     "IndexRefineFlat(IndexIVFPQFastScan(dim=256,lists=4,nprobe=4,pq=128x4),k_factor=64)"),
])
def test_large_corpus_gets_an_approximate_index_recorded_in_the_manifest(corpus, tmp_path, counting, stub_encoder,
                                                                        monkeypatch, limits, recorded):
    import embeddings.store.vectors as vector_index

    # The seeds are far below the real limits; lowering them exercises the approximate branches.
    monkeypatch.setattr(vector_index, "FLAT_INDEX_LIMIT", 100)
    monkeypatch.setattr(vector_index, "PROJECTED_DIM", 64)
    for name, value in limits.items():
        monkeypatch.setattr(vector_index, name, value)
    index_dir = tmp_path / "index"
    build_index(corpus, index_dir, encoder=counting)
    index = CorpusIndex.load(index_dir)
    assert index.manifest.vector_index.startswith(recorded)
    assert index.sentence_vectors.ntotal == len(index.sentences) > 100
    reply = ask(index_dir, stub_encoder).answer
    assert reply.found and reply.citation.doc == BAISE
    # Scores are true cosines, as from the flat index (the retriever and answerer rely on them).
    query = stub_encoder.encode_queries([QUESTION])
    scores, ids = index.sentence_vectors.search(query, 5)
    exact = stub_encoder.encode_documents([index.sentence_match[i] for i in ids[0]]) @ query[0]
    np.testing.assert_allclose(scores[0], exact, atol=1e-5)


def test_cli_build_of_an_unchanged_corpus_returns_at_once_unless_full(corpus, tmp_path, counting, monkeypatch,
                                                                      capsys):
    import argparse

    from ui.cli.build import add_build_arguments, run_build
    from embeddings.store.local import SENTENCE_VECTORS_FILE

    monkeypatch.setattr("embeddings.model.encoder.load_encoder", lambda *args, **kwargs: counting)
    parser = argparse.ArgumentParser()
    add_build_arguments(parser)
    index = tmp_path / "index"
    argv = ["--corpus", str(corpus), "--index", str(index), "--model", counting.name]
    assert run_build(parser.parse_args(argv)) == 0
    assert "indexed 5 documents" in capsys.readouterr().out
    embedded = len(counting.documents)
    # Unchanged: nothing read or written beyond the manifest and the corpus.
    before = (index / SENTENCE_VECTORS_FILE).stat().st_mtime_ns
    assert run_build(parser.parse_args(argv)) == 0
    assert "is up to date" in capsys.readouterr().out
    assert (index / SENTENCE_VECTORS_FILE).stat().st_mtime_ns == before and len(counting.documents) == embedded
    # A missing index file is not "up to date"; --full rebuilds all the same.
    (index / SENTENCE_VECTORS_FILE).unlink()
    assert run_build(parser.parse_args(argv)) == 0
    assert "indexed 5 documents" in capsys.readouterr().out and (index / SENTENCE_VECTORS_FILE).is_file()
    assert run_build(parser.parse_args(argv + ["--full"])) == 0
    assert "indexed 5 documents" in capsys.readouterr().out and len(counting.documents) > embedded


class _SlowWarmUp(StubEncoder):
    """An encoder whose model load outlasts a build that embeds nothing."""

    def __init__(self):
        self.loaded = False

    def warm_up(self, for_documents=False):
        import time

        time.sleep(0.5)
        self.loaded = True


def test_a_build_that_embeds_nothing_waits_for_the_encoder_warm_up(corpus, tmp_path):
    # A process that exits while the warm-up thread is inside ONNX Runtime aborts (exit 134)
    # after printing its summary; the build returns only once the thread is done.
    index = tmp_path / "index"
    build_index(corpus, index, encoder=StubEncoder())
    encoder = _SlowWarmUp()
    report = build_index(corpus, index, encoder=encoder)
    assert report.embedded == 0 and encoder.loaded


def test_a_build_that_names_no_model_keeps_the_default_model_in_the_form_the_index_was_built_with(tmp_path):
    from embeddings.corpus.build import index_model, model_to_build
    from embeddings.model.build import DEFAULT_MODEL, INT8_DOCUMENTS_MODEL

    assert model_to_build(tmp_path / "none") is None and index_model(tmp_path / "none") is None
    int8_named = StubEncoder()
    int8_named.name = INT8_DOCUMENTS_MODEL
    build_index(SEEDS, tmp_path / "int8", encoder=int8_named)
    assert index_model(tmp_path / "int8") == INT8_DOCUMENTS_MODEL
    assert model_to_build(tmp_path / "int8") == INT8_DOCUMENTS_MODEL, "int8 documents stay int8"
    assert model_to_build(tmp_path / "int8", DEFAULT_MODEL) == DEFAULT_MODEL, "a named model wins"
    build_index(SEEDS, tmp_path / "other", encoder=StubEncoder())
    # Any other model is rebuilt with the default unless named, as before.
    assert model_to_build(tmp_path / "other") is None
