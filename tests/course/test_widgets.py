"""The notebook panels, driven without a browser: move a control or press a button, then check the figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
import torch

from ftmamba_lite.analysis import over_under, over_under_over_seeds, over_under_summary
from ftmamba_lite.course import impulse_response, plots, widgets
from ftmamba_lite.datasets import load_spotify
from ftmamba_lite.encoding import TableEncoder, encode
from ftmamba_lite.tokenizer import FeatureTokenizer

TABLE = pd.DataFrame(
    {
        "age": [23.0, 35.0, 41.0],
        "hours": [12.0, 3.5, 7.0],
        "plan": ["student", "premium", "free"],
        "country": ["DE", "US", "US"],
    }
)


@pytest.fixture(autouse=True)
def output_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run the Output fallback (the mode without anywidget) unless they choose otherwise."""
    monkeypatch.setenv(widgets.LIVE_PLOTS_ENV, "output")


def z_of(figure: go.Figure) -> np.ndarray:
    return np.asarray(figure.data[0].z, dtype=float)


# live figures ----------------------------------------------------------------------------------------------


def test_live_plot_mode_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(widgets.LIVE_PLOTS_ENV, "widget")
    assert widgets.live_plot_mode() == "widget"  # opt-in
    monkeypatch.setattr(widgets, "in_colab", lambda: True)
    assert widgets.live_plot_mode() == "output"  # Colab: custom widgets unreliable, always the fallback
    monkeypatch.setattr(widgets, "in_colab", lambda: False)
    monkeypatch.delenv(widgets.LIVE_PLOTS_ENV)
    assert widgets.live_plot_mode() == "output"  # the default everywhere


