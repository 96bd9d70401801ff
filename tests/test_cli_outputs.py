"""Where the CLI's data goes: ``-o -`` and ``--format`` on stdout (data only on stdout,
messages on stderr), and missing optional dependencies refused before any image is read."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import pty
import subprocess
import sys

import numpy as np
import pytest
from labelmasks import brute_force
from typer.testing import CliRunner

import segstats.api
from segstats.cli import app

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
runner = CliRunner()


def run_cli(*args, text=True, **kwargs):
    env = dict(os.environ, PYTHONPATH=ROOT, NO_COLOR="1")
    streams = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    return subprocess.run(
        [sys.executable, "-m", "segstats", *map(str, args)],
        **{**streams, **kwargs},
        text=text,
        env=env,
        timeout=120,
    )


def expected_median_frequency(arrays, k, ignore):
    counts = brute_force(arrays, k, ignore)
    frequency = np.array(counts.pixel_counts) / np.array(counts.image_pixels)
    return (np.median(frequency) / frequency).tolist(), counts


# ----------------------------------------------------------------- -o - and --format on stdout
def test_scan_writes_its_document_to_stdout(masks_dir):
    folder, arrays = masks_dir
    result = run_cli("scan", folder, "-k", "3", "--ignore-index", "255", "-o", "-")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)  # the whole of stdout is the document
    counts = brute_force(arrays, 3, 255)
    assert document["pixel_counts"] == counts.pixel_counts
    assert document["image_pixels"] == counts.image_pixels
    assert "weights" not in document
    assert "scanned 12 images" in result.stderr and "wrote stdout" in result.stderr
    assert not os.path.exists("-")


def test_merge_writes_its_document_to_stdout(masks_dir, tmp_path):
    folder, arrays = masks_dir
    parts = []
    for shard in ("0/2", "1/2"):
        part = tmp_path / f"part{shard[0]}.json"
        result = runner.invoke(
            app, ["scan", str(folder), "-k", "3", "--ignore-index", "255", "--shard", shard, "-o", str(part)]
        )
        assert result.exit_code == 0, result.output
        parts.append(part)
    result = run_cli("merge", *parts, "-o", "-")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["pixel_counts"] == brute_force(arrays, 3, 255).pixel_counts
    assert "merged 2 documents" in result.stderr


def test_weights_dash_output_is_exactly_the_document(masks_dir):
    folder, arrays = masks_dir
    result = run_cli("weights", folder, "-k", "3", "--ignore-index", "255", "-o", "-")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)  # not the document followed by the JSON array
    expected, counts = expected_median_frequency(arrays, 3, 255)
    np.testing.assert_allclose(document["weights"]["values"], expected, rtol=1e-12)
    assert document["pixel_counts"] == counts.pixel_counts


@pytest.mark.parametrize("via", [["-o", "-", "--format"], ["--format"]])
def test_weights_format_on_stdout_is_only_that_format(masks_dir, via):
    """``-o - --format F`` and ``--format F`` alone both print F on stdout, and nothing else."""
    folder, arrays = masks_dir
    expected, _ = expected_median_frequency(arrays, 3, 255)
    args = ["weights", folder, "-k", "3", "--ignore-index", "255"]
    as_list = run_cli(*args, *via, "list")
    assert as_list.returncode == 0, as_list.stderr
    assert as_list.stdout.count("\n") == 1
    np.testing.assert_allclose(json.loads(as_list.stdout), expected, rtol=1e-12)
    as_yaml = run_cli(*args, *via, "yaml")
    assert as_yaml.returncode == 0, as_yaml.stderr
    lines = as_yaml.stdout.splitlines()
    assert lines[0] == "class_weight:" and len(lines) == 4
    np.testing.assert_allclose([float(line[2:]) for line in lines[1:]], expected, rtol=1e-12)
    as_json = run_cli(*args, *via, "json")
    assert json.loads(as_json.stdout)["weights"]["method"] == "median-frequency"


def test_weights_binary_format_through_a_pipe(masks_dir):
    folder, arrays = masks_dir
    expected, _ = expected_median_frequency(arrays, 3, 255)
    result = run_cli("weights", folder, "-k", "3", "--ignore-index", "255", "--format", "npy", text=False)
    assert result.returncode == 0, result.stderr
    np.testing.assert_allclose(np.load(io.BytesIO(result.stdout)), expected, rtol=1e-12)
    torch = pytest.importorskip("torch")
    result = run_cli(
        "weights", folder, "-k", "3", "--ignore-index", "255", "-o", "-", "--format", "pt", text=False
    )
    assert result.returncode == 0, result.stderr
    loaded = torch.load(io.BytesIO(result.stdout))
    assert loaded.dtype == torch.float32
    np.testing.assert_allclose(loaded.numpy(), expected, rtol=1e-6)


@pytest.mark.parametrize("fmt", ["npy", "pt"])
def test_weights_binary_format_to_a_terminal_is_refused_before_reading(tmp_path, fmt):
    (tmp_path / "x.png").write_bytes(b"not a png: reading it would be an error of its own")
    leader, follower = pty.openpty()
    try:
        result = run_cli(
            "weights", tmp_path, "-k", "3", "--format", fmt, stdout=follower, stderr=subprocess.PIPE
        )
    finally:
        os.close(follower)
        os.close(leader)
    assert result.returncode == 2
    assert f"--format {fmt} is binary and stdout is a terminal" in result.stderr
    assert "x.png" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# ----------------------------------------------------------------- missing extras, before any read
@pytest.fixture
def missing(monkeypatch):
    """``missing("torch")``: find_spec says torch is not installed; segstats.api.scan must not run."""
    real_find_spec = importlib.util.find_spec
    hidden: set[str] = set()

    def find_spec(name, *args, **kwargs):
        return None if name.split(".")[0] in hidden else real_find_spec(name, *args, **kwargs)

    def no_scan(*args, **kwargs):
        raise AssertionError("an image was read before the missing dependency was reported")

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    monkeypatch.setattr(segstats.api, "scan", no_scan)
    monkeypatch.setattr(segstats.api, "plan_files", no_scan)
    return hidden.update


def refused(args, *needles):
    result = runner.invoke(app, list(map(str, args)))
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    for needle in needles:
        assert needle in lines[0]
    return lines[0]


def test_pt_without_torch_is_refused_before_reading(masks_dir, tmp_path, missing):
    folder, _ = masks_dir
    missing({"torch"})
    line = refused(
        ["weights", folder, "-k", "3", "--ignore-index", "255", "-o", tmp_path / "w.pt"],
        "needs torch, which is not installed",
        "pip install torch --index-url https://download.pytorch.org/whl/cpu",
        "CUDA",
    )
    assert "w.pt" in line
    refused(["weights", folder, "-k", "3", "--format", "pt", "-o", "-"], "needs torch")
    assert not (tmp_path / "w.pt").exists()


def test_plot_without_matplotlib_is_refused_before_reading(masks_dir, tmp_path, missing):
    folder, _ = masks_dir
    missing({"matplotlib"})
    refused(["audit", folder, "--plot", tmp_path / "p.png"], "--plot", "needs matplotlib", "segstats[plot]")
    assert not (tmp_path / "p.png").exists()


def test_url_without_fsspec_is_refused_before_reading(masks_dir, missing):
    folder, _ = masks_dir
    missing({"fsspec"})
    refused(["weights", folder, "memory://bucket/a.png", "-k", "3"], "memory://bucket/a.png", "needs fsspec")
    refused(["audit", folder, "--against", "s3://bucket/val"], "needs fsspec", "segstats[cloud]")


def test_dask_backend_without_dask_is_refused_before_reading(masks_dir, missing):
    folder, _ = masks_dir
    missing({"distributed"})
    refused(
        ["scan", folder, "--backend", "dask", "-o", "-"], "--backend dask needs distributed", "segstats[dask]"
    )
    missing({"dask"})
    refused(["weights", folder, "--backend", "dask"], "--backend dask needs dask")


def test_the_extras_check_only_looks(masks_dir, tmp_path):
    """Checking for torch must not import it: a .npy run leaves torch out of sys.modules."""
    folder, _ = masks_dir
    code = (
        "import sys; from segstats.cli import main\n"
        f"sys.argv = ['segstats', 'weights', {str(folder)!r}, '-k', '3', '--ignore-index', '255',"
        f" '-o', {str(tmp_path / 'w.npy')!r}, '--backend', 'local']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print([m for m in ('torch', 'matplotlib', 'dask', 'distributed') if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=ROOT)
    )
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stderr
    assert (tmp_path / "w.npy").exists()
