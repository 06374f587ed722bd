"""Seed sweeps: every (model, seed, config) run of an experiment, resumable, in parallel on one machine
(joblib) or on a Dask distributed cluster.

The paper averages 100 seeds per model (III); one seed at its scale takes minutes on a CPU, so a sweep must
survive interruptions and spread over machines. A sweep is a list of :class:`RunSpec` (experiment, model, seed
and the run's settings with every default filled in, from :func:`plan`). :func:`run_sweep` runs those not yet
done and writes each run's :class:`~ftmamba_lite.learn.experiments.SeedResult` to ``out/runs/<dataset>/<key>.json``
the moment it finishes, atomically (a temporary file in the same folder, then ``os.replace``: a file is either
complete or absent), and its log to ``out/logs/<dataset>/<key>.log``. The key holds the model, the table row,
the seed and a digest of the settings, so a rerun with the same arguments skips what is done and a run with
other settings gets its own files. :func:`collect` rebuilds the results from those files, and
:func:`write_tables` the per-seed and summary tables.

A result depends only on its spec and the thread count (floating-point sums split over threads round
differently), never on the backend, the number of parallel runs or the order they finish in: every run uses
``threads`` threads (default 1, the fastest for these small steps), recorded in its result file.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tempfile
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import redirect_stderr, redirect_stdout, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from ..analysis import over_under
from ..ops.threads import available_cpus
from .experiments import EXPERIMENTS, SeedResult, check_run, run_seed, summarize

__all__ = [
    "BACKENDS",
    "RunSpec",
    "SweepReport",
    "check_backend",
    "collect",
    "execute",
    "plan",
    "result_path",
    "run_sweep",
    "write_atomic",
    "write_tables",
]

BACKENDS = ("joblib", "dask")


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: :func:`ftmamba_lite.learn.experiments.run_seed` ``(dataset, model, seed, **settings)``.

    ``settings`` are run_seed's keyword arguments with the experiment's defaults filled in (source, steps or
    epochs, batch_size, lr, eval_every or max_len, data_kwargs with the table row's options, model_kwargs), so
    that the same run always has the same :attr:`key`.
    """

    dataset: str
    model: str
    seed: int
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def options(self) -> dict[str, object]:
        """The table row (e.g. ``{"clusters": 25, "messages": 50}`` for the vaccine grid)."""
        data = self.settings.get("data_kwargs") or {}
        return {name: data.get(name, default) for name, default in EXPERIMENTS[self.dataset].options.items()}

    @property
    def digest(self) -> str:
        """12 hex digits of SHA-256 over the dataset, model, seed and settings (as sorted JSON)."""
        text = json.dumps(
            {"dataset": self.dataset, "model": self.model, "seed": self.seed, "settings": self.settings},
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def key(self) -> str:
        """File name stem: ``<model>[_<option><value>...]_seed<seed>_<digest>``."""
        options = "".join(f"_{name}{value}" for name, value in self.options.items())
        return f"{self.model}{options}_seed{self.seed}_{self.digest}"

    @property
    def label(self) -> str:
        """For people: ``"mamba clusters 25 messages 50 seed 3"``."""
        return " ".join([self.model, *(f"{k} {v}" for k, v in self.options.items()), f"seed {self.seed}"])

    def to_dict(self) -> dict[str, object]:
        return {
            "dataset": self.dataset,
            "model": self.model,
            "seed": self.seed,
            "settings": dict(self.settings),
        }


def _source(source: str | os.PathLike | None) -> str | None:
    """None for the synthetic default; an existing local path made absolute (so that a rerun from another
    folder finds the same runs); anything else (a URL, ``"recbole"``) as given."""
    if source is None or str(source) == "synthetic":
        return None
    path = Path(source).expanduser()
    return str(path.resolve()) if path.exists() else str(source)


def plan(
    dataset: str,
    models: Sequence[str],
    seeds: Sequence[int],
    *,
    source: str | os.PathLike | None = None,
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    eval_every: int | None = None,
    max_len: int | None = None,
    data_kwargs: Mapping[str, object] | None = None,
    model_kwargs: Mapping[str, object] | None = None,
    rows: Sequence[Mapping[str, object]] = ({},),
) -> list[RunSpec]:
    """The runs of a sweep, table row by row, model by model, seed by seed; every argument checked first.

    Args:
        dataset, models, seeds: what to run (a model per :func:`experiments.check_run`).
        source ... model_kwargs: as :func:`ftmamba_lite.learn.experiments.run_seed`; None takes the experiment's
            default, which the spec then holds explicitly.
        rows: table rows (loader options such as ``{"clusters": 25, "messages": 50}``): one set of runs per
            row; the experiment's :attr:`Experiment.grid` for a whole table.

    Raises:
        ValueError: naming the argument, before any run (unknown model, a value out of range, no seeds, a
            repeated seed, options the experiment does not have).
    """
    if not models:
        raise ValueError("models is empty: give at least one model")
    if len(seeds) == 0:
        raise ValueError("seeds is empty: give at least one seed")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds repeat: {list(seeds)}")
    if any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in seeds):
        raise ValueError(f"seeds must be integers >= 0, got {list(seeds)}")
    settings = dict(
        steps=steps, epochs=epochs, batch_size=batch_size, lr=lr, eval_every=eval_every, max_len=max_len
    )
    exp = [check_run(dataset, model, **settings) for model in models][0]
    for row in rows:
        unknown = sorted(set(row) - set(exp.options))
        if unknown:
            raise ValueError(
                f"{dataset} has no table-row option(s) {unknown}; its options: {list(exp.options)}"
            )
    resolved: dict[str, Any] = {
        "source": _source(source),
        "batch_size": exp.batch_size if batch_size is None else batch_size,
        "lr": exp.lr if lr is None else float(lr),
    }
    if exp.sequential:
        resolved["epochs"] = exp.epochs if epochs is None else epochs
        resolved["max_len"] = exp.max_len if max_len is None else max_len
    else:
        resolved["steps"] = exp.steps if steps is None else steps
        resolved["eval_every"] = 500 if eval_every is None else eval_every
    resolved["model_kwargs"] = dict(model_kwargs or {})
    specs = []
    for row in rows:
        data = {**exp.options, **(data_kwargs or {}), **row}
        for model in models:
            for seed in seeds:
                specs.append(RunSpec(dataset, model, int(seed), {**resolved, "data_kwargs": data}))
    return specs


