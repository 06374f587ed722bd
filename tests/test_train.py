import math

import numpy as np
import pytest
import torch

from ftmamba_lite.datasets import load_spotify
from ftmamba_lite.encoding import encode
from ftmamba_lite.learn.checkpoints import load_checkpoint, save_checkpoint
from ftmamba_lite.learn.engine import Callback, fit
from ftmamba_lite.learn.registry import build_model
from ftmamba_lite.learn.scoring import score_test_users


@pytest.fixture(scope="module")
def small():
    data = load_spotify(None, n_train=8_000, n_valid=200, n_test=100, seed=0)
    return data, encode(data)


def tiny(enc, kind="mamba", seed=0):
    extra = {"d_state": 4, "d_conv": 4} if kind == "mamba" else {"dim_feedforward": 64}
    return build_model(enc, kind, d_model=16, n_layers=1, seed=seed, **extra)


def random_p5(relevant: np.ndarray) -> float:
    """Expected P@5 of a uniformly random ranking: the share of relevant items."""
    return float(relevant.mean())


# Tokenized towers sit on a plateau (scores ~ the mean target) before the user signal takes off; the Mamba
# towers need about a thousand steps to leave it at this tiny size.
@pytest.mark.parametrize("kind, steps", [("mamba", 1500), ("transformer", 1500)])
def test_short_run_learns_loss_falls_and_beats_random(small, kind, steps):
    data, enc = small
    model = tiny(enc, kind)
    history = fit(model, enc, steps=steps, batch_size=64, lr=3e-3, eval_every=steps // 2, progress=False)
    first, last = np.mean(history.losses[:40]), np.mean(history.losses[-40:])
    assert last < 0.8 * first
    assert history.eval_steps == [steps // 2, steps]
    assert history.final_metrics["P@5"] > random_p5(data.test_relevant) + 0.2
    assert not math.isnan(history.valid_losses[-1])


def test_same_seed_same_run_and_different_seed_differs(small):
    _, enc = small
    runs = []
    for seed in (0, 0, 1):
        model = tiny(enc, seed=seed)
        h = fit(model, enc, steps=30, lr=1e-3, seed=seed, eval_every=None, progress=False)
        runs.append((h.losses, score_test_users(model, enc)))
    assert runs[0][0] == runs[1][0]
    assert torch.equal(runs[0][1], runs[1][1])
    assert runs[0][0] != runs[2][0]


def test_callbacks_see_every_step_and_can_stop(small):
    _, enc = small

    class Recorder(Callback):
        def __init__(self):
            self.events = []

        def on_train_begin(self, history, total_steps):
            self.events.append(("begin", total_steps))

        def on_step(self, history, step, loss):
            self.events.append(("step", step))
            if step == 7:
                self.stop = True

        def on_eval(self, history, step, metrics):
            self.events.append(("eval", step, "HR@1" in metrics))

        def on_train_end(self, history):
            self.events.append(("end", len(history.losses)))

    rec = Recorder()
    history = fit(tiny(enc), enc, steps=50, eval_every=5, callbacks=[rec], progress=False)
    assert rec.events[0] == ("begin", 50)
    assert [e[1] for e in rec.events if e[0] == "step"] == list(range(1, 8))
    assert [e[1] for e in rec.events if e[0] == "eval"] == [5, 7]
    assert rec.events[-1] == ("end", 7)
    assert history.stopped_early


def test_checkpoint_round_trips_exactly(small, tmp_path):
    _, enc = small
    model = tiny(enc, "transformer")
    fit(model, enc, steps=5, progress=False, eval_every=None)
    save_checkpoint(model, tmp_path / "model.pt")
    restored = load_checkpoint(tmp_path / "model.pt")
    for (name, a), (_, b) in zip(model.state_dict().items(), restored.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    assert torch.equal(score_test_users(model, enc), score_test_users(restored, enc))


@pytest.mark.parametrize(
    "kwargs, message", [({"steps": 0}, "steps"), ({"lr": 0.0}, "lr"), ({"batch_size": 0}, "batch_size")]
)
def test_bad_settings_raise(small, kwargs, message):
    _, enc = small
    with pytest.raises(ValueError, match=message):
        fit(tiny(enc), enc, progress=False, **kwargs)


def test_history_frames(small):
    _, enc = small
    h = fit(tiny(enc), enc, steps=10, eval_every=5, progress=False)
    assert list(h.loss_frame().columns) == ["step", "loss"] and len(h.loss_frame()) == 10
    frame = h.eval_frame()
    assert list(frame["step"]) == [5, 10] and {"valid_loss", "HR@5", "P@10"} <= set(frame.columns)
    assert h.seconds > 0
