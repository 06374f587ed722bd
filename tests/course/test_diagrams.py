"""Every course diagram is a valid SVG document with a title and the tensor shapes of its idea written on it;
the scan trees compute the prefixes they draw."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ftmamba_lite.course import diagrams

SVG = "{http://www.w3.org/2000/svg}"
SHAPES = {
    "feature_tokenizer": ["x_num (b, k_num)", "x_cat (b, k_cat)", "(b, l, d) per batch", "(d,)"],
    "scan_trees": ["(b, d_in, n)", "(b, d_in, l)", "(b, n, l)"],
    "mamba_block": ["(b, l, d)", "x: (b, d_in, l)", "z: (b, d_in, l)", "B, C: (b, l, n)", "A: (d_in, n)"],
    "two_towers": ["tokens (b, l, d)", "f(u): (b, 32)", "g(i): (b, 32)", "s(u, i): (b,)"],
    "mamba4rec_block": ["(b, l)", "S: (b, l, d)", "scores: (b, v)"],
    "recommender_pipeline": ["x_num (rows, k_num)", "scores: (users, v)", "(users x k rows)"],
    "figure5_procedure": [],
    "plateau_position": ["one position per (model, seed)"],
    "hm_pipeline": ["user_num (users, 1), user_cat (users, 4)", "item_cat (v, 1), v = 100"],
    "vaccine_environment": [],
    "leave_one_out_windows": ["inputs, targets: (windows, l)"],
    "causal_mask": ["mask: (l, l)"],
}


def texts(diagram: diagrams.Diagram) -> list[str]:
    root = ET.fromstring(diagram.svg)
    return ["".join(node.itertext()) for node in root.iter(f"{SVG}text")]


def test_every_diagram_is_tested() -> None:
    assert set(diagrams.DIAGRAMS) == set(SHAPES)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_diagram_is_valid_svg_with_its_shapes(name: str, tmp_path: Path) -> None:
    diagram = diagrams.DIAGRAMS[name]()
    root = ET.fromstring(diagram.svg)  # raises on malformed XML
    assert root.tag == f"{SVG}svg"
    assert float(root.get("width")) > 100 and float(root.get("height")) > 100
    assert root.find(f"{SVG}title").text == diagram.title
    written = "\n".join(texts(diagram))
    for shape in SHAPES[name]:
        assert any(shape in s for s in diagram.shapes), f"{name}: shape {shape!r} not among its shapes"
        assert shape in written, f"{name}: shape {shape!r} not written on the picture"
    assert diagram._repr_svg_() == diagram.svg
    assert ET.parse(diagram.save(tmp_path / f"{name}.svg")).getroot().tag == f"{SVG}svg"


@pytest.mark.parametrize("length", [4, 8, 16])
def test_scan_trees_end_in_the_prefixes(length: int) -> None:
    labels = texts(diagrams.scan_trees(length))
    nodes = [t for t in labels if t == "id" or t.replace(":", "").isdigit()]
    rounds = length.bit_length() - 1  # log2 l
    hillis, blelloch = nodes[: length * rounds], nodes[length * rounds :]
    assert len(blelloch) == 2 * rounds * length
    # Hillis-Steele: the last round holds the inclusive prefixes 1, 1:2, ..., 1:l
    assert hillis[-length:] == ["1"] + [f"1:{t}" for t in range(2, length + 1)]
    # Blelloch: the up-sweep's root holds the whole span, the down-sweep ends in the exclusive prefixes
    assert f"1:{length}" in blelloch
    assert blelloch[-length:] == ["id", "1"] + [f"1:{t}" for t in range(2, length)]


def test_scan_trees_reject_a_length_that_is_not_a_power_of_two() -> None:
    with pytest.raises(ValueError, match="power of two"):
        diagrams.scan_trees(6)


def test_the_pictures_say_what_their_notebooks_teach() -> None:
    written = {name: "\n".join(texts(make())) for name, make in diagrams.DIAGRAMS.items()}
    assert "difference(i) = recommended - liked" in written["figure5_procedure"]
    assert "user u gets its top n_u" in written["figure5_procedure"]
    assert "0: popularity" in written["plateau_position"] and "1: oracle" in written["plateau_position"]
    for name in ("customers.csv", "articles.csv", "transactions_train.csv", "negative (u, j, 0)"):
        assert name in written["hm_pipeline"]
    assert "0.9 if the clusters match, else 0.1" in written["vaccine_environment"]
    for name in ("interactions", "users", "items", "ranked list"):
        assert name in written["recommender_pipeline"]


@pytest.mark.parametrize("length", [4, 8, 10])
def test_leave_one_out_targets_are_the_inputs_shifted_by_one(length: int) -> None:
    labels = texts(diagrams.leave_one_out_windows(length))
    items = [t for t in labels if t.startswith("i_") and t[2:].isdigit()]
    history, window = items[:length], items[length:]
    assert history == [f"i_{t}" for t in range(1, length + 1)]
    inputs, targets = window[0::2], window[1::2]  # drawn pairwise: input above its target
    assert inputs == [f"i_{t}" for t in range(1, length - 2)]  # the last two items are held out
    assert targets == [f"i_{t}" for t in range(2, length - 1)]
    with pytest.raises(ValueError, match="at least 4"):
        diagrams.leave_one_out_windows(3)


@pytest.mark.parametrize("length", [3, 6])
def test_causal_mask_fills_the_lower_triangle_and_attention_everything(length: int) -> None:
    root = ET.fromstring(diagrams.causal_mask(length).svg)
    cells = [r for r in root.iter(f"{SVG}rect") if r.get("width") == r.get("height") and r.get("stroke")]
    assert len(cells) == 2 * length * length
    filled = [r.get("fill") != "#ffffff" for r in cells]
    causal, full = filled[: length * length], filled[length * length :]
    assert causal == [j <= t for t in range(length) for j in range(length)]
    assert all(full)
