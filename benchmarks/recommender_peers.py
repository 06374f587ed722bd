"""The Recommender beside the recommenders practitioners use, on MovieLens-100K, side by side in one run.

    python -m benchmarks.recommender_peers --threads 2 \
        --out ftmamba_lite/resources/results/movielens_peers.csv

Two user groups, every model ranking all 1,682 movies:

* ``known``: README's split (:func:`ftmamba_lite.datasets.splits.hold_out_newest`): each user's newest 10 % of
  ratings held out, training items excluded from the ranking.
* ``new``: 10 % of the users held out of training entirely, interactions and user rows
  (:func:`ftmamba_lite.datasets.splits.hold_out_users`); they are scored from their feature rows only (age,
  gender, occupation; ``Recommender.evaluate(..., new_users=...)``), all their ratings are relevant. EASE and
  implicit ALS need a user's interactions and have no row there.

Models: popularity; EASE (closed form, lambda chosen on a validation split carved from training: each user's
newest 10 % of training ratings); implicit ALS (regularisation and confidence alpha chosen the same way);
LightFM WARP with user and item features (identity + features; new users: features only); and the
Recommender's ``mamba``, ``transformer`` and ``mlp`` with their **defaults** (the recommended recipe,
:data:`ftmamba_lite.recommender.RECIPES`), through its public API only. Every metric comes from
:func:`ftmamba_lite.metrics.evaluate` (NDCG@10, HR@10, R@20: means over the test users).
implicit and LightFM are the optional ``bench`` extra; a missing one is skipped with a printed note.

``fit_s`` is the wall time of the model's final fit (for the Recommender: everything ``fit`` does, early
stopping included); ``tune_s`` the peers' validation search before it.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from ftmamba_lite.datasets.movielens import load_movielens_tables
from ftmamba_lite.datasets.splits import hold_out_newest, hold_out_users
from ftmamba_lite.metrics import evaluate
from ftmamba_lite.ops.threads import set_num_threads
from ftmamba_lite.recommender import Recommender

USER_FEATURES = ["age", "gender", "occupation"]
KS = (10, 20)


def cpu_description(threads: int) -> str:
    """CPU model, family/model, the vector extensions and the threads used (from lscpu)."""
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return f"{platform.processor() or platform.machine()}; {threads} thread(s)"
    info = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    info = {k.strip(): v.strip() for k, v in info.items()}
    flags = set(info.get("Flags", "").split())
    vector = [
        f for f in ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile") if f in flags
    ]
    return (
        f"{info.get('Model name', '?')} (vendor {info.get('Vendor ID', '?')}, family "
        f"{info.get('CPU family', '?')}, model {info.get('Model', '?')}), {info.get('CPU(s)', '?')} CPUs, "
        f"vector extensions {', '.join(vector)}; {threads} thread(s); torch {torch.__version__}"
    )


# --- the peers: score matrices (users x items) -------------------------------------------------------------


def interaction_matrix(frame: pd.DataFrame, user_index: pd.Index, item_index: pd.Index) -> sp.csr_matrix:
    rows = user_index.get_indexer(frame["user_id"])
    cols = item_index.get_indexer(frame["item_id"])
    data = np.ones(len(rows), dtype=np.float32)
    return sp.csr_matrix((data, (rows, cols)), shape=(len(user_index), len(item_index)))


def metrics_of(
    scores: np.ndarray, train: sp.csr_matrix | None, test: sp.csr_matrix, rows: np.ndarray
) -> dict:
    """NDCG@10, HR@10, R@20 (and the rest) of the users ``rows`` whose test items are ``test``'s rows; their
    training items (``train``, when given) excluded from the ranking."""
    scores = np.array(scores[rows], dtype=np.float64)
    if train is not None:
        seen = train[rows].toarray() > 0
        scores[seen] = -np.inf
    relevant = test[rows].toarray() > 0
    return evaluate(scores, relevant, ks=KS, ndcg_ks=(10,))


def popularity_scores(x: sp.csr_matrix, n_users: int) -> np.ndarray:
    counts = np.asarray(x.sum(axis=0)).ravel()
    return np.broadcast_to(counts, (n_users, len(counts)))


def ease_fit(x: sp.csr_matrix, lam: float) -> np.ndarray:
    """EASE (Steck 2019): B = I - P diagMat(1 / diag(P)), P = (X^T X + lambda I)^-1, diag(B) = 0."""
    gram = (x.T @ x).toarray().astype(np.float64)
    gram[np.diag_indices_from(gram)] += lam
    p = np.linalg.inv(gram)
    b = -p / np.diag(p)
    b[np.diag_indices_from(b)] = 0.0
    return b


def ease_scores(x: sp.csr_matrix, lam: float) -> np.ndarray:
    return np.asarray(x @ ease_fit(x, lam))


def als_scores(
    x: sp.csr_matrix, factors: int, reg: float, alpha: float, threads: int, seed: int
) -> np.ndarray:
    from implicit.cpu.als import AlternatingLeastSquares

    model = AlternatingLeastSquares(
        factors=factors,
        regularization=reg,
        alpha=alpha,
        iterations=15,
        random_state=seed,
        num_threads=threads,
    )
    model.fit(x, show_progress=False)
    return model.user_factors @ model.item_factors.T


def one_hot_features(frame: pd.DataFrame, columns: list[str], identity: bool, known: int) -> sp.csr_matrix:
    """LightFM's feature matrix: [identity of the first ``known`` rows | one-hot of every column], rows
    normalised to sum 1 (LightFM's Dataset does the same). Numeric columns are binned in deciles."""
    blocks = []
    if identity:
        eye = sp.identity(len(frame), format="csr", dtype=np.float32)[:, :known]
        blocks.append(eye)
    for column in columns:
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values) and values.nunique() > 20:
            values = pd.qcut(values.fillna(values.median()), 10, duplicates="drop").astype(str)
        codes, _ = pd.factorize(values.astype(str))
        blocks.append(sp.csr_matrix((np.ones(len(codes), np.float32), (np.arange(len(codes)), codes))))
    matrix = sp.hstack(blocks, format="csr")
    sums = np.asarray(matrix.sum(axis=1)).ravel()
    return sp.diags(1.0 / np.maximum(sums, 1e-12)) @ matrix


