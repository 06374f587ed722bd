"""The command line (ftmamba_lite.cli): `ftmamba-lite reproduce` for every experiment, tiny runs, and every
check of its values and output folder (made before any run starts)."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from ftmamba_lite import cli
from ftmamba_lite.cli import main
from ftmamba_lite.learn import experiments


@pytest.fixture
def no_runs(monkeypatch):
    """Any attempt to start the sweep fails the test: the checks must come first."""

    def refuse(*args, **kwargs):
        raise AssertionError("the sweep started before the arguments were checked")

    monkeypatch.setattr(cli, "run_sweep", refuse)


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--steps", "0"], "--steps"),
        (["--lr", "0"], "--lr"),
        (["--lr", "-1e-4"], "--lr"),
        (["--lr", "nan"], "--lr"),
        (["--lr", "inf"], "--lr"),
        (["--batch-size", "0"], "--batch-size"),
        (["--n-train", "0"], "--n-train"),
        (["--seeds", "0"], "--seeds"),
        (["--seeds", "-2"], "--seeds"),
        (["--seed0", "-1"], "--seed0"),
        (["--eval-every", "0"], "--eval-every"),
        (["--jobs", "0"], "--jobs"),
        (["--threads", "0"], "--threads"),
        (["--steps", "ten"], "--steps"),
        (["--clusters", "0"], "--clusters"),
        (["--messages", "0"], "--messages"),
        (["--max-len", "0"], "--max-len"),
        (["--epochs", "-1"], "--epochs"),
        (["--backend", "ray"], "--backend"),
    ],
)
def test_bad_values_are_refused_by_name(argv, flag, tmp_path, capsys, no_runs) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["reproduce", "spotify", "--out", str(tmp_path / "out"), *argv])
    assert exit_info.value.code == 2
    assert f"argument {flag}" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # nothing made


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["movielens", "--steps", "10"], "--steps: steps does not apply to movielens"),
        (["movielens", "--eval-every", "10"], "--eval-every: eval_every does not apply to movielens"),
        (["spotify", "--epochs", "3"], "--epochs: epochs does not apply to spotify"),
        (["spotify", "--max-len", "50"], "--max-len: max_len does not apply to spotify"),
        (["spotify", "--model", "sasrec"], "--model is for movielens"),
        (["movielens", "--embedder", "mamba"], "movielens chooses its models with --model"),
        (["spotify", "--scheduler", "tcp://127.0.0.1:8786"], "--scheduler needs --backend dask"),
        (["hm", "--clusters", "25"], "apply only to vaccine"),
        (["hm", "--grid"], "--grid needs an experiment with a grid"),
        (["vaccine", "--grid", "--clusters", "25"], "leave out --clusters"),
        (["vaccine", "--clusters", "50", "--messages", "25"], "--clusters 50 exceeds --messages 25"),
        (["vaccine", "--clusters", "50"], "--clusters 50 exceeds --messages 25"),
        (["spotify", "--data", "/no/such/folder"], "--data /no/such/folder: no such file or folder"),
        (["movielens", "--data", "ml-2m"], "--data ml-2m: no such file or folder.*recbole"),
    ],
)
def test_inconsistent_arguments_are_refused_before_any_run(argv, message, tmp_path, no_runs) -> None:
    with pytest.raises(SystemExit, match=message):
        main(["reproduce", *argv, "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


def test_an_unusable_out_is_refused_before_any_run(tmp_path, no_runs) -> None:
    a_file = tmp_path / "results.csv"
    a_file.write_text("someone's file\n")
    with pytest.raises(SystemExit, match="is a file; give a folder"):
        main(["reproduce", "spotify", "--out", str(a_file)])
    with pytest.raises(SystemExit, match="cannot be written to"):
        main(["reproduce", "spotify", "--out", str(a_file / "inside")])
    assert a_file.read_text() == "someone's file\n"
    out = tmp_path / "out"
    out.mkdir()
    (out / "runs").write_text("not a folder")
    with pytest.raises(
        SystemExit, match=rf"--out {out}: {out / 'runs'} is a file, but the sweep needs a folder"
    ):
        main(["reproduce", "spotify", "--out", str(out)])
    (out / "runs").unlink()
    (out / "spotify_both_seeds.csv").mkdir()
    with pytest.raises(
        SystemExit, match=r"spotify_both_seeds\.csv is a folder, but the sweep writes its table"
    ):
        main(["reproduce", "spotify", "--out", str(out)])


def test_the_grid_is_one_sweep_of_every_row(no_runs) -> None:
    args = cli.build_parser().parse_args(["reproduce", "vaccine", "--grid", "--seeds", "2"])
    runs = cli._plan(args)
    assert len(runs) == len(experiments.VACCINE_GRID) * 2 * 2  # rows x (mamba, transformer) x seeds
    cells = [(r.options["clusters"], r.options["messages"]) for r in runs[::4]]
    assert cells == list(experiments.VACCINE_GRID) and cli._stem(args) == "vaccine_both_grid"
    one = cli.build_parser().parse_args(["reproduce", "vaccine", "--clusters", "25", "--messages", "50"])
    assert {tuple(r.options.values()) for r in cli._plan(one)} == {(25, 50)}
    assert cli._stem(one) == "vaccine_both_clusters25_messages50"


def test_reproduce_movielens_writes_its_table_and_zero_epochs_mean_zero(tmp_path, capsys) -> None:
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
    assert main(["reproduce", "movielens", "--model", "popularity", "--seeds", "2", "--jobs", "1", "--fresh",
                 "--out", str(tmp_path)]) == 0  # fmt: skip
    assert "0 run(s) were done before, 2 ran now" in capsys.readouterr().out
    code = main(
        ["reproduce", "movielens", "--model", "sasrec", "--epochs", "0", "--max-len", "20", "--seeds", "1",
         "--jobs", "1", "--out", str(tmp_path)]
    )  # fmt: skip
    assert code == 0
    untrained = pd.read_csv(tmp_path / "movielens_sasrec_seeds.csv")
    assert list(untrained["epochs"]) == [0] and list(untrained["best_epoch"]) == [0]
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


def test_cli_tiny_reproduction_writes_results(tmp_path, capsys):
    argv = ["reproduce", "spotify", "--embedder", "both", "--seeds", "2", "--steps", "10", "--n-train", "300",
            "--eval-every", "5", "--jobs", "2", "--out", str(tmp_path)]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "paper: mamba" in printed and "ours: transformer (n=2)" in printed and "ceiling" in printed
    assert "0 run(s) were done before, 4 ran now, 0 failed" in printed
    seeds = pd.read_csv(tmp_path / "spotify_both_seeds.csv")
    assert sorted(seeds["model"].unique()) == ["mamba", "transformer"] and len(seeds) == 4
    summary = pd.read_csv(tmp_path / "spotify_both_summary.csv")
    assert set(summary["model"]) == {"mamba", "transformer"}
    assert (tmp_path / "spotify_both.json").exists()
    curves = pd.read_csv(tmp_path / "spotify_both_curves.csv")
    assert sorted(set(curves["step"])) == [5, 10] and len(curves) == 4 * 2
    over = pd.read_csv(tmp_path / "spotify_both_over_under.csv")  # Figure 5: 2 models x 2 seeds x items
    assert len(over) == 4 * over["item"].nunique() and set(over["model"]) == {"mamba", "transformer"}
    for _, run in over.groupby(["model", "seed"]):
        assert run["difference"].sum() == 0  # as many recommendations as likes, per run
        assert (run["difference"] == run["recommended"] - run["likes"]).all()
    assert len(list((tmp_path / "logs" / "spotify").glob("*.log"))) == 4  # one log per run
    before = seeds.drop(columns="seconds")
    assert main(argv) == 0  # the same arguments again: everything is done, the tables are rebuilt
    assert "4 run(s) were done before, 0 ran now" in capsys.readouterr().out
    again = pd.read_csv(tmp_path / "spotify_both_seeds.csv").drop(columns="seconds")
    pd.testing.assert_frame_equal(again, before)
    edited = sorted((tmp_path / "runs" / "spotify").glob("mamba_seed1_*.json"))[0]
    edited.write_text(edited.read_text().replace('"seed": 1', '"seed": 0'))  # valid JSON, another seed
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert f"refused {edited}: its content does not match its sha256 digest" in printed
    assert "running mamba seed 1 again" in printed and "3 run(s) were done before, 1 ran now" in printed
    again = pd.read_csv(tmp_path / "spotify_both_seeds.csv").drop(columns="seconds")
    pd.testing.assert_frame_equal(again, before)


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
    with pytest.raises(
        SystemExit, match=r"exists and is not empty: add --overwrite"
    ):  # an existing model is not replaced silently
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
    with pytest.raises(SystemExit, match=r"manifest\.json not found: .* is not a folder written by save"):
        main(["recommend", "--model", str(tmp_path), "--users", paths["users"]])
    assert not (tmp_path / "m").exists()  # a failed fit leaves nothing behind


def test_cli_fit_refuses_a_table_cut_inside_its_last_line(tmp_path, no_runs) -> None:
    paths = _tables(tmp_path)
    users = Path(paths["users"])
    users.write_bytes(users.read_bytes()[: -len(b"1,b\n")])  # "11,31,b" cut to "11,3"
    with pytest.raises(
        SystemExit, match=r"--users: .*users\.csv was cut short.*line 13: '11,3'.*it has 2 field"
    ):
        main(
            [
                "fit",
                "--interactions",
                paths["interactions"],
                "--users",
                str(users),
                "--out",
                str(tmp_path / "m"),
            ]
        )
    assert not (tmp_path / "m").exists()
