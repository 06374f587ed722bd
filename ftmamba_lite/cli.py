"""The command line: ``ftmamba-lite reproduce spotify --embedder both --seeds 3``.

Runs the seeds of an experiment in parallel processes (one per core by default), prints the paper's table
row(s) as mean ± 95% CI beside the paper's own numbers, and writes per-seed and summary CSV and JSON files.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from .experiments import EXPERIMENTS, METRIC_COLUMNS, default_jobs, paper_table, run_seed, summarize

__all__ = ["main", "format_table"]

EMBEDDER_CHOICES = ("mamba", "transformer", "both", "popularity", "linear", "mlp", "oracle", "all")


def _models(choice: str) -> list[str]:
    if choice == "both":
        return ["mamba", "transformer"]
    if choice == "all":
        return ["popularity", "linear", "mlp", "transformer", "mamba", "oracle"]
    return [choice]


def format_table(summary: pd.DataFrame, paper: pd.DataFrame, metrics: Sequence[str] = METRIC_COLUMNS) -> str:
    """Our rows (mean ± CI, params, seconds) above the paper's rows, as aligned text."""
    lines = []
    header = f"{'model':<24}" + "".join(f"{m:>15}" for m in metrics) + f"{'params':>11}{'s/seed':>9}"
    lines.append(header)
    for _, row in summary.iterrows():
        cells = ""
        for m in metrics:
            half = row.get(f"{m} ±")
            cells += f"{row[m]:>8.3f} ±{half:>5.3f}" if pd.notna(half) else f"{row[m]:>15.3f}"
        label = f"ours: {row['model']} (n={row['seeds']})"
        lines.append(f"{label:<24}{cells}{int(row['params']):>11,}{row['seconds']:>9.1f}")
    for _, row in paper.iterrows():
        label = f"paper: {row['embedder']}"
        lines.append(f"{label:<24}" + "".join(f"{row[m]:>15.3f}" for m in metrics))
    return "\n".join(lines)


def _reproduce(args: argparse.Namespace) -> int:
    models = _models(args.embedder)
    source = None if args.data in (None, "synthetic") else args.data
    seeds = list(range(args.seed0, args.seed0 + args.seeds))
    jobs = max(1, min(args.jobs or default_jobs(), len(models) * len(seeds)))
    threads = max(1, (default_jobs() // jobs))
    common = dict(
        source=source,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        eval_every=args.eval_every,
        threads=threads,
        data_kwargs={"n_train": args.n_train} if args.n_train else None,
    )
    print(
        f"reproduce {args.dataset}: models {models}, seeds {seeds}, {jobs} process(es) x {threads} thread(s)"
    )
    rows = []
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(run_seed, args.dataset, m, s, **common) for m in models for s in seeds]
        for future in tqdm(as_completed(futures), total=len(futures), desc="runs"):
            rows.append(future.result())
    rows.sort(key=lambda r: (models.index(r["model"]), r["seed"]))
    print(f"data: {rows[0]['source']}")
    summary = summarize(rows)
    print(format_table(summary, paper_table(args.dataset)))
    ceiling = rows[0]["ceiling"]
    print(
        f"ceiling (perfect ranking, seed {rows[0]['seed']}): "
        + ", ".join(f"{m} {ceiling[m]:.3f}" for m in METRIC_COLUMNS if m in ceiling)
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    flat = [{k: v for k, v in r.items() if k not in ("curve", "ceiling", "scores", "relevant")} for r in rows]
    stem = f"{args.dataset}_{args.embedder}"
    pd.DataFrame(flat).to_csv(out / f"{stem}_seeds.csv", index=False)
    summary.to_csv(out / f"{stem}_summary.csv", index=False)
    curves = [{"model": r["model"], "seed": r["seed"], **c} for r in rows for c in r["curve"]]
    pd.DataFrame(curves).to_csv(out / f"{stem}_curves.csv", index=False)
    with open(out / f"{stem}.json", "w") as f:
        json.dump(
            {"args": vars(args), "seeds": flat, "summary": summary.to_dict("records")},
            f,
            indent=2,
            default=str,
        )
    print(f"wrote {out / stem}_seeds.csv, _summary.csv, _curves.csv and .json")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ftmamba-lite", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("reproduce", help="reproduce a table row of the paper")
    rep.add_argument("dataset", choices=sorted(EXPERIMENTS))
    rep.add_argument("--embedder", choices=EMBEDDER_CHOICES, default="both")
    rep.add_argument("--seeds", type=int, default=3, help="number of seeds (default 3)")
    rep.add_argument("--seed0", type=int, default=0, help="first seed (default 0)")
    rep.add_argument("--steps", type=int, default=None, help="training steps (paper: 5000)")
    rep.add_argument("--batch-size", type=int, default=None, help="batch size (paper: 32)")
    rep.add_argument("--lr", type=float, default=None, help="learning rate (paper: 1e-4 for Spotify)")
    rep.add_argument("--eval-every", type=int, default=500, help="evaluate every N steps (Figure 4)")
    rep.add_argument("--n-train", type=int, default=None, help="training triples (paper: 160000)")
    rep.add_argument("--data", default="synthetic", help="PATH, URL, or 'synthetic' (default)")
    rep.add_argument("--jobs", type=int, default=None, help="parallel processes (default: one per core)")
    rep.add_argument("--out", default="results", help="output directory (default ./results)")
    rep.set_defaults(func=_reproduce)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
