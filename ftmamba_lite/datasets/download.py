"""Download-once cache for dataset files published under an http(s) base URL.

A loader given a URL instead of a directory asks :func:`fetch` for each file by its path relative to that
base URL (the same layout as on disk). The first call downloads the file with the standard library
(:mod:`urllib`) into the cache folder of that URL; later calls read the cached copy and never touch the
network again.

Cache folder of a base URL: ``<root>/<first 16 hex digits of sha256(base URL)>/``, where ``<root>`` is, in
order of precedence, the ``cache_dir`` argument, the environment variable ``FTMAMBA_LITE_CACHE``, or
``~/.cache/ftmamba_lite``. Files are written atomically (:func:`ftmamba_lite.persistence.atomic_write_bytes`),
so an interrupted download never leaves a truncated file that looks complete.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from ..persistence import atomic_write_bytes, sha256_hex

__all__ = ["CACHE_ENV_VAR", "DownloadError", "cache_dir_for", "fetch", "is_url"]

CACHE_ENV_VAR = "FTMAMBA_LITE_CACHE"
DEFAULT_CACHE_ROOT = Path("~/.cache/ftmamba_lite")


class DownloadError(OSError):
    """A download failed for a reason other than "not found" (HTTP error status, connection refused, ...)."""


def is_url(source: object) -> bool:
    """True when ``source`` is a string starting with ``http://`` or ``https://``."""
    return isinstance(source, str) and source.lower().startswith(("http://", "https://"))


def cache_dir_for(base_url: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """The folder that holds the cached files of ``base_url`` (see the module docstring for the rule)."""
    root = cache_dir if cache_dir is not None else os.environ.get(CACHE_ENV_VAR) or DEFAULT_CACHE_ROOT
    digest = sha256_hex(base_url.rstrip("/").encode("utf-8"))[:16]
    return Path(root).expanduser() / digest


def fetch(
    base_url: str, relpath: str, cache_dir: str | os.PathLike | None = None, timeout: float = 30.0
) -> Path:
    """Local path of ``base_url/relpath``, downloading it into the cache first if it is not there yet.

    Raises:
        FileNotFoundError: the server answered HTTP 404 (the message names the URL).
        DownloadError: any other failure (HTTP error status, unreachable host, timeout); names the URL.
    """
    target = cache_dir_for(base_url, cache_dir) / relpath
    if target.is_file():
        return target
    url = base_url.rstrip("/") + "/" + urllib.parse.quote(relpath)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            payload = response.read()
    except urllib.error.HTTPError as err:
        if err.code == 404:
            raise FileNotFoundError(f"{url} was not found (HTTP 404)") from err
        raise DownloadError(f"download of {url} failed: HTTP {err.code} {err.reason}") from err
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise DownloadError(f"download of {url} failed: {reason}") from err
    atomic_write_bytes(target, payload)
    return target
