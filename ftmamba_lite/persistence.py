"""Files the package writes, written whole and verified when read: the one place for both.

Every writer of the package goes through here: checkpoints (:mod:`ftmamba_lite.learn.checkpoints`), saved
recommenders (:mod:`ftmamba_lite.learn.saved`), sweep run files (:mod:`ftmamba_lite.learn.sweep`) and
downloads (:mod:`ftmamba_lite.datasets.download`).

* **Atomic writes** (:func:`atomic_write_bytes`): a temporary file beside the target, flushed to disk, then
  ``os.replace``; a reader sees the old file or the new one, never half of one.
* **Digests** (:func:`sha256_hex`): a JSON document carries the sha256 of its own canonical body
  (:func:`write_json_with_digest` / :func:`read_json_with_digest`); a folder carries a manifest with the
  sha256 of every file in it, the manifest itself under its own digest (:func:`write_folder` /
  :func:`read_folder`). A file that fails is refused by name (:class:`CorruptFileError`).
* **Safe replacement** (:func:`write_folder`): the new folder is complete on disk before the old one is moved
  aside, so a failure at any point leaves one loadable artefact at the path.
* **One version source and one policy** (:func:`package_version`, :func:`check_format`): every artefact
  records its ``format`` (the layout, an integer) and the package version that wrote it. Another format is
  refused, naming both; another package version with the same format loads, with a warning.
* **Typed ids** (:func:`ids_to_json` / :func:`ids_from_json`): ids as ``[type, value]`` pairs, so 1, 1.0,
  True and "1" stay distinct through JSON.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "MANIFEST",
    "CorruptFileError",
    "atomic_write_bytes",
    "atomic_write_text",
    "canonical_json",
    "check_format",
    "PARSERS",
    "TYPE_NAMES",
    "ids_from_json",
    "ids_to_json",
    "package_version",
    "read_folder",
    "read_json_with_digest",
    "sha256_hex",
    "to_typed",
    "write_folder",
    "write_json_with_digest",
]

MANIFEST = "manifest.json"
"""The file of a saved folder that lists every other file with its sha256 (:func:`write_folder`)."""
DIGEST_FIELD = "sha256"
"""The key of a JSON document written by :func:`write_json_with_digest` that holds its digest."""


class CorruptFileError(ValueError):
    """A file the package wrote that cannot be used as it is: missing, damaged, edited or of another format.

    ``path`` is the file; the message names it and says what is wrong and what to do.
    """

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = Path(path)
        self.problem = problem


def package_version() -> str:
    """The running ftmamba-lite's version: the one source every artefact records."""
    from . import __version__

    return __version__


