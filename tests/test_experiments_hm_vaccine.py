"""The H&M and vaccine experiments end to end: registry, one seed, and the reproduce command."""

from __future__ import annotations

import pandas as pd
import pytest

from ftmamba_lite import cli, experiments
from ftmamba_lite.cli import main
from ftmamba_lite.experiments import EXPERIMENTS, paper_table, run_seed


def test_registry_has_the_papers_settings():
    assert EXPERIMENTS["hm"].lr == 1e-4 and EXPERIMENTS["hm"].map_ks == (12,)
    assert EXPERIMENTS["vaccine"].lr == 1e-5 and len(EXPERIMENTS["vaccine"].grid) == 6
    assert len(paper_table("vaccine", clusters=25, messages=50)) == 2
    with pytest.raises(ValueError, match="no column 'k'"):
        paper_table("vaccine", k=25)


def test_run_seed_hm_reports_map12_and_is_deterministic():
    kwargs = dict(
        steps=6,
        eval_every=3,
        data_kwargs={"n_train": 400, "n_valid": 20, "n_test": 10, "n_items": 30,
                     "synthetic": {"n_customers": 800, "n_articles": 200, "n_transactions": 6_000}},
    )  # fmt: skip
    a = run_seed("hm", "mlp", 1, **kwargs)
    b = run_seed("hm", "mlp", 1, **kwargs)
    assert "MAP@12" in a and 0 <= a["MAP@12"] <= 1 and a["MAP@12"] == b["MAP@12"]
    assert (a["scores"] == b["scores"]).all() and a["scores"].shape == (10, 30)
    assert a["ceiling"]["MAP@12"] == pytest.approx(1.0)


def test_run_seed_vaccine_records_clusters_and_messages():
    row = run_seed(
        "vaccine",
        "linear",
        0,
        steps=3,
        eval_every=None,
        data_kwargs={"clusters": 5, "messages": 10, "n_users": 500, "n_train": 200, "n_test": 10},
    )
    assert row["clusters"] == 5 and row["messages"] == 10 and row["scores"].shape == (10, 10)


@pytest.mark.slow
def test_cli_reproduce_hm_and_vaccine(tmp_path, capsys):
    base = [
        "--embedder",
        "popularity",
        "--seeds",
        "1",
        "--n-train",
        "300",
        "--jobs",
        "1",
        "--out",
        str(tmp_path),
    ]
    assert main(["reproduce", "hm", *base]) == 0
    printed = capsys.readouterr().out
    assert "paper: mamba" in printed and "synthetic H&M" in printed
    header = next(line for line in printed.splitlines() if line.startswith("model"))
    assert header.split()[-3] == "MAP@12"  # H&M's table shows MAP@12 (paper III-B); the paper's rows have "–"
    assert "MAP@12" in pd.read_csv(tmp_path / "hm_popularity_summary.csv").columns
    assert (tmp_path / "hm_popularity_seeds.csv").exists()
    assert main(["reproduce", "vaccine", "--clusters", "25", "--messages", "50", *base]) == 0
    printed = capsys.readouterr().out
    assert "25 clusters, 50 of 100 messages" in printed and printed.count("paper: ") == 2
    seeds = pd.read_csv(tmp_path / "vaccine_popularity_clusters25_messages50_seeds.csv")
    assert seeds.loc[0, "clusters"] == 25 and seeds.loc[0, "messages"] == 50
    with pytest.raises(SystemExit, match="vaccine"):
        main(["reproduce", "hm", "--clusters", "25", *base])


def test_cli_grid_runs_every_row_and_writes_one_summary(tmp_path, monkeypatch):
    calls = []

    def fake_reproduce(args):
        calls.append((args.clusters, args.messages, args.grid))
        pd.DataFrame({"model": ["mamba"], "HR@10": [0.5]}).to_csv(tmp_path / f"{cli._stem(args)}_summary.csv")
        return 0

    monkeypatch.setattr(cli, "_reproduce", fake_reproduce)
    args = cli.build_parser().parse_args(["reproduce", "vaccine", "--grid", "--out", str(tmp_path)])
    assert cli._reproduce_grid(args) == 0
    assert calls == [(c, m, False) for c, m in experiments.VACCINE_GRID]
    grid = pd.read_csv(tmp_path / "vaccine_both_grid_summary.csv")
    assert list(zip(grid["clusters"], grid["messages"], strict=True)) == list(experiments.VACCINE_GRID)
    args = cli.build_parser().parse_args(["reproduce", "hm", "--grid"])
    with pytest.raises(SystemExit, match="grid"):
        cli._reproduce_grid(args)
