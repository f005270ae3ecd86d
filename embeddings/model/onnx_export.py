"""Exporting torch transformer modules to ONNX, once at set-up (needs torch; the question path does not).

- `export_module`: any `torch.nn.Module` whose forward takes `input_ids` and
  `attention_mask` (batch x length, int64) and returns one float tensor whose
  first axis is the batch, written to an `.onnx` file with dynamic batch and
  length, then checked against the module on padded and unpadded batches.
  `embeddings.model.onnx_runtime.OnnxModel` runs the file without torch.
- `export_sentence_encoder`: a sentence-transformers folder (Transformer ->
  mean Pooling -> Normalize) into a folder `OnnxEncoder` reads.
- `quantize_int8`, `quantize_int8_blockwise`: the int8 variant of an
  exported graph (ONNX Runtime's dynamic quantisation for the question
  encoder, int8 blocks for the answer selector; neither needs torch, so the
  runtime can also make the encoder's on first use).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import re
import shutil
import tempfile
import time
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from embeddings.model.onnx_runtime import (EXPORT_FORMAT, MARKER_FILE, ONNX_FILE, TOKEN_EMBEDDINGS, TOKENIZER_FILE, OnnxModel,
                                     int8_path, pad_batch, table_path)

logger = logging.getLogger(__name__)

OPSET = 17
# Largest difference allowed between the torch module and the exported graph on
# the check batches; float32 reorderings stay near 1e-6 on unit vectors.
MAX_ABS_DIFF = 1e-4


class OnnxExportError(RuntimeError):
    """The module could not be exported, or the export disagrees with it."""


def export_module(module, path: Path | str, check_batches: Sequence[Sequence[Sequence[int]]],
                  pad_id: int, output_name: str | Sequence[str] = "output", max_abs_diff: float = MAX_ABS_DIFF) -> float:
    """Export `module(input_ids, attention_mask) -> tensor (or tuple of tensors)` to `path` and check it.

    The token embedding table goes to its own file beside the graph
    (`table_path(path)`, see `split_token_embeddings`); both are replaced only
    once the check passed, the table first.

    Args:
        module: a torch module in any mode (it is put in eval mode).
        path: the `.onnx` file to write (replaced only once the check passed).
        check_batches: batches of token id lists; the first must hold rows of
            different lengths (it is the tracing example, so the graph records
            the padded path), and each is compared between torch and ONNX Runtime.
        pad_id: the padding token id.
        output_name: the graph's output name, or one name per output when the
            module returns a tuple (a per-token output has a "length" axis too).
        max_abs_diff: the largest element-wise difference accepted.

    Returns:
        The largest element-wise difference seen on the check batches.

    Raises:
        OnnxExportError: the export failed or disagrees with the module.
    """
    import torch

    path = Path(path)
    names = [output_name] if isinstance(output_name, str) else list(output_name)
    batches = [pad_batch(batch, pad_id) for batch in check_batches]
    example_ids, example_mask = batches[0]
    if example_mask.all():
        raise OnnxExportError("the first check batch must hold rows of different lengths (padding)")
    module = module.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # The tracer warns where Python control flow reads tensor values (mask
            # shapes in transformers); the comparison below is what proves the graph right.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module, (torch.from_numpy(example_ids), torch.from_numpy(example_mask)), str(tmp),
                dynamo=False, opset_version=OPSET, input_names=["input_ids", "attention_mask"],
                output_names=names, do_constant_folding=True,
                dynamic_axes={"input_ids": {0: "batch", 1: "length"}, "attention_mask": {0: "batch", 1: "length"},
                              **{name: {0: "batch"} if i == 0 else {0: "batch", 1: "length"}
                                 for i, name in enumerate(names)}})
            split_token_embeddings(tmp)
            graph = OnnxModel(tmp, threads=None)
            worst = 0.0
            for ids, mask in batches:
                expected = module(torch.from_numpy(ids), torch.from_numpy(mask))
                expected = expected if isinstance(expected, tuple) else (expected,)
                for got, want in zip(graph.run_all(ids, mask), expected):
                    worst = max(worst, float(np.abs(got - want.numpy()).max()))
        del graph
        if not worst <= max_abs_diff:
            raise OnnxExportError(f"the ONNX graph differs from the torch module by {worst:.2e} "
                                  f"(at most {max_abs_diff:.0e} allowed)")
        if table_path(tmp).is_file():
            os.replace(table_path(tmp), table_path(path))
        os.replace(tmp, path)
        return worst
    except OnnxExportError:
        raise
    except Exception as exc:  # torch.onnx raises many types; the caller needs one
        raise OnnxExportError(f"exporting {type(module).__name__} to {path} failed: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
        table_path(tmp).unlink(missing_ok=True)


def split_token_embeddings(graph_path: Path) -> bool:
    """Move the token embedding lookup out of an exported graph, into `table_path(graph_path)`.

    The graph's `Gather(table, input_ids)` is replaced by an input,
    `token_embeddings` (batch x length x width), that `OnnxModel` fills from the
    memory-mapped table. The arithmetic is unchanged; the graph shrinks from
    about 470 MB to 90 MB, which is what ONNX Runtime must read and copy at start.
    A graph without such a lookup is left whole (returns False).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(graph_path))
    initializers = {i.name: i for i in model.graph.initializer}
    lookups = [n for n in model.graph.node if n.op_type == "Gather" and len(n.input) == 2
               and n.input[1] == "input_ids" and n.input[0] in initializers
               and len(initializers[n.input[0]].dims) == 2]
    if not lookups:
        return False
    if len(lookups) > 1:
        raise OnnxExportError(f"expected one token embedding lookup on input_ids in {graph_path}, "
                              f"found {len(lookups)}")
    lookup = lookups[0]
    table = initializers[lookup.input[0]]
    np.save(table_path(graph_path), numpy_helper.to_array(table).astype(np.float32, copy=False))
    model.graph.node.remove(lookup)
    if not any(lookup.input[0] in n.input for n in model.graph.node):
        model.graph.initializer.remove(table)
    for node in model.graph.node:
        for position, name in enumerate(node.input):
            if name == lookup.output[0]:
                node.input[position] = TOKEN_EMBEDDINGS
    model.graph.input.append(helper.make_tensor_value_info(
        TOKEN_EMBEDDINGS, TensorProto.FLOAT, ["batch", "length", int(table.dims[1])]))
    onnx.save(model, str(graph_path))
    return True


