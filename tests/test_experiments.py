from __future__ import annotations

import json
import math
import re
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from ftmamba_lite.learn.experiments import (
    EXPERIMENTS,
    SeedResult,
    check_run,
    paper_table,
    run_seed,
    stored_results,
    summarize,
)


def test_paper_table_is_the_papers_copy():
    spotify = paper_table("spotify").set_index("embedder")
    assert spotify.loc["mamba", "HR@1"] == pytest.approx(0.977)
    assert spotify.loc["transformer", "P@5"] == pytest.approx(0.803)
    assert len(paper_table()) == 16


def test_summarize_mean_and_student_t_interval():
    rows = [{"model": "m", "HR@1": v, "params": 10, "seconds": 1.0} for v in (0.9, 1.0, 0.8)]
    out = summarize(rows, metrics=["HR@1"]).iloc[0]
    assert out["HR@1"] == pytest.approx(0.9)
    # t_{0.975, 2} = 4.302653; sample sd = 0.1
    assert out["HR@1 ±"] == pytest.approx(4.302653 * 0.1 / math.sqrt(3), rel=1e-5)
    single = summarize(rows[:1], metrics=["HR@1"]).iloc[0]
    assert math.isnan(single["HR@1 ±"])
    grid = [{**r, "clusters": c, "seed": i} for c in (25, 50) for i, r in enumerate(rows)]
    by_cell = summarize(grid, metrics=["HR@1"], by=("clusters", "model"))
    assert list(by_cell["clusters"]) == [25, 50] and list(by_cell["seeds"]) == [3, 3]
    with pytest.raises(ValueError, match="grouping column"):
        summarize(rows, by=("clusters",))
    with pytest.raises(ValueError, match="no results"):
        summarize([])


def test_run_seed_is_deterministic_and_complete():
    kwargs = dict(
        steps=10,
        eval_every=5,
        data_kwargs={"n_train": 500, "n_test": 20},
        model_kwargs={"d_model": 16, "n_layers": 1},
    )
    a = run_seed("spotify", "mamba", 3, **kwargs)
    b = run_seed("spotify", "mamba", 3, **kwargs)
    assert isinstance(a, SeedResult) and (a.dataset, a.model, a.seed) == ("spotify", "mamba", 3)
    assert a.metrics["HR@5"] == b.metrics["HR@5"] and (a.scores == b.scores).all()
    assert a.source.startswith("synthetic") and a.params > 0 and a.seconds > 0
    assert [c["step"] for c in a.curve] == [5, 10] and a.curve[-1]["HR@5"] == a.metrics["HR@5"]
    assert a.scores.shape == (20, 50) and a.relevant.shape == (20, 50) and a.relevant.dtype == bool
    row = a.row()
    assert row["HR@1"] == a.metrics["HR@1"] and row["params"] == a.params and "curve" not in row
    with pytest.raises(ValueError, match="unknown dataset"):
        run_seed("netflix")
    with pytest.raises(ValueError, match="unknown model 'gru'"):
        run_seed("spotify", "gru", steps=1, data_kwargs={"n_train": 10})


def test_seed_result_survives_json_exactly():
    result = run_seed(
        "spotify", "linear", 0, steps=3, eval_every=1, data_kwargs={"n_train": 200, "n_test": 10}
    )
    back = SeedResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert back.to_dict() == result.to_dict()
    assert back.scores.dtype == result.scores.dtype and np.array_equal(back.scores, result.scores)
    assert np.array_equal(back.relevant, result.relevant) and back.curve == result.curve


@pytest.mark.parametrize(
    ("dataset", "kwargs", "message"),
    [
        ("spotify", {"steps": 0}, "steps must be an integer >= 1, got 0"),
        ("spotify", {"batch_size": 0}, "batch_size must be an integer >= 1"),
        ("spotify", {"lr": 0.0}, "lr must be a finite number > 0"),
        ("spotify", {"lr": float("nan")}, "lr must be a finite number > 0"),
        ("spotify", {"eval_every": 0}, "eval_every must be an integer >= 1"),
        ("spotify", {"steps": True}, "steps must be an integer"),
        ("spotify", {"epochs": 2}, "epochs does not apply to spotify"),
        ("hm", {"max_len": 50}, "max_len does not apply to hm"),
        ("movielens", {"steps": 10}, "steps does not apply to movielens"),
        ("movielens", {"epochs": -1}, "epochs must be an integer >= 0"),
        ("movielens", {"max_len": 0}, "max_len must be an integer >= 1"),
    ],
)
def test_check_run_names_the_bad_argument(dataset, kwargs, message):
    model = "sasrec" if dataset == "movielens" else "mlp"
    with pytest.raises(ValueError, match=message):
        check_run(dataset, model, **kwargs)
    with pytest.raises(ValueError, match=message):  # run_seed checks before it loads anything
        run_seed(dataset, model, 0, source="/no/such/folder", **kwargs)
    assert check_run(dataset, model) is EXPERIMENTS[dataset]
    with pytest.raises(ValueError, match="unknown model 'mamba4rec' for spotify"):
        check_run("spotify", "mamba4rec")


