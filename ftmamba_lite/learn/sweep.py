"""Seed sweeps: every (model, seed, config) run of an experiment, resumable, in parallel on one machine
(joblib) or on a Dask distributed cluster.

The paper averages 100 seeds per model (III); one seed at its scale takes minutes on a CPU, so a sweep must
survive interruptions and spread over machines. A sweep is a list of :class:`RunSpec` (experiment, model, seed
and the run's settings with every default filled in, from :func:`plan`). :func:`run_sweep` runs those not yet
done and writes each run's :class:`~ftmamba_lite.learn.experiments.SeedResult` to
``out/runs/<dataset>/<key>.json`` the moment it finishes, atomically (:mod:`ftmamba_lite.persistence`: a file
is either complete or absent) with the run's key and a sha256 digest, and its log to
``out/logs/<dataset>/<key>.log``. The key holds the model, the table row, the seed and a digest of the
settings, so a rerun with the same arguments skips what is done and a run with other settings gets its own
files. Every result file is verified when read (:func:`read_result`): one that was edited, damaged, copied
from another run or holds non-finite metrics is refused by name, never tabulated, and its run runs again. A
run is claimed (an ``flock`` on ``out/locks/<dataset>/<key>.lock``, released by the system when its process
dies) before it starts, so that two sweeps into one folder never run the same run; workers end themselves when
the sweep's process dies. :func:`collect` rebuilds the results from those files, and :func:`write_tables` the
per-seed and summary tables.

A result depends only on its spec and the thread count (floating-point sums split over threads round
differently), never on the backend, the number of parallel runs or the order they finish in: every run uses
``threads`` threads (default 1, the fastest for these small steps), recorded in its result file.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import socket
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import redirect_stderr, redirect_stdout, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..analysis import over_under
from ..ops.threads import available_cpus
from ..persistence import (
    CorruptFileError,
    atomic_write_text,
    canonical_json,
    read_json_with_digest,
    sha256_hex,
    write_json_with_digest,
)
from .engine import EVAL_EVERY
from .experiments import EXPERIMENTS, SeedResult, check_run, run_seed, summarize

try:
    import fcntl
except ImportError:  # Windows: no flock; claims always succeed there
    fcntl = None

__all__ = [
    "BACKENDS",
    "Claim",
    "RunSpec",
    "SweepReport",
    "check_backend",
    "check_out",
    "collect",
    "execute",
    "lock_path",
    "log_path",
    "plan",
    "read_result",
    "result_path",
    "run_sweep",
    "write_result",
    "write_tables",
]

BACKENDS = ("joblib", "dask")


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: :func:`~ftmamba_lite.learn.experiments.run_seed` with
    ``(dataset, model, seed, **settings)``.

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
        return sha256_hex(text.encode())[:12]

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
        source ... model_kwargs: as :func:`~ftmamba_lite.learn.experiments.run_seed`; None takes the
            experiment's default, which the spec then holds explicitly.
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
        resolved["eval_every"] = EVAL_EVERY if eval_every is None else eval_every
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


def lock_path(out: str | os.PathLike, spec: RunSpec) -> Path:
    """``out/locks/<dataset>/<key>.lock``: the claim on a run while a process runs it (see :class:`Claim`)."""
    return Path(out) / "locks" / spec.dataset / f"{spec.key}.lock"


def refused_path(out: str | os.PathLike, spec: RunSpec) -> Path:
    """``out/refused/<dataset>/<key>.<time>.<pid>.json``: where a result file that failed its check goes."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path(out) / "refused" / spec.dataset / f"{spec.key}.{stamp}.{os.getpid()}.json"


def check_out(out: str | os.PathLike, dataset: str) -> Path:
    """The output folder of a sweep of ``dataset``, with every folder a sweep writes to created and tried.

    Raises:
        ValueError: naming the path and what is wrong (a file where a folder must be, no permission to
            write), before any run starts.
    """
    out = Path(out).expanduser()
    folders = [out, *(out / part / sub for part in ("runs", "logs", "locks") for sub in ("", dataset))]
    for folder in [*folders, out / "refused", out / "refused" / dataset]:
        if folder.exists() and not folder.is_dir():
            raise ValueError(
                f"{folder} is a file, but the sweep needs a folder there (out {out} holds runs/, logs/, "
                "locks/ and the tables): move the file away or give another out folder"
            )
    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as error:
            raise ValueError(
                f"{folder} cannot be written to ({error.strerror or error}): give a writable out folder"
            ) from error
    return out


