"""The int8 variants of the ONNX graphs: which models use them, what the file holds, and how close it stays."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SEEDS

from embeddings.model.onnx_runtime import ONNX_FILE, OnnxEncoder, OnnxModel, int8_path, pad_batch, table_path


TEXTS = ["2022年百色市铝产业总产值是多少？", "廣元市鋁產業集群發展迅速，佔比逾三成。",
         "What is the annual capacity of Binzhou's aluminium industry?", "959.33万吨 约占全国的11.38%", "铝"]


def test_the_int8_path_sits_beside_the_graph():
    assert int8_path("/x/model.onnx").name == "model.int8.onnx"
    assert table_path(int8_path("/x/model.onnx")).name == "model.int8.embeddings.npy"


def _export_tiny(tmp_path, width: int = 16):
    """A tiny per-token linear layer (a MatMul in the graph, as in a transformer) and a masked mean."""
    torch = pytest.importorskip("torch")
    from embeddings.model.onnx_export import export_module

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.embed = torch.nn.Embedding(50, width)
            self.dense = torch.nn.Linear(width, width)

        def forward(self, input_ids, attention_mask):
            mask = attention_mask.unsqueeze(-1).float()
            hidden = self.dense(self.embed(input_ids))
            return (hidden * mask).sum(1) / mask.sum(1)

    path = tmp_path / "tiny.onnx"
    export_module(Tiny(), path, [[[0, 7, 9, 2], [0, 3, 2]]], pad_id=1)
    return path


def _op_types(path) -> list[str]:
    import onnx

    return [node.op_type for node in onnx.load(str(path)).graph.node]


def test_quantize_int8_writes_int8_weights_beside_the_graph_and_reads_the_same_table(tmp_path):
    pytest.importorskip("onnx")
    from embeddings.model.onnx_export import quantize_int8

    graph = _export_tiny(tmp_path)
    target = quantize_int8(graph)
    assert target == int8_path(graph) and target.is_file()
    assert "MatMulInteger" in _op_types(target) and "MatMul" not in _op_types(target)
    assert table_path(target).samefile(table_path(graph)), "the token table is one file, hard-linked"
    ids, mask = pad_batch([[0, 11, 12, 13, 2], [0, 30, 2]], pad_id=1)
    fp32, int8 = OnnxModel(graph).run(ids, mask), OnnxModel(graph, int8=True).run(ids, mask)
    assert not np.array_equal(fp32, int8), "the variant really runs other arithmetic"
    np.testing.assert_allclose(int8, fp32, atol=0.05)


def test_the_variant_is_made_on_first_use_when_the_export_step_did_not(tmp_path):
    pytest.importorskip("onnx")
    graph = _export_tiny(tmp_path)
    assert not int8_path(graph).exists()
    ids, mask = pad_batch([[0, 11, 2]], pad_id=1)
    OnnxModel(graph, int8=True).run(ids, mask)
    assert "MatMulInteger" in _op_types(int8_path(graph))


def test_the_blockwise_variant_holds_int8_blocks_and_reads_each_row_apart(tmp_path):
    pytest.importorskip("onnx")
    from embeddings.model.onnx_export import INT8_BLOCK, quantize_int8_blockwise

    graph = _export_tiny(tmp_path, width=2 * INT8_BLOCK)
    target = quantize_int8_blockwise(graph)
    assert target == int8_path(graph) and _op_types(target).count("MatMulNBits") == 1
    assert "MatMul" not in _op_types(target)
    assert table_path(target).samefile(table_path(graph))
    rows = [[0, 11, 12, 13, 14, 15, 2, 1], [0, 30, 31, 2, 1, 1, 1, 1], [0, 40, 41, 42, 43, 44, 45, 2]]
    ids, mask = pad_batch(rows, pad_id=1)
    fp32, int8 = OnnxModel(graph).run(ids, mask), OnnxModel(graph, int8=True).run(ids, mask)
    assert not np.array_equal(fp32, int8), "the variant really runs other arithmetic"
    np.testing.assert_allclose(int8, fp32, atol=0.02)
    # With one activation scale per row, a row's result is its own whatever else is in the pass.
    alone = np.concatenate([OnnxModel(graph, int8=True).run(*pad_batch([row], pad_id=1)) for row in rows])
    np.testing.assert_allclose(alone, int8, atol=1e-5)


@pytest.fixture(scope="module")
def encoders():
    from embeddings.model.build import build_default_onnx

    folder = build_default_onnx()
    return OnnxEncoder(folder, int8_queries=False), OnnxEncoder(folder, int8_queries=True)


@pytest.mark.slow
def test_the_exported_encoder_has_an_int8_variant_of_every_weight_product(encoders):
    fp32, _ = encoders
    ops = _op_types(int8_path(fp32.folder / ONNX_FILE))
    # 12 layers x 6 linear layers, all quantised; the attention's two activation products stay MatMul.
    assert ops.count("MatMulInteger") == 72 and ops.count("MatMul") == 24
    assert table_path(int8_path(fp32.folder / ONNX_FILE)).samefile(table_path(fp32.folder / ONNX_FILE))


@pytest.mark.slow
def test_int8_question_vectors_stay_close_to_fp32_and_documents_stay_fp32(encoders):
    fp32, int8 = encoders
    assert int8.name == fp32.name, "document vectors are fp32 either way: the same indexes serve both"
    cosines = (int8.encode_queries(TEXTS) * fp32.encode_queries(TEXTS)).sum(axis=1)
    # Measured on the seed questions: 0.996 at worst (docs/performance.md, section 10).
    assert 0.99 <= cosines.min() and cosines.max() < 1 - 1e-6
    np.testing.assert_array_equal(int8.encode_documents(TEXTS[:3]), fp32.encode_documents(TEXTS[:3]))


@pytest.mark.slow
def test_int8_documents_have_their_own_name_and_a_vector_per_text_whatever_is_read_with_it(encoders):
    from embeddings.model.build import INT8_DOCUMENTS_MODEL
    from embeddings.model.encoder import load_encoder

    fp32, _ = encoders
    int8 = load_encoder(INT8_DOCUMENTS_MODEL)
    assert int8.name == INT8_DOCUMENTS_MODEL != fp32.name, "its indexes must not be read as fp32 ones"
    together = int8.encode_documents(TEXTS)
    alone = np.concatenate([int8.encode_documents([text]) for text in TEXTS])
    # One scale per pass: read with other texts, a text's vector would move (by about 1e-3).
    np.testing.assert_allclose(together, alone, atol=1e-6)
    cosines = (together * fp32.encode_documents(TEXTS)).sum(axis=1)
    # Measured on the seed texts: 0.994 at worst (docs/performance.md, section 12).
    assert 0.99 <= cosines.min() and cosines.max() < 1 - 1e-6


def test_int8_documents_need_onnx_runtime():
    from embeddings.model.build import INT8_DOCUMENTS_MODEL
    from embeddings.model.encoder import EncoderError, load_encoder

    with pytest.raises(EncoderError, match="runtime onnx or auto"):
        load_encoder(INT8_DOCUMENTS_MODEL, runtime="sentence-transformers")


@pytest.mark.slow
def test_an_index_built_with_int8_documents_is_read_with_them_and_never_as_fp32(tmp_path):
    from embeddings.corpus.build import build_index
    from embeddings.model.build import DEFAULT_MODEL, INT8_DOCUMENTS_MODEL
    from embeddings.store.manifest import IndexMismatchError
    from qa import QA, Settings

    build_index(SEEDS, tmp_path / "index", model=INT8_DOCUMENTS_MODEL)
    qa = QA(tmp_path / "index", settings=Settings(selector="trained"))
    reply = qa.ask("2022年百色市铝产业总产值是多少？")
    assert reply.found and "1045亿元" in reply.sentence
    assert qa.index.manifest.model == INT8_DOCUMENTS_MODEL
    assert qa.retriever.encoder.name == INT8_DOCUMENTS_MODEL, "the manifest's model encodes the questions"
    with pytest.raises(IndexMismatchError, match="onnx-int8"):
        QA(tmp_path / "index", settings=Settings(model=DEFAULT_MODEL)).ask("百色")
