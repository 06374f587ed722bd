"""Seed sweeps (ftmamba_lite.learn.sweep): plans, verified per-run results, resume after a kill, claims."""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ftmamba_lite import persistence
from ftmamba_lite.learn import sweep
from ftmamba_lite.learn.experiments import EXPERIMENTS, SeedResult

ROOT = Path(__file__).resolve().parents[1]
TINY = {"data_kwargs": {"n_train": 200, "n_valid": 20, "n_test": 10}, "steps": 4, "eval_every": 2}


def comparable(result) -> dict:
    """A result without its wall time (the only part that may differ between two runs of one spec)."""
    record = result.to_dict()
    record.pop("seconds")
    return record


def test_plan_fills_in_defaults_so_that_the_same_run_has_the_same_key() -> None:
    runs = sweep.plan("spotify", ["mamba", "mlp"], [0, 1])
    assert [(r.model, r.seed) for r in runs] == [("mamba", 0), ("mamba", 1), ("mlp", 0), ("mlp", 1)]
    settings = runs[0].settings
    assert (settings["steps"], settings["batch_size"], settings["lr"], settings["eval_every"]) == (
        5000, 32, 1e-4, 500
    )  # fmt: skip
    explicit = sweep.plan("spotify", ["mamba", "mlp"], [0, 1], steps=5000, lr=1e-4, source="synthetic")
    assert [r.key for r in explicit] == [r.key for r in runs]  # the defaults, spelled out: the same runs
    other = sweep.plan("spotify", ["mamba"], [0], steps=100)[0]
    assert other.key.startswith("mamba_seed0_") and other.key != runs[0].key
    assert len({r.key for r in runs}) == 4


def test_plan_of_a_grid_and_of_movielens() -> None:
    grid = sweep.plan("vaccine", ["mamba", "transformer"], [0, 1, 2], rows=EXPERIMENTS["vaccine"].grid)
    assert len(grid) == 6 * 2 * 3 and grid[0].settings["lr"] == 1e-5
    cells = {(r.options["clusters"], r.options["messages"]) for r in grid}
    assert cells == {(row["clusters"], row["messages"]) for row in EXPERIMENTS["vaccine"].grid}
    assert grid[-1].key.startswith("transformer_clusters100_messages100_seed2_")
    assert grid[0].label == "mamba clusters 25 messages 25 seed 0"
    seq = sweep.plan("movielens", ["mamba4rec"], [0])[0]
    assert (seq.settings["epochs"], seq.settings["max_len"], seq.settings["lr"]) == (12, 200, 3e-3)
    assert "steps" not in seq.settings
    with pytest.raises(ValueError, match="steps does not apply to movielens"):
        sweep.plan("movielens", ["sasrec"], [0], steps=10)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seeds": []}, "seeds is empty"),
        ({"seeds": [0, 0]}, "seeds repeat"),
        ({"seeds": [-1]}, "seeds must be integers >= 0"),
        ({"models": []}, "models is empty"),
        ({"models": ["gru"]}, "unknown model 'gru'"),
        ({"steps": 0}, "steps must be an integer >= 1"),
        ({"lr": 0.0}, "lr must be a finite number > 0"),
        ({"lr": float("inf")}, "lr must be a finite number > 0"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
        ({"eval_every": 0}, "eval_every must be an integer >= 1"),
        ({"epochs": 3}, "epochs does not apply to spotify"),
        ({"rows": ({"clusters": 5},)}, "no table-row option"),
    ],
)
def test_plan_refuses_bad_arguments_by_name(kwargs, message) -> None:
    args = {"models": ["mlp"], "seeds": [0], **kwargs}
    with pytest.raises(ValueError, match=message):
        sweep.plan("spotify", args.pop("models"), args.pop("seeds"), **args)


def test_write_atomic_leaves_the_old_file_or_the_new_one(tmp_path, monkeypatch) -> None:
    path = tmp_path / "deep" / "result.json"
    persistence.atomic_write_text(path, "old")
    assert path.read_text() == "old"

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt  # Ctrl-C while the new content is being written

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        persistence.atomic_write_text(path, "new")
    assert path.read_text() == "old" and os.listdir(path.parent) == ["result.json"]  # no temporary left


