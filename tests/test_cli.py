"""The CLI through a real subprocess and through typer's CliRunner."""

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


def run_cli(*args, cwd=None):
    env = dict(os.environ, PYTHONPATH=ROOT, NO_COLOR="1")
    return subprocess.run(
        [sys.executable, "-m", "segstats", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )


def test_weights_subprocess_prints_only_the_json_array(masks_dir):
    folder, arrays = masks_dir
    result = run_cli("weights", folder, "--num-classes", "3", "--ignore-index", "255")
    assert result.returncode == 0, result.stderr
    weights = json.loads(result.stdout)
    assert isinstance(weights, list) and len(weights) == 3
    assert all(isinstance(w, float) for w in weights)
    expected = brute_force(arrays, 3, 255)
    frequency = np.array(expected.pixel_counts) / np.array(expected.image_pixels)
    np.testing.assert_allclose(weights, np.median(frequency) / frequency, rtol=1e-12)
    assert "scanned 12 images" in result.stderr
    assert "images/s" in result.stderr and "ignored" in result.stderr
    assert "Traceback" not in result.stderr


def test_sample_masks_main_command():
    result = run_cli("weights", os.path.join(ROOT, "sample_masks"), "--num-classes", "3")
    assert result.returncode == 0, result.stderr
    weights = json.loads(result.stdout)
    assert len(weights) == 3 and weights[1] == 1.0 and weights[2] > weights[0] > 0


@pytest.mark.parametrize("suffix", ["json", "npy", "yaml", "pt"])
def test_output_formats_read_back(masks_dir, tmp_path, suffix):
    folder, _ = masks_dir
    out = tmp_path / f"w.{suffix}"
    result = runner.invoke(app, ["weights", str(folder), "-k", "3", "--ignore-index", "255", "-o", str(out)])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout.strip().splitlines()[-1])
    if suffix == "json":
        document = json.loads(out.read_text())
        assert document["weights"] == {
            "method": "median-frequency",
            "values": printed,
            "options": {"normalize": "none", "clip": None},
        }
        assert document["num_classes"] == 3 and document["ignore_index"] == 255
    elif suffix == "npy":
        assert np.load(out).tolist() == printed
    elif suffix == "yaml":
        assert [float(x[2:]) for x in out.read_text().splitlines()[1:]] == printed
    else:
        torch = pytest.importorskip("torch")
        assert torch.load(out).tolist() == pytest.approx(printed, rel=1e-6)


def test_scan_then_weights_from_stats(masks_dir, tmp_path):
    folder, arrays = masks_dir
    stats_path = tmp_path / "stats.json"
    result = runner.invoke(
        app, ["scan", str(folder), "-k", "3", "--ignore-index", "255", "-o", str(stats_path)]
    )
    assert result.exit_code == 0, result.output
    document = json.loads(stats_path.read_text())
    assert "weights" not in document
    assert document["pixel_counts"] == brute_force(arrays, 3, 255).pixel_counts
    direct = runner.invoke(app, ["weights", str(folder), "-k", "3", "--ignore-index", "255"])
    from_stats = runner.invoke(app, ["weights", "--from-stats", str(stats_path)])
    assert from_stats.exit_code == 0, from_stats.output
    assert json.loads(from_stats.stdout) == json.loads(direct.stdout.strip().splitlines()[-1])


def test_absent_class_gets_zero_and_a_warning(tmp_path):
    write_mask(tmp_path / "a.png", np.array([[0, 0, 1, 3]]), "L")
    result = run_cli("weights", tmp_path, "--num-classes", "4")
    assert result.returncode == 0
    weights = json.loads(result.stdout)
    assert weights[2] == 0.0 and all(w > 0 for i, w in enumerate(weights) if i != 2)
    assert "warning: class 2 has no pixels; its weight is 0.0" in result.stderr


