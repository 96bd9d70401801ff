"""Label files are only ever opened for reading: contents, mtimes and the folder stay unchanged."""

from __future__ import annotations

import builtins
import hashlib
import os
import subprocess
import sys

import numpy as np
from labelmasks import random_mask, write_mask

import segstats

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Enough files for the parallel (worker pool) path, which starts at 64 files.
NUM_FILES = 70
# os.open flags that would let a file be changed.
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def snapshot(folder):
    """Every entry under ``folder``: (mtime_ns, size, mode, sha256)."""
    state = {}
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            path = os.path.join(dirpath, name)
            info = os.stat(path)
            with open(path, "rb") as handle:
                digest = hashlib.sha256(handle.read()).hexdigest()
            state[path] = (info.st_mtime_ns, info.st_size, info.st_mode, digest)
    return state


def make_labels(tmp_path, rng):
    folder = tmp_path / "labels"
    folder.mkdir()
    for index in range(NUM_FILES):
        write_mask(folder / f"m{index:03d}.png", random_mask(rng, 8, 8, 3, ignore_index=255), "LP"[index % 2])
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")  # a bad one, skipped
    # old mtimes, so that any write (even of the same bytes) would show
    for path in folder.iterdir():
        os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    return folder


def test_scanned_files_unchanged_after_cli_runs(tmp_path, rng):
    folder = make_labels(tmp_path, rng)
    before = snapshot(folder)
    env = dict(os.environ, PYTHONPATH=ROOT)
    common = [str(folder), "-k", "3", "--ignore-index", "255"]
    for args, code in (
        (["scan", *common, "-j", "2", "--skip-errors", "-o", str(tmp_path / "s.json")], 0),
        (["weights", *common, "-j", "1", "--skip-errors"], 0),
        (["weights", *common], 2),  # stops at broken.png
    ):
        result = subprocess.run(
            [sys.executable, "-m", "segstats", *args], capture_output=True, env=env, timeout=120
        )
        assert result.returncode == code, result.stderr
    assert snapshot(folder) == before
    assert sorted(os.listdir(folder)) == sorted(os.path.basename(p) for p in before)


def test_files_are_opened_read_only(tmp_path, rng, monkeypatch):
    folder = make_labels(tmp_path, rng)
    opened: list[tuple[str, object]] = []
    real_open, real_os_open = builtins.open, os.open

    def spy_open(file, mode="r", *args, **kwargs):
        if isinstance(file, str | bytes | os.PathLike) and str(folder) in os.fsdecode(file):
            opened.append((os.fsdecode(file), mode))
        return real_open(file, mode, *args, **kwargs)

    def spy_os_open(path, flags, *args, **kwargs):
        if str(folder) in os.fsdecode(path):
            opened.append((os.fsdecode(path), flags))
        return real_os_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(os, "open", spy_os_open)
    stats = segstats.scan(folder, num_classes=3, ignore_index=255, jobs=1, skip_errors=True)
    assert stats.num_images == NUM_FILES and len(stats.errors) == 1
    assert len(opened) >= NUM_FILES + 1
    for path, mode in opened:
        if isinstance(mode, str):
            assert mode in ("r", "rb"), (path, mode)
        else:
            assert isinstance(mode, int) and not mode & WRITE_FLAGS, (path, mode)
    np.testing.assert_array_equal(stats.pixel_counts.sum() + stats.ignored_pixels, NUM_FILES * 64)