def sha256_hex(data: bytes) -> str:
    """The sha256 digest of ``data`` as 64 hex digits."""
    return hashlib.sha256(data).hexdigest()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` whole or not at all (temporary file beside it, fsync, ``os.replace``).

    The parent folder is created when missing. Returns the path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """:func:`atomic_write_bytes` of ``text`` in UTF-8."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def canonical_json(document: Any) -> bytes:
    """The bytes a document's digest covers: JSON with sorted keys and no spaces (NaN and infinities as
    Python's json module writes them, ``NaN``, ``Infinity``)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8")


def write_json_with_digest(path: str | os.PathLike, document: Mapping[str, Any]) -> Path:
    """Write the dict ``document`` atomically as JSON with a ``"sha256"`` field over its canonical form.

    Raises TypeError when ``document`` is not a dict or holds a value JSON cannot represent, ValueError when
    it already has a ``"sha256"`` key.
    """
    if not isinstance(document, Mapping):
        raise TypeError(f"write_json_with_digest writes a dict, got {type(document).__name__}")
    if DIGEST_FIELD in document:
        raise ValueError(f"the object already has a {DIGEST_FIELD!r} key: that name holds the digest")
    record = {**document, DIGEST_FIELD: sha256_hex(canonical_json(document))}
    return atomic_write_text(path, json.dumps(record, indent=1, sort_keys=True) + "\n")


def parse_json_with_digest(path: str | os.PathLike, data: bytes) -> dict[str, Any]:
    """The document of :func:`write_json_with_digest` from the file's bytes ``data``, its digest checked and
    removed.

    Raises :class:`CorruptFileError` naming ``path`` when the bytes are not UTF-8 JSON of an object, hold no
    digest, or the body does not match it (edited, damaged, truncated).
    """
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise CorruptFileError(path, f"is not valid JSON ({err}): damaged or truncated") from err
    if not isinstance(document, dict):
        raise CorruptFileError(path, f"holds a JSON {type(document).__name__}, not the object written here")
    stored = document.pop(DIGEST_FIELD, None)
    if not isinstance(stored, str):
        raise CorruptFileError(
            path,
            f"has no {DIGEST_FIELD} digest (written by an older version or another program, or damaged): it "
            "cannot be verified",
        )
    if sha256_hex(canonical_json(document)) != stored:
        raise CorruptFileError(path, "its content does not match its sha256 digest: edited or damaged")
    return document


def read_json_with_digest(path: str | os.PathLike) -> dict[str, Any]:
    """The document written by :func:`write_json_with_digest`, verified (see :func:`parse_json_with_digest`).

    FileNotFoundError names a missing file; a file that cannot be read is a :class:`CorruptFileError`.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} does not exist") from None
    except OSError as err:
        raise CorruptFileError(path, f"cannot be read ({err.strerror or err})") from err
    return parse_json_with_digest(path, data)


def check_format(path: str | os.PathLike, document: Mapping[str, Any], kind: str, fmt: int) -> None:
    """The version policy: ``document`` (an artefact's header) must be a ``kind`` of format ``fmt``.

    A header of another kind or format is refused (:class:`CorruptFileError` naming both); another package
    version with the same format gives a warning only (the layout is the same; the numbers may differ by
    float rounding of other kernels).
    """
    if document.get("kind") != kind:
        raise CorruptFileError(path, f"holds a {document.get('kind')!r}, not a {kind}")
    if document.get("format") != fmt:
        raise CorruptFileError(
            path,
            f"is a {kind} of format {document.get('format')!r} (ftmamba-lite {document.get('version')}); "
            f"this ftmamba-lite {package_version()} reads format {fmt}: load it with the version that wrote "
            "it",
        )
    if document.get("version") != package_version():
        warnings.warn(
            f"{path} was written by ftmamba-lite {document.get('version')}, this is {package_version()} "
            "(same format: loaded)",
            stacklevel=3,
        )


def _fsync_dir(path: Path) -> None:
    with suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_folder(
    path: str | os.PathLike,
    files: Mapping[str, bytes],
    header: Mapping[str, Any],
    overwrite: bool = False,
) -> Path:
    """Write ``files`` (name -> bytes) and a :data:`MANIFEST` (``header`` plus every file's sha256) as the
    folder ``path``.

    The new folder is written beside ``path`` and complete on disk before anything at ``path`` is touched;
    an existing folder is replaced only with ``overwrite`` and only when it holds a manifest of the same
    ``kind`` (so a user's own folder is never deleted): it is moved aside, the new folder moved in, and only
    then is the old one deleted. A failure at any point leaves the old folder or the new one at ``path``.
    """
    path = Path(path)
    kind = header.get("kind")
    if path.exists():
        occupied = path.is_file() or any(path.iterdir())
        if occupied and not overwrite:
            raise FileExistsError(f"{path} exists and is not empty: pass overwrite=True to replace it")
        if occupied and not _holds_kind(path, kind):
            raise FileExistsError(f"{path} is not a saved {kind} (no valid {MANIFEST}): not replacing it")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot save to {path}: the folder {path.parent} does not exist")
    bad = [name for name in files if name == MANIFEST or "/" in name or name.startswith(".")]
    if bad:
        raise ValueError(f"file names {bad} cannot be saved in a folder (reserved or not plain names)")
    new = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.saving-"))
    try:
        for name, data in files.items():
            with open(new / name, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        manifest = {**header, "files": {name: sha256_hex(data) for name, data in files.items()}}
        write_json_with_digest(new / MANIFEST, manifest)
        _fsync_dir(new)
        _move_into_place(new, path)
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
    return path


def _holds_kind(path: Path, kind: object) -> bool:
    try:
        return read_json_with_digest(path / MANIFEST).get("kind") == kind
    except (OSError, CorruptFileError):
        return False


def _move_into_place(new: Path, path: Path) -> None:
    """Rename ``new`` to ``path``; an existing ``path`` is moved aside first and deleted last."""
    if not path.exists():
        os.replace(new, path)
        return
    old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.old-"))
    os.rmdir(old)
    os.replace(path, old)
    try:
        os.replace(new, path)
    except BaseException:
        os.replace(old, path)  # put the old one back
        raise
    _fsync_dir(path.parent)
    shutil.rmtree(old, ignore_errors=True)  # the new one is in place: a leftover is harmless


def read_folder(
    path: str | os.PathLike, kind: str, fmt: int, required: Sequence[str]
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The manifest and the files of a folder written by :func:`write_folder`, every byte verified.

    Raises FileNotFoundError when ``path`` or its manifest is missing, :class:`CorruptFileError` naming the
    file when a listed file is missing, changed or damaged, a ``required`` file is not listed, or the folder
    holds another kind or format (:func:`check_format`).
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is not a folder: give the folder that save wrote")
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{manifest_path} not found: {path} is not a folder written by save")
    manifest = read_json_with_digest(manifest_path)
    check_format(manifest_path, manifest, kind, fmt)
    listed = manifest.get("files")
    if not isinstance(listed, dict):
        raise CorruptFileError(manifest_path, "lists no files")
    absent = [name for name in required if name not in listed]
    if absent:
        raise CorruptFileError(manifest_path, f"does not list {absent}: the folder is incomplete")
    files = {}
    for name, digest in listed.items():
        file = path / name
        if not file.is_file():
            raise CorruptFileError(file, "is missing: the folder is incomplete (save it again)")
        data = file.read_bytes()
        if sha256_hex(data) != digest:
            raise CorruptFileError(
                file, f"does not match its sha256 in {MANIFEST}: the file was changed or damaged"
            )
        files[name] = data
    return manifest, files


TYPE_NAMES = {str: "str", int: "int", float: "float", bool: "bool"}
"""The Python types a saved id or category may have, and their names in the JSON ``[type, value]`` pairs."""
PARSERS = {name: kind for kind, name in TYPE_NAMES.items()}


def to_typed(value: object, column: str, what: str = "id") -> list[object]:
    """``value`` as a JSON ``[type, value]`` pair (1, 1.0, True and "1" stay distinct); TypeError names the
    column and the types that can be saved, ValueError a NaN or infinite number."""
    plain = value.item() if isinstance(value, np.generic) else value
    kind = TYPE_NAMES.get(type(plain))
    if kind is None:
        raise TypeError(
            f"{what} {value!r} of column {column!r} has type {type(value).__name__}; a saved {what} is of "
            f"type {sorted(TYPE_NAMES.values())}: convert the column first"
        )
    if kind == "float" and not math.isfinite(plain):
        raise ValueError(f"{what} {value!r} of column {column!r} is not a finite number")
    return [kind, plain]


def ids_to_json(values: Sequence[object], column: str) -> list[list[object]]:
    """Ids as JSON ``[type, value]`` pairs (:func:`to_typed`)."""
    return [to_typed(value, column) for value in values]


def ids_from_json(pairs: Sequence[Sequence[object]]) -> np.ndarray:
    """The ids of :func:`ids_to_json`: int64 when all are ints, else an object array."""
    values = [PARSERS[kind](value) for kind, value in pairs]
    kinds = {kind for kind, _ in pairs}
    return np.array(values, dtype=np.int64 if kinds == {"int"} else object)
