"""Token ids: the vocabulary's SentencePiece form gives exactly the ids of the `tokenizers` library."""

from __future__ import annotations

import json
import shutil

import pytest

from embeddings.model.subword import (CHECK_SAMPLE, SENTENCEPIECE_FILE, SENTENCEPIECE_MARKER, HuggingFaceTokenizer,
                                SentencePieceTokenizer, convert_to_sentencepiece, load_tokenizer)
from tests.conftest import SEEDS


@pytest.fixture(scope="module")
def vocabulary(tmp_path_factory):
    """A copy of the default model's tokenizer.json in a folder of its own (converted there by the tests)."""
    from embeddings.model.build import build_default_model

    folder = tmp_path_factory.mktemp("vocabulary")
    shutil.copy(build_default_model() / "tokenizer.json", folder / "tokenizer.json")
    return folder / "tokenizer.json"


def varied_texts() -> list[str]:
    texts = list(CHECK_SAMPLE)
    for path in sorted(SEEDS.glob("*.txt")):
        # Raw lines: pinyin annotations, full-width punctuation, empty lines, trailing spaces.
        texts += path.read_text(encoding="utf-8", errors="replace").splitlines()
    texts += ["query: " + t for t in texts[:50]] + [t + "  " for t in texts[:50]] + ["\t" + t for t in texts[:50]]
    texts += ["<s>", "</s></s>", "a<unk>b", "<s >", "< s>", "\u00a0\u2003x\u2028y\u3000", "ﬁ ﬂ ㎡ ㈱ ①②", "\ufeffBOM"]
    return texts


@pytest.mark.slow
def test_sentencepiece_form_gives_the_ids_of_tokenizers(vocabulary):
    assert convert_to_sentencepiece(vocabulary)
    assert (vocabulary.parent / SENTENCEPIECE_FILE).is_file()
    fast, reference = load_tokenizer(vocabulary), HuggingFaceTokenizer.from_file(vocabulary)
    assert isinstance(fast, SentencePieceTokenizer)
    texts = varied_texts()
    assert len(texts) > 300
    for add_special_tokens in (True, False):
        got, expected = fast.encode(texts, add_special_tokens), reference.encode(texts, add_special_tokens)
        differ = [(text[:40], a, b) for text, a, b in zip(texts, got, expected) if a != b]
        assert not differ


@pytest.mark.slow
def test_a_conversion_that_disagrees_is_not_used_and_not_retried(vocabulary, tmp_path, monkeypatch):
    import embeddings.model.subword as subword

    copy = tmp_path / "tokenizer.json"
    spec = json.loads(vocabulary.read_text(encoding="utf-8"))
    spec["model"]["vocab"][11][1] -= 1.0  # a vocabulary of its own, not shared with the other tests' object
    copy.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    # A conversion that loses the leading "▁" of each text changes every first piece: it must be caught.
    real_proto = subword._model_proto

    def wrong_proto(spec):
        proto, specials = real_proto(spec)
        from sentencepiece import sentencepiece_model_pb2 as sp_model

        model = sp_model.ModelProto()
        model.ParseFromString(proto)
        model.normalizer_spec.add_dummy_prefix = False  # no leading "▁": every first piece changes
        return model.SerializeToString(), specials

    monkeypatch.setattr(subword, "_model_proto", wrong_proto)
    assert not convert_to_sentencepiece(copy)
    assert not (tmp_path / SENTENCEPIECE_FILE).exists()
    marker = json.loads((tmp_path / SENTENCEPIECE_MARKER).read_text(encoding="utf-8"))
    assert marker["matches_tokenizers"] is False
    monkeypatch.setattr(subword, "convert_to_sentencepiece", lambda path: pytest.fail("tried again"))
    assert isinstance(load_tokenizer(copy), HuggingFaceTokenizer)
    assert subword.ensure_sentencepiece(copy)["matches_tokenizers"] is False


@pytest.mark.slow
def test_a_changed_vocabulary_file_is_converted_again(vocabulary, tmp_path):
    from embeddings.model.subword import ensure_sentencepiece

    copy = tmp_path / "tokenizer.json"
    shutil.copy(vocabulary, copy)
    first = ensure_sentencepiece(copy)
    assert first["matches_tokenizers"] is True
    spec = json.loads(copy.read_text(encoding="utf-8"))
    spec["model"]["vocab"][10][1] -= 1.0  # another score: another vocabulary
    copy.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    second = ensure_sentencepiece(copy)
    assert second["matches_tokenizers"] is True and second["source"] != first["source"]
