"""The command line: ``ftmamba-lite reproduce spotify|hm|vaccine --embedder both --seeds 3``.

``ftmamba-lite reproduce movielens --model both --data recbole`` runs the sequential models of notebook 08
(Mamba4Rec, SASRec, popularity) on MovieLens with leave-one-out and full ranking.

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

from .analysis import over_under
from .experiments import (
    EXPERIMENTS,
    METRIC_COLUMNS,
    default_jobs,
    metric_columns,
    paper_table,
    run_seed,
    summarize,
)

__all__ = ["main", "format_table"]

EMBEDDER_CHOICES = ("mamba", "transformer", "both", "popularity", "linear", "mlp", "oracle", "all")


def _models(choice: str) -> list[str]:
    if choice == "both":
        return ["mamba", "transformer"]
    if choice == "all":
        return ["popularity", "linear", "mlp", "transformer", "mamba", "oracle"]
    return [choice]


def format_table(summary: pd.DataFrame, paper: pd.DataFrame, metrics: Sequence[str] = METRIC_COLUMNS) -> str:
    """Our rows (mean ± CI, params, seconds) above the paper's rows, as aligned text ("–" where the paper's
    table has no such column, e.g. MAP@12)."""
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
        cells = "".join(f"{row[m]:>15.3f}" if pd.notna(row.get(m)) else f"{'–':>15}" for m in metrics)
        lines.append(f"{label:<24}{cells}")
    return "\n".join(lines)


def _reproduce_movielens(args: argparse.Namespace) -> int:
    from .train_sequential import MODEL_CHOICES, SEQUENCE_METRICS, run_movielens_seed, summarize_movielens

    models = {"both": ["mamba4rec", "sasrec"], "all": list(MODEL_CHOICES)}.get(args.model, [args.model])
    source = None if args.data in (None, "synthetic") else args.data
    seeds = list(range(args.seed0, args.seed0 + args.seeds))
    jobs = max(1, min(args.jobs or default_jobs(), len(models) * len(seeds)))
    common = dict(source=source, epochs=args.epochs, max_len=args.max_len)
    common.update({k: v for k, v in (("batch_size", args.batch_size), ("lr", args.lr)) if v is not None})
    print(f"reproduce movielens: models {models}, seeds {seeds}, {jobs} process(es), {args.epochs} epoch(s)")
    runs = [(m, s) for m in models for s in seeds]
    if jobs == 1:  # in this process: no start-up cost of worker processes
        rows = [run_movielens_seed(m, s, **common) for m, s in tqdm(runs, desc="runs")]
    else:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
            threads = max(1, default_jobs() // jobs)
            futures = [pool.submit(run_movielens_seed, m, s, threads=threads, **common) for m, s in runs]
            rows = [f.result() for f in tqdm(as_completed(futures), total=len(futures), desc="runs")]
    rows.sort(key=lambda r: (models.index(r["model"]), r["seed"]))
    print(f"data: {rows[0]['source']}")
    summary = summarize_movielens(rows)
    print(f"{'model':<24}" + "".join(f"{m:>17}" for m in SEQUENCE_METRICS) + f"{'params':>10}{'s/epoch':>9}")
    for _, row in summary.iterrows():
        cells = "".join(
            f"{row[m]:>9.4f} ±{row[f'{m} ±']:>6.4f}" if pd.notna(row[f"{m} ±"]) else f"{row[m]:>17.4f}"
            for m in SEQUENCE_METRICS
        )
        label = f"{row['model']} (n={row['seeds']})"
        print(f"{label:<24}{cells}{row['params']:>10,}{row['s/epoch']:>9.1f}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"movielens_{args.model}"
    pd.DataFrame(rows).to_csv(out / f"{stem}_seeds.csv", index=False)
    summary.to_csv(out / f"{stem}_summary.csv", index=False)
    print(f"wrote {out / stem}_seeds.csv and _summary.csv")
    return 0


def _options(args: argparse.Namespace) -> dict[str, object]:
    """The experiment's row-selecting loader options (e.g. clusters, messages): given value or default."""
    exp = EXPERIMENTS[args.dataset]
    given = {name: getattr(args, name) for name in ("clusters", "messages") if getattr(args, name, None)}
    unknown = sorted(set(given) - set(exp.options))
    if unknown:
        raise SystemExit(f"reproduce {args.dataset}: option(s) {unknown} apply only to vaccine messaging")
    return {**exp.options, **given}


def _stem(args: argparse.Namespace) -> str:
    return "_".join([args.dataset, args.embedder, *(f"{k}{v}" for k, v in _options(args).items())])