def test_a_failed_run_is_reported_and_the_others_are_kept(tmp_path) -> None:
    good = sweep.plan("spotify", ["linear"], [0], **TINY)
    bad = sweep.plan("spotify", ["linear"], [0], **{**TINY, "data_kwargs": {"n_train": 200, "bogus": 1}})
    report = sweep.run_sweep([*good, *bad], tmp_path, jobs=1, progress=False)
    assert report.finished == 1 and list(report.failed) == [bad[0].key]
    assert "bogus" in report.failed[bad[0].key]
    assert sweep.result_path(tmp_path, good[0]).exists() and not sweep.result_path(tmp_path, bad[0]).exists()
    log = sweep.log_path(tmp_path, bad[0]).read_text()
    assert "Traceback" in log and "bogus" in log
    good_log = sweep.log_path(tmp_path, good[0]).read_text()
    assert "step 2/4" in good_log and "done:" in good_log  # every evaluation, then the final metrics
    assert [r.model for r in report.results] == ["linear"]
    sweep.result_path(tmp_path, good[0]).write_text("{not json")
    with pytest.raises(ValueError, match=r"_seed0_\w{12}\.json: is not valid JSON.*rerun the sweep"):
        sweep.collect(good, tmp_path)


def test_sweep_resumes_after_it_was_killed(tmp_path, capsys) -> None:
    """A sweep killed (SIGKILL) once its first run is written keeps that run; the rerun skips it."""
    args = ["reproduce", "spotify", "--embedder", "mlp", "--seeds", "3", "--steps", "1500",
            "--n-train", "300", "--eval-every", "500", "--jobs", "1", "--out", str(tmp_path)]  # fmt: skip
    command = [
        sys.executable,
        "-c",
        "import sys; from ftmamba_lite.cli import main; sys.exit(main(sys.argv[1:]))",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [*command, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    results = tmp_path / "runs" / "spotify"
    deadline = time.monotonic() + 240
    try:
        while not (results.is_dir() and any(results.glob("*.json"))):
            assert process.poll() is None, "the sweep ended before it wrote a result"
            assert time.monotonic() < deadline, "no result file after 240 s"
            time.sleep(0.02)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    finished = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in results.glob("*.json")}
    assert 1 <= len(finished) < 3, "the kill should land mid-sweep"
    assert not (tmp_path / "spotify_mlp_seeds.csv").exists()  # the tables come only at the end

    from ftmamba_lite.cli import main

    assert main(args) == 0
    printed = capsys.readouterr().out
    assert f"{len(finished)} run(s) were done before, {3 - len(finished)} ran now, 0 failed" in printed
    for name, (content, mtime) in finished.items():  # untouched: not run again
        path = results / name
        assert path.read_bytes() == content and path.stat().st_mtime_ns == mtime
    assert len(list(results.glob("*.json"))) == 3 and not list(results.glob(".*"))  # no temporary files

    seeds = pd.read_csv(tmp_path / "spotify_mlp_seeds.csv")
    assert list(seeds["seed"]) == [0, 1, 2]
    for record in (json.loads(p.read_text()) for p in results.glob("*.json")):
        assert (
            record["result"]["seed"] == record["spec"]["seed"] and record["spec"]["settings"]["steps"] == 1500
        )


def test_joblib_and_a_local_dask_cluster_give_identical_results(tmp_path) -> None:
    runs = [
        *sweep.plan("spotify", ["transformer"], [0, 1], model_kwargs={"d_model": 8, "n_layers": 1}, **TINY),
        *sweep.plan("spotify", ["linear"], [0, 1], **TINY),
    ]
    local = sweep.run_sweep(runs, tmp_path / "joblib", jobs=1, progress=False)  # in this process, one by one
    cluster = sweep.run_sweep(runs, tmp_path / "dask", backend="dask", jobs=2, progress=False)
    assert local.finished == cluster.finished == 4 and not local.failed and not cluster.failed
    assert [comparable(r) for r in local.results] == [comparable(r) for r in cluster.results]
    assert all(sweep.log_path(tmp_path / "dask", spec).exists() for spec in runs)
    again = sweep.run_sweep(runs, tmp_path / "dask", backend="dask", jobs=2, progress=False)
    assert (again.skipped, again.finished) == (4, 0)  # nothing to do: no cluster work
    fresh = sweep.run_sweep(runs[2:], tmp_path / "joblib", jobs=2, fresh=True, progress=False)  # processes
    assert (fresh.skipped, fresh.finished) == (0, 2)
    assert [comparable(r) for r in fresh.results] == [comparable(r) for r in local.results[2:]]


def test_check_backend() -> None:
    with pytest.raises(ValueError, match="unknown backend"):
        sweep.check_backend("ray")
    with pytest.raises(ValueError, match="needs the dask backend"):
        sweep.check_backend("joblib", "tcp://127.0.0.1:8786")


# --- verified run files, claims, the sweep's workers ending with it ---


def fake_run_seed(calls: list):
    """A run_seed that trains nothing: metrics from the seed; records each call (dataset, model, seed)."""

    def run(dataset, model, seed, *, threads=None, log=None, **settings):
        calls.append((dataset, model, seed))
        metrics = {"HR@1": 0.25 + seed / 8, "P@5": 0.5 - seed / 16}
        return SeedResult(dataset, model, seed, "fake", metrics, params=7, seconds=0.01, curve=({"step": 1},))

    return run


@pytest.fixture
def fake_runs(monkeypatch) -> list:
    """run_seed replaced by :func:`fake_run_seed` (jobs=1 runs in this process); the list of its calls."""
    calls: list = []
    monkeypatch.setattr(sweep, "run_seed", fake_run_seed(calls))
    return calls


SPECS = sweep.plan("spotify", ["linear"], [0, 1], **TINY)


def _edit_metric(path: Path) -> None:
    record = json.loads(path.read_text())
    record["result"]["metrics"]["HR@1"] = 0.99  # still valid JSON, digest left as it was
    path.write_text(json.dumps(record))


def _nan_metrics(path: Path) -> None:
    record = json.loads(path.read_text())
    record["result"]["metrics"] = {name: math.nan for name in record["result"]["metrics"]}
    path.write_text(json.dumps(record))


def _nan_with_a_new_digest(path: Path) -> None:
    """A NaN metric written by someone who also recomputed the digest (the file is self-consistent)."""
    record = json.loads(path.read_text())
    record.pop("sha256")
    record["result"]["metrics"]["HR@1"] = math.nan
    path.write_text(json.dumps({**record, "sha256": persistence.sha256_hex(json.dumps(record, sort_keys=True,
                                separators=(",", ":")).encode())}))  # fmt: skip


def _seed0_copied(path: Path) -> None:
    path.write_bytes(sweep.result_path(path.parents[2], SPECS[0]).read_bytes())


def _no_digest(path: Path) -> None:
    record = json.loads(path.read_text())
    record.pop("sha256")
    path.write_text(json.dumps(record))


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (_edit_metric, "its content does not match its sha256 digest"),
        (_nan_metrics, "its content does not match its sha256 digest"),
        (_nan_with_a_new_digest, r"metric\(s\) \['HR@1'\] are not finite"),
        (_seed0_copied, r"holds run 'linear_seed0_\w+', not 'linear_seed1_\w+'"),
        (_no_digest, "has no sha256 digest"),
        (lambda p: p.write_bytes(p.read_bytes()[:-40]), "is not valid JSON"),
        (lambda p: p.write_text("{not json"), "is not valid JSON"),
        (lambda p: p.write_text("[1, 2]"), "holds a JSON list"),
        (lambda p: p.write_bytes(b"\xff\xfe"), "is not valid JSON"),
    ],
    ids=[
        "edited",
        "nan",
        "nan-new-digest",
        "seed0-over-seed1",
        "no-digest",
        "truncated",
        "not-json",
        "a-list",
        "not-utf8",
    ],  # fmt: skip
)
def test_a_damaged_run_file_is_refused_by_name_and_run_again(tmp_path, fake_runs, damage, problem) -> None:
    first = sweep.run_sweep(SPECS, tmp_path, jobs=1, progress=False)
    assert first.finished == 2 and fake_runs == [("spotify", "linear", 0), ("spotify", "linear", 1)]
    path = sweep.result_path(tmp_path, SPECS[1])
    damage(path)
    with pytest.raises(persistence.CorruptFileError, match=rf"{re.escape(str(path))}: {problem}"):
        sweep.collect(SPECS, tmp_path)
    said: list[str] = []
    again = sweep.run_sweep(SPECS, tmp_path, jobs=1, progress=False, say=said.append)
    assert (again.skipped, again.finished, list(again.refused)) == (1, 1, [SPECS[1].key])
    assert fake_runs[2:] == [("spotify", "linear", 1)]  # only the refused run ran again
    assert len(said) == 1 and re.search(rf"refused {re.escape(str(path))}: {problem}", said[0])
    assert "running linear seed 1 again" in said[0]
    assert [comparable(r) for r in again.results] == [comparable(r) for r in first.results]
    kept = list((tmp_path / "refused" / "spotify").iterdir())
    assert len(kept) == 1 and kept[0].name.startswith(SPECS[1].key) and str(kept[0]) in said[0]


