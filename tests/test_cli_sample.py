"""`segstats sample` end to end: stdout is one JSON array in sorted path order, the same as
segstats.sampling_weights on rows counted here from the pixels (and as the contract's
formula, worked out here, on a crafted set); --output formats; --from-per-image reads no
image; option errors before anything is read."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from labelmasks import write_mask
from typer.testing import CliRunner

import segstats.api
import segstats.reduce
from segstats.cli import app
from segstats.sampling import sampling_weights
from segstats.table import ImageRow, TableWriter

runner = CliRunner()
K = 5
METHOD_OPTIONS = {
    "repeat-factor": ["--threshold", "0.3"],
    "class-aware": ["--min-pixels", "2"],
    "rare-class": ["--temperature", "0.5", "--min-pixels", "3"],
}


@pytest.fixture
def labels(tmp_path, rng):
    """Twelve 6x5 masks with skewed classes (class 4 rare) and 255 = void, in a folder."""
    folder = tmp_path / "labels"
    folder.mkdir()
    arrays = {}
    for i in range(12):
        array = rng.choice([0, 0, 0, 1, 1, 2, 3], size=(5, 6)).astype(np.uint8)
        if i % 5 == 0:
            array[0, :4] = 4
        array[rng.random(array.shape) < 0.1] = 255
        path = str(folder / f"m{11 - i:02d}.png")  # names not in the order they were made
        write_mask(path, array, "L")
        arrays[path] = array
    return folder, dict(sorted(arrays.items()))


def rows_by_hand(arrays: dict[str, np.ndarray]) -> list[ImageRow]:
    """Table rows counted here from the pixels (255 ignored), in sorted path order."""
    rows = []
    for path, array in arrays.items():
        ids = [c for c in range(K) if (array == c).any()]
        pixels = [int((array == c).sum()) for c in ids]
        rows.append(ImageRow(path, 6, 5, int((array == 255).sum()), np.array(ids), np.array(pixels)))
    return rows


def sample(*args: str, **invoke):
    return runner.invoke(app, ["sample", *args], **invoke)


@pytest.mark.parametrize("method", list(METHOD_OPTIONS))
def test_stdout_is_the_library_weights_of_the_same_images(labels, method):
    folder, arrays = labels
    options = METHOD_OPTIONS[method]
    result = sample(str(folder), "-k", str(K), "--ignore-index", "255", "--method", method, *options)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)  # one JSON array and nothing else
    assert result.stdout == json.dumps(printed) + "\n"
    keywords = {
        opt.lstrip("-").replace("-", "_"): float(v)
        for opt, v in zip(options[::2], options[1::2], strict=True)
    }
    if "min_pixels" in keywords:
        keywords["min_pixels"] = int(keywords["min_pixels"])
    expected = sampling_weights(rows_by_hand(arrays), method, **keywords)
    assert printed == expected.tolist()  # exactly: full precision, same order


def test_repeat_factor_on_a_crafted_set_against_the_formula(tmp_path):
    """Four 2x2 masks: class 0 in all four, class 1 in one (3 pixels), class 2 in two (1 pixel each).
    t = 0.5, N = 4: r_0 = max(1, sqrt(0.5 / 1)) = 1, r_1 = sqrt(0.5 / 0.25) = sqrt(2),
    r_2 = sqrt(0.5 / 0.5) = 1."""
    masks = {
        "a.png": [[0, 1], [1, 1]],
        "b.png": [[0, 0], [0, 2]],
        "c.png": [[0, 0], [2, 255]],
        "d.png": [[0, 0], [0, 0]],
    }
    for name, values in masks.items():
        write_mask(tmp_path / name, np.array(values, dtype=np.uint8), "L")
    args = [str(tmp_path), "-k", "3", "--ignore-index", "255", "--threshold", "0.5"]
    result = sample(*args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == pytest.approx([math.sqrt(2), 1.0, 1.0, 1.0], rel=1e-15)
    # t = 0.9: r_2 = sqrt(0.9 / 0.5) > 1 for b and c. --min-pixels 2 drops class 2 (1 pixel
    # each) and a's class 0 (1 pixel): n_0 = 3, r_0 = sqrt(0.9 / 0.75) for b, c and d.
    result = sample(*args[:-1], "0.9")
    assert json.loads(result.stdout) == pytest.approx(
        [math.sqrt(0.9 / 0.25), math.sqrt(1.8), math.sqrt(1.8), 1.0], rel=1e-15
    )
    result = sample(*args[:-1], "0.9", "--min-pixels", "2")
    assert json.loads(result.stdout) == pytest.approx([math.sqrt(3.6), *[math.sqrt(1.2)] * 3], rel=1e-15)


@pytest.mark.parametrize("suffix", [".json", ".csv", ".npy", ".pt"])
def test_output_files(labels, tmp_path, suffix):
    folder, arrays = labels
    out = tmp_path / f"w{suffix}"
    result = sample(str(folder), "-k", str(K), "--ignore-index", "255", "--threshold", "0.3", "-o", str(out))
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert f"wrote {out}" in result.stderr
    if suffix == ".json":
        document = json.loads(out.read_text())
        assert document == {
            "method": "repeat-factor",
            "options": {"threshold": 0.3, "min_pixels": 1},
            "num_images": 12,
            "paths": list(arrays),
            "weights": printed,
        }
    elif suffix == ".csv":
        lines = out.read_text().splitlines()
        assert lines[0] == "path,weight"
        assert [line.rsplit(",", 1)[0] for line in lines[1:]] == list(arrays)
        assert [float(line.rsplit(",", 1)[1]) for line in lines[1:]] == printed
    elif suffix == ".npy":
        array = np.load(out)
        assert array.dtype == np.float64 and array.tolist() == printed
    else:
        tensor = torch.load(out)
        assert tensor.dtype == torch.float64 and tensor.shape == (12,) and tensor.tolist() == printed


def test_files_from_gives_what_paths_give(labels, tmp_path):
    folder, arrays = labels
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(reversed(list(arrays))) + "\n")
    from_paths = sample(str(folder), "-k", str(K), "--ignore-index", "255", "-m", "class-aware")
    from_list = sample(
        "--files-from", str(listing), "-k", str(K), "--ignore-index", "255", "-m", "class-aware"
    )
    assert from_paths.exit_code == from_list.exit_code == 0, from_list.output
    assert from_list.stdout == from_paths.stdout


def write_table(path, rows):
    with TableWriter(path) as table:
        for row in rows:
            table.write(row)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_from_per_image_reads_no_image(labels, tmp_path, monkeypatch, suffix):
    folder, arrays = labels
    scanned = sample(
        str(folder), "-k", str(K), "--ignore-index", "255", "-m", "rare-class", "--min-pixels", "2"
    )
    assert scanned.exit_code == 0, scanned.output
    table = tmp_path / f"rows{suffix}"
    write_table(table, rows_by_hand(arrays))
    for path in arrays:  # the images are gone ...
        (tmp_path / path).unlink()

    def poisoned(*args, **kwargs):
        raise AssertionError("an image was read")

    # ... and anything that would read one fails the test.
    monkeypatch.setattr(segstats.api, "scan", poisoned)
    monkeypatch.setattr(segstats.api, "reduce_files", poisoned)
    monkeypatch.setattr(segstats.reduce, "reduce_files", poisoned)
    out = tmp_path / "w.json"
    result = sample("--from-per-image", str(table), "-m", "rare-class", "--min-pixels", "2", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout == scanned.stdout
    assert json.loads(out.read_text())["paths"] == list(arrays)
    assert "read 12 images from" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-m", "class-aware", "--threshold", "0.1"], "--threshold does not apply to --method class-aware"),
        (["--temperature", "0.1"], "--temperature does not apply to --method repeat-factor"),
        (["-m", "rare-class", "--temperature", "0"], "--temperature must be a finite number > 0"),
        (["--min-pixels", "0"], "--min-pixels must be an integer >= 1"),
        (["-m", "nope"], "unknown sampling method 'nope'"),
        (["-o", "OUT.yaml"], "cannot tell the output format from the suffix"),
        (["--from-per-image", "TABLE", "-k", "3"], "label and reading options apply when reading"),
        (["--from-per-image", "TABLE", "--jobs", "2"], "label and reading options apply when reading"),
        (["--shard", "0/2"], "--shard does not apply to sample"),
    ],
)
def test_bad_options_are_refused_before_reading(tmp_path, monkeypatch, args, message):
    def poisoned(*args, **kwargs):
        raise AssertionError("an image was read")

    monkeypatch.setattr(segstats.api, "scan", poisoned)
    args = [str(tmp_path / a) if a in ("OUT.yaml", "TABLE") else a for a in args]
    paths = [] if "--from-per-image" in args else ["sample_masks"]
    result = sample(*paths, *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert result.stdout == "" and not (tmp_path / "OUT.yaml").exists()


def test_from_per_image_with_paths_or_a_list_is_refused(tmp_path):
    table = tmp_path / "rows.jsonl"
    write_table(table, [ImageRow("a.png", 1, 1, 0, np.array([0]), np.array([1]))])
    for extra in (["sample_masks"], ["--files-from", str(table)]):
        result = sample("--from-per-image", str(table), *extra)
        assert result.exit_code == 2 and "not both" in result.stderr, result.output
    missing = sample("--from-per-image", str(tmp_path / "none.jsonl"))
    assert missing.exit_code == 2 and "none.jsonl" in missing.stderr


def test_no_image_meeting_min_pixels_is_refused_for_class_aware(labels):
    folder, _ = labels
    result = sample(
        str(folder), "-k", str(K), "--ignore-index", "255", "-m", "class-aware", "--min-pixels", "31"
    )
    assert result.exit_code == 2 and "no image has a class with at least 31 pixels" in result.stderr


def test_skip_errors_and_strict(labels, tmp_path):
    folder, arrays = labels
    (folder / "zz.png").write_bytes(b"not a png")
    result = sample(str(folder), "-k", str(K), "--ignore-index", "255", "--skip-errors", "--strict")
    assert result.exit_code == 1, result.output  # written, but files were skipped
    assert len(json.loads(result.stdout)) == len(arrays)
    assert sample(str(folder), "-k", str(K), "--ignore-index", "255").exit_code == 2
