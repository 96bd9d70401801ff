"""segstats.plot and `segstats audit --plot`: valid files, sizes that grow with K, lazy matplotlib."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from labelmasks import write_mask
from PIL import Image
from typer.testing import CliRunner

from segstats.audit import ClassRow
from segstats.cli import app
from segstats.errors import SegstatsError, UsageError
from segstats.plot import DPI, FIGURE_WIDTH, figure_height, plot_format, render_imbalance

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(ROOT, "sample_masks")
runner = CliRunner()


def rows(k: int, absent: tuple[int, ...] = ()) -> list[ClassRow]:
    counts = [0 if c in absent else 10 ** (c % 6) for c in range(k)]
    total = sum(counts)
    return [
        ClassRow(
            c,
            f"class {c}",
            n,
            n / total,
            1 if n else 0,
            0.5 if n else 0.0,
            n,
            0.0 if not n else 1.0 / (c + 1),
        )
        for c, n in enumerate(counts)
    ]


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        image.verify()
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return image.size


def test_png_size_grows_with_the_number_of_classes():
    small = png_size(render_imbalance(rows(3)))
    nineteen = png_size(render_imbalance(rows(19)))
    many = png_size(render_imbalance(rows(150, absent=(7, 149))))
    assert small == (round(FIGURE_WIDTH * DPI), round(figure_height(3) * DPI))
    assert many == (round(FIGURE_WIDTH * DPI), round(figure_height(150) * DPI))
    assert small[1] <= nineteen[1] < many[1]
    assert many[1] >= 150 * 15  # at least 15 pixels a class row: the names stay readable


def test_svg_and_pdf():
    svg = render_imbalance(rows(19), "svg")
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    text = svg.decode()
    assert "class 18" in text  # the names are on the axis (SVG keeps text as text)
    pdf = render_imbalance(rows(19), "pdf")
    assert pdf.startswith(b"%PDF") and b"%%EOF" in pdf[-64:]
    assert render_imbalance(rows(19), "svg") == svg  # no date inside: the same input, the same bytes


def test_two_splits_and_a_mismatch():
    svg = render_imbalance(rows(5), "svg", other_rows=rows(5, absent=(2,)), labels=("train", "val")).decode()
    assert "train" in svg and "val" in svg and "absent" in svg
    with pytest.raises(ValueError, match="every class"):
        render_imbalance(rows(5), other_rows=rows(4))


def test_plot_format():
    assert [plot_format(f"x{s}") for s in (".png", ".SVG", ".pdf")] == ["png", "svg", "pdf"]
    with pytest.raises(UsageError, match="png, .svg or .pdf"):
        plot_format("x.jpg")


@pytest.mark.parametrize("suffix", ["png", "svg", "pdf"])
def test_cli_writes_the_file(tmp_path, suffix):
    out = tmp_path / f"imbalance.{suffix}"
    result = runner.invoke(app, ["audit", SAMPLES, "-k", "3", "--plot", str(out)])
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    if suffix == "png":
        width, height = png_size(data)
        assert (width, height) == (round(FIGURE_WIDTH * DPI), round(figure_height(3) * DPI))
    elif suffix == "svg":
        assert ET.fromstring(data).tag.endswith("svg")
    else:
        assert data.startswith(b"%PDF")
    assert f"wrote {out}" in result.output
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_cli_against_and_limit_draw_the_rows_shown(tmp_path):
    train, val = tmp_path / "train", tmp_path / "val"
    train.mkdir()
    val.mkdir()
    rng = np.random.default_rng(3)
    for i in range(4):
        write_mask(train / f"{i}.png", rng.integers(0, 6, (16, 16)), "L")
        write_mask(val / f"{i}.png", rng.integers(0, 5, (16, 16)), "L")
    out = tmp_path / "p.svg"
    args = ["audit", str(train), "-k", "6", "--against", str(val), "--sort", "share", "--limit", "4"]
    result = runner.invoke(app, [*args, "--plot", str(out)])
    assert result.exit_code == 0, result.output
    svg = out.read_text()
    assert str(train)[-40:] in svg and str(val)[-40:] in svg  # the legend names both splits
    four = png_size(render_imbalance(rows(4)))
    png = tmp_path / "p.png"
    assert runner.invoke(app, [*args, "--plot", str(png)]).exit_code == 0
    assert png_size(png.read_bytes()) == four  # 4 rows drawn, not 6


def test_bad_suffix_is_refused_before_scanning(tmp_path):
    result = runner.invoke(app, ["audit", str(tmp_path / "nothing-here"), "--plot", "x.gif"])
    assert result.exit_code == 2
    assert "--plot writes .png, .svg or .pdf" in result.output
    assert "no label files" not in result.output


def test_missing_matplotlib_names_the_extra(tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    out = tmp_path / "p.png"
    result = runner.invoke(app, ["audit", SAMPLES, "-k", "3", "--plot", str(out)])
    assert result.exit_code == 2
    assert "pip install 'segstats[plot]'" in result.output
    assert not out.exists()
    with pytest.raises(SegstatsError, match=r"segstats\[plot\]"):
        render_imbalance(rows(3))


CHECK_IMPORTS = """
import sys
from segstats.cli import main
sys.argv = ["segstats", *sys.argv[1:]]
try:
    main()
except SystemExit as exit:
    code = exit.code
print("matplotlib" in sys.modules, code)
"""


@pytest.mark.parametrize("plot", [False, True])
def test_matplotlib_is_imported_only_for_plot(tmp_path, plot):
    args = ["audit", SAMPLES, "-k", "3", "-q"] + (["--plot", str(tmp_path / "p.png")] if plot else [])
    result = subprocess.run(
        [sys.executable, "-c", CHECK_IMPORTS, *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=ROOT),
        timeout=120,
    )
    assert result.stdout.splitlines()[-1] == f"{plot} 0", result.stderr
