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
    "mamba_block": ["(b, l, d)", "x: (b, d_in, l)", "z: (b, d_in, l)", "B, C: (b, n, l)", "A: (d_in, n)"],
    "two_towers": ["tokens (b, l, d)", "f(u): (b, 32)", "g(i): (b, 32)", "s(u, i): (b,)"],
    "mamba4rec_block": ["(b, l)", "S: (b, l, d)", "scores: (b, v)"],
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
