"""segstats audit: findings as data, the table, --json, --strict, --against and JS divergence."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from labelmasks import write_mask
from typer.testing import CliRunner

import segstats
from segstats.audit import (
    IMBALANCE_RATIO_LIMIT,
    INFO,
    WARNING,
    audit,
    compare_splits,
    jensen_shannon,
)
from segstats.cli import app
from segstats.report import share_bar

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
runner = CliRunner()
EVERY_FINDING = {
    "absent-class",
    "rare-class",
    "dominant-class",
    "imbalance-ratio",
    "unknown-values",
    "unreadable-files",
    "mixed-sizes",
    "mixed-modes",
}


@pytest.fixture
def crafted(tmp_path):
    """A dataset built to trigger every finding.

    K = 5 with 255 void. 120 good images of 10x10: class 0 fills most pixels
    (dominant), class 1 a row, class 2 a single pixel in every image (ratio > 100),
    class 3 in one image only (rare: 1/120 < 1%), class 4 never (absent). One
    image is 12x10 (mixed sizes), half are P (mixed modes), one file holds the
    unknown value 9, one is not a PNG at all.
    """
    folder = tmp_path / "train"
    folder.mkdir()
    for index in range(120):
        array = np.zeros((12 if index == 0 else 10, 10), dtype=np.int64)
        array[0, :] = 1
        array[1, 0] = 2
        array[2, 0] = 255
        if index == 7:
            array[5, 5] = 3
        write_mask(folder / f"img{index:03d}.png", array, "P" if index % 2 else "L")
    bad = np.zeros((10, 10), dtype=np.int64)
    bad[3, 3] = 9
    write_mask(folder / "unknown.png", bad, "L")
    (folder / "broken.png").write_bytes(b"not an image")
    return folder


def codes(report):
    return {finding.code for finding in report.findings}


def test_every_finding_on_the_crafted_dataset(crafted):
    stats = segstats.scan(crafted, num_classes=5, ignore_index=255, skip_errors=True, jobs=1)
    report = audit(stats)
    assert codes(report) == EVERY_FINDING
    # mixed sizes are a note (VOC, ADE20K are always mixed); every other finding here warns
    assert {f.code: f.severity for f in report.findings} == {
        code: INFO if code == "mixed-sizes" else WARNING for code in EVERY_FINDING
    }
    by_code = {f.code: f for f in report.findings}
    assert by_code["absent-class"].classes == (4,)
    assert by_code["rare-class"].classes == (3,)
    assert by_code["rare-class"].value == pytest.approx(1 / 120)
    assert by_code["dominant-class"].classes == (0,)
    assert "unknown label values 9" in by_code["unknown-values"].message
    assert [f["path"] for f in by_code["unknown-values"].files] == [str(crafted / "unknown.png")]
    assert [f["path"] for f in by_code["unreadable-files"].files] == [str(crafted / "broken.png")]
    assert by_code["mixed-sizes"].value == 2 and by_code["mixed-modes"].value == 2
    # the counts are those of the 120 good files only
    assert report.num_images == 120
    pixels = {row.class_id: row.pixels for row in report.rows}
    assert pixels == {0: 120 * 100 + 20 - 120 * 12 - 1, 1: 1200, 2: 120, 3: 1, 4: 0}
    ratio = by_code["imbalance-ratio"]
    assert ratio.classes == (0, 3) and ratio.value == pytest.approx(pixels[0] / pixels[3])


def test_rows_hold_the_exact_numbers(crafted):
    stats = segstats.scan(crafted, num_classes=5, ignore_index=255, skip_errors=True, jobs=1)
    stats.class_names = ["bg", "road", "pole", "bike", "tree"]
    report = audit(stats)
    weights = segstats.compute_weights(stats)
    labelled = int(stats.pixel_counts.sum())
    for row in report.rows:
        c = row.class_id
        assert row.name == stats.class_names[c]
        assert row.pixels == stats.pixel_counts[c] and row.images == stats.image_counts[c]
        assert row.pixel_share == stats.pixel_counts[c] / labelled
        assert row.image_share == stats.image_counts[c] / 120
        assert row.weight == weights[c]
    assert report.rows[4].weight == 0.0


def test_absent_classes_are_one_finding_and_void_is_suspected(tmp_path):
    array = np.zeros((4, 4), dtype=np.int64)
    array[0, 0] = 255  # forgot --ignore-index 255: K is inferred as 256
    array[1] = 3
    write_mask(tmp_path / "a.png", array, "L")
    report = audit(segstats.scan(tmp_path))
    by_code = {f.code: f for f in report.findings}
    absent = by_code["absent-class"]
    assert absent.classes == (1, 2, *range(4, 255))
    assert absent.message.startswith("253 classes are never seen (0 pixels; weight 0.0): 1, 2, 4, 5,")
    assert absent.message.endswith(", and 243 more")
    assert "pass --ignore-index 255" in by_code["void-as-class"].message
    report = audit(segstats.scan(tmp_path, ignore_index=255))
    assert {f.code for f in report.findings} == {"absent-class", "dominant-class", "imbalance-ratio"}
    assert report.num_classes == 4


def test_a_balanced_dataset_has_no_warnings(tmp_path):
    for index in range(4):
        array = np.zeros((4, 4), dtype=np.int64)
        array[:2] = 1
        write_mask(tmp_path / f"{index}.png", array, "L")
    report = audit(segstats.scan(tmp_path, num_classes=2))
    assert report.warnings == []
    assert [(f.code, f.severity) for f in report.findings] == [("imbalance-ratio", INFO)]
    assert report.findings[0].value == 1.0


def test_imbalance_ratio_is_a_note_up_to_the_limit(tmp_path):
    array = np.zeros((1, 101), dtype=np.int64)
    array[0, :1] = 1  # 100 : 1, exactly the limit
    write_mask(tmp_path / "a.png", array, "L")
    findings = {f.code: f for f in audit(segstats.scan(tmp_path, num_classes=2)).findings}
    assert findings["imbalance-ratio"].value == IMBALANCE_RATIO_LIMIT
    assert findings["imbalance-ratio"].severity == INFO


# ----------------------------------------------------------- Jensen-Shannon
def reference_js(p, q):
    """JS divergence in bits, term by term in plain Python."""
    sp, sq = sum(p), sum(q)
    p = [x / sp for x in p]
    q = [x / sq for x in q]
    total = 0.0
    for a, b in zip(p, q, strict=True):
        m = (a + b) / 2
        if a > 0:
            total += 0.5 * a * math.log2(a / m)
        if b > 0:
            total += 0.5 * b * math.log2(b / m)
    return total


@pytest.mark.parametrize(
    "p,q",
    [
        ([10, 20, 70], [10, 20, 70]),
        ([10, 20, 70], [30, 30, 40]),
        ([1, 0, 0], [0, 0, 5]),
        ([5, 0, 3, 1], [4, 4, 0, 1]),
        ([3_139_143_220, 832_395_811, 222_764_968], [3_000_000_000, 900_000_000, 250_000_000]),
    ],
)
def test_jensen_shannon_against_an_independent_computation(p, q):
    value = jensen_shannon(p, q)
    assert value == pytest.approx(reference_js(p, q), abs=1e-12)
    assert 0.0 <= value <= 1.0
    spatial = pytest.importorskip("scipy.spatial.distance")
    assert value == pytest.approx(spatial.jensenshannon(p, q, base=2) ** 2, abs=1e-9)


def test_jensen_shannon_extremes():
    assert jensen_shannon([1, 2, 3], [2, 4, 6]) == 0.0
    assert jensen_shannon([1, 0], [0, 1]) == 1.0


def test_compare_splits(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "val").mkdir()
    write_mask(tmp_path / "train" / "a.png", np.array([[0, 0, 0, 1, 2, 2]]), "L")
    write_mask(tmp_path / "val" / "a.png", np.array([[0, 1, 1, 3]]), "L")
    train = segstats.scan(tmp_path / "train")  # K inferred: 3
    val = segstats.scan(tmp_path / "val")  # K inferred: 4
    comparison = compare_splits(train, val, "train", "val")
    assert [r.class_id for r in comparison.rows] == [0, 1, 2, 3]
    assert [r.share for r in comparison.rows] == [0.5, 1 / 6, 2 / 6, 0.0]
    assert [r.other_share for r in comparison.rows] == [0.25, 0.5, 0.0, 0.25]
    assert comparison.only_in_first == [2] and comparison.only_in_second == [3]
    assert comparison.js_divergence == pytest.approx(reference_js([3, 1, 2, 0], [1, 2, 0, 1]), abs=1e-12)
    train.class_names = ["bg", "road", "car"]  # names for 3 classes, val has 4
    report = audit(train, against=val, label="train", against_label="val")
    assert [row.name for row in report.rows] == ["bg", "road", "car", None]
    missing = [f.message for f in report.findings if f.code == "missing-from-split"]
    assert missing == [
        "class 2 (car) of train is missing from val",
        "class 3 of val is missing from train",
    ]
    assert report.num_classes == 4 and report.rows[3].pixels == 0


def test_share_bar():
    assert share_bar(1.0, 4) == "████"
    assert share_bar(0.5, 4) == "██"
    assert share_bar(1e-9, 4) == "▏"
    assert share_bar(0.0, 4) == ""
    assert share_bar(0.5 + 1 / 8, 4) == "██▌"
    assert share_bar(0.5 + 1 / 16, 4) == "██▎"


# -------------------------------------------------------------------- CLI
def run_cli(*args):
    env = dict(os.environ, PYTHONPATH=ROOT, NO_COLOR="1")
    return subprocess.run(
        [sys.executable, "-m", "segstats", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_cli_json_is_one_valid_document_on_stdout(crafted, tmp_path):
    names = tmp_path / "names.txt"
    names.write_text("bg\nroad\npole\nbike\ntree\n")
    result = run_cli("audit", crafted, "--ignore-index", "255", "--class-names", names, "--json", "-j", "1")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert {f["code"] for f in document["findings"]} == EVERY_FINDING
    assert [c["name"] for c in document["classes"]] == ["bg", "road", "pole", "bike", "tree"]
    assert document["num_classes"] == 5 and document["num_images"] == 120
    assert document["weights"] == {
        "method": "median-frequency",
        "options": {"normalize": "none", "clip": None},
    }
    assert document["against"] is None
    assert {e["path"] for e in document["errors"]} == {
        str(crafted / "broken.png"),
        str(crafted / "unknown.png"),
    }
    stats = segstats.scan(crafted, num_classes=5, ignore_index=255, skip_errors=True, jobs=1)
    assert [c["pixels"] for c in document["classes"]] == stats.pixel_counts.tolist()
    assert "scanned 120 images" in result.stderr and "Traceback" not in result.stderr


def test_cli_table_and_warning_lines(crafted):
    # --skip-errors is accepted (audit always skips bad files and reports them)
    result = runner.invoke(app, ["audit", str(crafted), "-k", "5", "--ignore-index", "255", "--skip-errors"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    for header in ("id", "name", "pixels", "% pixels", "images", "% images", "weight", "share"):
        assert header in out
    assert "10,579" in out  # class 0 pixels
    warnings = [line for line in out.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == len(EVERY_FINDING) - 1  # mixed sizes: a note
    assert "note: images have 2 different sizes: 10x10 (119), 10x12 (1)" in out.splitlines()
    assert "warning: class 4 is never seen (0 pixels; weight 0.0)" in warnings
    assert any("class 3 is in 1 of 120 images" in w for w in warnings)
    assert any("broken.png" in w and "could not be read" in w for w in warnings)
    # bad files are findings on stdout, not a stop
    assert "error:" not in result.stderr and "skipped with errors" in result.stderr


def test_cli_strict_exit_codes(crafted, tmp_path):
    assert runner.invoke(app, ["audit", str(crafted), "-k", "5", "--ignore-index", "255"]).exit_code == 0
    strict = runner.invoke(app, ["audit", str(crafted), "-k", "5", "--ignore-index", "255", "--strict"])
    assert strict.exit_code == 1
    strict_json = run_cli("audit", crafted, "-k", "5", "--ignore-index", "255", "--strict", "--json")
    assert strict_json.returncode == 1 and json.loads(strict_json.stdout)["findings"]
    clean = tmp_path / "clean"
    clean.mkdir()
    for index in range(3):
        write_mask(clean / f"{index}.png", np.array([[0, 1], [1, 0]]), "L")
    result = runner.invoke(app, ["audit", str(clean), "-k", "2", "--strict"])
    assert result.exit_code == 0, result.output
    assert "no warnings" in result.stdout


def test_cli_against(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "val").mkdir()
    write_mask(tmp_path / "train" / "a.png", np.array([[0, 0, 0, 1, 2, 2]]), "L")
    write_mask(tmp_path / "val" / "a.png", np.array([[0, 1, 1, 3]]), "L")
    train, val = str(tmp_path / "train"), str(tmp_path / "val")
    result = runner.invoke(app, ["audit", train, "--against", val, "--json"])
    assert result.exit_code == 0, result.output
    against = json.loads(result.stdout)["against"]
    assert against["js_divergence"] == pytest.approx(reference_js([3, 1, 2, 0], [1, 2, 0, 1]), abs=1e-12)
    assert against["js_divergence_log_base"] == 2
    assert against["only_in_first"] == [2] and against["only_in_second"] == [3]
    assert [c["other_share"] for c in against["classes"]] == [0.25, 0.5, 0.0, 0.25]
    table = runner.invoke(app, ["audit", train, "--against", val])
    assert "Jensen-Shannon divergence" in table.stdout and "log base 2" in table.stdout
    assert f"warning: class 3 of {val} is missing from {train}" in table.stdout


def test_cli_audit_colour_masks_and_map(tmp_path):
    from PIL import Image

    rgb = np.zeros((4, 4, 3), dtype=np.uint8)
    rgb[:2] = (128, 64, 128)
    Image.fromarray(rgb, "RGB").save(tmp_path / "a.png")
    colors = tmp_path / "colors.json"
    colors.write_text('{"128,64,128": 1, "0,0,0": 0}')
    swap = tmp_path / "map.json"
    swap.write_text('{"0": 1, "1": 0}')
    result = runner.invoke(
        app,
        ["audit", str(tmp_path / "a.png"), "-k", "2", "--colors", str(colors), "--map", str(swap), "--json"],
    )
    assert result.exit_code == 0, result.output
    assert [c["pixels"] for c in json.loads(result.stdout)["classes"]] == [8, 8]


def test_cli_audit_usage_errors(tmp_path):
    result = runner.invoke(app, ["audit"])
    assert result.exit_code == 2 and "no label PATH" in result.stderr
    result = runner.invoke(app, ["audit", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "no such file" in result.stderr


def test_bad_files_of_the_against_split_are_findings(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "val").mkdir()
    write_mask(tmp_path / "train" / "a.png", np.array([[0, 1]]), "L")
    write_mask(tmp_path / "val" / "a.png", np.array([[0, 1]]), "L")
    write_mask(tmp_path / "val" / "b.png", np.array([[0, 5]]), "L")
    (tmp_path / "val" / "c.png").write_bytes(b"")
    train = segstats.scan(tmp_path / "train", num_classes=2)
    val = segstats.scan(tmp_path / "val", num_classes=2, skip_errors=True)
    report = audit(train, against=val, against_label="val")
    messages = {f.code: f.message for f in report.findings}
    assert messages["unknown-values"].startswith("1 file of the val holds unknown label values")
    assert messages["unreadable-files"].startswith("1 file of the val could not be read")
    assert report.comparison is not None and report.comparison.js_divergence == 0.0
