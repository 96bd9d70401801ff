"""What the CLI says on stderr: one line for absent classes, the label notes (255 counted
as a class, binary 0/255 masks, the ignore index inside the class range) in every command
that scans, control characters escaped, "file not found" for named inputs, the weights'
warnings; and pos-weight and merge's refusal of one document twice, end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import typer
from labelmasks import brute_force, write_mask
from typer.testing import CliRunner

from segstats.cli import app
from segstats.cli._app import report_errors
from segstats.cli._console import Messages
from segstats.errors import SegstatsError
from segstats.notes import compress_ranges

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
runner = CliRunner()


def run_cli(*args):
    env = dict(os.environ, PYTHONPATH=ROOT, NO_COLOR="1")
    return subprocess.run(
        [sys.executable, "-m", "segstats", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def invoke(*args):
    return runner.invoke(app, list(map(str, args)), env={"NO_COLOR": "1", "COLUMNS": "1000"})


def warnings_of(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning:")]


# ----------------------------------------------------------------- absent classes: one line
def ranges_by_hand(ids):
    """An independent range compression: split where consecutive ids differ by more than 1."""
    groups = np.split(np.array(ids), np.flatnonzero(np.diff(ids) > 1) + 1)
    return [f"{g[0]}" if len(g) == 1 else f"{g[0]}-{g[-1]}" for g in groups]


@pytest.mark.parametrize(
    "ids", [[5], [1, 2, 3], [1, 3, 4, 9], [0, 2, 4, 6, 8, 10, 12], [*range(21, 255), 300, 302]]
)
def test_compress_ranges(ids):
    expected = ranges_by_hand(ids)
    shown = compress_ranges(ids, max_ranges=4)
    if len(expected) <= 4:
        assert shown == ", ".join(expected)
    else:
        assert shown == ", ".join(expected[:4]) + ", ..."


def test_absent_classes_are_one_line_on_16_bit_masks(tmp_path):
    array = np.zeros((4, 8), dtype=np.int64)
    array[0, :7] = [1, 3, 5, 7, 9, 11, 6000]  # K inferred as 6001: 5,994 classes absent
    write_mask(tmp_path / "a.png", array, "I;16")
    result = run_cli("weights", tmp_path)
    assert result.returncode == 0, result.stderr
    weights = json.loads(result.stdout)
    absent = [c for c in range(6001) if c not in set(array.ravel().tolist())]
    assert [c for c, w in enumerate(weights) if w == 0.0] == absent
    lines = [line for line in warnings_of(result.stderr) if "no pixels" in line]
    shown = ", ".join(ranges_by_hand(absent)[:4])
    assert lines == [f"warning: {len(absent):,} of 6,001 classes have no pixels (weight 0.0): {shown}, ..."]
    assert len(result.stderr.splitlines()) < 10


def test_one_absent_class_is_named(tmp_path):
    write_mask(tmp_path / "a.png", np.array([[0, 0, 1, 3]]), "L")
    names = tmp_path / "names.txt"
    names.write_text("road\ncar\nsky\ntree\n")
    result = invoke("weights", tmp_path / "a.png", "--class-names", names)
    assert result.exit_code == 0, result.output
    assert warnings_of(result.stderr) == ["warning: class 2 (sky) has no pixels; its weight is 0.0"]


# ----------------------------------------------------------------- 255 counted as a class
@pytest.fixture
def voc_like(tmp_path):
    """VOC-like masks, no --ignore-index: classes 0, 1, 20 and 255 (void) on the borders."""
    folder = tmp_path / "voc"
    folder.mkdir()
    array = np.zeros((6, 6), dtype=np.int64)
    array[2, 2:4] = 1
    array[3, 3] = 20
    array[0, :] = 255
    write_mask(folder / "a.png", array, "P")
    return folder, array


VOID_WARNING = (
    "warning: value 255 was counted as a class (6 pixels); VOC/Cityscapes use 255 for void: "
    "pass --ignore-index 255 if it is"
)


@pytest.mark.parametrize("command", ["weights", "scan", "audit", "weights --from-stats"])
def test_void_warning_in_every_command_that_scans(voc_like, tmp_path, command):
    folder, _ = voc_like
    if command == "weights --from-stats":
        assert invoke("scan", folder, "-o", tmp_path / "s.json", "-q").exit_code == 0
        result = invoke("weights", "--from-stats", tmp_path / "s.json")
    elif command == "scan":
        result = invoke("scan", folder, "-o", tmp_path / "s.json")
    else:
        result = invoke(command, folder)
    assert result.exit_code == 0, result.output
    if command == "audit":  # a finding of the report (stdout), not a second line on stderr
        assert VOID_WARNING in result.stdout and "255 was counted" not in result.stderr
    else:
        assert warnings_of(result.stderr).count(VOID_WARNING) == 1
    # with the ignore index given, no such warning
    again = invoke(*command.split()[:1], folder, "--ignore-index", "255", "-o", tmp_path / "t.json")
    assert "255 was counted" not in again.output


def test_binary_masks_get_both_readings_and_the_map_hint_works(tmp_path):
    folder = tmp_path / "bin"
    folder.mkdir()
    arrays = [np.zeros((5, 5), dtype=np.int64) for _ in range(3)]
    for index, array in enumerate(arrays):
        array[index:, 2:] = 255
        write_mask(folder / f"{index}.png", array, "L")
    result = invoke("weights", folder)
    assert result.exit_code == 0, result.output
    (line,) = [w for w in warnings_of(result.stderr) if "255" in w]
    assert "if 255 is void, pass --ignore-index 255" in line
    assert "if these are binary masks with 255 as foreground" in line
    hint = json.loads(line[line.index("{") : line.rindex("}") + 1])
    assert hint == {"0": 0, "255": 1}
    # the hint as given is a valid --map file: K = 2, foreground = class 1
    map_file = tmp_path / "map.json"
    map_file.write_text(json.dumps(hint))
    mapped = invoke("weights", folder, "--map", map_file, "--method", "pos-weight")
    assert mapped.exit_code == 0, mapped.output
    foreground = sum(int((a == 255).sum()) for a in arrays)
    background = sum(a.size for a in arrays) - foreground
    assert json.loads(mapped.stdout) == [foreground / background, background / foreground]
    assert "255" not in mapped.stderr
    # the audit carries the same text among its findings
    assert line.removeprefix("warning: ") in invoke("audit", folder).stdout


def test_ignore_index_inside_the_class_range(tmp_path):
    write_mask(tmp_path / "a.png", np.array([[0, 0, 1, 2, 2, 2]]), "L")
    result = invoke("weights", tmp_path, "-k", "3", "--ignore-index", "0")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0] == 0.0
    assert "note: class 0 is the ignore index (--ignore-index 0)" in result.stderr
    assert "class 0 has no pixels" not in result.stderr
    assert warnings_of(result.stderr) == []
    report = json.loads(invoke("audit", tmp_path, "-k", "3", "--ignore-index", "0", "--json").stdout)
    codes = {finding["code"]: finding for finding in report["findings"]}
    assert codes["ignore-in-range"]["severity"] == "info" and "absent-class" not in codes


# ----------------------------------------------------------------- control characters escaped
def test_a_file_name_with_escape_sequences_is_escaped(tmp_path):
    bad = tmp_path / "evil\x1b[2J\x1b]0;title\x07name.png"
    bad.write_bytes(b"not a png")
    result = run_cli("weights", bad, "-k", "2")
    assert result.returncode == 2
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert "evil\\x1b[2J\\x1b]0;title\\x07name.png" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_audit_report_escapes_file_names_and_class_names(tmp_path):
    write_mask(tmp_path / "good.png", np.array([[0, 1, 1]]), "L")
    (tmp_path / "bad\x1b[2Jname.png").write_bytes(b"not a png")
    names = tmp_path / "names.json"
    names.write_text(json.dumps(["road", "car\x1b]0;pwned\x07"]))
    result = run_cli("audit", tmp_path, "--class-names", names)
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "bad\\x1b[2Jname.png" in result.stdout and "car\\x1b]0;pwned\\x07" in result.stdout


def test_messages_and_the_error_mapper_escape_control_bytes(capsys, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    Messages().warn("chunk \x1b[31mred\x1b[0m\nforged line caf\u00e9 \u65e5\u672c \u202eabc")
    Messages().info("tab\there\r")
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "warning: chunk \\x1b[31mred\\x1b[0m\\nforged line caf\u00e9 \u65e5\u672c \\u202eabc",
        "tab\\there\\r",
    ]

    @report_errors
    def failing():
        raise SegstatsError("x.png: bad chunk \x1b[2J\x00 \udcff")

    with pytest.raises(typer.Exit) as exit_info:
        failing()
    assert exit_info.value.exit_code == 2
    assert capsys.readouterr().err == "error: x.png: bad chunk \\x1b[2J\\x00 \\xff\n"


# ----------------------------------------------------------------- inputs the user named
@pytest.mark.parametrize("option", ["--from-stats", "--map", "--class-names", "--colors"])
def test_a_missing_named_file_is_file_not_found(tmp_path, option):
    missing = tmp_path / "nope.json"
    args = (
        ["weights", "--from-stats", missing]
        if option == "--from-stats"
        else ["weights", ROOT, option, missing]
    )
    if option != "--from-stats":
        args[1] = os.path.join(ROOT, "sample_masks")
    result = run_cli(*args)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: {missing}: file not found"]


# ----------------------------------------------------------------- weights: warnings, pos-weight
def test_effective_number_warns_when_beta_is_too_small_for_pixel_counts(masks_dir):
    folder, arrays = masks_dir
    result = invoke(
        "weights", folder, "-k", "3", "--ignore-index", "255", "-m", "effective-number", "--beta", "0.99"
    )
    assert result.exit_code == 0, result.output
    weights = json.loads(result.stdout)
    counts = brute_force(arrays, 3, 255).pixel_counts
    raw = [(1 - 0.99) / (1 - 0.99**n) for n in counts]
    np.testing.assert_allclose(weights, np.array(raw) * 3 / sum(raw), rtol=1e-12)
    (line,) = warnings_of(result.stderr)
    assert "within 1% of uniform" in line and "beta acts on pixel counts" in line
    # a beta on the scale of the counts changes the weights: no warning
    beta = 1 - 1 / max(counts)
    scaled = invoke(
        "weights", folder, "-k", "3", "--ignore-index", "255", "-m", "effective-number", "--beta", beta
    )
    assert warnings_of(scaled.stderr) == []
    assert "pixel counts" in invoke("weights", "--help").output


def test_pos_weight_end_to_end(masks_dir):
    folder, arrays = masks_dir
    result = run_cli("weights", folder, "-k", "3", "--ignore-index", "255", "--method", "pos-weight")
    assert result.returncode == 0, result.stderr
    counts = brute_force(arrays, 3, 255).pixel_counts
    assert json.loads(result.stdout) == [(sum(counts) - n) / n for n in counts]


def test_merging_one_document_twice_is_refused(masks_dir, tmp_path):
    folder, _ = masks_dir
    first, second = tmp_path / "a.json", tmp_path / "copy.json"
    assert invoke("scan", folder, "-k", "3", "--ignore-index", "255", "-o", first).exit_code == 0
    second.write_bytes(first.read_bytes())
    for documents in ([first, first], [first, second]):
        merged = tmp_path / "m.json"
        result = run_cli("merge", *documents, "-o", merged)
        assert result.returncode == 2
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith(f"error: {documents[1]}: covers the same files as {documents[0]}")
        assert not merged.exists()
