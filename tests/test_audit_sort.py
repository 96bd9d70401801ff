"""`segstats audit` at many classes: --sort, --limit and the summary line (audit.py, report.py)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from labelmasks import write_mask
from typer.testing import CliRunner

from segstats.audit import ClassRow, limit_rows, sort_rows, summarize
from segstats.cli import app
from segstats.errors import UsageError

runner = CliRunner()


def row(class_id: int, pixels: int, images: int) -> ClassRow:
    return ClassRow(class_id, None, pixels, 0.0, images, 0.0, 0, 0.0)


ROWS = [row(0, 50, 3), row(1, 7, 9), row(2, 0, 0), row(3, 50, 9), row(4, 7, 1)]


def ids(rows):
    return [r.class_id for r in rows]


def test_sort_orders():
    assert ids(sort_rows(ROWS, "id")) == [0, 1, 2, 3, 4]
    assert ids(sort_rows(ROWS, "share")) == [0, 3, 1, 4, 2]  # pixels desc, ties by id
    assert ids(sort_rows(ROWS, "images")) == [3, 1, 0, 4, 2]  # images desc, then pixels desc, then id
    assert ids(sort_rows(list(reversed(ROWS)), "share")) == [0, 3, 1, 4, 2]  # input order does not matter
    with pytest.raises(UsageError, match="--sort must be one of id, share, images"):
        sort_rows(ROWS, "name")


@pytest.mark.parametrize(
    ("limit", "shown", "hidden"),
    [
        (None, [0, 1, 2, 3, 4], 0),
        (0, [0, 1, 2, 3, 4], 0),
        (2, [0, 1], 3),
        (-2, [3, 4], 3),
        (9, [0, 1, 2, 3, 4], 0),
        (-9, [0, 1, 2, 3, 4], 0),
    ],
)
def test_limit(limit, shown, hidden):
    rows, left_out = limit_rows(ROWS, limit)
    assert ids(rows) == shown and left_out == hidden


def test_summary():
    summary = summarize(ROWS, 5)
    assert summary.classes_present == 4 and summary.num_classes == 5
    assert summary.imbalance_ratio == 50 / 7
    assert summary.rarest.class_id == 1  # 7 pixels, lowest id among the ties
    empty = summarize([row(0, 0, 0)], 1)
    assert empty.imbalance_ratio is None and empty.rarest is None and empty.classes_present == 0
    one = summarize([row(0, 5, 1), row(1, 0, 0)], 2)
    assert one.imbalance_ratio is None and one.rarest.class_id == 0


@pytest.fixture
def many(tmp_path):
    """40 classes with pixel counts 40..1 (class c has 40 - c pixels), class 39 absent, in 3 images."""
    folder = tmp_path / "many"
    folder.mkdir()
    values = np.concatenate([np.full(40 - c, c) for c in range(39)])
    values = np.concatenate([values, np.full(20 * 50 - values.size, 255)])
    for i in range(3):
        write_mask(folder / f"{i}.png", values.reshape(20, 50), "L")
    return folder


def table_ids(output: str) -> list[int]:
    """Class ids of the table rows (indented lines starting with a number)."""
    return [int(m.group(1)) for m in re.finditer(r"^ +(\d+) ", output, re.M)]


def test_cli_sort_limit_and_summary(many):
    base = ["audit", str(many), "-k", "40", "--ignore-index", "255"]
    result = runner.invoke(app, [*base, "--sort", "share", "--limit", "5"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "39 of 40 classes present; imbalance ratio 20.0 (largest/smallest pixel share); "
        f"rarest: class 38, {100 * 2 / sum(range(2, 41)):.3g}% of the pixels, in 3 of 3 images"
    )  # class c has 40 - c pixels an image: ratio 40 / 2, rarest class 38
    assert table_ids(result.stdout)[:5] == [0, 1, 2, 3, 4]
    assert "... 35 more classes (--limit 0 shows all)" in result.output
    result = runner.invoke(app, [*base, "--sort", "share", "--limit", "-3"])
    assert table_ids(result.stdout)[:3] == [37, 38, 39]
    assert "... 37 more classes" in result.output
    result = runner.invoke(app, [*base, "--limit", "0"])
    assert "more class" not in result.output and len(table_ids(result.stdout)) == 40


def test_cli_json_sorted_complete_and_summarised(many):
    result = runner.invoke(
        app,
        [
            "audit",
            str(many),
            "-k",
            "40",
            "--ignore-index",
            "255",
            "--json",
            "--sort",
            "share",
            "--limit",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [c["class_id"] for c in document["classes"]] == list(range(40))  # all of them, by share
    assert document["summary"] == {
        "num_classes": 40,
        "classes_present": 39,
        "imbalance_ratio": 40 / 2,
        "rarest_class": 38,
    }


def test_cli_bad_sort_is_refused_before_scanning(tmp_path):
    result = runner.invoke(app, ["audit", str(tmp_path / "missing"), "--sort", "size"])
    assert result.exit_code == 2
    assert "--sort must be one of id, share, images" in result.output
