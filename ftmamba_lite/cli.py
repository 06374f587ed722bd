"""The command line: ``ftmamba-lite reproduce spotify|hm|vaccine|movielens --seeds 3``.

``reproduce`` runs a seed sweep of an experiment (:mod:`ftmamba_lite.learn.sweep`): every (model, seed, table
row)
run in parallel processes (joblib, one per core by default) or on a Dask cluster (``--backend dask
[--scheduler ADDRESS]``), each run's result written to ``OUT/runs/`` as it finishes, so that a rerun with the
same arguments continues an interrupted sweep (``--fresh`` starts over). It then prints the paper's table
row(s) as mean ± 95% CI beside the paper's own numbers and writes per-seed and summary CSV and JSON files.
``reproduce movielens --model both --data recbole`` runs the sequential models of notebook 08 (Mamba4Rec,
SASRec, popularity) on MovieLens with leave-one-out and full ranking.

Every value and the output folder are checked before any run starts.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .datasets.base import check_last_line
from .datasets.download import is_url
from .learn.experiments import EXPERIMENTS, METRIC_COLUMNS, metric_columns, paper_table
from .learn.registry import kind_names
from .learn.sweep import BACKENDS, check_backend, check_out, plan, run_sweep, write_tables

__all__ = ["main", "format_table"]

EMBEDDER_CHOICES = (*kind_names("two-tower"), "both", "all")
SEQUENCE_CHOICES = (*kind_names("sequence"), "both", "all")
MOVIELENS_SOURCES = ("recbole", "ml-100k", "ml-1m")


def _models(dataset: str, choice: str) -> list[str]:
    family = "sequence" if dataset == "movielens" else "two-tower"
    if choice == "both":  # the two sequence-layer models the paper compares
        return list(kind_names(family, sequence_layer=True))
    if choice == "all":
        return list(kind_names(family))
    return [choice]


def format_table(
    summary: pd.DataFrame,
    paper: pd.DataFrame,
    metrics: Sequence[str] = METRIC_COLUMNS,
    label: Sequence[str] = ("model",),
) -> str:
    """Our rows (mean ± CI, params, seconds per seed) above the paper's rows, as aligned text ("–" where the
    paper's table has no such column, e.g. MAP@12). ``label``: the summary columns that name a row."""
    lines = [f"{'model':<24}" + "".join(f"{m:>15}" for m in metrics) + f"{'params':>11}{'s/seed':>9}"]
    for _, row in summary.iterrows():
        cells = ""
        for m in metrics:
            half = row.get(f"{m} ±")
            cells += f"{row[m]:>8.3f} ±{half:>5.3f}" if pd.notna(half) else f"{row[m]:>15.3f}"
        name = "ours: " + " ".join(str(row[c]) for c in label) + f" (n={row['seeds']})"
        lines.append(f"{name:<24}{cells}{int(row['params']):>11,}{row['seconds']:>9.1f}")
    for _, row in paper.iterrows():
        cells = "".join(f"{row[m]:>15.3f}" if pd.notna(row.get(m)) else f"{'–':>15}" for m in metrics)
        lines.append(f"{'paper: ' + row['embedder']:<24}{cells}")
    return "\n".join(lines)


def _fail(message: str) -> SystemExit:
    return SystemExit(f"ftmamba-lite reproduce: error: {message}")


def _check_out(out: str, dataset: str, stem: str) -> Path:
    """The output folder, with the folders a sweep writes to created and tried, and no folder where a
    table file goes: every problem an error naming --out before any run."""
    path = Path(out).expanduser()
    if path.exists() and not path.is_dir():
        raise _fail(f"--out {out} is a file; give a folder (it holds runs/, logs/ and the tables)")
    try:
        path = check_out(path, dataset)
    except ValueError as error:
        raise _fail(f"--out {out}: {error}") from error
    for suffix in ("_seeds.csv", "_summary.csv", "_curves.csv", "_over_under.csv", ".json"):
        table = path / f"{stem}{suffix}"
        if table.is_dir():
            raise _fail(f"--out {out}: {table} is a folder, but the sweep writes its table there")
    return path


