"""Subword token ids for the exported models, loaded fast enough for a one-question process.

The models' vocabulary is XLM-R's: a 250k-piece SentencePiece unigram model,
stored as `tokenizer.json` for the `tokenizers` library. Parsing that file
costs 0.7-1.3 s at every start and holds the GIL the whole time, which made it
the largest single cost of `aluqa ask`. The same model in SentencePiece's own
format (`tokenizer.spm.model`, 5 MB, converted once beside the JSON) loads in
about 0.45 s with the GIL released, so it overlaps the other start-up work.

`load_tokenizer(path)` returns one `SubwordTokenizer` per distinct file: the
SentencePiece one when the JSON is of XLM-R's shape and the conversion gives
the same ids as `tokenizers` on a check sample, else `tokenizers` itself.
Both give the ids `tokenizers` gives (training and the build path use it).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import struct
import threading
from pathlib import Path
from typing import Protocol, Sequence

logger = logging.getLogger(__name__)

SENTENCEPIECE_FILE = "tokenizer.spm.model"
# Written last, beside the model: its special tokens and the digest of the JSON it came from.
SENTENCEPIECE_MARKER = "tokenizer.spm.json"
_SPACE = "\u2581"  # SentencePiece's visible space, which starts each word's first piece

# Strings the conversion must tokenise exactly as `tokenizers` does before it is used:
# both scripts, English, figures, full-width forms, markup, and every whitespace case
# the two libraries treat differently unless handled (leading, trailing, runs, only spaces).
CHECK_SAMPLE = (
    "2022年百色市铝产业总产值是多少？", "魏橋創業集團三年關停5個熱電廠，停運42臺機組。",
    "query: 滨州市电解铝产能 646 万吨", "passage: 2022年,全市铝产业总产值1045亿元,占广西铝产业的80%以上。",
    "How much aluminium did Binzhou produce in 2022?", "ＡＢＣ１２３　全角 ½ №5 ℃ ⅩⅡ", "e\u0301 café naïve",
    "<script>alert(1)</script>", "x<mask>y</s><s> <pad><unk>", "abc ", "  leading", "a  \u3000\t\nb", " ",
    "\u3000", "", "\u200b", "😀 emoji 𠀀", "1,045.5亿元（+12.3%）", "Ｑ：什么是“铝精深加工”？",
)


class SubwordTokenizer(Protocol):
    """Token ids of texts, with `<s> ... </s>` around each when add_special_tokens (no truncation)."""

    def encode(self, texts: Sequence[str], add_special_tokens: bool = True) -> list[list[int]]: ...

    def pieces(self, ids: Sequence[int]) -> list[str]:
        """The vocabulary's string of each id (`▁` marks a preceding space)."""
        ...


class HuggingFaceTokenizer:
    """A `tokenizers.Tokenizer` behind the `SubwordTokenizer` interface."""

    def __init__(self, tokenizer):
        tokenizer.no_truncation()  # each user cuts its own inputs (`onnx_runtime.truncate`)
        tokenizer.no_padding()
        self._tokenizer = tokenizer

    @classmethod
    def from_file(cls, path: Path | str) -> "HuggingFaceTokenizer":
        from tokenizers import Tokenizer

        return cls(Tokenizer.from_file(str(path)))

    def encode(self, texts: Sequence[str], add_special_tokens: bool = True) -> list[list[int]]:
        return [list(e.ids) for e in self._tokenizer.encode_batch(list(texts), add_special_tokens=add_special_tokens)]

    def pieces(self, ids: Sequence[int]) -> list[str]:
        return [self._tokenizer.id_to_token(int(i)) or "" for i in ids]