def lightfm_scores(
    x: sp.csr_matrix,
    user_features: sp.csr_matrix,
    item_features: sp.csr_matrix,
    score_features: sp.csr_matrix,
    threads: int,
    seed: int,
    epochs: int = 30,
) -> np.ndarray:
    from lightfm import LightFM

    model = LightFM(no_components=64, loss="warp", learning_rate=0.05, random_state=seed)
    model.fit(x.tocoo(), user_features=user_features, item_features=item_features, epochs=epochs,
              num_threads=threads)  # fmt: skip
    u_bias, u_emb = model.get_user_representations(score_features)
    i_bias, i_emb = model.get_item_representations(item_features)
    return u_emb @ i_emb.T + u_bias[:, None] + i_bias[None, :]


# --- the Recommender through its public API ----------------------------------------------------------------


def recommender_fit(embedder: str, train: pd.DataFrame, users: pd.DataFrame, items: pd.DataFrame, seed: int):
    """``Recommender(embedder)`` with its defaults, fitted on the user and item features."""
    features = {
        "user_features": USER_FEATURES,
        "item_features": ["release_year", *[c for c in items if c.startswith("genre_")]],
    }
    return Recommender(embedder, seed=seed, progress=False).fit(train, users, items, **features)


# --- the run -----------------------------------------------------------------------------------------------


def tune(
    name: str, candidates: list[dict], score: Callable[..., np.ndarray], x_fit, x_valid, rows
) -> tuple[dict, float]:
    """The candidate with the best validation NDCG@10 (scores from ``x_fit``, validated on ``x_valid``)."""
    start, best, best_value = time.perf_counter(), None, -1.0
    for params in candidates:
        value = metrics_of(score(x_fit, **params), x_fit, x_valid, rows)["NDCG@10"]
        print(f"  {name} {params}: validation NDCG@10 {value:.4f}", flush=True)
        if value > best_value:
            best, best_value = params, value
    return best, time.perf_counter() - start