def test_run_seed_movielens_is_typed_and_deterministic():
    data = {"n_users": 60, "n_items": 30, "min_length": 5, "max_length": 12}
    kwargs = dict(epochs=2, max_len=10, data_kwargs=data, model_kwargs={"d_model": 16, "d_state": 8})
    a = run_seed("movielens", "mamba4rec", 1, **kwargs)
    b = run_seed("movielens", "mamba4rec", 1, **kwargs)
    assert set(a.metrics) == {"HR@10", "NDCG@10", "MRR@10"} and a.metrics == b.metrics
    assert a.extra["epochs"] == 2 and 1 <= a.extra["best_epoch"] <= 2 and a.scores is None
    assert [point["step"] for point in a.curve] == [point["step"] for point in b.curve] and len(a.curve) == 2
    untrained = run_seed("movielens", "mamba4rec", 1, **{**kwargs, "epochs": 0})  # 0 epochs means 0
    assert untrained.extra["epochs"] == 0 and untrained.extra["best_epoch"] == 0
    popularity = run_seed("movielens", "popularity", 0, data_kwargs=kwargs["data_kwargs"])
    assert popularity.params == 0 and popularity.extra["epochs"] == 0


@pytest.mark.parametrize("model", ["popularity", "oracle"])
def test_run_seed_runs_the_fixed_scorers(model):
    result = run_seed("spotify", model, 1, data_kwargs={"n_train": 300, "n_test": 20})
    assert result.params == 0 and result.scores.shape == (20, 50)
    if model == "oracle":  # ranks by the true targets: every metric at its ceiling
        for k in ("HR@1", "P@5", "R@10", "MRR@10"):
            assert result.metrics[k] == pytest.approx(result.ceiling[k])


def test_stored_results_are_complete_and_consistent():
    seeds = stored_results("spotify")
    assert {"mamba", "transformer", "popularity", "linear", "mlp", "oracle"} <= set(seeds["model"])
    runs = set(zip(seeds["model"], seeds["seed"], strict=True))
    assert runs == {(m, s) for m in set(seeds["model"]) for s in range(10)}  # 10 seeds of every model
    assert not seeds.duplicated(["model", "seed"]).any()
    curves = stored_results("spotify", "curves")
    last = curves.sort_values("step").groupby(["model", "seed"]).tail(1).set_index(["model", "seed"])
    for _, row in seeds.iterrows():  # the final metrics are the last point of each run's curve
        assert last.loc[(row["model"], row["seed"]), "HR@1"] == pytest.approx(row["HR@1"])
    over = stored_results("spotify", "over_under")
    assert (over.groupby(["model", "seed"])["difference"].sum() == 0).all()
    assert (
        set(zip(over["model"], over["seed"], strict=True))
        == runs
        == set(zip(curves["model"], curves["seed"], strict=True))
    )
    with pytest.raises(ValueError, match="unknown table"):
        stored_results("spotify", "weights")
    with pytest.raises(ValueError, match="no stored results"):
        stored_results("netflix")


def test_packaged_resources_name_no_folder_of_the_machine_that_made_them():
    """A stored run names its data as the command did (``../shared/data/spotify``): an absolute path of the
    machine that ran it means nothing to a reader, and the course site refuses a page that prints one."""
    absolute = re.compile(r"""(?:^|[\s,"'(=`])(/[A-Za-z][\w.-]*/[\w./-]*)""", re.MULTILINE)
    found = []
    for path in sorted(Path(str(resources.files("ftmamba_lite"))).joinpath("resources").rglob("*")):
        if path.is_file():
            found += [
                f"{path.name}: {m.group(1)}" for m in absolute.finditer(path.read_text(encoding="utf-8"))
            ]
    assert found == []
    assert set(stored_results("spotify")["source"]) >= {
        "Spotify environment from directory ../shared/data/spotify"
    }