class SentencePieceTokenizer:
    """The converted model through the `sentencepiece` library, with the ids `tokenizers` gives.

    What `tokenizers` does around the unigram model, done here: special tokens
    written in the text (`<s>`, `<mask>`, ...) are matched before anything
    else, and a text whose normalised form ends in a space gets a final `▁`
    piece (SentencePiece strips trailing space). The rest, the character map,
    collapsing spaces and the leading `▁`, SentencePiece does itself.
    """

    def __init__(self, path: Path | str, special_tokens: dict[str, int]):
        import sentencepiece

        path = str(path)
        self._model = sentencepiece.SentencePieceProcessor(model_file=path)
        # The character map alone, whitespace kept: tells whether a text ends in a space once normalised.
        self._normalizer = sentencepiece.SentencePieceNormalizer(
            model_file=path, add_dummy_prefix=False, escape_whitespaces=False, remove_extra_whitespaces=False)
        self._specials = dict(special_tokens)
        # Longest first, so that no special token is cut by a shorter one it starts with.
        self._special_pattern = re.compile("|".join(re.escape(p) for p in sorted(self._specials, key=len, reverse=True))
                                           or r"(?!)")  # none: a pattern that never matches
        self._bos, self._eos = self._model.bos_id(), self._model.eos_id()
        self._space = self._model.piece_to_id(_SPACE)

    def encode(self, texts: Sequence[str], add_special_tokens: bool = True) -> list[list[int]]:
        return [self._encode_one(text, add_special_tokens) for text in texts]

    def pieces(self, ids: Sequence[int]) -> list[str]:
        return [self._model.id_to_piece(int(i)) for i in ids]

    def _encode_one(self, text: str, add_special_tokens: bool) -> list[int]:
        ids = [self._bos] if add_special_tokens else []
        start = 0
        for match in self._special_pattern.finditer(text):
            ids += self._pieces(text[start:match.start()])
            ids.append(self._specials[match.group()])
            start = match.end()
        ids += self._pieces(text[start:])
        if add_special_tokens:
            ids.append(self._eos)
        return ids

    def _pieces(self, text: str) -> list[int]:
        if not text:
            return []
        ids = self._model.encode(text)
        if self._normalizer.normalize(text).endswith(" "):
            ids.append(self._space)
        return ids


def load_tokenizer(path: Path | str) -> SubwordTokenizer:
    """The tokenizer of a `tokenizer.json`, one shared object per distinct file.

    The question encoder and the answer selector read the same vocabulary
    (two copies of one file); both get the same object, loaded once. The
    SentencePiece form is used when it exists beside the JSON or can be
    converted now (see `convert_to_sentencepiece`); `make model` converts it
    at set-up so that questions never pay for it.
    """
    path = Path(path)
    with _LOCK:  # the encoder may load in a thread while the selector asks for the same file
        marker = ensure_sentencepiece(path)
        key = marker.get("source") or hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()
        if key not in _TOKENIZERS:
            if marker.get("matches_tokenizers"):
                _TOKENIZERS[key] = SentencePieceTokenizer(path.with_name(SENTENCEPIECE_FILE), marker["special_tokens"])
            else:
                _TOKENIZERS[key] = HuggingFaceTokenizer.from_file(path)
        return _TOKENIZERS[key]


_TOKENIZERS: dict = {}  # tokenizer.json content digest -> its tokenizer
_LOCK = threading.Lock()


def ensure_sentencepiece(path: Path | str) -> dict:
    """Convert `path` unless done before (or found impossible); the conversion's marker, {} when none was written."""
    path = Path(path)
    marker = _read_marker(path)
    if marker is None:
        convert_to_sentencepiece(path)
        marker = _read_marker(path)
    return marker or {}


def _read_marker(path: Path) -> dict | None:
    """The conversion's marker beside `path` when it was made from this very file, else None.

    It records a failed conversion too (`matches_tokenizers` false), so that
    one is not tried again at every start.
    """
    try:
        marker = json.loads(path.with_name(SENTENCEPIECE_MARKER).read_text(encoding="utf-8"))
        status = path.stat()
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or (marker.get("json_size"), marker.get("json_mtime_ns")) != (
            status.st_size, status.st_mtime_ns):
        return None
    if marker.get("matches_tokenizers") and not path.with_name(SENTENCEPIECE_FILE).is_file():
        return None
    return marker


def _write_marker(path: Path, raw: bytes, **fields) -> None:
    """Record the conversion's outcome for the JSON whose bytes are `raw`."""
    status = path.stat()
    marker = {**fields, "json_size": status.st_size, "json_mtime_ns": status.st_mtime_ns,
              "source": hashlib.blake2b(raw, digest_size=16).hexdigest()}
    target = path.with_name(SENTENCEPIECE_MARKER)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(marker, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, target)


