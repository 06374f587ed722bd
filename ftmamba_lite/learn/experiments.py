"""The paper's experiments end to end: run one seed (load, build, train, evaluate), summarise seeds.

One seed of an experiment is one call of :func:`run_seed`; it is deterministic in ``seed`` (the data sample,
the initialisation and the batch order) and returns a :class:`SeedResult`. :func:`summarize` turns the results
of many seeds into mean and 95% confidence interval per model (Student t,
:func:`ftmamba_lite.analysis.confidence_half_width`), the form of the paper's Tables I and II.
:mod:`ftmamba_lite.learn.sweep` runs many seeds, resumably and in parallel.

The tabular experiments (Spotify, H&M, vaccine messaging: paper III) train two towers with :func:`train.fit`;
``"movielens"`` trains the sequence models of notebook 08 (Mamba4Rec, SASRec, popularity) with
:func:`ftmamba_lite.learn.sequence.fit_sequential` (leave-one-out, full ranking).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from ..analysis import confidence_half_width
from ..datasets import load_spotify
from ..datasets.hm import load_hm
from ..datasets.movielens import leave_one_out, load_movielens
from ..datasets.vaccine import VACCINE_GRID, load_vaccine
from ..encoding import encode
from ..metrics import metric_ceiling
from ..ops.threads import available_cpus, set_num_threads
from ..towers import count_parameters
from .engine import EVAL_EVERY, Callback, History, check_int, check_lr, fit
from .registry import build_model, build_sequence_model, kind_names
from .sequence import SEQUENCE_METRICS, fit_sequential

__all__ = [
    "EXPERIMENTS",
    "METRIC_COLUMNS",
    "metric_columns",
    "Experiment",
    "SeedResult",
    "check_run",
    "paper_table",
    "run_seed",
    "plateau_position",
    "stored_results",
    "summarize",
]

METRIC_COLUMNS = ("P@5", "P@10", "R@5", "R@10", "MRR@5", "MRR@10", "HR@1", "HR@5", "HR@10")


@dataclass(frozen=True)
class Experiment:
    """How one dataset is run: its loader and training settings (the paper's, III; MovieLens: Mamba4Rec's).

    A sequential experiment (``epochs`` set) trains for epochs and ignores ``steps``; a tabular one trains
    for ``steps`` mini-batches.
    """

    name: str
    load: Callable[..., Any]
    lr: float = 1e-4
    steps: int = 5000
    batch_size: int = 32
    map_ks: tuple[int, ...] = ()
    standardize: bool = False
    options: dict[str, object] = field(default_factory=dict)
    grid: tuple[dict[str, object], ...] = ()
    epochs: int | None = None
    max_len: int | None = None

    @property
    def sequential(self) -> bool:
        return self.epochs is not None

    @property
    def models(self) -> tuple[str, ...]:
        return kind_names("sequence" if self.sequential else "two-tower")


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
    "movielens": Experiment(
        "movielens", load_movielens, lr=3e-3, steps=0, batch_size=16, epochs=12, max_len=200
    ),
}
"""The paper's three experiments, then MovieLens (notebook 08). ``options`` are the loader's settings that
select a table row (with their defaults; the CLI exposes them, e.g. ``--clusters``), ``grid`` the rows of the
paper's table (Table II for the vaccine messaging). H&M and vaccine standardise the numeric feature ``age``
(mean 0, sd 1). MovieLens: 12 epochs at lr 3e-3 (three times Mamba4Rec's 1e-3, which needs more epochs than a
CPU budget allows), 16 windows per batch, histories of at most 200 items."""


@dataclass(frozen=True, eq=False)
class SeedResult:
    """One run of :func:`run_seed`: which run it was and what it measured.

    Attributes:
        dataset, model, seed: the run.
        source: where the data came from (the loader's description).
        options: the table row it belongs to (:attr:`Experiment.options`, e.g. clusters and messages).
        metrics: the final test metrics, e.g. ``{"HR@1": 0.94, ...}``.
        params: trainable parameters of the model; seconds: training wall time (evaluations included).
        curve: one dict per evaluation (``step``, ``valid_loss``, metrics): Figure 4's curves; for MovieLens
            the validation metrics after each epoch.
        ceiling: what a perfect ranking scores on the same test users (:func:`metrics.metric_ceiling`).
        extra: further numbers of the run (MovieLens: ``epochs``, ``best_epoch``, ``s/epoch``).
        scores, relevant: (u, i) final test scores and boolean relevance (tabular experiments) for the
            over/under-recommendation analysis (Figure 5); None for MovieLens.

    Compare two results through :meth:`to_dict` (arrays make ``==`` ambiguous, so it is identity).
    """

    dataset: str
    model: str
    seed: int
    source: str
    metrics: dict[str, float]
    params: int
    seconds: float
    options: dict[str, object] = field(default_factory=dict)
    curve: tuple[dict[str, float], ...] = ()
    ceiling: dict[str, float] = field(default_factory=dict)
    extra: dict[str, float] = field(default_factory=dict)
    scores: np.ndarray | None = None
    relevant: np.ndarray | None = None

    def row(self) -> dict[str, object]:
        """The flat row of a per-seed table: dataset, model, seed, source, options, metrics, params, seconds,
        extra."""
        return {
            "dataset": self.dataset,
            "model": self.model,
            "seed": self.seed,
            "source": self.source,
            **self.options,
            **self.metrics,
            "params": self.params,
            "seconds": self.seconds,
            **self.extra,
        }

    def to_dict(self) -> dict[str, object]:
        """Plain JSON types (arrays as dtype and nested lists); :meth:`from_dict` restores it exactly."""
        out: dict[str, object] = {
            name: getattr(self, name)
            for name in ("dataset", "model", "seed", "source", "metrics", "params", "seconds", "options",
                         "ceiling", "extra")
        }  # fmt: skip
        out["curve"] = list(self.curve)
        for name in ("scores", "relevant"):
            array = getattr(self, name)
            out[name] = None if array is None else {"dtype": str(array.dtype), "data": array.tolist()}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SeedResult:
        arrays = {
            name: None
            if data.get(name) is None
            else np.asarray(data[name]["data"], dtype=data[name]["dtype"])
            for name in ("scores", "relevant")
        }
        return cls(
            dataset=data["dataset"],
            model=data["model"],
            seed=int(data["seed"]),
            source=data["source"],
            metrics=dict(data["metrics"]),
            params=int(data["params"]),
            seconds=float(data["seconds"]),
            options=dict(data.get("options", {})),
            curve=tuple(data.get("curve", ())),
            ceiling=dict(data.get("ceiling", {})),
            extra=dict(data.get("extra", {})),
            **arrays,
        )


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

    Written by ``ftmamba-lite reproduce <dataset> --embedder all --seeds 10 --data <real data>`` (the exact
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


def check_run(
    dataset: str,
    model: str,
    *,
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    eval_every: int | None = None,
    max_len: int | None = None,
) -> Experiment:
    """The :class:`Experiment` of ``dataset`` once the run's arguments are known to be valid.

    Raises ValueError naming the argument and what would be valid: an unknown dataset or model, a setting the
    experiment does not have (``steps`` for MovieLens, ``epochs``/``max_len`` for the tabular ones), or a
    value out of range (steps, batch_size, eval_every, max_len >= 1; epochs >= 0; lr > 0 and finite). None
    means the experiment's default. Checks only; loads and trains nothing.
    """
    if dataset not in EXPERIMENTS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {tuple(EXPERIMENTS)}")
    exp = EXPERIMENTS[dataset]
    if model not in exp.models:
        raise ValueError(f"unknown model {model!r} for {dataset}; choose one of {exp.models}")
    given = {"steps": steps, "epochs": epochs, "eval_every": eval_every, "max_len": max_len}
    foreign = ("steps", "eval_every") if exp.sequential else ("epochs", "max_len")
    kind = "trains for epochs and evaluates after each" if exp.sequential else "trains for steps"
    for name in foreign:
        if given[name] is not None:
            raise ValueError(f"{name} does not apply to {dataset}, which {kind}")
    lowest = {"steps": 1, "batch_size": 1, "eval_every": 1, "max_len": 1, "epochs": 0}
    for name, value in {**given, "batch_size": batch_size}.items():
        if value is not None:
            check_int(name, value, lowest[name])
    if lr is not None:
        check_lr(lr)
    return exp


class _LogEvaluations(Callback):
    """Writes one line per evaluation (step and metrics) to ``log``: the per-run log of a sweep."""

    def __init__(self, log: Callable[[str], None], unit: str) -> None:
        self.log, self.unit, self.total = log, unit, 0

    def on_train_begin(self, history: History, total_steps: int) -> None:
        self.total = total_steps
        self.log(f"training: {total_steps} steps")

    def on_eval(self, history: History, step: int, metrics: dict[str, float]) -> None:
        position = (
            f"epoch {len(history.eval_steps) - 1}" if self.unit == "epoch" else f"step {step}/{self.total}"
        )
        self.log(f"{position}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))


def run_seed(
    dataset: str = "spotify",
    model: str = "mamba",
    seed: int = 0,
    *,
    source: str | None = None,
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    eval_every: int | None = None,
    max_len: int | None = None,
    data_kwargs: dict | None = None,
    model_kwargs: dict | None = None,
    threads: int | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> SeedResult:
    """Run one seed of one experiment (load, build, train, evaluate).

    Args:
        dataset: a key of :data:`EXPERIMENTS` (``"spotify"``, ``"hm"``, ``"vaccine"``, ``"movielens"``).
        model: ``"mamba"``, ``"transformer"`` or a baseline of :mod:`ftmamba_lite.learn.baselines` (tabular);
            ``"mamba4rec"``, ``"sasrec"`` or ``"popularity"`` (MovieLens).
        seed: seeds the data sample, the initialisation and the batch order.
        source: the data source the loader takes (a directory, a URL, or None for the synthetic default;
            MovieLens also ``"recbole"``, ``"ml-100k"``, ``"ml-1m"``).
        steps, epochs, batch_size, lr: override the experiment's settings (None: its default; ``steps`` for
            the tabular experiments, ``epochs`` for MovieLens).
        eval_every: tabular: evaluation interval in steps for the curves of Figure 4 (default 500).
        max_len: MovieLens: the longest history read (default 200).
        data_kwargs, model_kwargs: extra arguments for the loader and the model builder.
        threads: PyTorch and numba threads for this run (None leaves the settings alone).
        progress: a tqdm bar over the training steps.
        log: called with one line of text per evaluation (a sweep's per-run log).

    Returns:
        a :class:`SeedResult`.
    """
    exp = check_run(
        dataset, model, steps=steps, epochs=epochs, batch_size=batch_size, lr=lr, eval_every=eval_every,
        max_len=max_len,
    )  # fmt: skip
    if threads is not None:
        set_num_threads(threads)
    data_kwargs, model_kwargs = dict(data_kwargs or {}), dict(model_kwargs or {})
    batch_size = exp.batch_size if batch_size is None else batch_size
    lr = exp.lr if lr is None else lr
    if exp.sequential:
        return _run_sequential(
            exp, model, seed, source, exp.epochs if epochs is None else epochs, batch_size, lr,
            exp.max_len if max_len is None else max_len, data_kwargs, model_kwargs, progress, log,
        )  # fmt: skip
    return _run_tabular(
        exp, model, seed, source, exp.steps if steps is None else steps, batch_size, lr,
        EVAL_EVERY if eval_every is None else eval_every, data_kwargs, model_kwargs, progress, log,
    )  # fmt: skip


def _run_tabular(
    exp: Experiment,
    model: str,
    seed: int,
    source: str | None,
    steps: int,
    batch_size: int,
    lr: float,
    eval_every: int,
    data_kwargs: dict,
    model_kwargs: dict,
    progress: bool,
    log: Callable[[str], None] | None,
) -> SeedResult:
    """Spotify, H&M, vaccine: the dataset, the two-tower model, :func:`fit` (the paper's protocol, III)."""
    data = exp.load(source, seed=seed, **data_kwargs)
    enc = encode(data, standardize=exp.standardize)
    if model == "oracle":  # ranks by the true targets, which only the RecDataset holds
        net = build_model(data, model, enc=enc, **model_kwargs)
    else:
        net = build_model(enc, model, seed=seed, **model_kwargs)
    history = fit(
        net,
        enc,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        eval_every=eval_every,
        map_ks=exp.map_ks,
        callbacks=[_LogEvaluations(log, "step")] if log else (),
        progress=progress,
    )
    return SeedResult(
        dataset=exp.name,
        model=model,
        seed=seed,
        source=data.source,
        metrics=dict(history.final_metrics),
        params=count_parameters(net),
        seconds=history.seconds,
        options={name: data_kwargs.get(name, value) for name, value in exp.options.items()},
        curve=tuple(history.eval_frame().to_dict("records")),
        ceiling=metric_ceiling(data.test_relevant, map_ks=exp.map_ks),
        scores=history.final_scores,
        relevant=np.asarray(data.test_relevant),
    )


def _run_sequential(
    exp: Experiment,
    model: str,
    seed: int,
    source: str | None,
    epochs: int,
    batch_size: int,
    lr: float,
    max_len: int,
    data_kwargs: dict,
    model_kwargs: dict,
    progress: bool,
    log: Callable[[str], None] | None,
) -> SeedResult:
    """MovieLens: leave-one-out split, the sequence model, :func:`fit_sequential`, test metrics of the best
    epoch (Mamba4Rec's protocol, see :mod:`ftmamba_lite.learn.sequence`)."""
    data = exp.load(source, **data_kwargs)
    split = leave_one_out(data)
    options = {} if model == "popularity" else {"max_len": max_len, **model_kwargs}
    net = build_sequence_model(model, data, seed=seed, split=split, **options)
    history = fit_sequential(
        net, data, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, split=split, progress=progress,
        callbacks=[_LogEvaluations(log, "epoch")] if log else (),
    )  # fmt: skip
    return SeedResult(
        dataset=exp.name,
        model=model,
        seed=seed,
        source=data.source,
        metrics=dict(history.test_metrics),
        params=count_parameters(net),
        seconds=history.seconds,
        curve=tuple(history.eval_frame().to_dict("records")),
        extra={
            "epochs": len(history.epoch_seconds),
            "best_epoch": history.best_epoch,
            "s/epoch": history.seconds_per_epoch,
        },
    )


def metric_columns(dataset: str) -> tuple[str, ...]:
    """The metrics a result table of ``dataset`` shows: :data:`METRIC_COLUMNS`, then MAP@k where the
    experiment defines it (MAP@12 for H&M, paper III-B); MovieLens: HR@10, NDCG@10, MRR@10."""
    exp = EXPERIMENTS.get(dataset)
    if exp is not None and exp.sequential:
        return SEQUENCE_METRICS
    return METRIC_COLUMNS + tuple(f"MAP@{k}" for k in (exp.map_ks if exp is not None else ()))


SUMMARY_MEANS = ("params", "seconds", "s/epoch")
"""Columns :func:`summarize` averages without an interval (where the rows have them)."""


def summarize(
    rows: Sequence[SeedResult] | Sequence[dict] | pd.DataFrame,
    metrics: Sequence[str] = METRIC_COLUMNS,
    by: Sequence[str] = ("model",),
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Mean and confidence half-width (Student t over seeds) of each metric, one row per group.

    Args:
        rows: per-seed results: :class:`SeedResult` objects, their :meth:`SeedResult.row` dicts, or a frame
            of such rows (e.g. :func:`stored_results`).
        metrics: the metric columns to summarise (those the rows lack are left out).
        by: the columns that make a group (default one row per model; the vaccine grid adds clusters and
            messages), in order of first appearance.
        confidence: the interval's coverage.

    Returns:
        Columns ``by``, ``seeds``, then ``<metric>`` (mean) and ``<metric> ±`` (half-width,
        :func:`ftmamba_lite.analysis.confidence_half_width`; NaN for one seed), then the means of
        :data:`SUMMARY_MEANS` present.
    """
    if isinstance(rows, pd.DataFrame):
        frame = rows
    else:
        frame = pd.DataFrame([r.row() if isinstance(r, SeedResult) else r for r in rows])
    if frame.empty:
        raise ValueError("no results to summarise")
    missing = [c for c in by if c not in frame.columns]
    if missing:
        raise ValueError(f"rows lack the grouping column(s) {missing}")
    out = []
    for key, group in frame.groupby(list(by), sort=False):
        row: dict[str, object] = dict(zip(by, key, strict=True))
        row["seeds"] = len(group)
        for m in metrics:
            if m in group:
                values = group[m].astype(float)
                row[m] = values.mean()
                row[f"{m} ±"] = confidence_half_width(values, confidence)
        row.update({m: group[m].astype(float).mean() for m in SUMMARY_MEANS if m in group})
        out.append(row)
    return pd.DataFrame(out)


def plateau_position(
    rows: Sequence[SeedResult] | Sequence[dict] | pd.DataFrame,
    metric: str = "HR@1",
    floor: str = "popularity",
    ceiling: str = "oracle",
) -> pd.DataFrame:
    """Where each seed of each trained model ended between the popularity plateau and the best possible value.

    A two-tower model that has not personalised gives every user nearly the same ranking and scores what
    the popularity baseline scores: the plateau on which some Transformer seeds of the Spotify protocol stay
    (paper Section III-A; our runs in notebook 05). Per seed, with the floor and the ceiling model of the
    same seed (the seed draws the test users)::

        position = (metric - metric_floor) / (metric_ceiling - metric_floor)

    0 is the plateau, 1 the ceiling; ``left`` marks the seeds that ended closer to the ceiling than to the
    plateau (position > 0.5).

    Args:
        rows: per-seed results with ``model``, ``seed`` and ``metric`` (as :func:`summarize` takes), including
            the floor's and the ceiling's runs of every seed.
        metric, floor, ceiling: the metric column and the two reference models.

    Returns:
        One row per (model, seed) of the other models: ``model``, ``seed``, ``metric``, ``floor``,
        ``ceiling``, ``position``, ``left``.
    """
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(
        [r.row() if isinstance(r, SeedResult) else r for r in rows]
    )  # fmt: skip
    missing = [c for c in ("model", "seed", metric) if c not in frame.columns]
    if missing:
        raise ValueError(f"rows lack the column(s) {missing}")
    refs = {}
    for name in (floor, ceiling):
        ref = frame[frame["model"] == name].set_index("seed")[metric].astype(float)
        if ref.empty:
            raise ValueError(f"no {name!r} runs among the rows (models: {sorted(frame['model'].unique())})")
        if ref.index.has_duplicates:
            raise ValueError(
                f"{name!r} has several runs of seed(s) {sorted(set(ref.index[ref.index.duplicated()]))}"
            )
        refs[name] = ref
    trained = frame[~frame["model"].isin([floor, ceiling])]
    lacking = sorted(set(trained["seed"]) - (set(refs[floor].index) & set(refs[ceiling].index)))
    if lacking:
        raise ValueError(f"seed(s) {lacking} lack a {floor!r} or {ceiling!r} run to compare with")
    out = pd.DataFrame(
        {
            "model": trained["model"].to_numpy(),
            "seed": trained["seed"].to_numpy(),
            "metric": trained[metric].astype(float).to_numpy(),
            "floor": refs[floor].loc[trained["seed"]].to_numpy(),
            "ceiling": refs[ceiling].loc[trained["seed"]].to_numpy(),
        }
    )
    out["position"] = (out["metric"] - out["floor"]) / (out["ceiling"] - out["floor"])
    out["left"] = out["position"] > 0.5
    return out


def default_jobs() -> int:
    """Processes to run seeds in: one per core this process may use (a training step is small; one thread
    each is fastest), see :func:`ftmamba_lite.ops.threads.available_cpus`."""
    return available_cpus()
