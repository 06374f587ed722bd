"""Seed sweeps (ftmamba_lite.sweep): plans, atomic per-run results, resume after a kill, joblib = Dask."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ftmamba_lite import persistence, sweep
from ftmamba_lite.experiments import EXPERIMENTS

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
    import pandas as pd

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