def _check_data(dataset: str, data: str) -> None:
    """A local --data path must exist (URLs and MovieLens' named sources are fetched by the loader)."""
    if data == "synthetic" or is_url(data) or (dataset == "movielens" and data in MOVIELENS_SOURCES):
        return
    if not Path(data).expanduser().exists():
        named = f", {', '.join(MOVIELENS_SOURCES)}" if dataset == "movielens" else ""
        raise _fail(f"--data {data}: no such file or folder (give a path, a URL, 'synthetic'{named})")


def _options(args: argparse.Namespace) -> dict[str, object]:
    """The table-row options given (e.g. clusters, messages); an error if the experiment has none such."""
    exp = EXPERIMENTS[args.dataset]
    given = {
        name: getattr(args, name) for name in ("clusters", "messages") if getattr(args, name) is not None
    }
    unknown = sorted(set(given) - set(exp.options))
    if unknown:
        raise _fail(f"option(s) {['--' + u for u in unknown]} apply only to vaccine messaging")
    if args.grid and not exp.grid:
        raise _fail(f"--grid needs an experiment with a grid (vaccine), not {args.dataset}")
    if args.grid and given:
        raise _fail("--grid runs every (clusters, messages) of Table II; leave out --clusters and --messages")
    row = {**exp.options, **given}
    if "clusters" in row and row["clusters"] > row["messages"]:
        raise _fail(
            f"--clusters {row['clusters']} exceeds --messages {row['messages']}: k-means needs k <= messages"
        )
    return given


def _choice(args: argparse.Namespace) -> str:
    """The models chosen: --model (movielens) or --embedder, default "both"."""
    return (args.model if args.dataset == "movielens" else args.embedder) or "both"


def _stem(args: argparse.Namespace) -> str:
    exp = EXPERIMENTS[args.dataset]
    choice = _choice(args)
    if args.grid:
        return f"{args.dataset}_{choice}_grid"
    return "_".join(
        [args.dataset, choice, *(f"{k}{v}" for k, v in {**exp.options, **_options(args)}.items())]
    )


def _plan(args: argparse.Namespace) -> list:
    """Every check of the arguments, then the sweep's runs: nothing is loaded or trained here."""
    sequential = args.dataset == "movielens"
    if sequential and args.embedder is not None:
        raise _fail("movielens chooses its models with --model (mamba4rec, sasrec, both, popularity, all)")
    if not sequential and args.model is not None:
        raise _fail(f"{args.dataset} chooses its models with --embedder; --model is for movielens")
    if args.scheduler is not None and args.backend != "dask":
        raise _fail("--scheduler needs --backend dask")
    try:
        check_backend(args.backend, args.scheduler)
    except ValueError as error:
        raise _fail(str(error)) from error
    if args.scheduler is None:  # a cluster's workers may see paths that this machine does not
        _check_data(args.dataset, args.data)
    options = _options(args)
    rows = EXPERIMENTS[args.dataset].grid if args.grid else (options,)
    try:
        return plan(
            args.dataset,
            _models(args.dataset, _choice(args)),
            list(range(args.seed0, args.seed0 + args.seeds)),
            source=args.data,
            steps=args.steps,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            eval_every=args.eval_every,
            max_len=args.max_len,
            data_kwargs={"n_train": args.n_train} if args.n_train is not None else None,
            rows=rows,
        )
    except ValueError as error:  # a setting the experiment does not have, e.g. --steps for movielens
        name = str(error).split()[0]
        flag = f"--{name.replace('_', '-')}: " if name in vars(args) else ""
        raise _fail(f"{flag}{error}") from error


