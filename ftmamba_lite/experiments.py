"""The paper's experiments end to end: run one seed (load, build, train, evaluate), summarise seeds.

One seed of an experiment is one call of :func:`run_seed`; it is deterministic in ``seed`` (the data sample,
the initialisation and the batch order). :func:`summarize` turns per-seed results into mean and 95%
confidence interval (Student t) per model, the form of the paper's Tables I and II.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources

import pandas as pd
import torch

from .analysis import t_quantile
from .datasets import RecDataset, load_spotify
from .datasets.hm import load_hm
from .datasets.vaccine import VACCINE_GRID, load_vaccine
from .metrics import metric_ceiling
from .ops.threads import available_cpus, set_num_threads
from .train import build_model, count_parameters, encode, fit, score_test_users

__all__ = [
    "EXPERIMENTS",
    "METRIC_COLUMNS",
    "metric_columns",
    "Experiment",
    "paper_table",
    "run_seed",
    "stored_results",
    "summarize",
]

METRIC_COLUMNS = ("P@5", "P@10", "R@5", "R@10", "MRR@5", "MRR@10", "HR@1", "HR@5", "HR@10")


@dataclass(frozen=True)
class Experiment:
    """How the paper runs one dataset (III): its loader and training settings."""

    name: str
    load: Callable[..., RecDataset]
    lr: float = 1e-4
    steps: int = 5000
    batch_size: int = 32
    map_ks: tuple[int, ...] = ()
    standardize: bool = False
    options: dict[str, object] = field(default_factory=dict)
    grid: tuple[dict[str, object], ...] = ()


EXPERIMENTS: dict[str, Experiment] = {
    "spotify": Experiment("spotify", load_spotify, lr=1e-4),
    "hm": Experiment("hm", load_hm, lr=1e-4, map_ks=(12,), standardize=True),
    "vaccine": Experiment(
        "vaccine",
        load_vaccine,
        lr=1e-5,
        standardize=True,
        options={"clusters": 25, "messages": 25},
        grid=tuple({"clusters": c, "messages": m} for c, m in VACCINE_GRID),
    ),
}
"""The paper's three experiments. ``options`` are the loader's settings that select a table row (with their
defaults; the CLI exposes them, e.g. ``--clusters``), ``grid`` the rows of the paper's table (Table II for
the vaccine messaging). H&M and vaccine standardise the numeric feature ``age`` (mean 0, sd 1)."""


def paper_table(dataset: str | None = None, **row: object) -> pd.DataFrame:
    """The paper's Tables I and II as a DataFrame (the package's own copy of the figures).

    Columns: table, dataset, clusters, messages, embedder, and the metrics of :data:`METRIC_COLUMNS`.
    ``row`` filters on further columns, e.g. ``paper_table("vaccine", clusters=25, messages=50)``.
    """
    with resources.files("ftmamba_lite").joinpath("resources/paper_tables.csv").open() as f:
        table = pd.read_csv(f)
    if dataset is not None:
        table = table[table["dataset"] == dataset]
    for column, value in row.items():
        if column not in table.columns:
            raise ValueError(f"the paper's tables have no column {column!r}")
        table = table[table[column] == value]
    return table.reset_index(drop=True)


STORED_TABLES = ("seeds", "curves", "over_under")


def stored_results(dataset: str = "spotify", table: str = "seeds") -> pd.DataFrame:
    """Our own paper-scale run, kept with the package so notebooks can show it without hours of training.

    Written by ``ftmamba-lite reproduce <dataset> --embedder all --seeds 3 --data <real data>`` (the exact
    command, machine and date are in ``resources/results/README.md``), copied from its ``--out`` directory.

    Args:
        dataset: the experiment (``"spotify"``).
        table: ``"seeds"``, one row per (model, seed) with the final metrics, parameters and seconds (pass it
            to :func:`summarize` for Table I), ``"curves"``, the test metrics every 500 steps (Figure 4),
            or ``"over_under"``, :func:`ftmamba_lite.analysis.over_under` of every run's final ranking
            (Figure 5).
    """
    if table not in STORED_TABLES:
        raise ValueError(f"unknown table {table!r}; choose one of {STORED_TABLES}")
    path = resources.files("ftmamba_lite").joinpath(f"resources/results/{dataset}_{table}.csv")
    if not path.is_file():
        raise ValueError(f"no stored results for dataset {dataset!r} (looked for {path.name})")
    with path.open() as f:
        return pd.read_csv(f)


def _model_builder(model: str) -> Callable[..., torch.nn.Module]:
    """``build(data, enc, seed, **model_kwargs)`` for the model's name."""
    if model in ("mamba", "transformer"):
        return lambda data, enc, seed, **kw: build_model(enc, model, seed=seed, **kw)
    from . import baselines

    if model == "oracle":  # ranks by the true targets, which only the RecDataset holds
        return lambda data, enc, seed, **kw: baselines.build_baseline("oracle", data, enc=enc, **kw)
    if model in baselines.BASELINES:
        return lambda data, enc, seed, **kw: baselines.build_baseline(model, enc, seed=seed, **kw)
    known = ("mamba", "transformer", *baselines.BASELINES)
    raise ValueError(f"unknown model {model!r}; choose one of {known}")