def result_path(out: str | os.PathLike, spec: RunSpec) -> Path:
    """``out/runs/<dataset>/<key>.json``: where the run's result lives once it finished."""
    return Path(out) / "runs" / spec.dataset / f"{spec.key}.json"


def log_path(out: str | os.PathLike, spec: RunSpec) -> Path:
    """``out/logs/<dataset>/<key>.log``: the run's log (settings, every evaluation, errors)."""
    return Path(out) / "logs" / spec.dataset / f"{spec.key}.log"


def write_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` so that the file is either the old one or complete, never half-written: a
    temporary file beside it, flushed to disk, then ``os.replace`` (atomic on POSIX and Windows)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def check_backend(backend: str, scheduler: str | None = None) -> None:
    """Raise ValueError unless ``backend`` can run here: a known name, ``scheduler`` only with Dask, and
    Dask's ``distributed`` installed (the ``cluster`` extra) for the Dask backend."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {BACKENDS}")
    if scheduler is not None and backend != "dask":
        raise ValueError("a scheduler address needs the dask backend")
    if backend == "dask":
        try:
            import distributed  # noqa: F401
        except ImportError as error:
            raise ValueError(
                "the dask backend needs Dask's distributed scheduler: pip install 'ftmamba-lite[cluster]'"
            ) from error


class _RunLog(io.TextIOBase):
    """A run's log: kept in memory (returned to the sweep, which stores it) and, where the worker can reach
    the output folder, written to the log file as it goes, so that a long run can be followed."""

    def __init__(self, path: str | None) -> None:
        self.parts: list[str] = []
        self.file = None
        if path is not None:
            with suppress(OSError):  # a remote worker may not see the folder: memory only
                self.file = open(path, "w", encoding="utf-8", buffering=1)  # noqa: SIM115

    def write(self, text: str) -> int:
        self.parts.append(text)
        if self.file is not None:
            self.file.write(text)
        return len(text)

    def __call__(self, line: str) -> None:
        self.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
        super().close()


@dataclass(frozen=True)
class RunOutcome:
    """What a worker sends back: the result (:meth:`SeedResult.to_dict`) or the error, and the log."""

    spec: RunSpec
    result: dict[str, object] | None
    log: str
    error: str | None = None


def execute(spec: RunSpec, threads: int | None = None, live_log: str | None = None) -> RunOutcome:
    """Run one spec in this process (a joblib or Dask worker) and return its :class:`RunOutcome`.

    The run's output (prints, warnings, the evaluations) goes to its log; an exception does not escape: it
    ends up in the outcome and the log, so that one failed run does not stop the sweep.
    """
    log = _RunLog(live_log)
    log(f"{spec.dataset} {spec.label}, {threads or 'default'} thread(s), pid {os.getpid()}")
    log("settings " + json.dumps(dict(spec.settings), sort_keys=True, default=str))
    try:
        with redirect_stdout(log), redirect_stderr(log):
            result = run_seed(spec.dataset, spec.model, spec.seed, threads=threads, log=log, **spec.settings)
        log(
            f"done: {result.seconds:.1f} s of training; "
            + ", ".join(f"{k} {v:.4f}" for k, v in result.metrics.items())
        )
        return RunOutcome(spec, result.to_dict(), "".join(log.parts))
    except Exception as error:  # noqa: BLE001 - reported per run; the sweep goes on with the others
        log("failed:\n" + traceback.format_exc())
        return RunOutcome(spec, None, "".join(log.parts), f"{type(error).__name__}: {error}")
    finally:
        log.close()


def _load(path: Path) -> SeedResult:
    try:
        return SeedResult.from_dict(json.loads(path.read_text(encoding="utf-8"))["result"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(
            f"result file {path} cannot be read ({error}); delete it (or rerun with --fresh) to run it again"
        ) from error


def collect(runs: Sequence[RunSpec], out: str | os.PathLike) -> list[SeedResult]:
    """The results of the finished ``runs``, in the order of ``runs``, read back from their files."""
    return [_load(path) for path in (result_path(out, spec) for spec in runs) if path.exists()]


@dataclass
class SweepReport:
    """What :func:`run_sweep` did: ``skipped`` runs were done before, ``finished`` ran now, ``failed`` maps
    a run's key to its error (its log holds the traceback); ``results`` holds every finished run's result."""

    runs: list[RunSpec]
    skipped: int
    finished: int
    failed: dict[str, str]
    results: list[SeedResult]


def _run_joblib(pending: Sequence[RunSpec], jobs: int, threads: int, out: Path) -> Iterator[RunOutcome]:
    from joblib import Parallel, delayed

    tasks = (delayed(execute)(spec, threads, str(log_path(out, spec))) for spec in pending)
    yield from Parallel(n_jobs=jobs, return_as="generator_unordered")(tasks)


def _run_dask(
    pending: Sequence[RunSpec], jobs: int, threads: int, out: Path, scheduler: str | None
) -> Iterator[RunOutcome]:
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:  # a cluster of this machine: one single-threaded worker process per job
        cluster = LocalCluster(
            n_workers=jobs,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
    try:
        with Client(scheduler or cluster) as client:
            futures = {
                client.submit(
                    execute,
                    spec,
                    threads,
                    str(log_path(out, spec)) if cluster is not None else None,  # remote: log comes back
                    key=f"ftmamba-{spec.dataset}-{spec.key}",
                    pure=False,
                ): spec
                for spec in pending
            }
            for future in as_completed(futures):
                try:
                    yield future.result()
                except Exception as error:  # noqa: BLE001 - the worker itself died (e.g. out of memory)
                    yield RunOutcome(futures[future], None, f"worker failed: {error!r}\n", repr(error))
    finally:
        if cluster is not None:
            cluster.close()


def run_sweep(
    runs: Sequence[RunSpec],
    out: str | os.PathLike,
    *,
    backend: str = "joblib",
    jobs: int | None = None,
    threads: int | None = None,
    scheduler: str | None = None,
    fresh: bool = False,
    progress: bool = True,
) -> SweepReport:
    """Run every spec of ``runs`` that has no result file in ``out`` yet; write each result as it finishes.

    Args:
        runs: from :func:`plan`.
        out: the output folder (results in ``out/runs``, logs in ``out/logs``).
        backend: ``"joblib"`` (processes on this machine; one job runs in this process) or ``"dask"`` (a
            Dask distributed cluster: the one at ``scheduler``, or a local one of ``jobs`` workers).
        jobs: runs at a time on this machine (default: its cores divided by ``threads``, so that runs do not
            compete for cores; at most one per pending run); ignored with a scheduler (the cluster's workers
            decide: start them with ``--nthreads 1``, one run per worker process).
        threads: PyTorch and numba threads per run (default 1). Results depend on it, not on the backend.
        fresh: delete these runs' results and logs first and run everything again.
        progress: one tqdm bar for the sweep (runs done / total, rate, ETA).

    Returns:
        a :class:`SweepReport`. An interruption (Ctrl-C, a killed process) keeps every result written so far;
        a rerun of the same runs continues from there.
    """
    check_backend(backend, scheduler)
    out = Path(out)
    if fresh:
        for spec in runs:
            for path in (result_path(out, spec), log_path(out, spec)):
                path.unlink(missing_ok=True)
    pending = [spec for spec in runs if not result_path(out, spec).exists()]
    threads = threads or 1
    jobs = max(1, min(jobs or available_cpus() // threads, len(pending) or 1))
    for spec in pending:
        log_path(out, spec).parent.mkdir(parents=True, exist_ok=True)
        result_path(out, spec).parent.mkdir(parents=True, exist_ok=True)
    skipped, finished, failed = len(runs) - len(pending), 0, {}
    if pending:
        outcomes = (
            _run_dask(pending, jobs, threads, out, scheduler)
            if backend == "dask"
            else _run_joblib(pending, jobs, threads, out)
        )
        name = runs[0].dataset
        with tqdm(
            total=len(runs), initial=skipped, desc=f"{name} runs", unit="run", disable=not progress
        ) as bar:
            for outcome in outcomes:
                spec = outcome.spec
                write_atomic(log_path(out, spec), outcome.log)
                if outcome.result is None:
                    failed[spec.key] = outcome.error or "failed"
                else:
                    record = {"spec": spec.to_dict(), "threads": threads, "result": outcome.result}
                    write_atomic(result_path(out, spec), json.dumps(record, default=str))
                    finished += 1
                bar.update(1)
                bar.set_postfix_str(f"last: {spec.label}" + (f", {len(failed)} failed" if failed else ""))
    return SweepReport(list(runs), skipped, finished, failed, collect(runs, out))


def write_tables(
    results: Sequence[SeedResult],
    out: str | os.PathLike,
    stem: str,
    metrics: Sequence[str],
    by: Sequence[str] = ("model",),
    meta: Mapping[str, object] | None = None,
) -> dict[str, Path]:
    """Per-seed, summary, curve and over/under-recommendation tables of ``results``, and one JSON of all.

    Files (each written atomically): ``<stem>_seeds.csv`` (one :meth:`SeedResult.row` per run),
    ``<stem>_summary.csv`` (:func:`ftmamba_lite.learn.experiments.summarize` grouped ``by``), ``<stem>_curves.csv``
    (every evaluation of every run: Figure 4), ``<stem>_over_under.csv`` (Figure 5; tabular runs only) and
    ``<stem>.json`` (``meta``, the seeds and the summary). Returns ``{kind: path}``.
    """
    out = Path(out)
    rows = [r.row() for r in results]
    summary = summarize(results, metrics, by=by)
    paths = {"seeds": out / f"{stem}_seeds.csv", "summary": out / f"{stem}_summary.csv"}
    write_atomic(paths["seeds"], pd.DataFrame(rows).to_csv(index=False))
    write_atomic(paths["summary"], summary.to_csv(index=False))
    ids = [{"model": r.model, **r.options, "seed": r.seed} for r in results]
    curves = [{**i, **point} for i, r in zip(ids, results, strict=True) for point in r.curve]
    if curves:
        paths["curves"] = out / f"{stem}_curves.csv"
        write_atomic(paths["curves"], pd.DataFrame(curves).to_csv(index=False))
    over = [
        over_under(r.scores, r.relevant).assign(**i)
        for i, r in zip(ids, results, strict=True)
        if r.scores is not None and r.relevant is not None
    ]
    if over:
        paths["over_under"] = out / f"{stem}_over_under.csv"
        write_atomic(paths["over_under"], pd.concat(over, ignore_index=True).to_csv(index=False))
    paths["json"] = out / f"{stem}.json"
    record = {"meta": dict(meta or {}), "seeds": rows, "summary": summary.to_dict("records")}
    write_atomic(paths["json"], json.dumps(record, indent=2, default=str))
    return paths