class Claim:
    """A process's claim on one run: an exclusive ``fcntl.flock`` on the run's lock file.

    The operating system releases the lock when the process ends in any way (a crash, SIGKILL), so a claim is
    never left stuck; while it is held no other sweep starts the run. The file holds the holder's pid, host
    and start time, for messages. Where ``fcntl`` does not exist (Windows) every claim succeeds.
    """

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, path: Path, wait: bool = False) -> Claim | None:
        """The claim on ``path``; None when another process holds it (with ``wait``: block until it is free,
        then return the claim)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                os.close(fd)
                return None
        holder = f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, holder.encode())
        return cls(path, fd)

    @staticmethod
    def holder(path: Path) -> str:
        """Who holds the claim on ``path``, as it wrote it ("pid 12 on host since ..."), or ``"unknown"``."""
        with suppress(OSError):
            return path.read_text(encoding="utf-8").strip() or "unknown"
        return "unknown"

    def release(self) -> None:
        """Give the run back (closing the file releases the lock); a second call does nothing."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


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


_WATCHED: set[int] = set()
WATCH_INTERVAL = 0.5  # seconds between a worker's checks that the sweep's process is alive


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is ours (another user's process under that pid: the sweep's
    process is gone and its pid was reused)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _end_with(sweep_pid: int) -> None:
    """In a worker process of the sweep whose process is ``sweep_pid``: end this process within
    :data:`WATCH_INTERVAL` seconds of that one's death (SIGKILL included), from a daemon thread."""
    if sweep_pid == os.getpid() or sweep_pid in _WATCHED:
        return
    _WATCHED.add(sweep_pid)

    def watch() -> None:
        while _alive(sweep_pid):
            time.sleep(WATCH_INTERVAL)
        os._exit(1)

    threading.Thread(target=watch, name=f"ftmamba-watch-{sweep_pid}", daemon=True).start()


def execute(
    spec: RunSpec, threads: int | None = None, live_log: str | None = None, sweep_pid: int | None = None
) -> RunOutcome:
    """Run one spec in this process (a joblib or Dask worker) and return its :class:`RunOutcome`.

    The run's output (prints, warnings, the evaluations) goes to its log; an exception does not escape: it
    ends up in the outcome and the log, so that one failed run does not stop the sweep. With ``sweep_pid``
    (the sweep's process, on this machine) a worker process ends itself when that process is gone.
    """
    if sweep_pid is not None:
        _end_with(sweep_pid)
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


def _finite_metrics(metrics: object) -> str | None:
    """None when ``metrics`` is a non-empty dict of finite numbers; otherwise what is wrong with it."""
    if not isinstance(metrics, dict) or not metrics:
        return "holds no metrics"
    bad = [
        name
        for name, value in metrics.items()
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
    ]
    return f"metric(s) {bad} are not finite numbers" if bad else None


def _json_value(value: object) -> object:
    """A numpy scalar as its Python number; anything else JSON cannot hold as its string."""
    return value.item() if isinstance(value, np.generic) else str(value)


def _plain(obj: object) -> Any:
    """``obj`` as plain JSON types, the form it has once written and read back."""
    return json.loads(json.dumps(obj, default=_json_value))


def write_result(out: str | os.PathLike, spec: RunSpec, threads: int, result: Mapping[str, object]) -> Path:
    """Write a finished run's result file (atomically, with the run's key and a sha256 digest).

    Raises:
        ValueError: the result's metrics are not all finite numbers (NaN, infinite): such a result is not
            stored.
    """
    result = _plain(dict(result))
    problem = _finite_metrics(result.get("metrics"))
    if problem is not None:
        raise ValueError(f"the run's result {problem}: {result.get('metrics')}")
    path = result_path(out, spec)
    record = {"key": spec.key, "spec": _plain(spec.to_dict()), "threads": threads, "result": result}
    write_json_with_digest(path, record)
    return path


