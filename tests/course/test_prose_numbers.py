"""Every number the notebooks' prose quotes from a stored run is tied to that run, so that a new run which
changes it fails here, naming the notebook, the cell and the sentence, instead of leaving the sentence stale.

``QUOTES`` lists each sentence (whitespace-normalised, exactly as the cell writes it) with the number it
quotes and how that number follows from the stored results (``experiments.stored_results``, the package's
``resources/results/*.csv``) or the paper's tables (``experiments.paper_table``). A quoted number must equal
the computed one to the precision written (half a unit of its last digit) unless a tolerance is given (the
sentence says "about"). ``CLAIMS`` ties comparisons ("within a few hundredths", "some seeds never left") to a
predicate on the same data. Numbers a notebook computes in a cell the reader runs need no entry here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from ftmamba_lite.learn import experiments

ROOT = Path(__file__).resolve().parents[2]


def summary(stored: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds per model (``experiments.summarize``), indexed by model."""
    return experiments.summarize(stored).set_index("model")


def minutes(model: str) -> Callable[[pd.DataFrame], float]:
    return lambda stored: float(stored.loc[stored["model"] == model, "seconds"].mean() / 60)


def hr1(model: str) -> Callable[[pd.DataFrame], float]:
    return lambda stored: float(summary(stored).loc[model, "HR@1"])


def paper_hr1(model: str) -> Callable[[pd.DataFrame], float]:
    return lambda stored: float(experiments.paper_table("spotify").set_index("embedder").loc[model, "HR@1"])


def seeds(stored: pd.DataFrame) -> float:
    return float(stored.groupby("model")["seed"].nunique().min())


def left_plateau_hr1(model: str) -> Callable[[pd.DataFrame], float]:
    """Mean HR@1 of the seeds of ``model`` that left the plateau."""

    def value(stored: pd.DataFrame) -> float:
        left = experiments.plateau_position(stored)
        seeds_left = left.loc[(left["model"] == model) & left["left"], "seed"]
        rows = stored[(stored["model"] == model) & stored["seed"].isin(seeds_left)]
        return float(rows["HR@1"].mean())

    return value


def level_off_step(model: str, learned_only: bool = False) -> int:
    """The first evaluation step (every 500) at which the mean test HR@1 over the seeds of ``model`` (only
    those that left the plateau, when ``learned_only``) is within 0.05 of its value at the end."""
    curves = experiments.stored_results("spotify", "curves")
    rows = curves[curves["model"] == model]
    if learned_only:
        positions = experiments.plateau_position(experiments.stored_results("spotify"))
        rows = rows[
            rows["seed"].isin(positions.loc[(positions["model"] == model) & positions["left"], "seed"])
        ]
    mean = rows.groupby("step")["HR@1"].mean()
    return int(mean.index[(mean - mean.iloc[-1]).abs() <= 0.05][0])


@dataclass(frozen=True)
class Quote:
    """``notebook`` (its number), ``cell`` (id) and ``sentence`` holding ``number`` as written; ``value``
    computes it from the stored seeds table; ``tolerance`` (None: half a unit of the last written digit)."""

    notebook: str
    cell: str
    sentence: str
    number: str
    value: Callable[[pd.DataFrame], float]
    tolerance: float | None = None

    def allowed(self) -> float:
        if self.tolerance is not None:
            return self.tolerance
        decimals = len(self.number.split(".")[1]) if "." in self.number else 0
        return 0.5 * 10.0**-decimals


@dataclass(frozen=True)
class Claim:
    """A comparison a sentence makes, and the predicate on the stored seeds table that backs it."""

    notebook: str
    cell: str
    sentence: str
    holds: Callable[[pd.DataFrame], bool]


_RUN_TIMES = "about 10 minutes for Mamba and 10 for the Transformer"
_RUN_TIMES_OTHER = "trained Mamba in about 10 minutes and the Transformer in about 10"

