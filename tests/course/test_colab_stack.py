"""Installing the course into Google Colab changes none of Colab's packages.

Checked with pip's own resolver (``pip install --dry-run --report``), never by comparing version strings:

* against Colab's published versions (``../shared/colab/colab-stack.txt`` beside the repository, skipped
  where it is absent) given as constraints: the resolve fails if a lower bound of ``pyproject.toml`` lies
  above a Colab version;
* in a virtual environment built from that list (``.venv-colab``, which ``.ci/run`` builds, or the Python
  named by ``FTM_COLAB_PYTHON``; skipped where there is none), with the options of the notebooks' Colab
  install cell: pip would install the course package and nothing else.

Colab's list leaves torch out; the CPU build of torch 2.13.0 that the machines have stands in for Colab's
2.11 (and Python 3.11 for Colab's 3.13).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# FTM_COLAB_STACK: another copy of the list (a worktree has no ../shared)
STACK = Path(os.environ.get("FTM_COLAB_STACK", ROOT.parent / "shared" / "colab" / "colab-stack.txt"))
TORCH_STAND_IN = "2.13.0"
INSTALL_OPTIONS = ["--upgrade-strategy", "only-if-needed"]  # as in every notebook's first cell


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.fixture(scope="module")
def colab_versions() -> dict[str, str]:
    """``{distribution: version}`` of Colab's list (torch: the stand-in)."""
    if not STACK.is_file():
        pytest.skip(f"Colab's package list {STACK} is not beside the repository")
    pins = {}
    for line in STACK.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[normalise(name)] = version
    pins.setdefault("torch", TORCH_STAND_IN)
    return pins


def dry_run(python: str, arguments: list[str], report: Path) -> list[dict]:
    """What ``pip install --dry-run`` with ``arguments`` would install, from pip's JSON report."""
    command = [python, "-m", "pip", "install", "--dry-run", "--quiet", "--report", str(report), *arguments]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return json.loads(report.read_text())["install"]


def test_colab_versions_satisfy_every_bound(colab_versions: dict[str, str], tmp_path: Path) -> None:
    constraints = tmp_path / "colab-constraints.txt"
    constraints.write_text("".join(f"{name}=={version}\n" for name, version in colab_versions.items()))
    installs = dry_run(
        sys.executable,
        ["--ignore-installed", *INSTALL_OPTIONS, "-c", str(constraints), str(ROOT)],
        tmp_path / "r",
    )
    resolved = {normalise(item["metadata"]["name"]): item["metadata"]["version"] for item in installs}
    assert "ftmamba-lite" in resolved
    requires = [
        normalise(re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0])
        for item in installs
        if normalise(item["metadata"]["name"]) == "ftmamba-lite"
        for requirement in item["metadata"].get("requires_dist", [])
        if "extra ==" not in requirement
    ]
    listed = [name for name in requires if name in colab_versions]
    assert "ipywidgets" in listed and "torch" in listed, requires
    for name in listed:
        assert resolved[name].split("+")[0] == colab_versions[name], f"{name} resolved to {resolved[name]}"


def colab_python() -> str:
    python = os.environ.get("FTM_COLAB_PYTHON") or str(ROOT / ".venv-colab" / "bin" / "python")
    if not Path(python).is_file():
        pytest.skip(f"no virtual environment of Colab's versions at {python} (.ci/run builds it)")
    return python


def test_installing_into_colabs_packages_installs_the_course_alone(
    colab_versions: dict[str, str], tmp_path: Path
) -> None:
    python = colab_python()
    installed = subprocess.run(
        [python, "-m", "pip", "list", "--format", "json"], capture_output=True, text=True, check=True
    )
    versions = {normalise(p["name"]): p["version"] for p in json.loads(installed.stdout)}
    differ = {
        name: (versions.get(name), version)
        for name, version in colab_versions.items()
        if (versions.get(name) or "").split("+")[0] != version
    }
    assert not differ, f"{python} is not Colab's stack: {{name: (installed, Colab's)}} = {differ}"
    installs = dry_run(python, [*INSTALL_OPTIONS, str(ROOT)], tmp_path / "report.json")
    names = [normalise(item["metadata"]["name"]) for item in installs]
    assert names == ["ftmamba-lite"], (
        f"installing the course into Colab's packages would also install {names}"
    )
