"""The course as a student meets it: JupyterLab and the classic Notebook in headless Chromium, the widgets
driven by clicks.

Every test runs in both front ends (``conftest.lab_page``): JupyterLab 4 with ipywidgets 8, and the classic
Notebook 6.5 with ipywidgets 7 on Colab's package stack (the nearest open front end to Colab's own).

Each test opens a notebook (a served copy, see ``conftest.py``), clicks Run -> Run All Cells, operates one
panel with the mouse and keyboard, and reads what the page rendered: plotly's trace data and SVG paths, the
progress bar's width. Every test also fails on JavaScript console errors and on widgets that render as
"Error displaying widget" or as bare text, and saves screenshots to ``tests/browser/artifacts/``.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import LabPage

pytestmark = pytest.mark.browser

TRAIN_STEPS = 20  # the step count the notebook 04 test types into the Steps slider


def _wait_until(lab_page: LabPage, condition: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    """Poll ``condition`` every 200 ms; on timeout save a screenshot and fail with ``what``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            lab_page.screenshot("timeout")
            raise AssertionError(f"{lab_page.name}: {what} (waited {timeout_s:.0f} s)")
        lab_page.page.wait_for_timeout(200)


def _growth(values: list[float]) -> list[float]:
    """The distinct values of a recorded sequence, in order; fails if the sequence ever shrinks."""
    assert values == sorted(values), f"not monotonic: {values}"
    return sorted(set(values))


def test_02_impulse_explorer_delta_slider(lab_page: LabPage) -> None:
    """Notebook 02: Run All, then drag the Δ slider (``.ftm-delta``) of the impulse explorer to the right.

    Asserts: before the drag the panel's figure shows two impulse responses of 40 steps; after it the readout
    shows a larger Δ, the figure's title names it, the rendered trace data follow it (y_0 = Δ, the impulse's
    weight B̄ = Δ; both traces changed) and the SVG line paths were redrawn.
    """
    lab_page.open_notebook("02_ssm_recurrence_vs_scan.ipynb")
    lab_page.run_all_cells()
    slider = lab_page.page.locator(".ftm-delta")
    slider.scroll_into_view_if_needed()
    panel = slider.locator("xpath=ancestor::div[contains(@class, 'widget-vbox')][1]")

    def readout() -> float:
        return float(slider.locator(".widget-readout").text_content() or "nan")

    before = lab_page.rendered_plot(".ftm-delta")
    delta_before = readout()
    assert len(before["traces"]) == 2, before["traces"]
    assert all(len(t["y"]) == 40 for t in before["traces"]), before["traces"]
    lab_page.screenshot("before", panel)

    box = slider.locator(lab_page.slider_handle).bounding_box()
    assert box is not None, "the Δ slider has no handle on screen"
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    lab_page.page.mouse.move(x, y)
    lab_page.page.mouse.down()
    lab_page.page.mouse.move(x + 25, y, steps=5)
    lab_page.page.mouse.up()

    _wait_until(lab_page, lambda: readout() > delta_before, "the Δ readout did not grow after the drag")
    _wait_until(
        lab_page,
        lambda: f"Δ = {readout():.3f}" in lab_page.plot(".ftm-delta")["title"],
        "the figure's title does not show the slider's new Δ: its callback did not redraw the figure",
    )
    after = lab_page.plot(".ftm-delta")
    delta_after = readout()
    assert after["traces"][0]["y"][0] == pytest.approx(delta_after, abs=5e-4), "y_0 is not the new Δ"
    for old, new in zip(before["traces"], after["traces"], strict=True):
        assert new["y"] != old["y"], f"trace {new['name']} kept its data"
    assert after["paths"] != before["paths"], "the SVG lines were not redrawn"
    lab_page.screenshot("after-delta-drag", panel)
    lab_page.check()


