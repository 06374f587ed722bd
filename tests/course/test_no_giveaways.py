"""No exercise is answered by a cell above it: neither its answer's value (a number of two or more significant
digits, written as the notebook would write it) nor, for a build-it-yourself exercise, a definition of the
function the student writes; and every exercise cell runs as stored (an unwritten function reports "not
written yet" instead of raising)."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest

from ftmamba_lite.course import exercises

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("0[1-8]_*.ipynb"))


def cells(path: Path) -> list[str]:
    return ["".join(c["source"]) for c in json.loads(path.read_text(encoding="utf-8"))["cells"]]


def solution_of(checker: str) -> object:
    exercise = next(k for k, s in exercises.SOLUTIONS.items() if checker in s.checkers)
    with contextlib.redirect_stdout(io.StringIO()):
        return exercises.solution(exercise)


def written_forms(value: float) -> set[str]:
    """How prose would write ``value``: whole numbers from 10 up as 2250 and 2,250; fractions to 2 and 3
    significant figures (0.61, 0.607); single digits and 0.5-like values are too common to search for."""
    if value == int(value):
        return {f"{int(value)}", f"{int(value):,}"} if abs(value) >= 10 else set()
    forms = {f"{value:.{figures}g}" for figures in (2, 3)}
    return {f for f in forms if len(f.lstrip("-").removeprefix("0.")) >= 2}


def exercise_cells(path: Path) -> list[tuple[int, str]]:
    return [
        (i, name)
        for i, text in enumerate(cells(path))
        for name in re.findall(r"exercises\.(check_\w+)\(", text)
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_cell_above_an_exercise_gives_its_answer(path: Path) -> None:
    texts = cells(path)
    for index, checker in exercise_cells(path):
        answer = solution_of(checker)
        above = "\n".join(texts[:index])
        if callable(answer) or isinstance(answer, tuple):  # build it yourself: the student's function
            for name in re.findall(r"^def (\w+)\(", texts[index], re.MULTILINE):
                assert not re.search(rf"^def {name}\(", above, re.MULTILINE), (
                    f"{path.name}: a cell above exercise {checker} already defines {name}()"
                )
            continue
        values = answer.values() if isinstance(answer, dict) else [answer]
        for value in values:
            if isinstance(value, bool):
                continue
            for form in written_forms(float(value)):
                hit = re.search(rf"(?<![\d.,:]){re.escape(form)}(?![\d])", above)
                assert not hit, f"{path.name}: {form} (the answer of {checker}) is written above the exercise"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_a_build_it_exercise_cell_runs_as_stored(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each cell that defines the student's function and calls its checker runs with its default contents and
    reports the function as not written yet."""
    for index in sorted({index for index, _ in exercise_cells(path)}):
        source = cells(path)[index]
        if not re.search(r"^def \w+\(", source, re.MULTILINE):
            continue
        namespace = {"exercises": exercises}
        exec(compile(source, f"{path.name} cell {index}", "exec"), namespace)  # noqa: S102
        out = capsys.readouterr().out
        assert out.count("Not written yet") == source.count("exercises.check_"), out