def convert_to_sentencepiece(path: Path | str) -> bool:
    """Write the SentencePiece form of an XLM-R-style `tokenizer.json` beside it; True when written.

    Used only when it tokenises `CHECK_SAMPLE` exactly as `tokenizers` does;
    otherwise (another kind of tokenizer, or a mismatch) nothing is written
    and `load_tokenizer` keeps using `tokenizers`. Needs `protobuf` (with
    `onnx`, installed at set-up), not at question time.
    """
    path = Path(path)
    model_path = path.with_name(SENTENCEPIECE_FILE)
    tmp = model_path.with_name(f".{model_path.name}.tmp-{os.getpid()}")
    try:
        raw = path.read_bytes()  # read once: parsed, hashed for the marker, and the reference tokenizer
        try:
            proto, special_tokens = _model_proto(json.loads(raw))
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            logger.info("keeping the tokenizers library for %s: %s", path, exc)
            _write_marker(path, raw, matches_tokenizers=False, why=str(exc))
            return False
        tmp.write_bytes(proto)
        converted = SentencePieceTokenizer(tmp, special_tokens)
        from tokenizers import Tokenizer

        reference = HuggingFaceTokenizer(Tokenizer.from_str(raw.decode("utf-8")))
        if not all(converted.encode(CHECK_SAMPLE, specials) == reference.encode(CHECK_SAMPLE, specials)
                   for specials in (True, False)):
            logger.warning("the SentencePiece form of %s tokenises differently; keeping the tokenizers library", path)
            _write_marker(path, raw, matches_tokenizers=False, why="different ids on the check sample")
            return False
        os.replace(tmp, model_path)
        _write_marker(path, raw, matches_tokenizers=True, special_tokens=special_tokens)
        return True
    except OSError as exc:  # e.g. a read-only folder: the JSON still works
        logger.warning("cannot write the SentencePiece form of %s (%s); keeping the tokenizers library", path, exc)
        return False
    finally:
        tmp.unlink(missing_ok=True)


def _model_proto(spec: dict) -> tuple[bytes, dict[str, int]]:
    """A serialized SentencePiece ModelProto with the JSON's pieces, scores and character map.

    Raises ValueError when the JSON is not a unigram model with a precompiled
    character map, space collapsing and `▁` words, the only shape converted.
    """
    from sentencepiece import sentencepiece_model_pb2 as sp_model

    model, normalizers = spec["model"], spec.get("normalizer") or {}
    steps = normalizers.get("normalizers", [normalizers]) if normalizers.get("type") == "Sequence" else [normalizers]
    pre = spec.get("pre_tokenizer") or {}
    if model.get("type") != "Unigram" or model.get("byte_fallback"):
        raise ValueError("not a unigram model without byte fallback")
    if [step.get("type") for step in steps] != ["Precompiled", "Replace"] or steps[1].get("content") != " ":
        raise ValueError("normaliser is not a character map then space collapsing")
    if (pre.get("type"), pre.get("replacement"), pre.get("prepend_scheme"), pre.get("split", True)) != (
            "Metaspace", _SPACE, "always", True):
        raise ValueError("pre-tokeniser is not Metaspace with a leading space on every text")
    special_tokens = {token["content"]: token["id"] for token in spec.get("added_tokens", [])}
    pieces = model["vocab"]
    if any(pieces[i][0] != content for content, i in special_tokens.items()):
        raise ValueError("special tokens are not pieces of the vocabulary")
    unk_id = model["unk_id"]
    proto = sp_model.ModelProto()
    for i, (piece, score) in enumerate(pieces):
        entry = proto.pieces.add()
        entry.piece, entry.score = piece, score
        # Special tokens become control pieces, never matched inside text: `SentencePieceTokenizer`
        # matches them itself, before normalisation, as `tokenizers` does.
        entry.type = (entry.UNKNOWN if i == unk_id else entry.CONTROL if piece in special_tokens else entry.NORMAL)
    post = spec.get("post_processor") or {}
    template = post.get("special_tokens", {})
    bos, eos = (template[name]["ids"][0] for name in ("<s>", "</s>"))
    trainer = proto.trainer_spec
    trainer.model_type = trainer.UNIGRAM
    trainer.vocab_size = len(pieces)
    trainer.unk_id, trainer.bos_id, trainer.eos_id = unk_id, bos, eos
    trainer.pad_id = special_tokens.get("<pad>", -1)
    normalizer = proto.normalizer_spec
    normalizer.name = "tokenizer.json"
    normalizer.precompiled_charsmap = _darts_aligned(base64.b64decode(steps[0]["precompiled_charsmap"]))
    normalizer.add_dummy_prefix = True  # Metaspace's leading ▁
    normalizer.remove_extra_whitespaces = True  # collapses runs as Replace does (and strips; see _pieces)
    normalizer.escape_whitespaces = True
    return proto.SerializeToString(), special_tokens


def _darts_aligned(charsmap: bytes) -> bytes:
    """The character map with its trie padded to whole 1,024-unit blocks, which SentencePiece requires.

    Layout: u32 trie size in bytes, the trie's u32 units, the replacement
    strings. Units past the trie's end are never reached by a lookup.
    """
    (size,) = struct.unpack("<I", charsmap[:4])
    trie, rest = charsmap[4:4 + size], charsmap[4 + size:]
    trie += bytes(-len(trie) % (1024 * 4))
    return struct.pack("<I", len(trie)) + trie + rest