def test_04_training_panel_train_button(lab_page: LabPage) -> None:
    """Notebook 04: Run All, then click the embedder toggle "mamba", type the step count into the Steps
    slider's readout (``.ftm-steps``) and click Train (``.ftm-train``).

    Asserts, from every state of the page recorded while training runs: the click adds one loss trace and one
    HR trace to the panel's figure; both gain points over several redraws (never losing any) up to one loss
    point per step and several HR evaluations; the progress bar (``.ftm-progress``) grows through intermediate
    widths to 100%; at the end the status reports "Done.", the Train button is enabled again and the new
    traces hold finite losses and hit ratios in [0, 1].
    """
    page = lab_page.page
    lab_page.open_notebook("04_two_tower_training.ipynb")
    lab_page.run_all_cells()
    train = page.locator(".ftm-train")
    train.scroll_into_view_if_needed()
    panel = train.locator("xpath=ancestor::div[contains(@class, 'widget-vbox')][1]")
    lab_page.screenshot("after-run-all", panel)
    traces_before = len(lab_page.rendered_plot(".ftm-train")["traces"])

    page.locator(".ftm-embedder button", has_text="mamba").click()
    readout = page.locator(".ftm-steps .widget-readout")
    readout.click()
    page.keyboard.press("ControlOrMeta+A")
    page.keyboard.type(str(TRAIN_STEPS))
    page.keyboard.press("Enter")
    _wait_until(
        lab_page,
        lambda: (readout.text_content() or "").strip() == str(TRAIN_STEPS),
        f"the Steps slider did not take {TRAIN_STEPS}",
    )
    assert "mod-active" in (
        page.locator(".ftm-embedder button", has_text="mamba").get_attribute("class") or ""
    )

    panel_area = panel.bounding_box()
    # Run All already trained once, so the status reads "Done. <that run>" before the click and for the moment
    # the click takes to reach the kernel: only a status other than this one can tell that the new run ended.
    status_before = page.locator(".ftm-status").text_content() or ""
    lab_page.record(".ftm-train")
    train.click()
    clicked = time.monotonic()
    loss_index, hr_index = traces_before, traces_before + 1

    def points(sample: dict, index: int) -> int:
        return sample["points"][index] if len(sample["points"]) > index else 0

    def finished() -> bool:
        status = page.locator(".ftm-status").text_content() or ""
        return status != status_before and "Done." in status and train.is_enabled()

    def training_visible() -> bool:
        samples = lab_page.recorded()
        return any(0 < points(s, loss_index) < TRAIN_STEPS for s in samples) or finished()

    _wait_until(
        lab_page, training_visible, "no loss curve appeared after clicking Train and it did not finish", 120
    )
    if not finished():
        lab_page.screenshot("training", clip=panel_area)  # the browser is busy redrawing: no waiting
    _wait_until(lab_page, finished, "training did not finish", timeout_s=180)
    print(f"{lab_page.name}: training shown in the page {time.monotonic() - clicked:.0f} s after the click")
    page.wait_for_timeout(1000)  # the last redraws of the figure and the progress bar
    samples = lab_page.recorded(stop=True)
    (lab_page.artifacts / f"{lab_page.name}-recorded-states.json").write_text(json.dumps(samples))
    lab_page.screenshot("trained", panel)

    last = samples[-1]
    assert len(last["points"]) == traces_before + 2, f"Train did not add one loss and one HR trace: {last}"
    loss = _growth([points(s, loss_index) for s in samples])
    hr = _growth([points(s, hr_index) for s in samples])
    widths = [s["progress"] for s in samples if s["progress"] is not None]
    assert 0 in widths, f"the progress bar was not reset when training started: {widths}"
    progress = _growth(widths[widths.index(0) :])  # from the reset on (the old value showed until then)
    assert loss[-1] == TRAIN_STEPS, f"the loss curve ends with {loss[-1]} points, not one per step"
    assert len([n for n in loss if 0 < n < TRAIN_STEPS]) >= 3, f"the loss curve did not grow live: {loss}"
    assert hr[-1] >= 3, f"the HR curve ends with {hr[-1]} points: too few evaluations to see it grow"
    assert len([n for n in hr if 0 < n < hr[-1]]) >= 2, f"the HR curve did not grow live: {hr}"
    assert progress[-1] == pytest.approx(100), f"the progress bar ended at {progress[-1]}%"
    assert len([p for p in progress if 0 < p < 100]) >= 3, f"the progress bar did not move: {progress}"

    figure = lab_page.plot(".ftm-train")
    loss_trace, hr_trace = figure["traces"][loss_index], figure["traces"][hr_index]
    assert loss_trace["name"].startswith("mamba"), loss_trace["name"]
    assert loss_trace["x"] == list(range(1, TRAIN_STEPS + 1))
    assert all(math.isfinite(v) and v >= 0 for v in loss_trace["y"]), loss_trace["y"]
    assert all(0 <= v <= 1 for v in hr_trace["y"]), hr_trace["y"]
    lab_page.check()


