"""Running exported transformer models with ONNX Runtime, without torch.

The question path imports this module, never torch, transformers or
sentence-transformers: those cost about 10 s to import, ONNX Runtime about
0.2 s. The ONNX files are written at set-up by `embeddings.model.onnx_export`
(which does need torch); token ids come from `embeddings.model.subword`.

Two layers:

- `OnnxModel`: one ONNX graph taking `input_ids` and `attention_mask`
  (int64, batch x length) and returning one float array. Any XLM-R-style
  module exported with `embeddings.model.onnx_export.export_module` runs through it
  (the sentence encoder here, a cross-encoder scorer likewise). The token
  embedding table (250k x 384, nine tenths of the model) is kept out of the
  graph in a `.npy` file beside it, memory-mapped and looked up here: loading
  a graph that holds it cost about a second per model at every start.
- `OnnxEncoder`: the `TextEncoder` of an exported sentence-transformers model
  folder (`model.onnx`, `tokenizer.json`, `aluqa_onnx.json`).

Each graph also has an int8 variant beside it (`model.int8.onnx`, see
`int8_path`); `qa.Settings.int8` says which models answer with it.
"""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from typing import Sequence

import numpy as np

from embeddings.model.subword import load_tokenizer

ONNX_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
MARKER_FILE = "aluqa_onnx.json"
# Bump whenever the exported graph or the marker changes, so older exports are redone.
EXPORT_FORMAT = 2
# The graph input that receives the looked-up token embeddings, and the table's file suffix.
TOKEN_EMBEDDINGS = "token_embeddings"
TABLE_SUFFIX = ".embeddings.npy"
# The int8 variant of a graph: `model.onnx` -> `model.int8.onnx`.
INT8_SUFFIX = ".int8"
def table_path(graph: Path | str) -> Path:
    """The token embedding table that belongs to a graph: `model.onnx` -> `model.embeddings.npy`."""
    graph = Path(graph)
    return graph.with_name(graph.stem + TABLE_SUFFIX)


def int8_path(graph: Path | str) -> Path:
    """The int8 variant of a graph, written beside it by `embeddings.model.onnx_export.quantize_int8` (or `_blockwise`)."""
    graph = Path(graph)
    return graph.with_name(graph.stem + INT8_SUFFIX + graph.suffix)


def ensure_int8(graph: Path | str) -> Path:
    """The int8 variant of `graph`, made now (a few seconds, no torch) if the export step did not make it.

    Made here, it is ONNX Runtime's dynamic int8 (`quantize_int8`); a model
    whose variant is made otherwise (the answer selector's, in int8 blocks)
    is made by its own export step first.
    """
    target = int8_path(graph)
    if target.is_file() and table_path(target).is_file() == table_path(graph).is_file():
        return target
    if not Path(graph).is_file():
        raise OnnxModelError(f"no ONNX model at {graph}; run `make model` to export it")
    from embeddings.model.onnx_export import OnnxExportError, quantize_int8

    try:
        return quantize_int8(graph)
    except OnnxExportError as exc:
        raise OnnxModelError(f"{exc}; set ALUQA_INT8=none to answer in fp32") from exc


class OnnxModelError(RuntimeError):
    """An exported model is missing or unreadable; the message says how to recreate it."""