def share_table(graph: Path, other: Path) -> bool:
    """Make `graph`'s token table a hard link to `other`'s when both hold the same bytes.

    The answer selector's frozen token table is the encoder's: linked, the two
    files are one on disk and in the page cache, and `OnnxModel` maps it once
    (384 MB for e5-small). Returns whether the tables are now one file; a
    different table, or a file system without hard links, keeps its own copy.
    """
    mine, theirs = table_path(graph), table_path(other)
    if not (mine.is_file() and theirs.is_file()):
        return False
    if os.path.samefile(mine, theirs):
        return True
    if mine.stat().st_size != theirs.stat().st_size or not _same_bytes(mine, theirs):
        return False
    link = mine.with_name(f".{mine.name}.link-{os.getpid()}")
    try:
        os.link(theirs, link)
        os.replace(link, mine)
    except OSError:
        link.unlink(missing_ok=True)
        return False
    return True


def quantize_int8(graph: Path | str) -> Path:
    """Write `int8_path(graph)`: the graph with its weight matrix products in int8, and return it.

    ONNX Runtime's dynamic quantisation: each `MatMul` with a constant weight
    gets signed int8 weights with one scale per output channel, and its input
    is quantised to uint8 at run time with one scale per matrix. On x86 with
    AVX-512 VNNI (Zen 4) that is the u8 x s8 kernel. The attention products
    (two activations) stay fp32, and so does the token table, which is not in
    the graph: the variant reads the same table file, hard-linked. No
    calibration data is needed. On an x86 CPU without VNNI the weights get 7
    bits instead of 8 (`pairs_saturate`). The one scale per matrix covers every row of a
    batch, so a row's output depends a little on the rows read with it: right
    for the question encoder (one question per pass), not for a model that
    reads rows together (`quantize_int8_blockwise`).

    Raises:
        OnnxExportError: the graph cannot be read or quantised.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    def dynamic(source: Path, out: Path) -> None:
        quantize_dynamic(source, out, op_types_to_quantize=["MatMul"], per_channel=True,
                         reduce_range=pairs_saturate(), weight_type=QuantType.QInt8)

    return _write_variant(Path(graph), dynamic)


@lru_cache(maxsize=1)  # the CPU does not change while the process runs
def pairs_saturate() -> bool:
    """Whether ONNX Runtime's u8 x s8 kernel on this CPU adds products in pairs into 16 bits, where
    8-bit weights saturate: x86 without VNNI (VPMADDUBSW on AVX2 or AVX-512 alone). Weights of 7 bits
    (`reduce_range`) cannot; with VNNI the products add into 32 bits and the full 8 bits are kept.
    Measured: on an AVX2 machine a small model's int8 outputs moved by up to 0.19 from fp32 with
    8-bit weights, within 0.05 with 7 (tests/embeddings/model/test_quantized.py)."""
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686"):
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return True  # an x86 CPU whose features cannot be read: the choice that is right on all of them
    return re.search(r"\b(?:avx512_vnni|avx_vnni|amx_int8)\b", flags) is None


# Weights and activations in int8 blocks of this many values along each product's inner axis.
INT8_BLOCK = 128


def quantize_int8_blockwise(graph: Path | str) -> Path:
    """Write `int8_path(graph)` with every weight product as int8 blocks (`MatMulNBits`), and return it.

    Each weight matrix is stored as 8-bit values with one scale per block of
    `INT8_BLOCK` inputs of an output channel, and ONNX Runtime quantises the
    activations at run time per row and per block (accuracy level 4: int8
    arithmetic). Per row is what matters: a row's output does not depend on
    the other rows of the pass (unlike `quantize_int8`, whose one activation
    scale per matrix moved the answer selector's logits by up to 0.7
    depending on the candidates read together), and per block follows the
    few large GELU outputs without coarsening the rest. Measured on the answer
    selector over 1,000 training questions' candidates: the fp32 graph's best
    candidate kept for 989 (dynamic int8 with the feed-forward outputs fp32:
    965), largest logit change 0.32 (0.81), at 0.73 of fp32's time per pass
    (dynamic: 0.66; docs/performance.md, section 11).

    One caveat, handled by the caller: ONNX Runtime's kernel computes a batch's
    last row differently when the batch has an odd number of rows (tokens), so
    a caller that wants rows independent pads every pass to an even length
    (`qa.selector.pad_batch`).

    Raises:
        OnnxExportError: the graph cannot be read or quantised.
    """
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import DefaultWeightOnlyQuantConfig, MatMulNBitsQuantizer

    def blockwise(source: Path, out: Path) -> None:
        config = DefaultWeightOnlyQuantConfig(block_size=INT8_BLOCK, is_symmetric=True, accuracy_level=4, bits=8)
        quantizer = MatMulNBitsQuantizer(onnx.load(str(source)), bits=8, block_size=INT8_BLOCK, is_symmetric=True,
                                         accuracy_level=4, algo_config=config)
        quantizer.process()
        quantizer.model.save_model_to_file(str(out), use_external_data_format=False)

    return _write_variant(Path(graph), blockwise)


def _write_variant(graph: Path, quantize: Callable[[Path, Path], None]) -> Path:
    """Run `quantize(graph, tmp)` and move the result to `int8_path(graph)`, the token table hard-linked."""
    target = int8_path(graph)
    tmp = target.with_name(f".{target.stem}.tmp-{os.getpid()}{target.suffix}")
    # The quantizers log advice (pre-processing, skipped nodes) on the root logger and their own.
    loggers = [logging.getLogger(), logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer")]
    levels = [each.level for each in loggers]
    try:
        for each in loggers:
            each.setLevel(logging.ERROR)
        quantize(graph, tmp)
        if table_path(graph).is_file():
            _link_or_copy(table_path(graph), table_path(target))
        os.replace(tmp, target)
    except OnnxExportError:
        raise
    except Exception as exc:  # onnx and the quantizers raise many types; the caller needs one
        raise OnnxExportError(f"quantising {graph} to int8 failed: {exc}") from exc
    finally:
        for each, level in zip(loggers, levels):
            each.setLevel(level)
        tmp.unlink(missing_ok=True)
    return target


def _link_or_copy(source: Path, target: Path) -> None:
    """`target` becomes the same file as `source` (a hard link), or a copy where links are not possible."""
    if target.exists() and os.path.samefile(source, target):
        return
    staged = target.with_name(f".{target.name}.link-{os.getpid()}")
    try:
        os.link(source, staged)
    except OSError:
        shutil.copyfile(source, staged)
    os.replace(staged, target)


def _same_bytes(a: Path, b: Path, chunk: int = 1 << 24) -> bool:
    with open(a, "rb") as left, open(b, "rb") as right:
        while True:
            block = left.read(chunk)
            if block != right.read(chunk):
                return False
            if not block:
                return True


def _mean_pooled(transformer):
    """The transformer followed by mean pooling over the mask and L2 normalisation, as one module."""
    import torch

    class MeanPooledEncoder(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            # As sentence-transformers' Pooling (mean) and Normalize modules compute it.
            summed = (hidden * mask).sum(dim=1)
            pooled = summed / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    return MeanPooledEncoder(transformer)


CHECK_TEXTS = (
    "2022年百色市铝产业总产值是多少？",
    "廣元市鋁產業集群發展迅速，佔比逾三成。",
    "What is the annual capacity of Binzhou's aluminium industry?",
    "1,234,567.89元；同比增长-2.5%",
    "铝",
)


def export_sentence_encoder(model_folder: Path | str, out_folder: Path | str, name: str,
                            progress: Callable[[str], None] | None = None) -> Path:
    """Export a sentence-transformers folder to `out_folder` for `OnnxEncoder`.

    Only the architecture AluQA uses is accepted: Transformer, mean Pooling
    that includes the prompt, Normalize. The folder is written under a
    temporary name and renamed into place, its marker last.

    Raises:
        OnnxExportError: another architecture, or the export disagrees with the model.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder needs no hub
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Normalize, Pooling, Transformer

    model_folder, out_folder = Path(model_folder), Path(out_folder)
    step = progress or (lambda message: None)
    step(f"exporting {name} to ONNX in {out_folder}")
    started = time.monotonic()
    model = SentenceTransformer(str(model_folder), device="cpu")
    modules = list(model)
    pooling = modules[1].get_config_dict() if len(modules) == 3 and isinstance(modules[1], Pooling) else {}
    if not (isinstance(modules[0], Transformer) and isinstance(modules[-1], Normalize)
            and pooling.get("pooling_mode") == "mean" and pooling.get("include_prompt") is True):
        raise OnnxExportError(f"{model_folder} is not Transformer -> mean Pooling -> Normalize; "
                              "only that architecture is exported")
    prompts = model.prompts
    if "query" not in prompts or "document" not in prompts:
        raise OnnxExportError(f"{model_folder} declares no 'query' and 'document' prompts")
    transformer = modules[0].auto_model
    tokenizer = model.tokenizer
    max_length = int(model.max_seq_length)
    # Token ids through sentence-transformers' own tokenizer, so the check also
    # covers the prompts and truncation.
    check = [[tokenizer(prompts[side] + text, truncation=True, max_length=max_length)["input_ids"]
              for text in CHECK_TEXTS] for side in ("query", "document")]
    check.append([check[0][0]])  # one row alone: no padding at all
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_folder.name}.tmp-", dir=_parent(out_folder)))
    tmp.chmod(0o755)  # mkdtemp makes it private; the model folder beside it is not
    try:
        worst = export_module(_mean_pooled(transformer), tmp / ONNX_FILE, check, tokenizer.pad_token_id,
                              output_name="sentence_embedding")
        quantize_int8(tmp / ONNX_FILE)  # the questions' variant (`OnnxEncoder(int8_queries=...)`)
        shutil.copyfile(model_folder / TOKENIZER_FILE, tmp / TOKENIZER_FILE)
        marker = {
            "export_format": EXPORT_FORMAT,
            "model": name,
            "source": str(model_folder),
            "source_digest": source_digest(model_folder),
            "dimension": int(model.get_embedding_dimension()),
            "max_length": max_length,
            "pad_id": int(tokenizer.pad_token_id),
            "query_prefix": prompts["query"],
            "passage_prefix": prompts["document"],
            "opset": OPSET,
            "checked_max_abs_diff": worst,
            "exported": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        # Written last: its presence marks the folder as complete.
        (tmp / MARKER_FILE).write_text(json.dumps(marker, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        _replace_folder(tmp, out_folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    step(f"ONNX export ready in {time.monotonic() - started:.1f} s (largest difference to torch "
         f"{worst:.1e}): {out_folder}")
    return out_folder


def source_digest(model_folder: Path | str) -> str:
    """A digest of the model folder's build marker and config: changes when the model is rebuilt."""
    digest = hashlib.sha256()
    for name in ("aluqa_build.json", "config.json", "config_sentence_transformers.json"):
        try:
            digest.update((Path(model_folder) / name).read_bytes())
        except FileNotFoundError:
            digest.update(b"-")
        digest.update(b"\0")
    return digest.hexdigest()


def _parent(folder: Path) -> Path:
    folder.parent.mkdir(parents=True, exist_ok=True)
    return folder.parent


def _replace_folder(new: Path, target: Path) -> None:
    # os.replace cannot overwrite a non-empty folder: move the old one aside first.
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        os.replace(target, old)
    try:
        os.replace(new, target)
    finally:
        shutil.rmtree(old, ignore_errors=True)