def test_a_run_with_nan_metrics_is_a_failed_run_not_a_stored_one(tmp_path, monkeypatch) -> None:
    def nan_run(dataset, model, seed, **kwargs):
        return SeedResult(dataset, model, seed, "fake", {"HR@1": math.nan}, params=1, seconds=0.0)

    monkeypatch.setattr(sweep, "run_seed", nan_run)
    report = sweep.run_sweep(SPECS[:1], tmp_path, jobs=1, progress=False)
    assert report.finished == 0 and "['HR@1'] are not finite" in report.failed[SPECS[0].key]
    assert not sweep.result_path(tmp_path, SPECS[0]).exists() and report.results == []


@pytest.fixture(scope="module")
def run_file(tmp_path_factory) -> tuple[bytes, dict]:
    """A real run's result file (tiny linear run) and its verified result."""
    out = tmp_path_factory.mktemp("real")
    report = sweep.run_sweep(SPECS[:1], out, jobs=1, progress=False)
    assert report.finished == 1
    return sweep.result_path(out, SPECS[0]).read_bytes(), report.results[0].to_dict()


def _read_back(tmp_path_factory, blob: bytes):
    out = tmp_path_factory.mktemp("damaged")
    path = sweep.result_path(out, SPECS[0])
    path.parent.mkdir(parents=True)
    path.write_bytes(blob)
    return path, lambda: sweep.collect(SPECS[:1], out)


PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(st.data())
def test_any_changed_byte_of_a_run_file_is_refused_by_name_or_changes_nothing(
    run_file, tmp_path_factory, data
) -> None:
    blob, result = run_file
    damaged = bytearray(blob)
    at = data.draw(st.integers(0, len(blob) - 1), label="byte")
    damaged[at] = data.draw(st.integers(0, 255).filter(lambda b: b != blob[at]), label="new value")
    path, collect = _read_back(tmp_path_factory, bytes(damaged))
    try:
        (read,) = collect()
    except persistence.CorruptFileError as error:
        assert str(path) in str(error) and error.path == path
    else:
        assert read.to_dict() == result  # e.g. a space became a tab: the same record


def _leaves(value, where=()):
    """Every (path, value) of a JSON value's leaves."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*where, key))
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            yield from _leaves(item, (*where, index))
    else:
        yield where, value


json_values = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.floats(allow_nan=False), st.text(max_size=8)
)


@PROPERTY
@given(st.data())
def test_any_edited_value_of_a_run_file_is_refused_by_name_or_changes_nothing(
    run_file, tmp_path_factory, data
) -> None:
    blob, result = run_file
    record = json.loads(blob)
    leaves = list(_leaves(record))
    where, old = data.draw(st.sampled_from(leaves), label="value")
    new = data.draw(json_values.filter(lambda v: v != old or type(v) is not type(old)), label="new value")
    target = record
    for step in where[:-1]:
        target = target[step]
    target[where[-1]] = new
    path, collect = _read_back(tmp_path_factory, json.dumps(record).encode())
    try:
        (read,) = collect()
    except persistence.CorruptFileError as error:
        assert str(path) in str(error)
    else:
        assert read.to_dict() == result


def _finish_elsewhere(out: Path, spec: sweep.RunSpec, claim: sweep.Claim, with_result: bool) -> None:
    """Another process's run of ``spec``: it holds the claim a moment, then (maybe) writes the result."""
    time.sleep(1.0)
    if with_result:
        metrics = {"HR@1": 0.5, "P@5": 0.5}
        result = SeedResult(spec.dataset, spec.model, spec.seed, "elsewhere", metrics, params=7, seconds=0.0)
        sweep.write_result(out, spec, 1, result.to_dict())
    claim.release()


