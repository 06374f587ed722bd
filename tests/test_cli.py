"""The command line (ftmamba_lite.cli): `ftmamba-lite reproduce` for every experiment, tiny runs."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from ftmamba_lite import cli, experiments
from ftmamba_lite.cli import main


def test_reproduce_movielens_cli_writes_its_table(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "reproduce",
            "movielens",
            "--model",
            "popularity",
            "--data",
            "synthetic",
            "--seeds",
            "2",
            "--jobs",
            "1",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "popularity" in out and "HR@10" in out
    seeds = pd.read_csv(tmp_path / "movielens_popularity_seeds.csv")
    assert list(seeds["seed"]) == [0, 1] and seeds["HR@10"].between(0, 1).all()
    with pytest.raises(SystemExit):
        main(["reproduce", "movielens", "--model", "gru4rec"])


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


def test_cli_tiny_reproduction_writes_results(tmp_path, capsys):
    code = main(
        [
            "reproduce",
            "spotify",
            "--embedder",
            "both",
            "--seeds",
            "2",
            "--steps",
            "10",
            "--n-train",
            "300",
            "--eval-every",
            "5",
            "--jobs",
            "2",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "paper: mamba" in printed and "ours: transformer (n=2)" in printed and "ceiling" in printed
    seeds = pd.read_csv(tmp_path / "spotify_both_seeds.csv")
    assert sorted(seeds["model"].unique()) == ["mamba", "transformer"] and len(seeds) == 4
    summary = pd.read_csv(tmp_path / "spotify_both_summary.csv")
    assert set(summary["model"]) == {"mamba", "transformer"}
    assert (tmp_path / "spotify_both.json").exists() and (tmp_path / "spotify_both_curves.csv").exists()
    over = pd.read_csv(tmp_path / "spotify_both_over_under.csv")  # Figure 5: 2 models x 2 seeds x items
    assert len(over) == 4 * over["item"].nunique() and set(over["model"]) == {"mamba", "transformer"}
    for _, run in over.groupby(["model", "seed"]):
        assert run["difference"].sum() == 0  # as many recommendations as likes, per run
        assert (run["difference"] == run["recommended"] - run["likes"]).all()


def _tables(folder) -> dict[str, str]:
    """Tiny users / items / interactions CSVs: even users like items 0-3, odd users items 4-7."""
    users = pd.DataFrame({"user_id": range(12), "age": [20 + u for u in range(12)], "side": ["a", "b"] * 6})
    items = pd.DataFrame({"item_id": [f"i{j}" for j in range(8)], "kind": ["x"] * 4 + ["y"] * 4})
    rows = [(u, f"i{j + 4 * (u % 2)}") for u in range(12) for j in range(3)]
    inter = pd.DataFrame(rows, columns=["user_id", "item_id"])
    paths = {}
    for name, frame in (("users", users), ("items", items), ("interactions", inter)):
        paths[name] = str(folder / f"{name}.csv")
        frame.to_csv(paths[name], index=False)
    return paths


def test_cli_fit_then_recommend_for_known_and_new_users(tmp_path, capsys) -> None:
    paths = _tables(tmp_path)
    model = tmp_path / "model"
    fit_args = [
        "fit",
        "--interactions",
        paths["interactions"],
        "--users",
        paths["users"],
        "--items",
        paths["items"],
        "--out",
        str(model),
        "--embedder",
        "mlp",
        "--epochs",
        "3",
    ]
    assert main(fit_args) == 0
    assert "saved to" in capsys.readouterr().out and (model / "recommender.json").is_file()
    with pytest.raises(SystemExit, match="overwrite=True"):  # an existing model is not replaced silently
        main(fit_args)
    pd.DataFrame({"user_id": [0, 1]}).to_csv(tmp_path / "known.csv", index=False)
    out = tmp_path / "recs.csv"
    assert (
        main(
            [
                "recommend",
                "--model",
                str(model),
                "--users",
                str(tmp_path / "known.csv"),
                "-k",
                "4",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    recs = pd.read_csv(out)
    assert list(recs.columns) == ["user_id", "rank", "item_id", "score"] and len(recs) == 8
    assert not set(recs.loc[recs["user_id"] == 0, "item_id"]) & {"i0", "i1", "i2"}  # seen items excluded
    new = pd.DataFrame({"user_id": [99], "age": [50], "side": ["never seen"]})
    new.to_csv(tmp_path / "new.csv", index=False)
    capsys.readouterr()
    assert main(["recommend", "--model", str(model), "--users", str(tmp_path / "new.csv"), "-k", "2"]) == 0
    printed = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(printed["user_id"]) == [99, 99] and list(printed["rank"]) == [1, 2]


def test_cli_fit_and_recommend_errors_name_the_file_and_column(tmp_path) -> None:
    paths = _tables(tmp_path)
    with pytest.raises(SystemExit, match=r"--users: file .*nope\.csv not found"):
        main(
            [
                "fit",
                "--interactions",
                paths["interactions"],
                "--users",
                str(tmp_path / "nope.csv"),
                "--out",
                str(tmp_path / "m"),
            ]
        )
    with pytest.raises(SystemExit, match="interactions table has no column 'customer'"):
        main(
            [
                "fit",
                "--interactions",
                paths["interactions"],
                "--user-id",
                "customer",
                "--out",
                str(tmp_path / "m"),
            ]
        )
    with pytest.raises(SystemExit, match=r"recommender\.json not found"):
        main(["recommend", "--model", str(tmp_path), "--users", paths["users"]])
    assert not (tmp_path / "m").exists()  # a failed fit leaves nothing behind
