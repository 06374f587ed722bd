from __future__ import annotations

import math

import pytest

from ftmamba_lite.experiments import EXPERIMENTS, paper_table, run_seed, stored_results, summarize


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


def test_run_seed_is_deterministic_and_complete():
    kwargs = dict(
        steps=10,
        eval_every=5,
        data_kwargs={"n_train": 500, "n_test": 20},
        model_kwargs={"d_model": 16, "n_layers": 1},
    )
    a = run_seed("spotify", "mamba", 3, **kwargs)
    b = run_seed("spotify", "mamba", 3, **kwargs)
    assert a["HR@5"] == b["HR@5"] and (a["scores"] == b["scores"]).all()
    assert a["source"].startswith("synthetic")
    assert [c["step"] for c in a["curve"]] == [5, 10]
    assert a["scores"].shape == (20, 50) and a["relevant"].shape == (20, 50)
    with pytest.raises(ValueError, match="unknown dataset"):
        run_seed("netflix")
    with pytest.raises(ValueError, match="unknown model"):
        run_seed("spotify", "gru", steps=1, data_kwargs={"n_train": 10})


@pytest.mark.parametrize("model", ["popularity", "oracle"])
def test_run_seed_runs_the_fixed_scorers(model):
    row = run_seed("spotify", model, 1, data_kwargs={"n_train": 300, "n_test": 20})
    assert row["params"] == 0 and row["scores"].shape == (20, 50)
    if model == "oracle":  # ranks by the true targets: every metric at its ceiling
        for k in ("HR@1", "P@5", "R@10", "MRR@10"):
            assert row[k] == pytest.approx(row["ceiling"][k])


def test_stored_results_are_complete_and_consistent():
    seeds = stored_results("spotify")
    assert {"mamba", "transformer", "popularity", "linear", "mlp", "oracle"} <= set(seeds["model"])
    runs = set(zip(seeds["model"], seeds["seed"], strict=True))
    assert runs == {(m, s) for m in set(seeds["model"]) for s in (0, 1, 2)}  # 3 seeds of every model
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
