"""The course notebooks as shipped: what they import is installed everywhere they run, they are stored clean,
they follow NOTEBOOK-OUTLINE.md, and their links and data source come from one place."""

from __future__ import annotations

import ast
import json
import re
import shutil
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from ftmamba_lite.course import exercises, links, spotify_source
from ftmamba_lite.datasets.spotify import PUBLIC_BASE_URL

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
COURSE = [f"{i:02d}_" for i in range(0, 6)]  # 00 quick start, then the five course notebooks


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def sources(path: Path, kind: str) -> list[str]:
    return ["".join(c["source"]) for c in load(path)["cells"] if c["cell_type"] == kind]


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(lines: list[str]) -> set[str]:
    """Distribution names of requirement strings (options and comments skipped)."""
    names = set()
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(normalise(re.split(r"[\s\[<>=!~;@]", line, maxsplit=1)[0]))
    return names


def notebook_imports(path: Path) -> set[str]:
    """Top-level modules imported by the notebook's code cells (IPython magics and shell lines dropped)."""
    modules = set()
    for text in sources(path, "code"):
        code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(("%", "!")))
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return modules


def distribution(module: str) -> str:
    if module == "ftmamba_lite":
        return "ftmamba-lite"
    found = packages_distributions().get(module)
    assert found, f"module {module!r} is imported by a notebook but no installed distribution provides it"
    return normalise(found[0])


def test_the_course_notebooks_are_all_there() -> None:
    assert [p.name[:3] for p in NOTEBOOKS][: len(COURSE)] == COURSE


@pytest.fixture(scope="module")
def third_party_imports() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for path in NOTEBOOKS:
        for module in notebook_imports(path) - set(sys.stdlib_module_names):
            out.setdefault(distribution(module), set()).add(path.name)
    return out


def test_pyproject_provides_every_notebook_import(third_party_imports: dict[str, set[str]]) -> None:
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    provided = requirement_names(project["dependencies"] + project["optional-dependencies"]["dev"])
    provided.add(normalise(project["name"]))
    missing = {name: books for name, books in third_party_imports.items() if name not in provided}
    assert not missing, f"imported by notebooks but not in pyproject dependencies or the dev extra: {missing}"


def test_binder_provides_every_notebook_import(third_party_imports: dict[str, set[str]]) -> None:
    requirements = (ROOT / "binder" / "requirements.txt").read_text().splitlines()
    provided = requirement_names(requirements)
    post_build = (ROOT / "binder" / "postBuild").read_text()
    if re.search(r"pip install .*(-e )?\.\s*$", post_build, re.MULTILINE):
        provided.add("ftmamba-lite")
    missing = {name: books for name, books in third_party_imports.items() if name not in provided}
    assert not missing, f"imported by notebooks but not provided by binder/: {missing}"


def test_binder_is_cpu_only_and_lists_the_runtime_dependencies() -> None:
    tomllib = pytest.importorskip("tomllib")
    requirements = (ROOT / "binder" / "requirements.txt").read_text()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in requirements
    assert re.search(r"^torch==\S+\+cpu$", requirements, re.MULTILINE), "pin the CPU build of torch"
    runtime = requirement_names(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    )
    assert runtime <= requirement_names(requirements.splitlines())
    post_build = ROOT / "binder" / "postBuild"
    assert post_build.stat().st_mode & 0o111, "binder/postBuild must be executable"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    for i, cell in enumerate(load(path)["cells"]):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"cell {i} has outputs"
            assert cell.get("execution_count") is None, f"cell {i} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_follows_the_outline(path: Path) -> None:
    cells = load(path)["cells"]
    text = ["".join(c["source"]) for c in cells]
    assert cells[0]["cell_type"] == "markdown" and text[0].startswith(f"# {path.name[:2]} ")
    assert links.badges_markdown(path.name) in text[0], "badges differ from course.links"

    def first(pattern: str, kind: str) -> int:
        hits = [
            i
            for i, (c, t) in enumerate(zip(cells, text, strict=True))
            if c["cell_type"] == kind and re.search(pattern, t, re.M)
        ]
        assert hits, f"{path.name}: no {kind} cell matches {pattern!r}"
        return hits[0]

    order = [
        first(r"^## You will learn", "markdown"),
        first(r'"google\.colab" in sys\.modules', "code"),
        first(r"^FULL = False\b", "code"),
        first(r"^## Exercises", "markdown"),
        first(r"exercises\.check_\w+\(", "code"),
        first(r"^## What we saw", "markdown"),  # after the exercises, so that it gives nothing away
        first(r"^## Further reading", "markdown"),
    ]
    assert order == sorted(order), f"{path.name}: outline parts out of order {order}"
    assert f'REPO_URL = "{links.REPO_URL}"' in text[order[1]], "install cell URL differs from links.REPO_URL"
    objectives = [line for line in text[order[0]].splitlines() if line.startswith("- ")]
    assert 3 <= len(objectives) <= 5, f"{path.name}: {len(objectives)} objectives (the outline asks for 3-5)"
    called = set(re.findall(r"exercises\.(check_\w+)\(", "\n".join(text)))
    assert called <= set(exercises.__all__), f"unknown checkers {called - set(exercises.__all__)}"