def test_live_figure_falls_back_to_output_without_figure_widget(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_figure_widget(*args: object, **kwargs: object) -> None:
        raise ImportError("Please install anywidget to use the FigureWidget class")

    monkeypatch.setattr(go, "FigureWidget", no_figure_widget)
    live = widgets.LiveFigure(go.Figure(go.Scatter(y=[1, 2])), mode="widget")
    assert live.mode == "output"
    assert live.renders == 1  # drawn once at creation: the cell is never empty


def test_live_figure_redraws_by_replacing_the_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """In a kernel the drawing replaces the Output's outputs: no ``with output:`` capture, which would make
    nbclient send on the shell channel while it waits for the cell's reply (jupyter/nbclient#312)."""
    import plotly.io as pio
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        monkeypatch.setattr(shell, "kernel", object(), raising=False)  # as in a Jupyter kernel
        monkeypatch.setattr(pio.renderers, "default", "plotly_mimetype")
        live = widgets.LiveFigure(go.Figure(go.Scatter(y=[1, 2])), mode="output")
        entered = []
        monkeypatch.setattr(type(live.view), "__enter__", lambda self: entered.append(self))
        live.replace(go.Figure(go.Scatter(y=[5, 6, 7])))
        assert entered == []
        assert [out["output_type"] for out in live.view.outputs] == ["display_data"]  # replaced, not appended
        drawn = live.view.outputs[0]["data"]["application/vnd.plotly.v1+json"]
        assert list(drawn["data"][0]["y"]) == [5, 6, 7]
    finally:
        InteractiveShell.clear_instance()


def test_figure_bundle_carries_plotly_js_once_and_draws_the_figure() -> None:
    """JupyterLab draws the JSON mimetype; Colab and the classic Notebook the HTML, whose first drawing
    brings plotly.js itself (an Output widget in Colab cannot rely on a CDN script loading first)."""
    from plotly.offline import get_plotlyjs

    figure = go.Figure(go.Scatter(y=[1, 2], name="</script><b>x"), layout={"title": "t"})
    first = widgets.figure_bundle(figure, "ftm-test", with_library=True)
    later = widgets.figure_bundle(figure, "ftm-test")
    assert list(first["application/vnd.plotly.v1+json"]["data"][0]["y"]) == [1, 2]
    assert get_plotlyjs()[-2000:] in first["text/html"] and len(later["text/html"]) < 10_000
    html = later["text/html"]
    assert '<div id="ftm-test"' in html and 'getElementById("ftm-test")' in html
    assert html.count("</script>") == 1, "the trace name must not end the drawing script"
    assert "<\\/script><b>x" in html and "Plotly.newPlot" in html


def test_live_figure_sends_plotly_js_with_its_first_drawing_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        monkeypatch.setattr(shell, "kernel", object(), raising=False)
        live = widgets.LiveFigure(go.Figure(go.Scatter(y=[1, 2])), mode="output")
        first = live.view.outputs[0]["data"]["text/html"]
        live.replace(go.Figure(go.Scatter(y=[3, 4])))
        later = live.view.outputs[0]["data"]["text/html"]
        assert len(first) > 1_000_000 > len(later)  # plotly.js is about 4.5 MB
        assert first.split("<div", 1)[1].split(">", 1)[0] == later.split("<div", 1)[1].split(">", 1)[0]
    finally:
        InteractiveShell.clear_instance()


def test_live_figure_widget_mode_when_available() -> None:
    pytest.importorskip("anywidget")
    live = widgets.LiveFigure(go.Figure(go.Scatter(y=[1, 2])), mode="widget")
    assert live.mode == "widget" and live.view is live.figure


def test_live_figure_replace_updates_in_place_or_replaces() -> None:
    live = widgets.LiveFigure(go.Figure(go.Scatter(y=[1, 2])), mode="output")
    trace = live.figure.data[0]
    live.replace(go.Figure(go.Scatter(y=[3, 4]), layout={"title": "new"}))
    assert live.figure.data[0] is trace and list(trace.y) == [3, 4]
    assert live.figure.layout.title.text == "new"
    live.replace(go.Figure([go.Bar(y=[1]), go.Bar(y=[2])]))
    assert [t.type for t in live.figure.data] == ["bar", "bar"]
    assert live.renders == 3


# notebook 01 ---------------------------------------------------------------------------------------------


def expected_tokens(d: int, columns: list[str], row: int, cls: str = "end") -> np.ndarray:
    numeric = [c for c in ("age", "hours") if c in columns]
    categorical = [c for c in ("plan", "country") if c in columns]
    encoder = TableEncoder(numeric, categorical).fit(TABLE)
    torch.manual_seed(0)
    tokenizer = FeatureTokenizer(len(numeric), encoder.cardinalities, d, cls)
    x_num, x_cat = encoder.transform(TABLE.iloc[[row]])
    with torch.no_grad():
        return tokenizer(x_num, x_cat)[0].numpy()


def test_tokenizer_explorer_follows_its_controls() -> None:
    panel = widgets.TokenizerExplorer(TABLE, ["age", "hours"], ["plan", "country"], d_token=4)
    assert z_of(panel.figure).shape == (5, 4)
    panel.d_token.value = 16
    np.testing.assert_allclose(z_of(panel.figure), expected_tokens(16, list(TABLE.columns), 0), rtol=1e-6)
    panel.row.value = 2
    np.testing.assert_allclose(z_of(panel.figure), expected_tokens(16, list(TABLE.columns), 2), rtol=1e-6)
    panel.features.value = ("hours", "country")
    assert list(panel.figure.data[0].y) == ["hours", "country", "[CLS]"]
    np.testing.assert_allclose(z_of(panel.figure), expected_tokens(16, ["hours", "country"], 2), rtol=1e-6)
    panel.cls_position.value = "start"
    assert list(panel.figure.data[0].y) == ["[CLS]", "hours", "country"]
    assert "(1, 3, 16)" in panel.shape.value


def test_tokenizer_explorer_refuses_an_empty_feature_set() -> None:
    panel = widgets.TokenizerExplorer(TABLE, ["age", "hours"], ["plan", "country"], d_token=4)
    before = z_of(panel.figure)
    panel.features.value = ()
    np.testing.assert_array_equal(z_of(panel.figure), before)
    assert "at least one feature" in panel.shape.value


# notebook 02 ---------------------------------------------------------------------------------------------


def test_impulse_explorer_delta_and_a_sliders_recompute_with_the_library() -> None:
    panel = widgets.ImpulseExplorer(delta=0.3, A=-0.5, length=40, impulses=(0, 24), reset_at=12)
    before = np.asarray(panel.figure.data[0].y)
    panel.delta.value = 1.0
    after = np.asarray(panel.figure.data[0].y)
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, impulse_response(1.0, -0.5, 40, (0, 24)))
    panel.A.value = -2.0
    np.testing.assert_allclose(panel.figure.data[0].y, impulse_response(1.0, -2.0, 40, (0, 24)))
    np.testing.assert_allclose(panel.figure.data[1].y, impulse_response(1.0, -2.0, 40, (0, 24), reset_at=12))
    assert "Ā = exp(ΔA) = 0.135" in panel.readout.value