def test_registry_has_the_papers_settings():
    assert EXPERIMENTS["hm"].lr == 1e-4 and EXPERIMENTS["hm"].map_ks == (12,)
    assert EXPERIMENTS["vaccine"].lr == 1e-5 and len(EXPERIMENTS["vaccine"].grid) == 6
    assert EXPERIMENTS["movielens"].sequential and not EXPERIMENTS["spotify"].sequential
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
    assert 0 <= a.metrics["MAP@12"] <= 1 and a.metrics["MAP@12"] == b.metrics["MAP@12"]
    assert (a.scores == b.scores).all() and a.scores.shape == (10, 30)
    assert a.ceiling["MAP@12"] == pytest.approx(1.0)


def test_run_seed_vaccine_records_clusters_and_messages():
    result = run_seed(
        "vaccine",
        "linear",
        0,
        steps=3,
        data_kwargs={"clusters": 5, "messages": 10, "n_users": 500, "n_train": 200, "n_test": 10},
    )
    assert result.options == {"clusters": 5, "messages": 10} and result.scores.shape == (10, 10)
    assert result.row()["clusters"] == 5


def _seed_rows() -> list[dict]:
    rows = []
    for seed, (floor, ceiling) in enumerate([(0.3, 0.9), (0.4, 1.0)]):
        rows += [
            {"model": "popularity", "seed": seed, "HR@1": floor},
            {"model": "oracle", "seed": seed, "HR@1": ceiling},
        ]
    rows += [
        {"model": "transformer", "seed": 0, "HR@1": 0.33},  # on the plateau
        {"model": "transformer", "seed": 1, "HR@1": 0.85},  # left it
        {"model": "mamba", "seed": 1, "HR@1": 0.7},  # exactly halfway: not counted
    ]
    return rows


def test_plateau_position_compares_each_seed_with_its_own_references() -> None:
    from ftmamba_lite.learn.experiments import plateau_position

    out = plateau_position(_seed_rows()).set_index(["model", "seed"])
    assert list(out.index) == [("transformer", 0), ("transformer", 1), ("mamba", 1)]
    np.testing.assert_allclose(out["position"], [0.05, 0.75, 0.5])
    assert out["left"].tolist() == [False, True, False]
    np.testing.assert_allclose(out["floor"], [0.3, 0.4, 0.4])


def test_plateau_position_names_what_is_missing() -> None:
    from ftmamba_lite.learn.experiments import plateau_position

    rows = _seed_rows()
    with pytest.raises(ValueError, match="no 'oracle' runs"):
        plateau_position([r for r in rows if r["model"] != "oracle"])
    with pytest.raises(ValueError, match=r"seed\(s\) \[1\] lack"):
        plateau_position([r for r in rows if not (r["model"] == "popularity" and r["seed"] == 1)])
    with pytest.raises(ValueError, match="several runs of seed"):
        plateau_position([*rows, {"model": "popularity", "seed": 0, "HR@1": 0.2}])
    with pytest.raises(ValueError, match="lack the column"):
        plateau_position(rows, metric="NDCG@10")


# The stored runs must be what the shipped code produces. Re-running one stored seed for its first
# evaluation interval (500 steps of the paper's protocol, one thread: about 30 s) and comparing it with the
# stored curve catches a change of the kernels, the model or the training loop that moved the results. The
# tolerances admit the rounding of another CPU (the validation MSE to 0.2 %, each ranking metric to two users
# in a hundred) and fail on a change like the kernel change that moved seed 0 of Mamba by 1 % in that loss.
@pytest.mark.slow
@pytest.mark.parametrize("model", ["mamba", "transformer"])
def test_a_stored_seed_reproduces_its_first_evaluation(spotify_dir, model: str) -> None:
    result = run_seed("spotify", model, 0, source=str(spotify_dir), steps=500, eval_every=500, threads=1)
    curves = stored_results("spotify", "curves")
    stored = curves[(curves["model"] == model) & (curves["seed"] == 0) & (curves["step"] == 500)]
    assert len(stored) == 1, f"no stored step 500 of {model} seed 0"
    (now,) = result.curve
    assert now["step"] == 500
    assert now["valid_loss"] == pytest.approx(float(stored["valid_loss"].iloc[0]), rel=2e-3), "valid_loss"
    for metric in ("P@1", "P@5", "R@10", "MRR@10", "HR@1", "HR@10"):
        assert now[metric] == pytest.approx(float(stored[metric].iloc[0]), abs=0.02), metric
