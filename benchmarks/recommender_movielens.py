"""MovieLens-100K with :class:`ftmamba_lite.recommender.Recommender`: HR@10, NDCG@10 on held-out interactions.

Protocol: every interaction of ML-100K (RecBole 1.2.1's copy) is an implicit positive; each user's last 10%
of interactions by time (at least one) are held out; the rest trains. Users: age, gender, occupation (and the
id); items: release year, 19 genre indicators (and the id). Every model ranks the whole catalogue of 1,682
movies with the user's training items excluded. ``fit`` runs the package's defaults (one epoch, Adam; MSE:
batch 32, lr 1e-4, one sampled negative per interaction; softmax: batch 256, lr 1e-3, in-batch negatives).

    python -m benchmarks.recommender_movielens --models mamba,mlp --losses mse,softmax --out results/

One row per (model, loss) is appended to ``<out>/recommender_movielens.csv`` with HR@k, NDCG@k, fit seconds
and the latency of ``recommend()`` for 1,000 users x 1,682 items.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ftmamba_lite.datasets.movielens import load_movielens_tables
from ftmamba_lite.ops.threads import set_num_threads
from ftmamba_lite.recommender import Recommender


def split_last(interactions: pd.DataFrame, share: float = 0.1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each user's last ``share`` of interactions by time (at least one) -> held out; stable on ties."""
    ordered = interactions.sort_values(["user_id", "timestamp"], kind="stable")
    position = ordered.groupby("user_id").cumcount(ascending=False)  # 0 = the newest
    size = ordered.groupby("user_id")["user_id"].transform("size")
    held = position < np.maximum(1, np.floor(share * size))
    return ordered[~held].reset_index(drop=True), ordered[held].reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mamba,transformer,mlp,popularity")
    parser.add_argument("--losses", default="mse,softmax")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--d-model", type=int, default=128, help="Mamba / Transformer width (paper: 128)")
    parser.add_argument(
        "--n-layers", type=int, default=None, help="default: the paper's 4 Mamba / 2 Transformer"
    )
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--steps", type=int, default=None, help="stop after this many steps (timing runs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="results")
    args = parser.parse_args()
    set_num_threads(args.threads)
    interactions, users, items = load_movielens_tables("recbole")
    train, test = split_last(interactions)
    features = {
        "user_features": ["age", "gender", "occupation"],
        "item_features": ["release_year", *[c for c in items if c.startswith("genre_")]],
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for model in args.models.split(","):
        for loss in args.losses.split(",") if model != "popularity" else ["mse"]:
            size = (
                {"d_model": args.d_model, "n_layers": args.n_layers}
                if model in ("mamba", "transformer")
                else {}
            )
            rec = Recommender(
                model, loss=loss, seed=args.seed, epochs=args.epochs, steps=args.steps, progress=False, **size
            )
            start, cpu = time.perf_counter(), time.process_time()
            rec.fit(train, users, items, **features)
            fit_s, fit_cpu_s = time.perf_counter() - start, time.process_time() - cpu
            metrics = rec.evaluate(test, k=(1, 5, 10))
            ids = np.resize(users["user_id"].to_numpy(), 1000)  # 1,000 users (the 943, then repeats)
            rec.recommend(ids[:10], k=10)  # warm-up
            start, cpu = time.perf_counter(), time.process_time()
            rec.recommend(ids, k=10)
            latency, latency_cpu = time.perf_counter() - start, time.process_time() - cpu
            row = {
                "model": model,
                "loss": loss,
                "seed": args.seed,
                "d_model": size.get("d_model"),
                "n_layers": size.get("n_layers"),
                "epochs": args.epochs,
                "HR@10": metrics["HR@10"],
                "NDCG@10": metrics["NDCG@10"],
                "HR@5": metrics["HR@5"],
                "HR@1": metrics["HR@1"],
                "steps": len(rec.history_.steps),
                "fit_s": fit_s,
                "fit_cpu_s": fit_cpu_s,
                "recommend_1000_s": latency,
                "recommend_1000_cpu_s": latency_cpu,
                "threads": args.threads,
                "torch": torch.__version__,
                "cpu": platform.machine(),
            }
            print(row, flush=True)
            path = out / "recommender_movielens.csv"
            pd.DataFrame([row]).to_csv(path, mode="a", header=not path.exists(), index=False)


if __name__ == "__main__":
    main()
