"""--files-from / --root / --template through the CLI, on every command that reads labels:
VOC's ImageSets lists, lists added to PATHs, stdin (CliRunner and a real pipe), 2,700
listed files in one call, and list errors naming the list file and the line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from labelmasks import brute_force, write_mask
from typer.testing import CliRunner

from segstats.cli import app

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
runner = CliRunner()
K = 4
INTEGER_FIELDS = (
    "num_images",
    "total_pixels",
    "ignored_pixels",
    "pixel_counts",
    "image_counts",
    "image_pixels",
)
# Every command that reads label files, and how to make it print or write a document.
READERS = ("scan", "weights", "audit", "sample")


@pytest.fixture
def voc(tmp_path, rng):
    """VOC2012/SegmentationClass/<stem>.png (255 = void) and ImageSets/Segmentation/{train,val}.txt."""
    root = tmp_path / "VOC2012"
    (root / "SegmentationClass").mkdir(parents=True)
    (root / "ImageSets" / "Segmentation").mkdir(parents=True)
    stems = [f"2007_{i:06d}" for i in range(12)]
    arrays = {}
    for stem in stems:
        array = rng.integers(0, K, size=(5, 7)).astype(np.uint8)
        array[rng.random(array.shape) < 0.2] = 255
        write_mask(root / "SegmentationClass" / f"{stem}.png", array, "P")
        arrays[stem] = array
    train = stems[::2]
    (root / "ImageSets" / "Segmentation" / "train.txt").write_text("\n".join(reversed(train)) + "\n")
    (root / "ImageSets" / "Segmentation" / "val.txt").write_text("\n".join(stems[1::2]) + "\n")
    return root, arrays, train


def voc_args(root) -> list[str]:
    listing = str(root / "ImageSets" / "Segmentation" / "train.txt")
    return ["--files-from", listing, "--root", str(root), "--template", "SegmentationClass/{}.png"]


def scanned(args: list[str], tmp_path, **invoke) -> dict:
    out = tmp_path / "stats.json"
    result = runner.invoke(
        app, ["scan", *args, "-k", str(K), "--ignore-index", "255", "-o", str(out)], **invoke
    )
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text())


def assert_counts(document: dict, arrays: list[np.ndarray]) -> None:
    expected = brute_force(arrays, K, 255)
    for field in INTEGER_FIELDS:
        assert document[field] == getattr(expected, field), field


def test_voc_image_set_with_root_and_template(voc, tmp_path):
    root, arrays, train = voc
    document = scanned(voc_args(root), tmp_path)
    assert_counts(document, [arrays[s] for s in train])


def test_every_reading_command_takes_the_list(voc, tmp_path):
    """Each command gives, from the list, what it gives from the same files as PATHs."""
    root, _, train = voc
    files = [str(root / "SegmentationClass" / f"{s}.png") for s in train]
    for command in READERS:
        extra = ["-o", str(tmp_path / f"{command}.json")] if command == "scan" else []
        if command == "audit":
            extra = ["--json"]
        common = [command, "-k", str(K), "--ignore-index", "255", *extra]
        from_list = runner.invoke(app, [*common, *voc_args(root)])
        from_paths = runner.invoke(app, [*common, *files])
        assert from_list.exit_code == from_paths.exit_code == 0, (command, from_list.output)
        if command == "audit":  # the audit names its input (the list file, or the PATHs)
            listed, named = json.loads(from_list.stdout), json.loads(from_paths.stdout)
            assert listed["num_images"] == named["num_images"] == len(train)
            assert listed["classes"] == named["classes"]
        else:
            assert from_list.stdout == from_paths.stdout, command


def test_list_adds_to_paths_and_a_file_named_twice_is_read_once(voc, tmp_path):
    root, arrays, train = voc
    # A PATH naming two files of the list (spelt differently) and one file not in it.
    first, second = train[0], train[1]
    extra = next(s for s in arrays if s not in train)
    seg = root / "SegmentationClass"
    paths = [
        str(seg / f"{first}.png"),
        os.path.join(str(seg), ".", f"{second}.png"),
        str(seg / f"{extra}.png"),
    ]
    document = scanned([*paths, *voc_args(root)], tmp_path)
    assert_counts(document, [arrays[s] for s in sorted({*train, extra})])


def test_stdin_through_the_cli_runner(voc, tmp_path):
    root, arrays, train = voc
    stems = "\n".join(train) + "\n"
    args = ["--files-from", "-", "--root", str(root), "--template", "SegmentationClass/{}.png"]
    assert_counts(scanned(args, tmp_path, input=stems), [arrays[s] for s in train])


def test_2700_listed_files_from_a_pipe_in_one_call(tmp_path):
    """The xargs case: 2,700 paths (past what one command line may hold on some systems),
    piped into one `segstats scan --files-from -` run as a real process."""
    seg = tmp_path / "SegmentationClass"
    seg.mkdir()
    arrays = []
    for i in range(2700):
        array = np.array([[i % K, (i // K) % K], [255, i % 3]], dtype=np.uint8)
        write_mask(seg / f"{i:05d}.png", array, "L")
        arrays.append(array)
    stems = "".join(f"{i:05d}\n" for i in reversed(range(2700)))  # any order: read sorted
    out = tmp_path / "stats.json"
    args = ["scan", "--files-from", "-", "--root", str(tmp_path), "--template", "SegmentationClass/{}.png"]
    process = subprocess.run(
        [sys.executable, "-m", "segstats", *args, "-k", str(K), "--ignore-index", "255", "-o", str(out)],
        input=stems,
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=ROOT),
        timeout=300,
    )
    assert process.returncode == 0, process.stderr
    assert "scanned 2,700 images" in process.stderr
    assert_counts(json.loads(out.read_text()), arrays)


# ----------------------------------------------------------------- errors
@pytest.mark.parametrize("command", READERS)
def test_missing_listed_file_names_the_list_and_the_line(voc, tmp_path, command):
    root, _, train = voc
    listing = tmp_path / "train.txt"
    listing.write_text(f"# split\n{train[0]}\n\n2099_000000\n{train[1]}\n")
    out = tmp_path / "out.json"
    args = [
        command,
        "--files-from",
        str(listing),
        "--root",
        str(root),
        "--template",
        "SegmentationClass/{}.png",
    ]
    args += ["-k", str(K), "--ignore-index", "255"]
    if command in ("scan", "sample", "weights"):
        args += ["-o", str(out)]
    result = runner.invoke(app, args)
    if command == "audit":  # the audit never stops at a bad file: it reports it as a finding
        assert result.exit_code == 0, result.output
        assert "2099_000000.png" in result.stdout and f"{listing} line 4" in result.stdout
        return
    assert result.exit_code == 2, result.output
    missing = root / "SegmentationClass" / "2099_000000.png"
    assert result.stderr == f"error: {listing}: line 4: {missing}: no such file\n"
    assert result.stdout == "" and not out.exists()


@pytest.mark.parametrize("command", ["scan", "weights", "sample"])
def test_missing_listed_file_is_skipped_with_skip_errors(voc, tmp_path, command):
    root, arrays, train = voc
    listing = tmp_path / "train.txt"
    listing.write_text(f"{train[0]}\n2099_000000\n{train[1]}\n")
    out = tmp_path / "out.json"
    args = [
        command,
        "--files-from",
        str(listing),
        "--root",
        str(root),
        "--template",
        "SegmentationClass/{}.png",
    ]
    result = runner.invoke(
        app, [*args, "-k", str(K), "--ignore-index", "255", "--skip-errors", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    missing = str(root / "SegmentationClass" / "2099_000000.png")
    assert "1 file skipped with errors" in result.stderr
    assert f"skipped {missing}: no such file (listed in {listing} line 2)" in result.stderr
    document = json.loads(out.read_text())
    if command == "sample":
        assert document["num_images"] == 2 and missing not in document["paths"]
    else:
        assert document["errors"] == [
            {"path": missing, "error": f"no such file (listed in {listing} line 2)"}
        ]
        assert_counts(document, [arrays[train[0]], arrays[train[1]]])


def test_missing_files_are_reported_by_one_shard_only(voc, tmp_path):
    root, _, train = voc
    listing = tmp_path / "train.txt"
    listing.write_text("\n".join([*train, "2099_000000"]) + "\n")
    errors = []
    for index in range(3):
        args = [
            *voc_args(root)[:1],
            str(listing),
            *voc_args(root)[2:],
            "--skip-errors",
            "--shard",
            f"{index}/3",
        ]
        errors += scanned(args, tmp_path)["errors"]
    assert [e["path"] for e in errors] == [str(root / "SegmentationClass" / "2099_000000.png")]


def test_entry_listed_twice_names_both_lines(voc, tmp_path):
    root, _, train = voc
    listing = tmp_path / "train.txt"
    listing.write_text(f"{train[0]}\n{train[1]}\n# again:\n{train[0]}\n")
    out = tmp_path / "stats.json"
    args = [
        "scan",
        "--files-from",
        str(listing),
        "--root",
        str(root),
        "--template",
        "SegmentationClass/{}.png",
    ]
    result = runner.invoke(app, [*args, "-o", str(out)])
    assert result.exit_code == 2 and not out.exists()
    path = root / "SegmentationClass" / f"{train[0]}.png"
    assert result.stderr == f"error: {listing}: lines 1 and 4 both list {path}\n"


def test_stdin_is_named_in_errors(tmp_path):
    result = runner.invoke(app, ["weights", "--files-from", "-", "-k", "3"], input="sample_masks/nope.png\n")
    assert result.exit_code == 2
    assert result.stderr == "error: <stdin>: line 1: sample_masks/nope.png: no such file\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--root", "x", "sample_masks"], "--root and --template apply to the entries of --files-from FILE"),
        (["--template", "{}.png", "sample_masks"], "--root and --template apply"),
        (["--files-from", "LIST", "--template", "no-placeholder.png"], "must contain {}"),
        (["--files-from", "MISSING.txt"], "MISSING.txt: no such file (--files-from)"),
        (["--files-from", "EMPTY"], "lists no label files (--files-from)"),
        ([], "no label PATH given (nor --files-from FILE"),
    ],
)
def test_bad_list_options(tmp_path, args, message):
    (tmp_path / "LIST").write_text(os.path.join(ROOT, "sample_masks", "mask_000.png") + "\n")
    (tmp_path / "EMPTY").write_text("# nothing\n\n")
    args = [str(tmp_path / a) if a in ("LIST", "EMPTY", "MISSING.txt") else a for a in args]
    for command in READERS:
        out = ["-o", str(tmp_path / "out.json")] if command == "scan" else []
        result = runner.invoke(app, [command, *args, "-k", "3", *out])
        assert result.exit_code == 2, (command, result.output)
        assert message in result.stderr and result.stderr.count("\n") == 1, (command, result.stderr)