def test_selective_trace_forgets_at_the_reset_token() -> None:
    panel = widgets.ImpulseExplorer(delta=0.2, A=-0.3, reset_at=12)
    fixed, selective = (np.asarray(t.y) for t in panel.figure.data)
    assert selective[12] < 0.1 * fixed[12]  # the large Δ wiped the state
    np.testing.assert_allclose(selective[:12], fixed[:12])


# notebook 04 ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_data():  # noqa: ANN201 - EncodedData
    return encode(load_spotify(None, n_train=400, n_valid=50, n_test=20, seed=0))


def test_training_panel_train_button_draws_both_embedders(small_data) -> None:  # noqa: ANN001
    references = {"popularity": 0.5}
    panel = widgets.TrainingPanel(
        small_data, embedder="both", d_model=8, steps=10, evaluations=2, references=references
    )
    panel.train_button.click()
    assert len(panel.runs) == 2 and [run.embedder for run in panel.runs] == ["mamba", "transformer"]
    assert isinstance(panel.runs[0].model.user_tower.ffn[-1], torch.nn.Linear)  # the library's default towers
    assert len(panel.figure.data) == 4  # loss and HR trace per run
    for run, (loss, hr) in zip(panel.runs, (panel.figure.data[:2], panel.figure.data[2:]), strict=True):
        assert list(loss.x) == run.history.steps
        np.testing.assert_allclose(loss.y[0], run.history.losses[0], rtol=1e-6)  # mean of one step
        np.testing.assert_allclose(loss.y[-1], np.mean(run.history.losses[-10:]), rtol=1e-6)
        assert list(hr.x) == run.history.eval_steps
        np.testing.assert_allclose(hr.y, [m["HR@5"] for m in run.history.eval_metrics])
    assert panel.progress.value == panel.progress.max == 20
    assert not panel.train_button.disabled and "HR@5" in panel.status.value
    assert len(panel.results()) == 2
    assert panel.figure.layout.shapes[0].y0 == 0.5  # the reference line


def test_training_panel_settings_and_clear(small_data) -> None:  # noqa: ANN001
    panel = widgets.TrainingPanel(small_data, embedder="mamba", d_model=8, steps=10, evaluations=1)
    panel.n_layers.value = 2
    panel.seed.value = 3
    panel.final_relu.value = True
    panel.train()
    assert "L=2" in panel.runs[0].label and "seed=3" in panel.runs[0].label
    assert "final ReLU" in panel.runs[0].label
    model = panel.runs[0].model
    assert len(model.user_tower.embedder.layers) == 2
    assert isinstance(model.user_tower.ffn[-1], torch.nn.ReLU)  # the paper's ReLU after the last layer
    assert len(panel.runs[0].history.steps) == 10
    panel.clear_button.click()
    assert panel.runs == [] and len(panel.figure.data) == 0 and panel.progress.value == 0


def test_training_panel_trains_the_mlp_baseline(small_data) -> None:  # noqa: ANN001
    panel = widgets.TrainingPanel(small_data, embedder="mlp", d_model=8, steps=10, evaluations=1)
    panel.train_button.click()
    (run,) = panel.runs
    assert run.embedder == "mlp" and run.label.startswith("mlp lr=") and " L=" not in run.label
    assert run.model.config.kind == "mlp"  # the baseline of ftmamba_lite.learn.baselines, no tokenizer
    assert not hasattr(run.model.user_tower, "tokenizer")
    assert len(run.history.steps) == 10 and len(panel.figure.data) == 2


# notebook 05 ---------------------------------------------------------------------------------------------


def fake_runs() -> dict:
    rng = np.random.default_rng(0)
    return {
        model: {seed: (rng.random((12, 6)), rng.random((12, 6)) < 0.4) for seed in (0, 1, 2)}
        for model in ("mamba", "transformer")
    }