def run(args: argparse.Namespace) -> pd.DataFrame:
    interactions, users, items = load_movielens_tables()
    user_index, item_index = pd.Index(np.sort(users["user_id"].unique())), pd.Index(items["item_id"])
    users = users.set_index("user_id").loc[user_index].reset_index()
    models = args.models.split(",")
    try:
        import implicit  # noqa: F401
    except ImportError:
        print("note: implicit is not installed (pip install 'ftmamba-lite[bench]'): implicit ALS skipped")
        models = [m for m in models if m != "als"]
    try:
        import lightfm  # noqa: F401
    except ImportError:
        print("note: lightfm is not installed (pip install wheel && pip install --no-build-isolation "
              "--no-use-pep517 lightfm): LightFM skipped")  # fmt: skip
        models = [m for m in models if m != "lightfm"]
    train_k, test_k = hold_out_newest(interactions)
    train_n, users_n, test_n, new_users = hold_out_users(interactions, users, 0.1, seed=args.seed)
    groups = {"known": (train_k, test_k, users), "new": (train_n, test_n, users_n)}
    rows_out = []
    for group in args.groups.split(","):
        train, test, train_users = groups[group]
        x, t = (
            interaction_matrix(train, user_index, item_index),
            interaction_matrix(test, user_index, item_index),
        )
        rows = np.flatnonzero(np.asarray(t.sum(axis=1)).ravel() > 0)  # the test users
        exclude = x if group == "known" else None
        fit_part, valid_part = hold_out_newest(train)
        x_fit, x_valid = (interaction_matrix(f, user_index, item_index) for f in (fit_part, valid_part))
        valid_rows = np.flatnonzero(np.asarray(x_valid.sum(axis=1)).ravel() > 0)
        print(f"\n== {group} users: {len(train):,} training interactions, {len(rows)} test users, "
              f"{len(test):,} test interactions", flush=True)  # fmt: skip
        for model in models:
            tune_s, setting = 0.0, ""
            start = time.perf_counter()
            if model == "popularity":
                scores = popularity_scores(x, len(user_index))
                fit_s = time.perf_counter() - start
                m = metrics_of(scores, exclude, t, rows)
            elif model in ("ease", "als"):
                if group == "new":
                    print(f"  {model}: no row for new users (it scores a user from their interactions)")
                    continue
                if model == "ease":
                    grid = [{"lam": lam} for lam in (10.0, 30.0, 100.0, 300.0, 1000.0)]
                    best, tune_s = tune("EASE", grid, ease_scores, x_fit, x_valid, valid_rows)
                    start = time.perf_counter()
                    scores = ease_scores(x, **best)
                else:
                    grid = [
                        {"factors": 64, "reg": reg, "alpha": alpha, "threads": args.threads,
                         "seed": args.seed}
                        for reg in (0.01, 0.1, 1.0) for alpha in (1.0, 10.0)
                    ]  # fmt: skip
                    best, tune_s = tune("ALS", grid, als_scores, x_fit, x_valid, valid_rows)
                    start = time.perf_counter()
                    scores = als_scores(x, **best)
                fit_s = time.perf_counter() - start
                setting = " ".join(f"{k}={v}" for k, v in best.items() if k not in ("threads", "seed"))
                m = metrics_of(scores, exclude, t, rows)
            elif model == "lightfm":
                known = np.isin(user_index, train["user_id"].unique())
                order = np.argsort(~known, kind="stable")  # the training users first: identity columns
                ordered_users = users.iloc[order].reset_index(drop=True)
                n_known = int(known.sum())
                uf = one_hot_features(ordered_users, USER_FEATURES, identity=True, known=n_known)
                item_cols = ["release_year", *[c for c in items if c.startswith("genre_")]]
                itf = one_hot_features(items, item_cols, identity=True, known=len(items))
                position = np.empty(len(order), dtype=np.int64)
                position[order] = np.arange(len(order))
                x_ordered = x[order]
                score_features = (
                    uf
                    if group == "known"
                    else one_hot_features(ordered_users, USER_FEATURES, identity=False, known=0)
                )  # new users: their features only
                if group == "new":
                    score_features = sp.hstack(
                        [sp.csr_matrix((len(order), n_known)), score_features], format="csr"
                    )
                scores = lightfm_scores(x_ordered, uf, itf, score_features, args.threads, args.seed)[position]
                fit_s = time.perf_counter() - start
                setting = "64 components, WARP, lr 0.05, 30 epochs, identity + features"
                m = metrics_of(scores, exclude, t, rows)
            else:
                rec = recommender_fit(model, train, train_users, items, args.seed)
                fit_s = time.perf_counter() - start
                setting = f"defaults, {len(rec.history_.steps)} steps"
                held = {} if group == "known" else {"new_users": new_users}
                m = rec.evaluate(test, k=KS, baseline=False, **held)
            row = {
                "group": group,
                "model": model,
                "NDCG@10": m["NDCG@10"],
                "HR@10": m["HR@10"],
                "R@20": m["R@20"],
                "fit_s": fit_s,
                "tune_s": tune_s,
                "setting": setting,
            }
            print(f"  {model:12s} NDCG@10 {row['NDCG@10']:.4f}  HR@10 {row['HR@10']:.3f}  "
                  f"R@20 {row['R@20']:.3f}  fit {fit_s:.1f} s (+ tuning {tune_s:.1f} s)  {setting}",
                  flush=True)  # fmt: skip
            rows_out.append(row)
    return pd.DataFrame(rows_out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="popularity,ease,als,lightfm,mamba,transformer,mlp")
    parser.add_argument("--groups", default="known,new")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="results/movielens_peers.csv")
    args = parser.parse_args()
    set_num_threads(args.threads)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(args.threads))
    cpu = cpu_description(args.threads)
    print(cpu)
    try:
        from threadpoolctl import threadpool_limits

        limits = threadpool_limits(args.threads)
    except ImportError:
        limits = None
    try:
        table = run(args)
    finally:
        if limits is not None:
            limits.unregister()
    table["threads"] = args.threads
    table["cpu"] = re.sub(r"\s+", " ", cpu)
    table["seed"] = args.seed
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    print()
    print(table.drop(columns=["cpu"]).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
