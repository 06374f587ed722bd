"""Peak memory and latency of ``Recommender.recommend`` for 1,000 users against a 100,000-item catalogue.

Fits a paper-preset FT-Mamba (or ``--embedder``) for a few steps on a generated catalogue (item features: a
numeric and a categorical column, the id), saves it, then in a fresh process loads it and measures the growth
of the peak resident memory (``ru_maxrss``) and the wall time of one ``recommend`` call.

    python -m benchmarks.recommender_memory --items 100000 --users 1000
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ftmamba_lite.ops.threads import set_num_threads
from ftmamba_lite.recommender import Recommender


def _status_mb(field: str) -> float:
    """A memory field of /proc/self/status (VmRSS: resident now, VmHWM: peak since the last reset) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak() -> None:
    """Reset VmHWM to the current resident size (Linux >= 4.0: write 5 to /proc/self/clear_refs)."""
    Path("/proc/self/clear_refs").write_text("5")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--embedder", default="mamba")
    parser.add_argument(
        "--measure", default=None, help=argparse.SUPPRESS
    )  # the fresh process: a model folder
    args = parser.parse_args()
    set_num_threads(1)
    if args.measure:
        rec = Recommender.load(args.measure)
        ids = list(rec._ids["user"][: args.users])
        rec.recommend(ids[:2], k=10)  # warm-up
        _reset_peak()
        before, start, cpu = _status_mb("VmRSS"), time.perf_counter(), time.process_time()
        out = rec.recommend(ids, k=10)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        print(
            f"{args.embedder}: recommend({len(ids)} users, k=10), {rec.n_items:,} items: {seconds:.2f} s "
            f"({cpu:.2f} s CPU), peak memory +{_status_mb('VmHWM') - before:.0f} MB over the "
            f"{before:.0f} MB resident after loading; {len(out):,} rows"
        )
        return
    rng = np.random.default_rng(0)
    items = pd.DataFrame(
        {
            "item_id": np.arange(args.items),
            "price": rng.random(args.items),
            "kind": rng.integers(0, 50, args.items).astype(str),
        }
    )
    users = pd.DataFrame({"user_id": np.arange(args.users), "age": rng.integers(18, 80, args.users)})
    inter = pd.DataFrame(
        {
            "user_id": rng.integers(0, args.users, 5 * args.users),
            "item_id": rng.integers(0, args.items, 5 * args.users),
        }
    )
    rec = Recommender(args.embedder, steps=2, progress=False).fit(inter, users, items)
    with tempfile.TemporaryDirectory() as folder:
        rec.save(Path(folder) / "model")
        command = [
            sys.executable,
            "-m",
            "benchmarks.recommender_memory",
            "--measure",
            str(Path(folder) / "model"),
            "--users",
            str(args.users),
            "--embedder",
            args.embedder,
        ]
        subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
