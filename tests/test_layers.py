"""The package's architecture, enforced: each module belongs to one layer and imports only the layers below.

    ops      tensors in, tensors out (scans, convolution, fused kernels, their runtime and threads)
    model    the paper's model: config, tokenizer, Mamba, Transformer, MLP tower, towers, sequential models
    data     datasets (loaders and generators) and the table encoder: no model
    files    persistence: atomic writes, digests, the version policy (below data, which writes downloads)
    learn    losses, metrics <- scoring, checkpoints, baselines, tables <- the engine, the registry <- the
             sequence task <- experiments, the Recommender <- sweeps (LEARN_RANK)
    course   notebook helpers (widgets, plots, exercises, links, setup): on top, imported by nobody below
    face     the command line: on top of learn, beside course

The walk reads every ``import`` in the source (function-level ones too, so that no cycle hides in a function).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ftmamba_lite"

# module (dotted, relative to ftmamba_lite; a folder stands for everything in it) -> layer
LAYER_OF = {
    "ops": "ops",
    "config": "model",
    "tokenizer": "model",
    "mamba": "model",
    "transformer": "model",
    "mlp": "model",
    "towers": "model",
    "sequential": "model",
    "persistence": "files",
    "datasets": "data",
    "encoding": "data",
    "losses": "learn",
    "metrics": "learn",
    "analysis": "learn",
    "timing": "learn",
    "learn": "learn",
    "recommender": "learn",
    "course": "course",
    "cli": "face",
    "__init__": "package",
    "__main__": "face",
}
MAY_IMPORT = {
    "ops": {"ops"},
    "model": {"ops", "model"},
    "files": {"files"},
    "data": {"files", "data"},
    "learn": {"ops", "model", "files", "data", "learn"},
    "course": {"ops", "model", "files", "data", "learn", "course"},
    "face": {"ops", "model", "files", "data", "learn", "face"},
    # the package exports the model's names and the one learn-layer estimator, Recommender
    "package": {"model", "learn"},
}
# Inside the learn layer, in order: a module imports only modules of a lower rank.
LEARN_RANK = {
    "losses": 0,
    "metrics": 0,
    "timing": 0,
    "analysis": 1,
    "learn.scoring": 1,
    "learn.checkpoints": 1,
    "learn.baselines": 1,
    "learn.tables": 1,
    "learn.pairs": 2,
    "learn.saved": 2,
    "learn.engine": 2,
    "learn.registry": 2,
    "learn.sequence": 3,
    "learn.experiments": 4,
    "recommender": 4,
    "learn.sweep": 5,
    "learn": 6,
}
MAX_TOP_LEVEL_MODULES = 16


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def is_package(name: str) -> bool:
    return (PACKAGE / name.replace(".", "/") / "__init__.py").is_file()


def layer(name: str) -> str:
    for prefix in sorted(LAYER_OF, key=len, reverse=True):
        if name == prefix or name.startswith(prefix + "."):
            return LAYER_OF[prefix]
    raise AssertionError(f"ftmamba_lite.{name} belongs to no layer: add it to LAYER_OF in {__file__}")


def imports_of(path: Path) -> set[str]:
    """The package modules ``path`` imports, dotted relative to ftmamba_lite."""
    name = module_name(path)
    package = name if is_package(name) or name == "__init__" else name.rpartition(".")[0]
    if name == "__init__":
        package = ""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            elif node.module and node.module.split(".")[0] == "ftmamba_lite":
                target = node.module.partition(".")[2]
            else:
                continue
            for alias in node.names:  # `from . import kernels` names a submodule
                sub = f"{target}.{alias.name}" if target else alias.name
                found.add(
                    sub
                    if (PACKAGE / (sub.replace(".", "/") + ".py")).is_file() or is_package(sub)
                    else target
                )
        elif isinstance(node, ast.Import):
            found |= {a.name.partition(".")[2] for a in node.names if a.name.split(".")[0] == "ftmamba_lite"}
    return {t for t in found if t} - {name}


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
GRAPH = {name: imports_of(path) for name, path in MODULES.items()}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_imports_only_the_layers_below(name: str) -> None:
    own = layer(name)
    wrong = {target: layer(target) for target in GRAPH[name] if layer(target) not in MAY_IMPORT[own]}
    assert not wrong, (
        f"ftmamba_lite.{name} ({own}) imports {wrong}; {own} may import {sorted(MAY_IMPORT[own])}"
    )


def test_no_import_cycles() -> None:
    """Depth-first search over every import edge, submodule -> its parent package excluded (Python imports
    the parent first anyway, and ``ops/__init__`` re-exporting ``ops.ssm`` is not a cycle)."""
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = "open"
        for target in sorted(GRAPH.get(name, ())):
            if name.startswith(target + "."):
                continue
            if state.get(target) == "open":
                cycle = path[path.index(target) :] + [target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, [*path, target])
        state[name] = "done"

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [name])


@pytest.mark.parametrize("name", sorted(n for n in MODULES if layer(n) == "learn"))
def test_learn_modules_import_only_lower_ranks(name: str) -> None:
    own = LEARN_RANK[name]
    wrong = {t: LEARN_RANK.get(t) for t in GRAPH[name] if layer(t) == "learn" and LEARN_RANK[t] >= own}
    assert not wrong, f"ftmamba_lite.{name} (rank {own}) imports learn modules of rank >= {own}: {wrong}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_private_name_is_imported_across_modules(name: str) -> None:
    tree = ast.parse(MODULES[name].read_text())
    private = [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("ftmamba_lite"))
        for alias in node.names
        if alias.name.startswith("_") and not alias.name.startswith("__")
    ]
    assert not private, f"ftmamba_lite.{name} imports private names {private} from other modules"


def test_the_top_level_stays_small() -> None:
    top = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, f"{len(top)} modules at the top level: {top}"


def test_only_the_runtime_loads_the_kernels() -> None:
    """One way to load the numba kernels: ftmamba_lite.ops.runtime (the others call runtime.kernels())."""
    loaders = sorted(name for name, targets in GRAPH.items() if "ops.kernels" in targets)
    assert loaders == ["ops.runtime"]


def test_the_walk_sees_the_imports_it_checks() -> None:
    """The checks above rest on the walk: it must find relative, nested and function-level imports."""
    assert {"ops.mamba_inner"} <= GRAPH["mamba"]
    assert {"ops.runtime", "ops.checks"} <= GRAPH["ops.fused_scan"]
    assert "ops.kernels" in GRAPH["ops.runtime"]  # `from . import kernels` inside a function
    assert {"towers", "datasets.base", "encoding"} <= GRAPH["learn.baselines"]
    assert "learn.engine" not in GRAPH["learn.baselines"]
    assert layer("course.widgets") == "course" and layer("ops.kernels") == "ops"
    with pytest.raises(AssertionError, match="belongs to no layer"):
        layer("newmodule")