def _reproduce(args: argparse.Namespace) -> int:
    runs = _plan(args)
    stem = _stem(args)
    out = _check_out(args.out, args.dataset, stem)
    models = list(dict.fromkeys(r.model for r in runs))
    seeds = sorted({r.seed for r in runs})
    where = f"Dask scheduler {args.scheduler}" if args.scheduler else args.backend
    print(
        f"reproduce {args.dataset}: models {models}, seeds {seeds[0]}..{seeds[-1]} ({len(seeds)}), "
        f"{len(runs)} run(s) on {where}; results in {out / 'runs' / args.dataset}, logs in {out / 'logs'}"
    )
    report = run_sweep(
        runs, out, backend=args.backend, jobs=args.jobs, threads=args.threads, scheduler=args.scheduler,
        fresh=args.fresh, say=print,
    )  # fmt: skip
    elsewhere = f", {report.elsewhere} ran in another process" if report.elsewhere else ""
    print(
        f"{report.skipped} run(s) were done before, {report.finished} ran now, {len(report.failed)} failed"
        + elsewhere
    )
    if report.refused:
        print(f"  {len(report.refused)} result file(s) failed their check and ran again (see above)")
    for key, error in report.failed.items():
        print(f"  failed: {key}: {error} (log: {out / 'logs' / args.dataset / key}.log)")
    if not report.results:
        return 1
    results = report.results
    print(f"data: {results[0].source}")
    metrics = metric_columns(args.dataset)
    options = list(EXPERIMENTS[args.dataset].options) if args.grid else []
    paths = write_tables(results, out, stem, metrics, by=[*options, "model"], meta={"args": vars(args)})
    summary = pd.read_csv(paths["summary"])
    for row in EXPERIMENTS[args.dataset].grid if args.grid else ({},):
        part = summary
        for name, value in row.items():
            part = part[part[name] == value]
        if row:
            print(", ".join(f"{k} {v}" for k, v in row.items()))
        paper_row = {**EXPERIMENTS[args.dataset].options, **_options(args), **row}
        paper = paper_table(args.dataset, **paper_row) if args.dataset != "movielens" else pd.DataFrame()
        print(format_table(part, paper, metrics))
    ceiling = results[0].ceiling
    if ceiling:
        print(
            f"ceiling (perfect ranking, seed {results[0].seed}): "
            + ", ".join(f"{m} {ceiling[m]:.3f}" for m in metrics if m in ceiling)
        )
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return 1 if report.failed else 0


def _positive_int(text: str) -> int:
    return _int_at_least(text, 1)


def _count(text: str) -> int:
    return _int_at_least(text, 0)