def _reproduce_grid(args: argparse.Namespace) -> int:
    """Every row of the experiment's table (Table II for the vaccine messaging), then one summary of all."""
    grid = EXPERIMENTS[args.dataset].grid
    if not grid:
        raise SystemExit(f"reproduce {args.dataset}: --grid needs an experiment with a grid (vaccine)")
    frames = []
    for row in grid:
        one = argparse.Namespace(**{**vars(args), **row, "grid": False})
        _reproduce(one)
        frames.append(pd.read_csv(Path(args.out) / f"{_stem(one)}_summary.csv").assign(**row))
    path = Path(args.out) / f"{args.dataset}_{args.embedder}_grid_summary.csv"
    pd.concat(frames, ignore_index=True).to_csv(path, index=False)
    print(f"wrote {path}")
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    if args.dataset == "movielens":
        return _reproduce_movielens(args)
    if getattr(args, "grid", False):
        return _reproduce_grid(args)
    options = _options(args)
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
        data_kwargs={**options, **({"n_train": args.n_train} if args.n_train else {})} or None,
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
    metrics = metric_columns(args.dataset)
    summary = summarize(rows, metrics)
    print(format_table(summary, paper_table(args.dataset, **options), metrics))
    ceiling = rows[0]["ceiling"]
    print(
        f"ceiling (perfect ranking, seed {rows[0]['seed']}): "
        + ", ".join(f"{m} {ceiling[m]:.3f}" for m in metrics if m in ceiling)
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    flat = [{k: v for k, v in r.items() if k not in ("curve", "ceiling", "scores", "relevant")} for r in rows]
    stem = _stem(args)
    pd.DataFrame(flat).to_csv(out / f"{stem}_seeds.csv", index=False)
    summary.to_csv(out / f"{stem}_summary.csv", index=False)
    curves = [{"model": r["model"], "seed": r["seed"], **c} for r in rows for c in r["curve"]]
    pd.DataFrame(curves).to_csv(out / f"{stem}_curves.csv", index=False)
    over = [over_under(r["scores"], r["relevant"]).assign(model=r["model"], seed=r["seed"]) for r in rows]
    pd.concat(over, ignore_index=True).to_csv(out / f"{stem}_over_under.csv", index=False)
    with open(out / f"{stem}.json", "w") as f:
        json.dump(
            {"args": vars(args), "seeds": flat, "summary": summary.to_dict("records")},
            f,
            indent=2,
            default=str,
        )
    print(f"wrote {out / stem}_seeds.csv, _summary.csv, _curves.csv, _over_under.csv and .json")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ftmamba-lite", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("reproduce", help="reproduce a table row of the paper")
    rep.add_argument("dataset", choices=[*sorted(EXPERIMENTS), "movielens"])
    rep.add_argument("--embedder", choices=EMBEDDER_CHOICES, default="both")
    rep.add_argument("--seeds", type=int, default=3, help="number of seeds (default 3)")
    rep.add_argument("--seed0", type=int, default=0, help="first seed (default 0)")
    rep.add_argument("--steps", type=int, default=None, help="training steps (paper: 5000)")
    rep.add_argument("--batch-size", type=int, default=None, help="batch size (paper: 32)")
    rep.add_argument("--lr", type=float, default=None, help="learning rate (paper: 1e-4 for Spotify)")
    rep.add_argument("--eval-every", type=int, default=500, help="evaluate every N steps (Figure 4)")
    rep.add_argument("--n-train", type=int, default=None, help="training triples (paper: 160000)")
    rep.add_argument(
        "--data",
        default="synthetic",
        help="PATH, URL, or 'synthetic' (default); movielens also: 'recbole' (ML-100K), 'ml-100k', 'ml-1m'",
    )
    rep.add_argument(
        "--model",
        choices=("mamba4rec", "sasrec", "both", "popularity", "all"),
        default="both",
        help="movielens: sequence model(s) (default both = mamba4rec and sasrec)",
    )
    rep.add_argument("--epochs", type=int, default=12, help="movielens: training epochs (default 12)")
    rep.add_argument("--max-len", type=int, default=200, help="movielens: longest history read (default 200)")
    rep.add_argument("--jobs", type=int, default=None, help="parallel processes (default: one per core)")
    rep.add_argument("--out", default="results", help="output directory (default ./results)")
    rep.add_argument("--clusters", type=int, default=None, help="vaccine: k-means clusters (default 25)")
    rep.add_argument("--messages", type=int, default=None, help="vaccine: messages drawn (default 25)")
    rep.add_argument("--grid", action="store_true", help="vaccine: every (clusters, messages) of Table II")
    rep.set_defaults(func=_reproduce)
    _add_fit_parser(sub)
    _add_recommend_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


# --- ftmamba-lite fit / recommend: your own tables (ftmamba_lite.recommender, issue 21) ---------------------


def _read_table(path: str | None, what: str) -> pd.DataFrame | None:
    """A CSV or Parquet file (by its suffix) as a DataFrame; errors name the file and the option."""
    if path is None:
        return None
    file = Path(path)
    if not file.is_file():
        raise SystemExit(f"{what}: file {file} not found")
    if file.suffix.lower() in (".parquet", ".pq"):
        try:
            return pd.read_parquet(file)
        except ImportError as err:
            raise SystemExit(f"{what}: reading Parquet ({file}) needs pyarrow: pip install pyarrow") from err
    try:
        return pd.read_csv(file)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise SystemExit(f"{what}: {file} is not a readable CSV file: {err}") from err


def _columns(text: str | None) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()] if text else []