def run_seed(
    dataset: str = "spotify",
    model: str = "mamba",
    seed: int = 0,
    *,
    source: str | None = None,
    steps: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    eval_every: int | None = 500,
    data_kwargs: dict | None = None,
    model_kwargs: dict | None = None,
    threads: int | None = None,
    progress: bool = False,
) -> dict:
    """Run one seed of one experiment and return a flat result row.

    Args:
        dataset: a key of :data:`EXPERIMENTS` (``"spotify"``, ``"hm"``, ``"vaccine"``).
        model: ``"mamba"``, ``"transformer"`` or a baseline of :mod:`ftmamba_lite.baselines`.
        seed: seeds the data sample, the initialisation and the batch order.
        source: the data source the loader takes (a directory, a URL, or None for the synthetic default).
        steps, batch_size, lr: override the paper's settings for this dataset.
        eval_every: evaluation interval for the hit-ratio-through-training curves (paper Figure 4).
        data_kwargs, model_kwargs: extra arguments for the loader and the model builder.
        threads: PyTorch and numba threads for this run (None leaves the settings alone).

    Returns:
        ``{"dataset", "model", "seed", "source", options..., metrics..., "params", "seconds", "curve"}``
        (options: the experiment's :attr:`Experiment.options`, e.g. clusters and messages) where
        ``curve`` is the evaluation history as a list of dicts, and ``scores``/``relevant`` (numpy) of the
        final test ranking for the over/under-recommendation analysis.
    """
    if dataset not in EXPERIMENTS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {tuple(EXPERIMENTS)}")
    exp = EXPERIMENTS[dataset]
    if threads is not None:
        set_num_threads(threads)
    data = exp.load(source, seed=seed, **(data_kwargs or {}))
    enc = encode(data, standardize=exp.standardize)
    net = _model_builder(model)(data, enc, seed, **(model_kwargs or {}))
    history = fit(
        net,
        enc,
        steps=steps or exp.steps,
        batch_size=batch_size or exp.batch_size,
        lr=lr or exp.lr,
        seed=seed,
        eval_every=eval_every,
        map_ks=exp.map_ks,
        progress=progress,
    )
    scores = score_test_users(net, enc).numpy()
    return {
        "dataset": dataset,
        "model": model,
        "seed": seed,
        "source": data.source,
        **{name: (data_kwargs or {}).get(name, value) for name, value in exp.options.items()},
        **history.final_metrics,
        "params": count_parameters(net),
        "seconds": history.seconds,
        "curve": history.eval_frame().to_dict("records"),
        "ceiling": metric_ceiling(data.test_relevant, map_ks=exp.map_ks),
        "scores": scores,
        "relevant": data.test_relevant,
    }


def metric_columns(dataset: str) -> tuple[str, ...]:
    """The metrics a result table of ``dataset`` shows: :data:`METRIC_COLUMNS`, then MAP@k where the
    experiment defines it (MAP@12 for H&M, paper III-B). Other datasets (e.g. movielens): METRIC_COLUMNS."""
    exp = EXPERIMENTS.get(dataset)
    return METRIC_COLUMNS + tuple(f"MAP@{k}" for k in (exp.map_ks if exp is not None else ()))


def summarize(rows: Sequence[dict] | pd.DataFrame, metrics: Sequence[str] = METRIC_COLUMNS) -> pd.DataFrame:
    """Mean and 95% confidence half-width (Student t over seeds) of each metric, one row per model.

    Columns: model, seeds, then ``<metric>`` (mean) and ``<metric> ±`` (half-width, NaN for one seed), then
    params and seconds (means).
    """
    frame = pd.DataFrame(rows) if not isinstance(rows, pd.DataFrame) else rows
    out = []
    for model, group in frame.groupby("model", sort=False):
        n = len(group)
        row: dict[str, object] = {"model": model, "seeds": n}
        for m in (*metrics, "params", "seconds"):
            if m not in group:
                continue
            values = group[m].astype(float)
            row[m] = values.mean()
            if m not in ("params", "seconds"):
                half = t_quantile(0.975, n - 1) * values.std(ddof=1) / math.sqrt(n) if n > 1 else math.nan
                row[f"{m} ±"] = half
        out.append(row)
    return pd.DataFrame(out)


def default_jobs() -> int:
    """Processes to run seeds in: one per core this process may use (a training step is small; one thread
    each is fastest), see :func:`ftmamba_lite.ops.threads.available_cpus`."""
    return available_cpus()