def test_unknown_value_exits_2_naming_the_file(tmp_path):
    write_mask(tmp_path / "a.png", np.array([[0, 1]]), "L")
    write_mask(tmp_path / "b.png", np.array([[0, 7]]), "L")
    out = tmp_path / "w.json"
    result = run_cli("weights", tmp_path, "--num-classes", "3", "-o", out)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "b.png: unknown label values 7" in lines[0] and "--num-classes" in lines[0]
    assert not out.exists()


def test_inferred_num_classes_note(masks_dir):
    folder, _ = masks_dir
    result = runner.invoke(app, ["weights", str(folder), "--ignore-index", "255"])
    assert result.exit_code == 0
    assert "using K = 3" in result.stderr


def test_merge_command(masks_dir, tmp_path):
    folder, arrays = masks_dir
    files = sorted(folder.iterdir())
    a, b, merged = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "m.json"
    for part, target in ((files[:5], a), (files[5:], b)):
        result = runner.invoke(
            app, ["scan", *map(str, part), "-k", "3", "--ignore-index", "255", "-o", str(target)]
        )
        assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["merge", str(a), str(b), "-o", str(merged)])
    assert result.exit_code == 0, result.output
    assert json.loads(merged.read_text())["image_pixels"] == brute_force(arrays, 3, 255).image_pixels


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["weights"], "no label PATH given"),
        (["weights", "sample_masks", "--method", "magic"], "unknown method 'magic'"),
        (["weights", "sample_masks", "-o", "w.txt"], "cannot tell the output format"),
        (["weights", "sample_masks", "--method", "effective-number"], "needs --beta"),
        (["weights", "nowhere"], "nowhere: no such file or directory"),
        (["scan", "sample_masks", "-o", "s.npy"], "the statistics document is JSON"),
    ],
)
def test_usage_errors_are_one_line_exit_2(args, message):
    result = run_cli(*args, cwd=ROOT)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """``python -c code`` in a fresh interpreter, in the checkout (the sample masks are there)."""
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=ROOT),
    )


def test_version_and_help_do_not_import_heavy_modules():
    code = (
        "import sys; from segstats.cli import main; sys.argv=['segstats','--help'];\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "bad=[m for m in ('torch','joblib','numba','matplotlib') if m in sys.modules]; print(bad)"
    )
    result = run_python(code)
    assert result.stdout.strip().splitlines()[-1] == "[]"
    version = run_cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("segstats ")


def test_a_quiet_scan_imports_only_what_it_runs(tmp_path):
    """A plain ``scan -q`` imports no other command, no table code, not rich, and (a serial scan of
    a folder) neither the thread pool, csv nor glob: every module costs start-up time."""
    code = (
        "import sys; from segstats.cli import main\n"
        f"sys.argv=['segstats','scan','sample_masks','-q','-o',{str(tmp_path / 's.json')!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "unused=('segstats.cli.weights','segstats.cli.audit','segstats.cli.merge','segstats.cli.sample',"
        "'segstats.table','rich','concurrent.futures','csv','glob')\n"
        "print([m for m in unused if m in sys.modules])"
    )
    result = run_python(code)
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stderr
    assert json.loads((tmp_path / "s.json").read_text())["num_images"] == 40


def test_main_leaves_the_exit_cycle_collection_to_the_os_and_still_runs_exit_handlers(tmp_path):
    """main() freezes what is alive when the command ends (no cycle collection over it at exit);
    atexit handlers and buffered output still run, and the document is complete."""
    out = tmp_path / "s.json"
    code = (
        "import atexit, gc, sys; from segstats.cli import main\n"
        "atexit.register(lambda: print('frozen', gc.get_freeze_count() > 1000, end=''))\n"
        f"sys.argv=['segstats','scan','sample_masks','-o',{str(out)!r}]\n"
        "main()\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("frozen True")
    assert json.loads(out.read_text())["num_images"] == 40


@pytest.mark.parametrize("text", ["plain", "a [b] c", "segstats[plot]", "end\\", "end\\\\", "[/x]", ""])
def test_markup_free_is_richs_escape(text):
    from rich.markup import escape

    from segstats.cli._console import markup_free

    assert markup_free(text) == escape(text)