def _add_fit_parser(sub: argparse._SubParsersAction) -> None:
    from .recommender import EMBEDDERS

    cmd = sub.add_parser("fit", help="fit a recommender on your own tables (CSV or Parquet)")
    cmd.add_argument("--interactions", required=True, help="interactions file: user id, item id (, target)")
    cmd.add_argument("--users", default=None, help="user table file (id + feature columns)")
    cmd.add_argument("--items", default=None, help="item table file (id + feature columns)")
    cmd.add_argument("--out", required=True, help="folder to save the fitted model in")
    cmd.add_argument("--overwrite", action="store_true", help="replace a model saved in --out before")
    cmd.add_argument("--embedder", choices=EMBEDDERS, default="mamba")
    cmd.add_argument("--user-id", default="user_id", help="user id column (default user_id)")
    cmd.add_argument("--item-id", default="item_id", help="item id column (default item_id)")
    cmd.add_argument("--target", default=None, help="explicit target column (MSE on it); default: implicit")
    cmd.add_argument("--loss", choices=("mse", "softmax"), default="mse")
    cmd.add_argument("--epochs", type=int, default=1)
    cmd.add_argument("--steps", type=int, default=None, help="training steps (overrides --epochs)")
    cmd.add_argument("--batch-size", type=int, default=None)
    cmd.add_argument("--lr", type=float, default=None)
    cmd.add_argument("--seed", type=int, default=0)
    cmd.add_argument("--numeric", default=None, help="comma-separated columns forced numeric")
    cmd.add_argument("--categorical", default=None, help="comma-separated columns forced categorical")
    cmd.add_argument("--validation", default=None, help="held-out interactions file: early stopping")
    cmd.set_defaults(func=_fit)


def _fit(args: argparse.Namespace) -> int:
    from .recommender import Recommender

    interactions = _read_table(args.interactions, "--interactions")
    options = {"epochs": args.epochs, "steps": args.steps, "batch_size": args.batch_size, "lr": args.lr}
    try:
        rec = Recommender(args.embedder, loss=args.loss, seed=args.seed, **options)
        rec.fit(
            interactions,
            _read_table(args.users, "--users"),
            _read_table(args.items, "--items"),
            user_id=args.user_id,
            item_id=args.item_id,
            target=args.target,
            numeric=_columns(args.numeric),
            categorical=_columns(args.categorical),
            validation=_read_table(args.validation, "--validation"),
        )
        path = rec.save(args.out, overwrite=args.overwrite)
    except (ValueError, TypeError, FileExistsError) as err:
        raise SystemExit(f"ftmamba-lite fit: {err}") from err
    print(f"fitted {rec!r} in {rec.history_.seconds:.1f} s; saved to {path}")
    return 0


def _add_recommend_parser(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser("recommend", help="recommend items with a model saved by `ftmamba-lite fit`")
    cmd.add_argument("--model", required=True, help="folder written by `ftmamba-lite fit --out`")
    cmd.add_argument("--users", required=True, help="file of user rows (features), or of known user ids only")
    cmd.add_argument("-k", type=int, default=10, help="items per user (default 10)")
    cmd.add_argument("--include-seen", action="store_true", help="do not exclude the users' training items")
    cmd.add_argument("--out", default=None, help="CSV file to write (default: standard output)")
    cmd.set_defaults(func=_recommend)


def _recommend(args: argparse.Namespace) -> int:
    from .recommender import Recommender

    try:
        rec = Recommender.load(args.model)
        users = _read_table(args.users, "--users")
        id_column = rec.schema["user_id"]
        if list(users.columns) == [id_column]:  # known ids only: their stored features
            users = users[id_column].tolist()
        table = rec.recommend(users, k=args.k, exclude_seen=not args.include_seen)
    except (ValueError, TypeError, FileNotFoundError) as err:
        raise SystemExit(f"ftmamba-lite recommend: {err}") from err
    if args.out is None:
        table.to_csv(sys.stdout, index=False)
    else:
        table.to_csv(args.out, index=False)
        print(f"wrote {len(table):,} recommendations to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