QUOTES = [
    Quote("04", "b4d3887f", _RUN_TIMES, "10", minutes("mamba"), tolerance=0.25),
    Quote("04", "b4d3887f", _RUN_TIMES, "10", minutes("transformer"), tolerance=0.5),
    Quote("04", "38a31427", "notebook 05 puts it beside our own 10-seed runs of that protocol", "10", seeds),
    Quote("04", "e5f6a7b8", "(notebook 05, mean over 10 seeds)", "10", seeds),
    Quote("04", "e5f6a7b8", "the `linear` baseline reaches HR@1 0.878", "0.878", hr1("linear")),
    Quote("04", "e5f6a7b8", "against the ceiling's 0.969", "0.969", hr1("oracle")),
    Quote("04", "e5f6a7b8", "and the MLP 0.917.", "0.917", hr1("mlp")),
    Quote("05", "38dcc084", "puts our stored 10-seed runs of the paper's protocol", "10", seeds),
    Quote("05", "b1a0c001", "10 seeds instead of 100", "10", seeds),
    Quote("05", "b1a0c001", "a Mamba seed took about 10 minutes", "10", minutes("mamba"), tolerance=0.25),
    Quote("05", "b1a0c001", "a Transformer seed about 10:", "10", minutes("transformer"), tolerance=0.5),
    Quote("05", "b1a0c006", "(HR@1 ≈ 0.97: a few users like no song at all)", "0.97", hr1("oracle")),
    Quote(
        "05",
        "b1a0c006",
        "FT-Mamba's mean HR@1 is within about 0.015 of it",
        "0.015",
        lambda s: hr1("oracle")(s) - hr1("mamba")(s),
        tolerance=0.005,
    ),
    Quote("05", "b1a0c006", "close to the paper's 0.977.", "0.977", paper_hr1("mamba")),
    Quote(
        "05", "b1a0c006", "The Transformer's mean (about the paper's 0.84)", "0.84", paper_hr1("transformer")
    ),
    Quote(
        "05",
        "b1a0c006",
        "The Transformer's mean (about the paper's 0.84)",
        "0.84",
        hr1("transformer"),
        tolerance=0.02,
    ),
    Quote(
        "05",
        "b1a0c006",
        "with 1% of the parameters",
        "1",
        lambda s: 100 * summary(s).loc["mlp", "params"] / summary(s).loc["mamba", "params"],
    ),
    Quote(
        "05",
        "987d7c58",
        "lr 1e-4): about 10 minutes on one core",
        "10",
        minutes("mamba"),
        tolerance=0.25,
    ),
    Quote("06", "8dd0d8092fe74a7c96281538738b07e2", _RUN_TIMES_OTHER, "10", minutes("mamba"), tolerance=0.25),
    Quote(
        "06",
        "8dd0d8092fe74a7c96281538738b07e2",
        _RUN_TIMES_OTHER,
        "10",
        minutes("transformer"),
        tolerance=0.5,
    ),
    Quote("07", "8dd0d8092fe74a7c96281538738b07e2", _RUN_TIMES_OTHER, "10", minutes("mamba"), tolerance=0.25),
    Quote(
        "07",
        "8dd0d8092fe74a7c96281538738b07e2",
        _RUN_TIMES_OTHER,
        "10",
        minutes("transformer"),
        tolerance=0.5,
    ),
]
"""Every number quoted in prose from the stored Spotify runs or the paper's Table I."""

CLAIMS = [
    Claim(
        "04",
        "696b6de2",
        "Mamba's HR@1 levels off after about 1,000 steps, and the Transformer's seeds that learn after "
        "about 3,000",
        lambda s: (
            level_off_step("mamba") in (1_000, 1_500)
            and level_off_step("transformer", learned_only=True) in (2_500, 3_000, 3_500)
        ),
    ),
    Claim(
        "03",
        "60bbba5c",
        "the Transformer's seeds that leave the plateau end within a few hundredths of Mamba's mean HR@1",
        lambda s: abs(left_plateau_hr1("transformer")(s) - hr1("mamba")(s)) < 0.05,
    ),
    Claim(
        "03",
        "60bbba5c",
        "the Transformer's mean is lower because some of its seeds never leave the plateau",
        lambda s: (
            0 < (~experiments.plateau_position(s).query("model == 'transformer'")["left"]).sum()
            and hr1("transformer")(s) < hr1("mamba")(s)
        ),
    ),
    Claim(
        "05",
        "b1a0c006",
        "most seeds learned, to within a few hundredths of Mamba's HR@1, and some never left the *plateau*",
        lambda s: (
            0.5 < experiments.plateau_position(s).query("model == 'transformer'")["left"].mean() < 1
            and abs(left_plateau_hr1("transformer")(s) - hr1("mamba")(s)) < 0.05
        ),
    ),
    Claim(
        "05",
        "b1a0c006",
        "is within a few hundredths of Mamba; the linear one is a little behind",
        lambda s: 0 < hr1("mamba")(s) - hr1("mlp")(s) < 0.05 and hr1("linear")(s) < hr1("mlp")(s),
    ),
    Claim(
        "04",
        "e5f6a7b8",
        "the `linear` baseline reaches HR@1",
        lambda s: hr1("linear")(s) < hr1("mlp")(s) < hr1("oracle")(s),
    ),
]
"""Comparisons in prose, each with the predicate on the stored runs that makes it true."""