@pytest.mark.parametrize("with_result", [True, False], ids=["finishes", "dies"])
def test_a_claimed_run_is_not_started_by_a_second_sweep(tmp_path, fake_runs, with_result) -> None:
    """A run claimed by another process is left to it; if that process ends without a result, the sweep
    runs it once the claim is free."""
    claim = sweep.Claim.acquire(sweep.lock_path(tmp_path, SPECS[1]))
    assert claim is not None and sweep.Claim.acquire(sweep.lock_path(tmp_path, SPECS[1])) is None
    other = threading.Thread(target=_finish_elsewhere, args=(tmp_path, SPECS[1], claim, with_result))
    other.start()
    said: list[str] = []
    report = sweep.run_sweep(SPECS, tmp_path, jobs=1, progress=False, say=said.append)
    other.join()
    assert said and f"pid {os.getpid()}" in said[0] and "being run by another process" in said[0]
    if with_result:
        assert fake_runs == [("spotify", "linear", 0)] and (report.finished, report.elsewhere) == (1, 1)
        assert report.results[1].source == "elsewhere"
    else:
        assert fake_runs == [("spotify", "linear", 0), ("spotify", "linear", 1)] and report.finished == 2
    assert len(report.results) == 2


def test_a_claim_is_released_when_its_process_is_killed(tmp_path) -> None:
    lock = sweep.lock_path(tmp_path, SPECS[0])
    code = "import sys, time; from pathlib import Path; from ftmamba_lite.learn.sweep import Claim; "
    code += "Claim.acquire(Path(sys.argv[1])); print('held', flush=True); time.sleep(60)"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(lock)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline() == "held\n"
        assert sweep.Claim.acquire(lock) is None and f"pid {holder.pid}" in sweep.Claim.holder(lock)
    finally:
        holder.kill()
        holder.wait()
    claim = sweep.Claim.acquire(lock)
    assert claim is not None
    claim.release()