def test_05_over_under_explorer_model_and_seeds(lab_page: LabPage) -> None:
    """Notebook 05: Run All, then pick the second model in the Model dropdown (``.ftm-model``, e.g.
    "transformer"), then select only the first seed in the Seeds list (``.ftm-seeds``), then pick "all".

    Asserts after each choice that the panel's bar chart was redrawn for it: the bar series' names (model and
    seed count) follow the selection, the bar heights and the SVG bars change, and "all" shows one bar series
    per model, the chosen model's bars unchanged.
    """
    page = lab_page.page
    lab_page.open_notebook("05_evaluation_and_analysis.ipynb")
    lab_page.run_all_cells()
    model = page.locator(".ftm-model select")
    model.scroll_into_view_if_needed()
    panel = model.locator("xpath=ancestor::div[contains(@class, 'widget-vbox')][1]")
    models = [o.strip() for o in page.locator(".ftm-model option").all_text_contents() if o.strip() != "all"]
    seeds = [o.strip() for o in page.locator(".ftm-seeds option").all_text_contents()]
    assert len(models) >= 2 and len(seeds) >= 2, f"need two models and two seeds to test: {models}, {seeds}"

    def names(figure: dict) -> list[tuple[str, int]]:
        """(model, seed count) of each bar series, from names such as "mamba (2 seeds)"."""
        found = [re.fullmatch(r"(.+) \((\d+) seeds?\)", t["name"]) for t in figure["traces"]]
        assert all(found), [t["name"] for t in figure["traces"]]
        return [(m.group(1), int(m.group(2))) for m in found if m]

    def bars(expected: list[tuple[str, int]]) -> dict:
        _wait_until(
            lab_page,
            lambda: names(lab_page.plot(".ftm-model")) == expected,
            f"the bars were not redrawn for {expected}",
        )
        return lab_page.plot(".ftm-model")

    first = lab_page.rendered_plot(".ftm-model")
    assert names(first) == [(models[0], len(seeds))], first["traces"]
    lab_page.screenshot(f"{models[0]}-all-seeds", panel)

    model.select_option(models[1])
    second = bars([(models[1], len(seeds))])
    assert second["traces"][0]["y"] != first["traces"][0]["y"], f"{models[1]}'s bars are {models[0]}'s"
    assert second["paths"] != first["paths"], "the SVG bars were not redrawn"
    lab_page.screenshot(f"{models[1]}-all-seeds", panel)

    seed = seeds[1]  # a seed every stored run has (the stored deep models have 2 of the 3 seeds)
    page.locator(".ftm-seeds select").select_option(seed)
    one_seed = bars([(models[1], 1)])
    assert one_seed["traces"][0]["y"] != second["traces"][0]["y"], "one seed's bars equal the mean's"
    assert one_seed["paths"] != second["paths"], "the SVG bars were not redrawn"
    lab_page.screenshot(f"{models[1]}-seed-{seed}", panel)

    model.select_option("all")
    every = bars([(m, 1) for m in models])
    assert every["traces"][1]["y"] == one_seed["traces"][0]["y"], f"{models[1]}'s bars changed under 'all'"
    lab_page.screenshot(f"all-models-seed-{seed}", panel)
    lab_page.check()
