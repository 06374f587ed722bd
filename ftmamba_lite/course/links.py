"""Where the course lives: the repository URL, in one place, and the links built from it.

Every notebook's title cell carries the badges of :func:`badges_markdown` and its first code cell installs
:func:`pip_requirement` when it runs in Colab. A notebook cannot import this module before the package is
installed, so those two places hold copies of the URL; ``tests/course/test_notebooks.py`` checks that they
agree with :data:`REPO_URL`, and ``python -m ftmamba_lite.course.links notebooks/`` rewrites them when it
changes.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from urllib.parse import quote

__all__ = [
    "BRANCH",
    "REPO_URL",
    "badges_markdown",
    "binder_url",
    "colab_url",
    "docs_url",
    "pip_requirement",
    "sync_notebooks",
]

REPO_URL = "https://github.com/ftmamba-lite/ftmamba-lite"
BRANCH = "main"

COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
BINDER_BADGE = "https://mybinder.org/badge_logo.svg"
_BADGE_LINE = re.compile(r"^\[!\[Open in Colab\].*$", re.MULTILINE)
_INSTALL_LINE = re.compile(r'^REPO_URL = "[^"]*"', re.MULTILINE)
_DOCS_LINK = re.compile(r"https://github\.com/[^/\s)]+/[^/\s)]+/blob/[^/\s)]+/docs/")


def _owner_repo() -> str:
    """``owner/name`` of :data:`REPO_URL`."""
    return REPO_URL.rstrip("/").removesuffix(".git").split("github.com/", 1)[1]


def colab_url(notebook: str) -> str:
    """Colab link that opens ``notebooks/<notebook>`` of :data:`BRANCH` straight from GitHub."""
    return f"https://colab.research.google.com/github/{_owner_repo()}/blob/{BRANCH}/notebooks/{notebook}"


def binder_url(notebook: str) -> str:
    """mybinder.org link that builds ``binder/`` and opens ``notebooks/<notebook>`` in JupyterLab."""
    path = quote(f"notebooks/{notebook}", safe="")
    return f"https://mybinder.org/v2/gh/{_owner_repo()}/{BRANCH}?labpath={path}"


def docs_url(page: str) -> str:
    """GitHub link to ``docs/<page>`` of :data:`BRANCH` (e.g. the notation page, ``docs_url("notation.md")``):
    it opens from JupyterLab, Colab and the rendered site alike."""
    return f"{REPO_URL.rstrip('/')}/blob/{BRANCH}/docs/{page}"


def badges_markdown(notebook: str) -> str:
    """The "Open in Colab" and "Launch Binder" badges of one notebook, as one Markdown line."""
    return (
        f"[![Open in Colab]({COLAB_BADGE})]({colab_url(notebook)}) "
        f"[![Launch Binder]({BINDER_BADGE})]({binder_url(notebook)})"
    )


def pip_requirement(extra: str | None = None) -> str:
    """The pip requirement that installs the package from GitHub, e.g. ``ftmamba-lite[cuda] @ git+...``."""
    return f"ftmamba-lite{f'[{extra}]' if extra else ''} @ git+{REPO_URL}"


def sync_notebooks(folder: str | Path) -> list[Path]:
    """Rewrite the badge line, the links to ``docs/`` and the ``REPO_URL = "..."`` install line of every
    notebook in ``folder`` to match this module. Returns the notebooks that changed (outputs and other cells
    are left alone)."""
    changed = []
    for path in sorted(Path(folder).glob("*.ipynb")):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        before = json.dumps(notebook)
        for cell in notebook["cells"]:
            text = "".join(cell["source"])
            if cell["cell_type"] == "markdown":
                text = _BADGE_LINE.sub(badges_markdown(path.name).replace("\\", "\\\\"), text)
                text = _DOCS_LINK.sub(docs_url(""), text)
            elif cell["cell_type"] == "code":
                text = _INSTALL_LINE.sub(f'REPO_URL = "{REPO_URL}"', text)
            cell["source"] = text.splitlines(keepends=True)
        if json.dumps(notebook) != before:
            path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
            changed.append(path)
    return changed


if __name__ == "__main__":  # python -m ftmamba_lite.course.links notebooks/
    for changed_path in sync_notebooks(sys.argv[1] if len(sys.argv) > 1 else "notebooks"):
        print(f"updated {changed_path}")