def _descendants(pid: int) -> list[int]:
    """The processes below ``pid`` (Linux /proc)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def _running(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_the_workers_end_within_seconds_when_the_command_is_killed(tmp_path) -> None:
    args = ["reproduce", "spotify", "--embedder", "mlp", "--seeds", "2", "--steps", "20000", "--jobs", "2",
            "--out", str(tmp_path)]  # fmt: skip
    command = [
        sys.executable,
        "-c",
        "import sys; from ftmamba_lite.cli import main; sys.exit(main(sys.argv[1:]))",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [*command, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    logs = tmp_path / "logs" / "spotify"
    deadline = time.monotonic() + 120
    try:
        while not (logs.is_dir() and len([p for p in logs.iterdir() if p.stat().st_size]) == 2):
            assert process.poll() is None and time.monotonic() < deadline, "the two runs did not start"
            time.sleep(0.05)
        workers = _descendants(process.pid)
        assert len(workers) >= 2
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    deadline = time.monotonic() + 10
    while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = [pid for pid in workers if _running(pid)]
    for pid in alive:  # do not leave them behind when the test fails
        os.kill(pid, signal.SIGKILL)
    assert not alive, "worker processes outlived the killed command by 10 s"


def test_out_problems_are_errors_naming_the_path_before_any_run(tmp_path, monkeypatch, fake_runs) -> None:
    (tmp_path / "runs").write_text("a file")
    with pytest.raises(ValueError, match=rf"{tmp_path / 'runs'} is a file, but the sweep needs a folder"):
        sweep.run_sweep(SPECS, tmp_path, jobs=1, progress=False)
    (tmp_path / "runs").unlink()
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "spotify").write_text("a file")
    with pytest.raises(ValueError, match=r"logs/spotify is a file"):
        sweep.run_sweep(SPECS, tmp_path, jobs=1, progress=False)
    (tmp_path / "logs" / "spotify").unlink()

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    for kwargs, message in [
        ({"jobs": 0}, "jobs must be an integer >= 1"),
        ({"threads": -1}, "threads must be"),
    ]:
        with pytest.raises(ValueError, match=message):
            sweep.run_sweep(SPECS, tmp_path, progress=False, **kwargs)
    with pytest.raises(ValueError, match="runs is empty"):
        sweep.run_sweep([], tmp_path, progress=False)
    monkeypatch.setattr(sweep.tempfile, "TemporaryFile", denied)  # root may write anywhere: simulate
    with pytest.raises(ValueError, match=r"cannot be written to \(Permission denied\): give a writable out"):
        sweep.run_sweep(SPECS, tmp_path, jobs=1, progress=False)
    assert fake_runs == []


def test_json_with_digest_round_trips_and_names_the_file_it_refuses(tmp_path) -> None:
    path = tmp_path / "record.json"
    record = {"b": [1, 2.5, "x"], "a": {"nested": None}, "c": True}
    persistence.write_json_with_digest(path, record)
    assert persistence.read_json_with_digest(path) == record
    assert json.loads(path.read_text())["sha256"] == persistence.sha256_hex(
        persistence.canonical_json(record)
    )
    with pytest.raises(ValueError, match="already has a 'sha256' key"):
        persistence.write_json_with_digest(path, {"sha256": "mine"})
    assert persistence.read_json_with_digest(path) == record  # the failed write left the file as it was
    path.write_text(path.read_text().replace("2.5", "1e999"))  # read as infinity
    with pytest.raises(persistence.CorruptFileError, match=rf"{re.escape(str(path))}: its content does not"):
        persistence.read_json_with_digest(path)
    persistence.write_json_with_digest(path, {"x": math.nan, "y": -math.inf})
    assert str(persistence.read_json_with_digest(path)) == str({"x": math.nan, "y": -math.inf})
    with pytest.raises(FileNotFoundError):
        persistence.read_json_with_digest(tmp_path / "absent.json")


def test_two_identical_commands_into_one_out_run_each_run_once(tmp_path) -> None:
    args = ["reproduce", "spotify", "--embedder", "linear", "--seeds", "4", "--steps", "300",
            "--n-train", "300", "--jobs", "1", "--out", str(tmp_path)]  # fmt: skip
    command = [
        sys.executable,
        "-c",
        "import sys; from ftmamba_lite.cli import main; sys.exit(main(sys.argv[1:]))",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    sweeps = [
        subprocess.Popen(
            [*command, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        for _ in range(2)
    ]
    printed = [process.communicate(timeout=300)[0] for process in sweeps]
    assert [process.returncode for process in sweeps] == [0, 0]
    ran = [int(re.search(r"(\d+) ran now", text).group(1)) for text in printed]
    assert sum(ran) == 4, printed  # every run ran once, in one of the two
    for text in printed:
        assert "ours: linear (n=4)" in text


@PROPERTY
@given(st.data())
def test_resuming_after_any_changed_byte_tabulates_the_same_table_or_says_which_file_it_refused(
    tmp_path_factory, data
) -> None:
    """Through the resume path: the rerun either refuses the file by name and runs that run again, or the
    change made no difference; the tables come out the same."""
    out = tmp_path_factory.mktemp("resume")
    calls: list = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sweep, "run_seed", fake_run_seed(calls))
        first = sweep.run_sweep(SPECS, out, jobs=1, progress=False)
        spec = data.draw(st.sampled_from(SPECS), label="run file")
        path = sweep.result_path(out, spec)
        blob = bytearray(path.read_bytes())
        at = data.draw(st.integers(0, len(blob) - 1), label="byte")
        blob[at] = data.draw(st.integers(0, 255).filter(lambda b: b != blob[at]), label="new value")
        path.write_bytes(bytes(blob))
        said: list[str] = []
        again = sweep.run_sweep(SPECS, out, jobs=1, progress=False, say=said.append)
    if again.refused:
        assert list(again.refused) == [spec.key] and calls[2:] == [("spotify", "linear", spec.seed)]
        assert len(said) == 1 and said[0].startswith(f"refused {path}: ")
    else:
        assert calls[2:] == [] and said == []
    tables = [sweep.write_tables(report.results, out / name, "t", ["HR@1", "P@5"]) for name, report in
              (("first", first), ("again", again))]  # fmt: skip
    for kind in ("seeds", "summary"):
        before, after = (pd.read_csv(paths[kind]).drop(columns="seconds") for paths in tables)
        pd.testing.assert_frame_equal(before, after)