class OnnxModel:
    """An ONNX graph of (input_ids, attention_mask) -> one float array, on the CPU.

    The session is created on first use, so building the object costs nothing.

    Args:
        path: the `.onnx` file.
        threads: intra-op threads; None lets ONNX Runtime use every core.
            One thread suits a single short input: splitting a tiny matrix
            product over threads gains little, and on busy cores the threads
            wait for each other.
        int8: run the graph's int8 variant (`int8_path(path)`), made from
            the graph when the export step has not made it yet.
    """

    def __init__(self, path: Path | str, threads: int | None = 1, int8: bool = False):
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1 or None, got {threads!r}")
        self.path = Path(path)
        self.threads = threads
        self.int8 = int8
        self._session = None
        self._table = None  # the memory-mapped token embedding table, when the graph takes one
        # A warm-up thread may be creating the session when the first batch arrives: wait for it, not make two.
        self._creating = threading.Lock()

    def session(self):
        """The onnxruntime.InferenceSession, created once."""
        with self._creating:
            return self._session or self._create_session()

    def _create_session(self):
        import onnxruntime as ort

        if not self.path.is_file():
            raise OnnxModelError(f"no ONNX model at {self.path}; run `make model` "
                                 "(python -m embeddings.model.build) to export it")
        path = ensure_int8(self.path) if self.int8 else self.path
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads or 0  # 0: ONNX Runtime's default, every core
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # Worker threads that spin while waiting steal the core from the thread doing
        # the work when other processes already hold the cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # errors only: nothing on stderr of `aluqa ask`
        try:
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise OnnxModelError(f"cannot load the ONNX model {path} ({exc}); re-export it with "
                                 "`python -m embeddings.model.build --force`") from exc
        if any(i.name == TOKEN_EMBEDDINGS for i in self._session.get_inputs()):
            self._table = _load_table(table_path(path))
        return self._session

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """The graph's first output for one padded batch."""
        return self.run_all(input_ids, attention_mask)[0]

    def run_all(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> list[np.ndarray]:
        """Every output of the graph for one padded batch, in the graph's order."""
        session = self.session()
        feeds = {"input_ids": np.ascontiguousarray(input_ids, dtype=np.int64),
                 "attention_mask": np.ascontiguousarray(attention_mask, dtype=np.int64)}
        if self._table is not None:
            feeds[TOKEN_EMBEDDINGS] = np.take(self._table, feeds["input_ids"], axis=0)
        return session.run(None, feeds)


def _load_table(path: Path) -> np.ndarray:
    """The token embedding table, memory-mapped: only the rows looked up are ever read from disk.

    One mapping per file (by device and inode): the encoder's two sessions, and
    the answer selector when its table is a hard link to the encoder's (see
    `embeddings.model.onnx_export.share_table`), read and count the same pages once.
    """
    hint = "re-export the model with `python -m embeddings.model.build --force`"
    try:
        status = path.stat()
        key = (status.st_dev, status.st_ino)
        if key not in _TABLES:
            _TABLES[key] = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as exc:
        raise OnnxModelError(f"the token embedding table {path} is missing or unreadable ({exc}); {hint}") from exc
    table = _TABLES[key]
    if table.ndim != 2 or table.dtype != np.float32:
        raise OnnxModelError(f"{path} is not a float32 token embedding table; {hint}")
    return table


_TABLES: dict = {}  # (device, inode) of a table file -> its memory map


def truncate(token_ids: list[int], max_length: int) -> list[int]:
    """Cut `<s> ... </s>` to max_length tokens keeping the closing `</s>`.

    The same ids as transformers' tokenizer with truncation=True and
    max_length (the special tokens count within max_length).
    """
    if len(token_ids) <= max_length:
        return token_ids
    return [*token_ids[: max_length - 1], token_ids[-1]]


def pad_batch(token_ids: Sequence[Sequence[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(input_ids, attention_mask), int64, right-padded to the longest row."""
    longest = max(len(row) for row in token_ids)
    ids = np.full((len(token_ids), longest), pad_id, dtype=np.int64)
    mask = np.zeros((len(token_ids), longest), dtype=np.int64)
    for i, row in enumerate(token_ids):
        ids[i, :len(row)] = row
        mask[i, :len(row)] = 1
    return ids, mask


def read_marker(folder: Path | str) -> dict | None:
    """The marker of a finished export in `folder`, or None (absent, unreadable or of another format)."""
    try:
        marker = json.loads((Path(folder) / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or marker.get("export_format") != EXPORT_FORMAT:
        return None
    if not all((Path(folder) / name).is_file() for name in (ONNX_FILE, TOKENIZER_FILE)):
        return None
    if not table_path(Path(folder) / ONNX_FILE).is_file():
        return None
    return marker


def length_batches(lengths: Sequence[int], size: int, max_tokens: int) -> list[list[int]]:
    """Row indices, longest first, in batches of at most `size` rows and about `max_tokens` padded tokens.

    A batch pads every row to its longest, so a fixed count of rows wastes
    most of its work when a few long passages sit with short ones; and on
    CPU small matrices run faster per token (measured in docs/performance.md).
    A row longer than `max_tokens` gets a batch of its own.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    for i in order:
        current = batches[-1] if batches else None
        # Longest first: the batch's first row sets its padded length.
        if current and len(current) < size and (len(current) + 1) * lengths[current[0]] <= max_tokens:
            current.append(i)
        else:
            batches.append([i])
    return batches


class OnnxEncoder:
    """The sentence encoder exported by `embeddings.model.onnx_export.export_sentence_encoder`.

    Same vectors as `SentenceTransformerEncoder` on the model it was exported
    from (the graph holds the transformer, mean pooling and L2
    normalisation; the prompts are added here), so it reports the same name
    and indexes built by either are interchangeable.

    Args:
        folder: the export folder.
        name: the model name recorded in index manifests (default: the marker's).
        batch_size: at most this many texts per run when encoding documents.
        max_batch_tokens: and about this many padded tokens per run.
        query_threads: intra-op threads for questions (one text at a time).
        document_threads: intra-op threads for documents; None: every core.
        int8_queries: encode questions with the int8 variant of the graph
            (`qa.Settings.int8` names "query" by default). The document
            vectors do not change with it, so neither do the name and the
            indexes this encoder may read.
        int8_documents: encode documents with the int8 variant too, one text
            per pass: the variant quantises a pass's activations with one
            scale, so a text read with others would get a vector that depends
            on them (an incremental build would then differ from a full one).
            The passes run side by side, one thread each, on
            `document_threads` threads (None: one per core): one text per pass
            leaves a pass too small to share among threads (measured, docs/performance.md,
            section 12: 2.4x the fp32 batches' texts/s, against 1.4x with
            both threads in each pass). The vectors differ from fp32 ones
            (cosine about 0.997), so the caller gives this encoder its own
            `name` (`embeddings.model.build.INT8_DOCUMENTS_MODEL`).
    """

    def __init__(self, folder: Path | str, name: str | None = None, batch_size: int = 32,
                 query_threads: int | None = 1, document_threads: int | None = None, max_batch_tokens: int = 1024,
                 int8_queries: bool = False, int8_documents: bool = False):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        self.folder = Path(folder)
        marker = read_marker(self.folder)
        if marker is None:
            raise OnnxModelError(f"no finished ONNX export in {self.folder}; run `make model` "
                                 "(python -m embeddings.model.build) to export it")
        self.name = name or marker["model"]
        self.dimension = int(marker["dimension"])
        # int8 texts one per pass, so that no text's vector depends on another's (see int8_documents).
        self.batch_size = 1 if int8_documents else batch_size
        self.max_batch_tokens = max_batch_tokens
        self._query_prefix = marker["query_prefix"]
        self._passage_prefix = marker["passage_prefix"]
        self._max_length = int(marker["max_length"])
        self._pad_id = int(marker["pad_id"])
        self._tokenizer = None
        # Two sessions of one file, each created on first use: a question process
        # only ever makes the one-thread session, a build only the other.
        self._query_model = OnnxModel(self.folder / ONNX_FILE, threads=query_threads, int8=int8_queries)
        # Passes of the documents' session that run at once (one session may run on many threads).
        self._document_passes = (document_threads or os.cpu_count() or 1) if int8_documents else 1
        self._document_model = OnnxModel(self.folder / ONNX_FILE, int8=int8_documents,
                                         threads=1 if int8_documents else document_threads)

    def warm_up(self, for_documents: bool = False) -> None:
        """Load the tokenizer and the question session (or the documents' one) now rather than on first use."""
        self._tokenize(["warm up"])
        (self._document_model if for_documents else self._query_model).session()

    def _tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(self.folder / TOKENIZER_FILE)
        return [truncate(ids, self._max_length) for ids in self._tokenizer.encode(texts)]

    def _encode(self, model: OnnxModel, texts: Sequence[str], prefix: str, show_progress: bool,
                passes: int = 1) -> np.ndarray:
        """Vectors of `texts`, in batches of similar length; `passes` batches at a time on as many threads."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        token_ids = self._tokenize([prefix + text for text in texts])
        batches = length_batches([len(ids) for ids in token_ids], self.batch_size, self.max_batch_tokens)
        bar = None
        if show_progress and len(batches) > 1:
            from tqdm import tqdm

            bar = tqdm(total=len(batches), desc="Batches")

        def encode(rows: list[int]) -> tuple[list[int], np.ndarray]:
            return rows, model.run(*pad_batch([token_ids[i] for i in rows], self._pad_id))

        with ThreadPoolExecutor(max_workers=passes) if passes > 1 else nullcontext() as pool:
            # ONNX Runtime runs without the GIL, so the threads' passes truly run side by side.
            done = pool.map(encode, batches) if pool is not None else map(encode, batches)
            for rows, vectors in done:
                out[list(rows)] = vectors
                if bar is not None:
                    bar.update()
        if bar is not None:
            bar.close()
        return out

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(self._query_model, texts, self._query_prefix, False)

    def encode_documents(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        return self._encode(self._document_model, texts, self._passage_prefix, show_progress,
                            self._document_passes)

