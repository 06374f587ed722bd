"""Writing files so that nothing is ever half-written, and reading them back only when they are intact.

Every file the package writes goes through :func:`atomic_write_bytes` (or :func:`atomic_write_text`): the
content goes to a temporary file beside the target, is flushed to disk, and is renamed over the target with
:func:`os.replace`, which is atomic on POSIX and Windows. A reader therefore sees the old file or the new
one, never a mixture, and an interrupted write (Ctrl-C, a full disk, a killed process) leaves the old file as
it was.

JSON records that must be verified when read are written by :func:`write_json_with_digest`: the object plus
a ``"sha256"`` field holding :func:`sha256_hex` of the object's canonical JSON form (sorted keys, no spaces).
:func:`read_json_with_digest` recomputes it and raises :class:`CorruptFileError`, naming the file and what is
wrong, for a file that is unreadable, not JSON, without a digest, or whose content no longer matches it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from contextlib import suppress
from pathlib import Path
from typing import Any

__all__ = [
    "DIGEST_FIELD",
    "CorruptFileError",
    "atomic_write_bytes",
    "atomic_write_text",
    "canonical_json",
    "read_json_with_digest",
    "sha256_hex",
    "write_json_with_digest",
]

DIGEST_FIELD = "sha256"


class CorruptFileError(ValueError):
    """A file the package wrote that fails its check when read. ``path`` is the file, ``problem`` what is
    wrong with it; the message names both."""

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = Path(path)
        self.problem = problem


def sha256_hex(data: bytes) -> str:
    """The SHA-256 digest of ``data`` as 64 lowercase hex digits."""
    return hashlib.sha256(data).hexdigest()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that the file is either the old one or complete, never half-written.

    The parent folder is created if needed. A temporary file beside ``path`` (hidden: ``.<name>.*.tmp``) is
    written, flushed to disk, then renamed over ``path``; on any failure, or an interruption, the temporary
    file is removed and ``path`` is left as it was.
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


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """:func:`atomic_write_bytes` of ``text`` encoded as UTF-8."""
    atomic_write_bytes(path, text.encode("utf-8"))


def canonical_json(obj: Any) -> bytes:
    """The bytes the digest is taken over: JSON with sorted keys and no spaces (NaN and infinities as
    Python's json module writes them, ``NaN``, ``Infinity``)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode("utf-8")


def write_json_with_digest(path: str | os.PathLike, obj: dict[str, Any]) -> None:
    """Atomically write the dict ``obj`` as JSON with a ``"sha256"`` field over its canonical form.

    NaN and infinities are written as Python's json module does (``NaN``, ``Infinity``) and read back.

    Raises:
        TypeError: ``obj`` is not a dict, or holds a value JSON cannot represent.
        ValueError: ``obj`` already has a ``"sha256"`` key.
    """
    if not isinstance(obj, dict):
        raise TypeError(f"write_json_with_digest writes a dict, got {type(obj).__name__}")
    if DIGEST_FIELD in obj:
        raise ValueError(f"the object already has a {DIGEST_FIELD!r} key: that name holds the digest")
    digest = sha256_hex(canonical_json(obj))
    record = {**obj, DIGEST_FIELD: digest}
    atomic_write_text(path, json.dumps(record, indent=1, sort_keys=True) + "\n")


def read_json_with_digest(path: str | os.PathLike) -> dict[str, Any]:
    """The dict :func:`write_json_with_digest` wrote to ``path``, its digest checked (and removed).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CorruptFileError: the file cannot be read, is not UTF-8 JSON of an object, has no digest, or its
            content does not match the digest (edited, damaged, truncated). The message names the file.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as error:
        raise CorruptFileError(path, f"cannot be read ({error.strerror or error})") from error
    try:
        record = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise CorruptFileError(path, f"is not valid JSON ({error}): damaged or truncated") from error
    if not isinstance(record, dict):
        raise CorruptFileError(path, f"holds a JSON {type(record).__name__}, not the object written here")
    stored = record.pop(DIGEST_FIELD, None)
    if not isinstance(stored, str):
        raise CorruptFileError(
            path,
            f"has no {DIGEST_FIELD} digest (written by an older version or another program, or damaged): it "
            "cannot be verified",
        )
    if sha256_hex(canonical_json(record)) != stored:
        raise CorruptFileError(path, "its content does not match its sha256 digest: edited or damaged")
    return record