def _int_at_least(text: str, lowest: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < lowest:
        raise argparse.ArgumentTypeError(f"must be >= {lowest}, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ftmamba-lite", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("reproduce", help="reproduce a table row of the paper (a resumable seed sweep)")
    rep.add_argument("dataset", choices=sorted(EXPERIMENTS))
    rep.add_argument(
        "--embedder", choices=EMBEDDER_CHOICES, default=None, help="tabular: models (default both)"
    )
    rep.add_argument(
        "--model",
        choices=SEQUENCE_CHOICES,
        default=None,
        help="movielens: models (default both = mamba4rec, sasrec)",
    )
    rep.add_argument("--seeds", type=_positive_int, default=3, help="number of seeds (default 3)")
    rep.add_argument("--seed0", type=_count, default=0, help="first seed (default 0)")
    rep.add_argument("--steps", type=_positive_int, default=None, help="training steps (paper: 5000)")
    rep.add_argument("--epochs", type=_count, default=None, help="movielens: training epochs (default 12)")
    rep.add_argument("--batch-size", type=_positive_int, default=None, help="batch size (paper: 32)")
    rep.add_argument(
        "--lr", type=_positive_float, default=None, help="learning rate (paper: 1e-4 for Spotify)"
    )
    rep.add_argument(
        "--eval-every", type=_positive_int, default=None, help="evaluate every N steps (default 500)"
    )
    rep.add_argument("--n-train", type=_positive_int, default=None, help="training triples (paper: 160000)")
    rep.add_argument(
        "--max-len", type=_positive_int, default=None, help="movielens: longest history (default 200)"
    )
    rep.add_argument(
        "--data",
        default="synthetic",
        help="PATH, URL, or 'synthetic' (default); movielens also: 'recbole' (ML-100K), 'ml-100k', 'ml-1m'",
    )
    rep.add_argument(
        "--clusters", type=_positive_int, default=None, help="vaccine: k-means clusters (default 25)"
    )
    rep.add_argument(
        "--messages", type=_positive_int, default=None, help="vaccine: messages drawn (default 25)"
    )
    rep.add_argument("--grid", action="store_true", help="vaccine: every (clusters, messages) of Table II")
    rep.add_argument("--out", default="results", help="output folder (default ./results)")
    rep.add_argument("--fresh", action="store_true", help="delete this sweep's finished runs and start over")
    rep.add_argument("--backend", choices=BACKENDS, default="joblib", help="joblib (this machine) or dask")
    rep.add_argument("--scheduler", default=None, help="dask: scheduler ADDRESS (default: a local cluster)")
    rep.add_argument(
        "--jobs", type=_positive_int, default=None, help="runs at a time here (default: cores / threads)"
    )
    rep.add_argument(
        "--threads",
        type=_positive_int,
        default=None,
        help="threads per run (default 1; results depend on it)",
    )
    rep.set_defaults(func=_reproduce)
    _add_fit_parser(sub)
    _add_recommend_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


# --- ftmamba-lite fit / recommend: your own tables (ftmamba_lite.recommender) ------------------------------


def _read_table(path: str | None, what: str) -> pd.DataFrame | None:
    """A CSV or Parquet file (by its suffix) as a DataFrame; errors (a CSV cut short in its last line
    included) name the file and the option."""
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
        check_last_line(file)
    except ValueError as err:
        raise SystemExit(f"{what}: {err}") from err
    try:  # index_col=False: rows that end in a delimiter keep their first field as data, not the index
        return pd.read_csv(file, index_col=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise SystemExit(f"{what}: {file} is not a readable CSV file: {err}") from err


def _columns(text: str | None) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()] if text else []


def _add_fit_parser(sub: argparse._SubParsersAction) -> None:
    from .losses import LOSSES
    from .recommender import EMBEDDERS, PROTOCOLS

    cmd = sub.add_parser("fit", help="fit a recommender on your own tables (CSV or Parquet)")
    cmd.add_argument("--interactions", required=True, help="interactions file: user id, item id (, target)")
    cmd.add_argument("--users", default=None, help="user table file (id + feature columns)")
    cmd.add_argument("--items", default=None, help="item table file (id + feature columns)")
    cmd.add_argument("--out", required=True, help="folder to save the fitted model in")
    cmd.add_argument("--overwrite", action="store_true", help="replace a model saved in --out before")
    cmd.add_argument("--embedder", choices=EMBEDDERS, default="mamba")
    cmd.add_argument("--protocol", choices=PROTOCOLS, default="recommended", help="the defaults' recipe")
    cmd.add_argument("--user-id", default="user_id", help="user id column (default user_id)")
    cmd.add_argument("--item-id", default="item_id", help="item id column (default item_id)")
    cmd.add_argument("--target", default=None, help="explicit target column (MSE on it); default: implicit")
    cmd.add_argument("--loss", choices=sorted(LOSSES), default=None, help="default: the protocol's")
    cmd.add_argument("--epochs", type=_positive_int, default=None, help="default: the protocol's")
    cmd.add_argument("--steps", type=_positive_int, default=None, help="training steps (overrides --epochs)")
    cmd.add_argument("--batch-size", type=_positive_int, default=None)
    cmd.add_argument("--lr", type=_positive_float, default=None)
    cmd.add_argument("--seed", type=_count, default=0)
    cmd.add_argument("--numeric", default=None, help="comma-separated columns forced numeric")
    cmd.add_argument("--categorical", default=None, help="comma-separated columns forced categorical")
    cmd.add_argument("--validation", default=None, help="held-out interactions file: early stopping")
    cmd.set_defaults(func=_fit)


def _check_fit_out(out: str, overwrite: bool) -> None:
    """--out refused before any training: an occupied folder without --overwrite, or not a saved model."""
    from .persistence import MANIFEST

    path = Path(out)
    if path.is_file():
        raise SystemExit(f"ftmamba-lite fit: --out {path} is a file: give a folder to save the model in")
    if path.is_dir() and any(path.iterdir()):
        if not overwrite:
            raise SystemExit(
                f"ftmamba-lite fit: --out {path} exists and is not empty: add --overwrite to replace the "
                "model saved there, or give another folder"
            )
        if not (path / MANIFEST).is_file():
            raise SystemExit(
                f"ftmamba-lite fit: --out {path} is not a saved model (no {MANIFEST}): not replacing it"
            )
    if not path.parent.is_dir():
        raise SystemExit(f"ftmamba-lite fit: --out {path}: the folder {path.parent} does not exist")


def _fit(args: argparse.Namespace) -> int:
    from .recommender import Recommender

    _check_fit_out(args.out, args.overwrite)
    interactions = _read_table(args.interactions, "--interactions")
    options = {
        "protocol": args.protocol, "loss": args.loss, "epochs": args.epochs, "steps": args.steps,
        "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
    }  # fmt: skip
    try:
        rec = Recommender(args.embedder, **options)
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
        message = str(err).replace("pass overwrite=True", "add --overwrite")
        raise SystemExit(f"ftmamba-lite fit: {message}") from err
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