def test_over_under_explorer_model_and_seed_selection() -> None:
    runs = fake_runs()
    panel = widgets.OverUnderExplorer(runs)
    expected = over_under_summary(over_under_over_seeds(runs["mamba"]))
    np.testing.assert_allclose(panel.figure.data[0].y, expected["mean"])
    panel.seeds.value = (1,)
    one = over_under_summary(over_under_over_seeds({1: runs["mamba"][1]}))
    np.testing.assert_allclose(panel.figure.data[0].y, one["mean"])
    panel.model.value = "transformer"
    two = over_under_summary(over_under_over_seeds({1: runs["transformer"][1]}))
    np.testing.assert_allclose(panel.figure.data[0].y, two["mean"])
    panel.model.value = "all"
    assert len(panel.figure.data) == 2
    before = list(panel.figure.data[0].y)
    panel.seeds.value = ()
    assert list(panel.figure.data[0].y) == before and "at least one seed" in panel.note.value


def test_over_under_explorer_from_a_stored_table_matches_the_runs() -> None:
    runs = fake_runs()
    table = pd.concat(
        [
            over_under(scores, relevant).assign(model=model, seed=seed)
            for model, per_seed in runs.items()
            for seed, (scores, relevant) in per_seed.items()
        ]
    )
    stored = widgets.OverUnderExplorer.from_table(table, item_label="message")
    live = widgets.OverUnderExplorer(runs)
    np.testing.assert_allclose(stored.figure.data[0].y, live.figure.data[0].y)
    stored.seeds.value = live.seeds.value = (2,)
    stored.model.value = live.model.value = "transformer"
    np.testing.assert_allclose(stored.figure.data[0].y, live.figure.data[0].y)
    assert stored.figure.layout.xaxis.title.text.startswith("message, ranked")
    assert live.figure.layout.xaxis.title.text.startswith("song, ranked")
    with pytest.raises(ValueError, match="lacks column"):
        widgets.OverUnderExplorer.from_table(table.drop(columns="seed"))


# what browser tests rely on ------------------------------------------------------------------------------


def test_key_controls_have_stable_descriptions_and_css_classes(small_data) -> None:  # noqa: ANN001
    training = widgets.TrainingPanel(small_data, d_model=8, steps=10)
    impulse = widgets.ImpulseExplorer()
    over_under = widgets.OverUnderExplorer(fake_runs())
    tokens = widgets.TokenizerExplorer(TABLE, ["age"], ["plan"])
    expected = [
        (training.train_button, "Train", "ftm-train"),
        (training.embedder, "Embedder", "ftm-embedder"),
        (training.progress, "Progress", "ftm-progress"),
        (impulse.delta, "delta", "ftm-delta"),
        (impulse.A, "A", "ftm-A"),
        (over_under.model, "Model", "ftm-model"),
        (over_under.seeds, "Seeds", "ftm-seeds"),
        (tokens.d_token, "d_token", "ftm-d-token"),
    ]
    for control, description, css_class in expected:
        assert control.description == description
        assert css_class in control._dom_classes


def test_panels_display_their_box() -> None:
    """Displaying a panel shows its view box, with ipywidgets 7 (Colab) and 8 alike: 7's widgets have no
    ``_repr_mimebundle_``, so the panel goes through ``_ipython_display_``."""
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.display import display
    from IPython.utils.capture import capture_output

    InteractiveShell.instance()  # display() sends its bundle to the shell, as in a kernel
    try:
        panel = widgets.ImpulseExplorer()
        with capture_output() as shown:
            display(panel)
        (output,) = shown.outputs
        assert output.data["application/vnd.jupyter.widget-view+json"]["model_id"] == panel.view.model_id
        assert isinstance(panel.figure, go.Figure) and panel.live.view in panel.view.children
    finally:
        InteractiveShell.clear_instance()


def test_training_figure_runs_use_the_right_panels() -> None:
    fig = plots.training_figure()
    loss, hr = plots.add_training_run(fig, "mamba run")
    assert fig.data[hr].xaxis == "x2" and fig.data[hr].yaxis == "y2"
    assert fig.data[loss].line.color == plots.COLORS["mamba"]