def read_result(path: str | os.PathLike, spec: RunSpec) -> SeedResult:
    """The result in ``path``, the file of run ``spec``, verified: its digest, its key and settings against
    ``spec``, and its metrics (finite numbers).

    Raises:
        CorruptFileError: naming the file and the problem (edited, damaged, truncated, not JSON, another
            run's file, non-finite metrics); the sweep then runs the run again.
        FileNotFoundError: no such file.
    """
    record = read_json_with_digest(path)
    if record.get("key") != spec.key:
        raise CorruptFileError(
            path, f"holds run {record.get('key')!r}, not {spec.key!r} that its name and place say (copied?)"
        )
    if canonical_json(record.get("spec")) != canonical_json(_plain(spec.to_dict())):
        raise CorruptFileError(path, f"its settings are not those of run {spec.key!r}")
    data = record.get("result")
    if not isinstance(data, dict):
        raise CorruptFileError(path, "holds no result")
    problem = _finite_metrics(data.get("metrics"))
    if problem is not None:
        raise CorruptFileError(path, problem)
    try:
        result = SeedResult.from_dict(data)
    except (KeyError, TypeError, ValueError) as error:
        raise CorruptFileError(
            path, f"its result cannot be read ({type(error).__name__}: {error})"
        ) from error
    if (result.dataset, result.model, result.seed) != (spec.dataset, spec.model, spec.seed):
        raise CorruptFileError(
            path,
            f"its result is of {result.dataset} {result.model} seed {result.seed}, not of {spec.dataset} "
            f"{spec.label}",
        )
    return result


def collect(runs: Sequence[RunSpec], out: str | os.PathLike) -> list[SeedResult]:
    """The results of the finished ``runs``, in the order of ``runs``, read back and verified from their
    files (:func:`read_result`).

    Raises:
        CorruptFileError: a file fails its check; the message names it (rerun the sweep to run it again).
    """
    results = []
    for spec in runs:
        path = result_path(out, spec)
        if path.exists():
            try:
                results.append(read_result(path, spec))
            except CorruptFileError as error:
                raise CorruptFileError(
                    path, f"{error.problem}; rerun the sweep to run it again (or delete it)"
                ) from error
    return results


@dataclass
class SweepReport:
    """What :func:`run_sweep` did: ``skipped`` runs were done before, ``finished`` ran now, ``failed`` maps
    a run's key to its error (its log holds the traceback), ``refused`` maps a run's key to why its result
    file was refused (that run ran again), ``elsewhere`` runs were finished meanwhile by another process;
    ``results`` holds every finished run's result."""

    runs: list[RunSpec]
    skipped: int
    finished: int
    failed: dict[str, str]
    results: list[SeedResult]
    refused: dict[str, str] = field(default_factory=dict)
    elsewhere: int = 0


def _run_joblib(specs: Iterable[RunSpec], jobs: int, threads: int, out: Path) -> Iterator[RunOutcome]:
    from joblib import Parallel, delayed

    pid = os.getpid()
    tasks = (delayed(execute)(spec, threads, str(log_path(out, spec)), pid) for spec in specs)
    yield from Parallel(n_jobs=jobs, return_as="generator_unordered")(tasks)


