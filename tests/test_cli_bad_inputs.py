"""Every case of the bad-input corpus (tests/bad_inputs.py) through a real ``python -m segstats``.

Without --skip-errors a bad case must exit 2 with exactly one line on stderr
naming the file and the cause, no traceback, nothing on stdout, no output file
created and an existing one left byte-identical. With --skip-errors the good
masks are counted exactly (against a brute-force count), the bad files are
listed under ``errors`` and in the stderr summary, and the exit code is 0, or 1
with --strict. Valid cases (odd but legal names and folders) must succeed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from bad_inputs import BUILDERS, HOOKS_DIR, IGNORE_INDEX, NUM_CLASSES, Case, build_case
from labelmasks import brute_force

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Bytes of an output file that existed before a failed run; it must survive unchanged.
SENTINEL = b'{"an existing output": "must not change"}\n'
COUNT_FIELDS = (
    "num_images",
    "total_pixels",
    "ignored_pixels",
    "pixel_counts",
    "image_counts",
    "image_pixels",
)


def run_case(case: Case, *args: str) -> subprocess.CompletedProcess[bytes]:
    """``python -m segstats ARGS`` as the user would run it; output kept as bytes."""
    if case.restore is not None:
        case.restore()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, HOOKS_DIR]), NO_COLOR="1", **case.env)
    env.pop("SEGSTATS_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "segstats", *args],
        capture_output=True,
        env=env,
        cwd=case.out_dir,
        timeout=120,
    )


def stderr_lines(result: subprocess.CompletedProcess[bytes]) -> list[str]:
    # strict UTF-8: a message with an unprintable file name must still be valid text
    return result.stderr.decode("utf-8").strip().splitlines()


def label_args(case: Case) -> list[str]:
    return [case.folder, "--num-classes", str(NUM_CLASSES), "--ignore-index", str(IGNORE_INDEX)]


def expected_counts(case: Case) -> dict[str, object]:
    truth = brute_force(case.good, NUM_CLASSES, IGNORE_INDEX)
    return {name: getattr(truth, name) for name in COUNT_FIELDS}


def median_frequency(case: Case) -> list[float]:
    truth = brute_force(case.good, NUM_CLASSES, IGNORE_INDEX)
    frequency = np.array(truth.pixel_counts) / np.array(truth.image_pixels)
    return (np.median(frequency) / frequency).tolist()


@pytest.fixture(params=sorted(BUILDERS))
def case(request, tmp_path, rng):
    return build_case(request.param, tmp_path, rng)


@pytest.mark.parametrize(("command", "existing"), [("weights", False), ("scan", True)])
def test_bad_input_one_line_exit_2_output_untouched(case, command, existing):
    out = Path(case.out_dir) / "result.json"
    if existing:
        out.write_bytes(SENTINEL)
    result = run_case(case, command, *label_args(case), "--output", str(out))
    lines = stderr_lines(result)
    if case.valid:
        assert result.returncode == 0, lines
        document = json.loads(out.read_bytes().decode("utf-8"))
        assert {name: document[name] for name in COUNT_FIELDS} == expected_counts(case)
        assert document["errors"] == []
        return
    assert result.returncode == 2, lines
    assert result.stdout == b""
    assert len(lines) == 1, lines
    (line,) = lines
    assert line.startswith("error: ")
    assert case.bad[0] in line, (case.bad, line)
    assert re.search(case.cause, line), (case.cause, line)
    assert "Traceback" not in result.stderr.decode()
    # no output created, an existing one byte-identical, no temporary file left
    assert sorted(os.listdir(case.out_dir)) == (["result.json"] if existing else [])
    if existing:
        assert out.read_bytes() == SENTINEL


def check_skipped(lines: list[str], bad: list[str]) -> None:
    """The stderr summary counts the skipped files and names each one."""
    text = "\n".join(lines)
    assert "Traceback" not in text
    if bad:
        files = "file" if len(bad) == 1 else "files"  # "1 file skipped", "2 files skipped"
        assert f"{len(bad)} {files} skipped with errors" in lines[0], lines
        for path in bad:
            assert any(line.startswith(f"warning: skipped {path}: ") for line in lines), (path, lines)
    else:
        assert "skipped" not in text


def test_skip_errors_strict_counts_good_files_and_lists_bad_ones(case):
    out = Path(case.out_dir) / "weights.json"
    result = run_case(case, "weights", *label_args(case), "--skip-errors", "--strict", "--output", str(out))
    lines = stderr_lines(result)
    if case.no_files:  # nothing to skip to: still bad input
        assert result.returncode == 2 and len(lines) == 1 and re.search(case.cause, lines[0])
        assert os.listdir(case.out_dir) == []
        return
    # --strict: the output is written, but the exit code says that files were skipped
    assert result.returncode == (1 if case.bad else 0), lines
    document = json.loads(out.read_bytes().decode("utf-8"))  # valid UTF-8 JSON, whatever the names
    assert {name: document[name] for name in COUNT_FIELDS} == expected_counts(case)
    assert [error["path"] for error in document["errors"]] == case.bad
    for error in document["errors"]:
        assert re.search(case.cause, error["error"]), error
    assert json.loads(result.stdout) == pytest.approx(median_frequency(case), rel=1e-12)
    assert document["weights"]["values"] == json.loads(result.stdout)
    check_skipped(lines, case.bad)


def test_whole_corpus_in_one_folder_with_skip_errors(tmp_path, rng):
    """Every case side by side: scan --skip-errors (no --strict) exits 0 and counts exactly."""
    cases = [build_case(name, tmp_path / name, rng) for name in sorted(BUILDERS) if name != "empty_folder"]
    combined = Case(
        "combined", str(tmp_path), [a for c in cases for a in c.good], [b for c in cases for b in c.bad]
    )
    for built in cases:
        combined.env.update(built.env)
    combined.restore = lambda: [c.restore() for c in cases if c.restore is not None]  # type: ignore[func-returns-value]
    combined.out_dir = str(tmp_path / "out")
    os.mkdir(combined.out_dir)
    out = Path(combined.out_dir) / "stats.json"
    result = run_case(combined, "scan", *label_args(combined), "--skip-errors", "-o", str(out))
    lines = stderr_lines(result)
    assert result.returncode == 0, lines
    document = json.loads(out.read_bytes().decode("utf-8"))
    assert {name: document[name] for name in COUNT_FIELDS} == expected_counts(combined)
    assert sorted(error["path"] for error in document["errors"]) == sorted(combined.bad)
    assert len(combined.bad) == sum(not c.valid for c in cases)
    check_skipped(lines, combined.bad)


@pytest.mark.parametrize("command", ["scan", "weights"])
def test_skip_errors_with_every_file_bad_is_still_an_error(tmp_path, command):
    """Nothing readable at all is bad input, even with --skip-errors and --num-classes."""
    folder = tmp_path / "labels"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"")
    (folder / "b.png").write_bytes(b"text")
    out = tmp_path / "out.json"
    case = Case("all_bad", str(folder), [], out_dir=str(tmp_path))
    result = run_case(case, command, *label_args(case), "--skip-errors", "-o", str(out))
    lines = stderr_lines(result)
    assert result.returncode == 2, lines
    assert len(lines) == 1, lines
    assert "no label image could be read: all 2 files were skipped" in lines[0]
    assert f"{folder / 'a.png'}: empty file" in lines[0]
    assert not out.exists() and result.stdout == b""


@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_shows_the_traceback(tmp_path, rng, how):
    case = build_case("zero_byte", tmp_path, rng)
    if how == "env":
        result = subprocess.run(
            [sys.executable, "-m", "segstats", "scan", case.folder, "-o", "s.json"],
            capture_output=True,
            env=dict(os.environ, PYTHONPATH=ROOT, SEGSTATS_DEBUG="1"),
            cwd=case.out_dir,
            timeout=120,
        )
    else:
        result = run_case(case, "scan", case.folder, "-o", "s.json", "--debug")
    text = result.stderr.decode()
    assert result.returncode == 2
    assert "Traceback" in text and "BadInputError" in text
    assert text.strip().splitlines()[-1].startswith("error: ") and "empty file (0 bytes)" in text
