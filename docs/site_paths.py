"""The build machine's absolute paths, and what a page of the course site shows instead.

A page may print a path of the machine that built it (a data folder, the package's resources, the home
folder). :func:`relative` rewrites such paths relative to the repository root; :func:`forbidden` matches
what must never be left in a page.
"""

from __future__ import annotations

import re
from pathlib import Path


def replacements(root: Path, home: Path) -> list[tuple[str, str]]:
    """(absolute prefix, what a page shows instead), longest first.

    The repository root becomes a path relative to it, its parent ``../``, the home folder ``~/``. A folder
    beside the repository that is a symbolic link (``../shared`` on a class machine or in CI) is also known
    by the path it resolves to, which becomes ``../<its name>/``; so do the resolved root and parent.
    """
    pairs = {f"{root}/": "", str(root): ".", f"{root.parent}/": "../", f"{home}/": "~/"}
    pairs.setdefault(f"{root.resolve()}/", "")
    pairs.setdefault(f"{root.parent.resolve()}/", "../")
    if root.parent.is_dir():
        for sibling in sorted(root.parent.iterdir()):
            if sibling.is_symlink() and sibling.exists():
                pairs.setdefault(f"{sibling.resolve()}/", f"../{sibling.name}/")
    return sorted(pairs.items(), key=lambda kv: len(kv[0]), reverse=True)


def relative(text: str, root: Path, home: Path) -> str:
    """``text`` with the build machine's absolute paths replaced (:func:`replacements`)."""
    for prefix, short in replacements(root, home):
        text = text.replace(prefix, short)
    return text


def forbidden(root: Path, home: Path) -> re.Pattern[str]:
    """What no page may hold after :func:`relative`: the root, its parent, the home folder, and the usual
    homes of a build machine (``/work/``, ``/root/``, ``/home/``)."""
    prefixes = {str(root), str(root.parent), str(home), "/work/", "/root/", "/home/"}
    prefixes.discard("/")
    return re.compile("|".join(re.escape(p) for p in sorted(prefixes, key=len, reverse=True)))