def _run_dask(
    specs: Iterable[RunSpec], jobs: int, threads: int, out: Path, scheduler: str | None
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
    local = cluster is not None  # remote workers neither see the folder nor this process
    try:
        with Client(scheduler or cluster) as client:
            futures = {
                client.submit(
                    execute,
                    spec,
                    threads,
                    str(log_path(out, spec)) if local else None,  # remote: the log comes back
                    os.getpid() if local else None,
                    key=f"ftmamba-{spec.dataset}-{spec.key}",
                    pure=False,
                ): spec
                for spec in specs
            }
            for future in as_completed(futures):
                try:
                    yield future.result()
                except Exception as error:  # noqa: BLE001 - the worker itself died (e.g. out of memory)
                    yield RunOutcome(futures[future], None, f"worker failed: {error!r}\n", repr(error))
    finally:
        if cluster is not None:
            cluster.close()


def _verified(out: Path, spec: RunSpec) -> SeedResult | str | None:
    """The run's verified result; the problem (a string) when its file fails the check; None: no file."""
    try:
        return read_result(result_path(out, spec), spec)
    except FileNotFoundError:
        return None
    except CorruptFileError as error:
        return str(error)


def _claimed(
    specs: Sequence[RunSpec],
    out: Path,
    claims: dict[str, Claim],
    busy: list[RunSpec],
    done_elsewhere: list[RunSpec],
) -> Iterator[RunSpec]:
    """The specs this process claims, one by one as the backend asks for them (so that a second sweep
    into the same folder claims the rest); ``claims`` gets their claims. A spec claimed by another process
    goes to ``busy``; one whose verified result appeared meanwhile to ``done_elsewhere``."""
    for spec in specs:
        claim = Claim.acquire(lock_path(out, spec))
        if claim is None:
            busy.append(spec)
        elif isinstance(_verified(out, spec), SeedResult):
            claim.release()
            done_elsewhere.append(spec)
        else:
            claims[spec.key] = claim
            yield spec


def _check_sweep(
    runs: Sequence[RunSpec], backend: str, scheduler: str | None, jobs: int | None, threads: int | None
) -> None:
    """ValueError naming the argument of :func:`run_sweep` that cannot be run."""
    check_backend(backend, scheduler)
    if not runs:
        raise ValueError("runs is empty: plan() gives the runs of a sweep")
    for name, value in (("jobs", jobs), ("threads", threads)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ValueError(f"{name} must be an integer >= 1 (or None for the default), got {value!r}")


def _pending(
    runs: Sequence[RunSpec], out: Path, fresh: bool, say: Callable[[str], None]
) -> tuple[list[RunSpec], dict[str, str]]:
    """(the runs without a verified result file, {key: why} of the files refused and moved aside): ``out``
    checked for every dataset, with ``fresh`` every result and log deleted first."""
    for spec in runs[1:]:
        check_out(out, spec.dataset)
    if fresh:
        for spec in runs:
            for path in (result_path(out, spec), log_path(out, spec)):
                path.unlink(missing_ok=True)
    refused: dict[str, str] = {}
    pending = []
    for spec in runs:
        found = _verified(out, spec)
        if isinstance(found, str):
            aside = refused_path(out, spec)
            aside.parent.mkdir(parents=True, exist_ok=True)
            with suppress(FileNotFoundError):  # another sweep may have moved it first
                os.replace(result_path(out, spec), aside)
            refused[spec.key] = found
            say(f"refused {found}; kept as {aside}; running {spec.label} again")
        if not isinstance(found, SeedResult):
            pending.append(spec)
    return pending, refused


def _store(outcome: RunOutcome, out: Path, threads: int) -> str | None:
    """Write a finished run's log and result file; the reason it failed, or None."""
    atomic_write_text(log_path(out, outcome.spec), outcome.log)
    if outcome.result is None:
        return outcome.error or "failed"
    try:
        write_result(out, outcome.spec, threads, outcome.result)
    except ValueError as problem:
        return str(problem)
    return None


def _wait_for(busy: Sequence[RunSpec], out: Path, say: Callable[[str], None]) -> None:
    """Wait until the other process that holds the first of ``busy``'s claims lets it go."""
    lock = lock_path(out, busy[0])
    say(f"{len(busy)} run(s) are being run by another process ({Claim.holder(lock)}): waiting for them")
    claim = Claim.acquire(lock, wait=True)
    if claim is not None:
        claim.release()


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
    say: Callable[[str], None] | None = None,
) -> SweepReport:
    """Run every spec of ``runs`` that has no verified result file in ``out`` yet; write each result as it
    finishes.

    A result file that fails its check (:func:`read_result`) is moved to ``out/refused/`` and its run runs
    again. A run is claimed (:class:`Claim`) before it starts: two sweeps into one ``out`` share the runs, and
    each takes over those the other left unfinished.

    Args:
        runs: from :func:`plan`.
        out: the output folder (results in ``out/runs``, logs in ``out/logs``, claims in ``out/locks``).
        backend: ``"joblib"`` (processes on this machine; one job runs in this process) or ``"dask"`` (a
            Dask distributed cluster: the one at ``scheduler``, or a local one of ``jobs`` workers).
        jobs: runs at a time on this machine (default: its cores divided by ``threads``); ignored with a
            scheduler (start its workers with ``--nthreads 1``, one run per worker process).
        threads: PyTorch and numba threads per run (default 1). Results depend on it, not on the backend.
        fresh: delete these runs' results and logs first and run everything again.
        progress: one tqdm bar for the sweep (runs done / total, rate, ETA).
        say: called with a line for each refused file and each wait for another process (default: none).

    Returns:
        a :class:`SweepReport`. An interruption keeps every result written so far; a rerun continues.

    Raises:
        ValueError: before any run, naming the argument: no runs, ``jobs`` or ``threads`` below 1, an
            unknown backend, or an ``out`` that cannot hold the sweep (:func:`check_out`).
    """
    _check_sweep(runs, backend, scheduler, jobs, threads)
    say = say or (lambda line: None)
    out = check_out(out, runs[0].dataset)
    pending, refused = _pending(runs, out, fresh, say)
    threads = threads or 1
    jobs = max(1, min(jobs or available_cpus() // threads, len(pending) or 1))
    skipped, finished, elsewhere, failed = len(runs) - len(pending), 0, 0, {}
    with tqdm(
        total=len(runs), initial=skipped, desc=f"{runs[0].dataset} runs", unit="run", disable=not progress
    ) as bar:
        while pending:
            claims: dict[str, Claim] = {}
            busy: list[RunSpec] = []
            done_elsewhere: list[RunSpec] = []

            outcomes = (
                _run_dask(_claimed(pending, out, claims, busy, done_elsewhere), jobs, threads, out, scheduler)
                if backend == "dask"
                else _run_joblib(_claimed(pending, out, claims, busy, done_elsewhere), jobs, threads, out)
            )
            try:
                for outcome in outcomes:
                    spec = outcome.spec
                    error = _store(outcome, out, threads)
                    claims.pop(spec.key).release()
                    if error is None:
                        finished += 1
                    else:
                        failed[spec.key] = error
                    bar.update(1)
                    bar.set_postfix_str(f"last: {spec.label}" + (f", {len(failed)} failed" if failed else ""))
            finally:
                for claim in claims.values():
                    claim.release()
            elsewhere += len(done_elsewhere)
            bar.update(len(done_elsewhere))
            if busy:
                _wait_for(busy, out, say)
            pending = busy
    return SweepReport(list(runs), skipped, finished, failed, collect(runs, out), refused, elsewhere)


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
    ``<stem>_summary.csv`` (:func:`~ftmamba_lite.learn.experiments.summarize` grouped ``by``),
    ``<stem>_curves.csv``
    (every evaluation of every run: Figure 4), ``<stem>_over_under.csv`` (Figure 5; tabular runs only) and
    ``<stem>.json`` (``meta``, the seeds and the summary). Returns ``{kind: path}``.
    """
    out = Path(out)
    rows = [r.row() for r in results]
    summary = summarize(results, metrics, by=by)
    paths = {"seeds": out / f"{stem}_seeds.csv", "summary": out / f"{stem}_summary.csv"}
    atomic_write_text(paths["seeds"], pd.DataFrame(rows).to_csv(index=False))
    atomic_write_text(paths["summary"], summary.to_csv(index=False))
    ids = [{"model": r.model, **r.options, "seed": r.seed} for r in results]
    curves = [{**i, **point} for i, r in zip(ids, results, strict=True) for point in r.curve]
    if curves:
        paths["curves"] = out / f"{stem}_curves.csv"
        atomic_write_text(paths["curves"], pd.DataFrame(curves).to_csv(index=False))
    over = [
        over_under(r.scores, r.relevant).assign(**i)
        for i, r in zip(ids, results, strict=True)
        if r.scores is not None and r.relevant is not None
    ]
    if over:
        paths["over_under"] = out / f"{stem}_over_under.csv"
        atomic_write_text(paths["over_under"], pd.concat(over, ignore_index=True).to_csv(index=False))
    paths["json"] = out / f"{stem}.json"
    record = {"meta": dict(meta or {}), "seeds": rows, "summary": summary.to_dict("records")}
    atomic_write_text(paths["json"], json.dumps(record, indent=2, default=str))
    return paths