def test_links_build_colab_and_binder_urls() -> None:
    name = "01_feature_tokenizer.ipynb"
    assert links.colab_url(name).endswith(f"/blob/{links.BRANCH}/notebooks/{name}")
    assert "labpath=notebooks%2F01_feature_tokenizer.ipynb" in links.binder_url(name)
    assert links.pip_requirement("cuda") == f"ftmamba-lite[cuda] @ git+{links.REPO_URL}"


def test_sync_notebooks_rewrites_badges_and_install_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / NOTEBOOKS[0].name
    shutil.copy(NOTEBOOKS[0], copy)
    assert links.sync_notebooks(tmp_path) == []  # already in sync
    monkeypatch.setattr(links, "REPO_URL", "https://github.com/someone/elsewhere")
    assert links.sync_notebooks(tmp_path) == [copy]
    text = copy.read_text()
    assert 'REPO_URL = \\"https://github.com/someone/elsewhere\\"' in text
    assert "colab.research.google.com/github/someone/elsewhere/blob/" in text
    assert "ftmamba-lite/ftmamba-lite" not in text


def test_spotify_source_prefers_real_data_then_colab_url_then_synthetic(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    assert spotify_source(in_colab=False, roots=[repo]) is None
    assert spotify_source(in_colab=True, roots=[repo]) == PUBLIC_BASE_URL
    data = tmp_path / "shared" / "data" / "spotify"
    data.mkdir(parents=True)
    (data / "spotify_features.csv").write_text("Genre\n")
    assert spotify_source(in_colab=True, roots=[repo]) == str(data.absolute())
    beside = tmp_path / "class" / "repo"  # ../shared a symbolic link, as on a class machine or in CI
    beside.mkdir(parents=True)
    (beside.parent / "shared").symlink_to(tmp_path / "shared")
    linked = beside.parent / "shared" / "data" / "spotify"
    assert spotify_source(in_colab=False, roots=[beside]) == str(linked)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_colab_install_cell_adds_the_course_and_upgrades_nothing(path: Path) -> None:
    """The Colab cell installs the course with pip's only-if-needed strategy (what it does to Colab's packages
    is checked by tests/course/test_colab_stack.py) and asks for nothing else: no upgrade, no torch, no
    CUDA build (not verified on Colab)."""
    cell = next(t for t in sources(path, "code") if '"google.colab" in sys.modules' in t)
    code = "\n".join(line.split("#", 1)[0] for line in cell.splitlines())
    assert '"--upgrade-strategy", "only-if-needed"' in code
    assert 'f"ftmamba-lite @ git+{REPO_URL}"' in code
    for option in ("--upgrade", "-U", "--force-reinstall"):
        assert f'"{option}"' not in code, f"{path.name}: the install cell passes {option}"
    for name in ("torch", "[cuda]", "mamba-ssm"):
        assert name not in code, f"{path.name}: the install cell installs {name}"