def cell_text(notebook: str, cell: str) -> str:
    """The cell's source, whitespace-normalised (line breaks in prose are free); in a code cell the comment
    marks are dropped, so that a sentence may run over several comment lines."""
    path = next((ROOT / "notebooks").glob(f"{notebook}_*.ipynb"))
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    found = [c for c in cells if c.get("id") == cell]
    assert found, f"notebook {path.name} has no cell {cell!r}: update tests/course/test_prose_numbers.py"
    text = "".join(found[0]["source"])
    if found[0]["cell_type"] == "code":
        text = re.sub(r"^\s*# ?", "", text, flags=re.MULTILINE)
    return " ".join(text.split())


def prose_mismatches(stored: pd.DataFrame) -> list[str]:
    """One message per quoted number or claim that the stored results ``stored`` do not back."""
    problems = []
    for quote in QUOTES:
        where = f"notebook {quote.notebook}, cell {quote.cell}"
        value = quote.value(stored)
        if abs(float(quote.number) - value) > quote.allowed():
            problems.append(
                f"{where}: the sentence {quote.sentence!r} quotes {quote.number}, but the stored results "
                f"give {value:.4g}"
            )
    for claim in CLAIMS:
        if not claim.holds(stored):
            problems.append(
                f"notebook {claim.notebook}, cell {claim.cell}: the stored results no longer back "
                f"{claim.sentence!r}"
            )
    return problems


@pytest.fixture(scope="module")
def stored() -> pd.DataFrame:
    return experiments.stored_results("spotify")


@pytest.mark.parametrize("entry", QUOTES + CLAIMS, ids=lambda e: f"{e.notebook}-{e.cell}-{e.sentence[:30]}")
def test_the_sentence_is_where_the_test_looks(entry: Quote | Claim) -> None:
    text = cell_text(entry.notebook, entry.cell)
    sentence = " ".join(entry.sentence.split())
    assert sentence in text, (
        f"notebook {entry.notebook}, cell {entry.cell} no longer says {sentence!r}: if the sentence changed, "
        "update its entry in tests/course/test_prose_numbers.py"
    )
    if isinstance(entry, Quote):
        assert re.search(rf"(?<![\d.]){re.escape(entry.number)}(?![\d])", sentence), (
            "the number is not quoted"
        )


def test_every_quoted_number_matches_the_stored_results(stored: pd.DataFrame) -> None:
    problems = prose_mismatches(stored)
    assert not problems, "\n".join(problems)


def test_a_changed_stored_number_fails_and_names_the_sentence(stored: pd.DataFrame) -> None:
    """A new run in which the linear baseline and Mamba do better: the sentences that quote them fail."""
    changed = stored.copy()
    changed.loc[changed["model"] == "linear", "HR@1"] += 0.05
    changed.loc[changed["model"] == "mamba", "seconds"] *= 2
    problems = "\n".join(prose_mismatches(changed))
    assert (
        "notebook 04, cell e5f6a7b8: the sentence 'the `linear` baseline reaches HR@1 0.878' quotes 0.878"
        in (problems)
    )
    assert "notebook 05, cell b1a0c001: the sentence 'a Mamba seed took about 10 minutes'" in problems
    assert "notebook 06, cell 8dd0d8092fe74a7c96281538738b07e2" in problems
    assert "no longer back 'the `linear` baseline reaches HR@1'" in problems  # linear now above the MLP


def test_stale_numbers_are_gone() -> None:
    """Numbers of earlier runs that the prose once quoted, and run times that contradicted the stored runs."""
    stale = {
        "04": ["0.853", "0.957", "0.910", "0.607", "3-seed runs", "half an hour"],
        "05": ["a small live run", "a quarter of an hour"],
        "06": ["half an hour"],
        "07": ["half an hour"],
        "08": ["about 1,500 prefixes"],
        "03": ["its timings are on a GPU", "clear advantages are the parameter count (40%)"],
    }
    for notebook, phrases in stale.items():
        path = next((ROOT / "notebooks").glob(f"{notebook}_*.ipynb"))
        text = " ".join(path.read_text(encoding="utf-8").split())
        for phrase in phrases:
            assert phrase not in text, f"{path.name} still says {phrase!r}"
