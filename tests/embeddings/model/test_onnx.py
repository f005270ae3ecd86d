"""The ONNX Runtime encoder: the export helper on a tiny module, and agreement with sentence-transformers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from embeddings.model.onnx_runtime import (MARKER_FILE, TOKEN_EMBEDDINGS, OnnxEncoder, OnnxModel, OnnxModelError, pad_batch,
                                     read_marker, table_path)

TEXTS = [
    # simplified Chinese
    "2022年百色市铝产业总产值是多少？",
    "魏桥创业集团三年关停5个热电厂，停运42台机组，总装机容量155万千瓦。",
    "氧化铝、电解铝、铝加工三个环节构成铝产业链。",
    # traditional Chinese
    "廣元市鋁產業集群發展迅速，佔比逾三成。",
    "各企業認真履行環保責任,特別是魏橋創業集團三年關停5個熱電廠",
    # English
    "What is the annual capacity of Binzhou's aluminium industry?",
    "Aluminium prices rose 3.2% on the London Metal Exchange.",
    # number-heavy
    "959.33万吨 约占全国的11.38%",
    "1,234,567.89元；同比增长-2.5%；环比+0.7个百分点",
    "2024-03-15 08:30:00 UTC+8 第3季度 Q3 2023 营收：¥128.6亿",
    "ＧＤＰ增长５％（全角）",
    # edge cases: one character, empty, spaces, longer than the 512-token window
    "铝",
    "",
    "  multiple     spaces  ",
    "滨州已形成铝土矿—氧化铝—电解铝—铝精深加工—再生铝的完整产业链，2023年电解铝产能约为646万吨。" * 12,
]


def test_pad_batch_pads_right_with_a_mask():
    ids, mask = pad_batch([[0, 5, 2], [0, 2]], pad_id=1)
    assert ids.tolist() == [[0, 5, 2], [0, 2, 1]]
    assert mask.tolist() == [[1, 1, 1], [1, 1, 0]]
    assert ids.dtype == mask.dtype == np.int64


def test_missing_export_names_the_fix(tmp_path):
    with pytest.raises(OnnxModelError, match="make model"):
        OnnxEncoder(tmp_path)
    with pytest.raises(OnnxModelError, match="make model"):
        OnnxModel(tmp_path / "none.onnx").session()


def test_marker_of_another_format_is_not_an_export(tmp_path):
    for name in ("model.onnx", "tokenizer.json"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / MARKER_FILE).write_text(json.dumps({"export_format": 0}), encoding="utf-8")
    assert read_marker(tmp_path) is None


def test_load_encoder_refuses_what_it_cannot_run():
    from embeddings.model.encoder import EncoderError, SentenceTransformerEncoder, load_encoder

    with pytest.raises(EncoderError, match="unknown runtime 'gpu'"):
        load_encoder(runtime="gpu")
    with pytest.raises(EncoderError, match="ALUQA_RUNTIME"):  # where the runtime comes from, named
        load_encoder(runtime="tensorflow")
    with pytest.raises(EncoderError, match="only the default model"):
        load_encoder("some/other-model", runtime="onnx")
    # Another model runs on sentence-transformers (nothing is loaded until first use).
    assert isinstance(load_encoder("some/other-model"), SentenceTransformerEncoder)


def test_export_module_runs_a_masked_module_without_torch_at_run_time(tmp_path):
    """The generic helper (also meant for a cross-encoder scorer): a tiny masked mean of embeddings."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from embeddings.model.onnx_export import export_module

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.embed = torch.nn.Embedding(50, 8)
            self.out = torch.nn.Linear(8, 3)

        def forward(self, input_ids, attention_mask):
            mask = attention_mask.unsqueeze(-1).float()
            pooled = (self.embed(input_ids) * mask).sum(1) / mask.sum(1)
            return self.out(pooled)

    module = Tiny()
    path = tmp_path / "tiny.onnx"
    worst = export_module(module, path, [[[0, 7, 9, 2], [0, 3, 2]], [[0, 4, 4, 4, 4, 4, 2]]], pad_id=1,
                          output_name="scores")
    assert worst < 1e-5 and path.is_file()
    # The embedding lookup left the graph for a table beside it, read through a memory map.
    assert np.load(table_path(path)).shape == (50, 8)
    assert TOKEN_EMBEDDINGS in [i.name for i in OnnxModel(path).session().get_inputs()]
    ids, mask = pad_batch([[0, 11, 12, 13, 14, 2], [0, 2], [0, 30, 2]], pad_id=1)  # unseen lengths and batch
    with torch.no_grad():
        expected = module(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
    np.testing.assert_allclose(OnnxModel(path, threads=2).run(ids, mask), expected, atol=1e-5)
    # Without its table the graph cannot run: one message that says how to re-export.
    table_path(path).unlink()
    with pytest.raises(OnnxModelError, match="token embedding table .* missing.*--force"):
        OnnxModel(path).run(ids, mask)


def test_two_graphs_with_the_same_token_table_share_one_file_and_one_mapping(tmp_path):
    torch = pytest.importorskip("torch")
    from embeddings.model.onnx_export import export_module, share_table

    class Scorer(torch.nn.Module):
        def __init__(self, embed, width):
            super().__init__()
            self.embed = embed
            self.out = torch.nn.Linear(8, width)

        def forward(self, input_ids, attention_mask):
            mask = attention_mask.unsqueeze(-1).float()
            return self.out((self.embed(input_ids) * mask).sum(1) / mask.sum(1))

    torch.manual_seed(0)
    shared = torch.nn.Embedding(50, 8)
    check = [[[0, 7, 9, 2], [0, 3, 2]]]
    export_module(Scorer(shared, 3), tmp_path / "a.onnx", check, pad_id=1)
    export_module(Scorer(shared, 1), tmp_path / "b.onnx", check, pad_id=1)
    export_module(Scorer(torch.nn.Embedding(50, 8), 1), tmp_path / "c.onnx", check, pad_id=1)
    assert share_table(tmp_path / "b.onnx", tmp_path / "a.onnx")
    assert (tmp_path / "b.embeddings.npy").samefile(tmp_path / "a.embeddings.npy")
    assert not share_table(tmp_path / "c.onnx", tmp_path / "a.onnx"), "another table keeps its own file"
    first, second = OnnxModel(tmp_path / "a.onnx"), OnnxModel(tmp_path / "b.onnx")
    ids, mask = pad_batch([[0, 5, 2]], pad_id=1)
    first.run(ids, mask), second.run(ids, mask)
    assert first._table is second._table, "one memory map for one file"


def test_export_module_refuses_an_example_without_padding(tmp_path):
    torch = pytest.importorskip("torch")
    from embeddings.model.onnx_export import OnnxExportError, export_module

    with pytest.raises(OnnxExportError, match="different lengths"):
        export_module(torch.nn.Identity(), tmp_path / "x.onnx", [[[0, 2], [0, 2]]], pad_id=1)


@pytest.fixture(scope="module")
def both_encoders():
    from embeddings.model.encoder import SentenceTransformerEncoder
    from embeddings.model.build import build_default_onnx

    # The fp32 export is the one checked against sentence-transformers; the int8 question
    # variant is checked against it in test_quantized.py.
    return OnnxEncoder(build_default_onnx(), int8_queries=False), SentenceTransformerEncoder()


@pytest.mark.slow
@pytest.mark.parametrize("side", ["queries", "documents"])
def test_onnx_vectors_agree_with_sentence_transformers(both_encoders, side):
    onnx, reference = both_encoders
    assert onnx.name == reference.name and onnx.dimension == reference.dimension
    encode = (lambda e, texts: e.encode_queries(texts)) if side == "queries" else \
        (lambda e, texts: e.encode_documents(texts))
    expected = encode(reference, TEXTS)
    batched = encode(onnx, TEXTS)  # padded batches of mixed lengths
    one_by_one = np.concatenate([encode(onnx, [text]) for text in TEXTS])  # no padding
    for got in (batched, one_by_one):
        cosines = (got * expected).sum(axis=1)
        assert cosines.min() >= 0.999, {t[:30]: round(float(c), 5) for t, c in zip(TEXTS, cosines)}
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    # The prompt matters: a query vector is not a passage vector of the same text.
    other = onnx.encode_documents(TEXTS[:1]) if side == "queries" else onnx.encode_queries(TEXTS[:1])
    assert float((other * batched[:1]).sum()) < 0.999


@pytest.mark.slow
def test_seed_dev_answers_are_identical_with_either_runtime(both_encoders, real_qa):
    from conftest import load_seed_qa
    from qa import QA

    onnx, reference = both_encoders
    questions = [item["question"] for item in load_seed_qa()]
    by_onnx = QA(encoder=onnx)
    by_reference = QA(encoder=reference)
    differ = []
    for question in questions:
        a, b = by_onnx.ask(question), by_reference.ask(question)
        if (a.found, a.sentence, a.citation and a.citation.doc) != (b.found, b.sentence, b.citation and b.citation.doc):
            differ.append((question, a.sentence, b.sentence))
    assert not differ


def test_one_tokenizer_per_vocabulary_and_truncation_keeps_the_closing_token(tmp_path):
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    from embeddings.model.onnx_runtime import truncate
    from embeddings.model.subword import HuggingFaceTokenizer, load_tokenizer

    tokenizer = Tokenizer(WordLevel({"<unk>": 0, "铝": 1, "产业": 2}, unk_token="<unk>"))
    tokenizer.pre_tokenizer = Whitespace()
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        tokenizer.save(str(tmp_path / name / "tokenizer.json"))
    # The encoder's and the selector's copies of one vocabulary give one object, parsed once.
    assert load_tokenizer(tmp_path / "a" / "tokenizer.json") is load_tokenizer(tmp_path / "b" / "tokenizer.json")
    # Not a unigram vocabulary: no SentencePiece form, the tokenizers library serves it.
    assert isinstance(load_tokenizer(tmp_path / "a" / "tokenizer.json"), HuggingFaceTokenizer)
    assert load_tokenizer(tmp_path / "a" / "tokenizer.json").encode(["铝 产业 铝"], add_special_tokens=False) == [[1, 2, 1]]
    assert truncate([0, 5, 6, 7, 2], 4) == [0, 5, 6, 2]
    assert truncate([0, 5, 2], 4) == [0, 5, 2]


def test_batches_hold_similar_lengths_within_a_token_budget():
    from embeddings.model.onnx_runtime import length_batches

    lengths = [10, 200, 12, 190, 11, 300, 9]
    batches = length_batches(lengths, size=32, max_tokens=400)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    # Longest first; a batch's padded size (rows x its longest) stays within the budget,
    # and the one row longer than the budget allows alone still gets a batch.
    assert batches[0] == [5] and batches[1] == [1, 3]
    assert all(len(b) * lengths[b[0]] <= 400 for b in batches[1:])
    assert length_batches(lengths, size=2, max_tokens=10_000) == [[5, 1], [3, 2], [4, 0], [6]]
