"""Label files are only ever opened for reading: contents, mtimes and the folder stay unchanged."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest
from labelmasks import random_mask, write_mask

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


def test_files_are_opened_read_only(tmp_path, rng):
    """Every open() of a label file, by Python or by the compiled reader, asks for reading only.

    A libc shim (tests/hooks/libc_hook.c, LD_PRELOAD) logs the flags of every
    open/openat call of a real scan in a subprocess, threads included.
    """
    sys.path.insert(0, os.path.join(ROOT, "tests", "hooks"))
    from libc_hook import libc_hook

    hook = libc_hook()
    if hook is None:
        pytest.skip("the libc shim needs Linux and gcc")
    folder = make_labels(tmp_path, rng)
    log = tmp_path / "opens.log"
    env = dict(os.environ, PYTHONPATH=ROOT, LD_PRELOAD=hook, SEGSTATS_TEST_OPENLOG=str(log))
    for jobs in ("1", "2"):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "segstats",
                "scan",
                str(folder),
                "-k",
                "3",
                "--ignore-index",
                "255",
                "-j",
                jobs,
                "--skip-errors",
                "-o",
                str(tmp_path / "s.json"),
                "-q",
            ],
            capture_output=True,
            env=env,
            timeout=120,
            text=True,
        )
        assert result.returncode == 0, result.stderr
    opened = [line.split(" ", 1) for line in log.read_text().splitlines()]
    labels = [(int(flags, 16), path) for flags, path in opened if path.startswith(str(folder))]
    assert len({path for _, path in labels}) == NUM_FILES + 1  # every label file, the broken one too
    for flags, path in labels:
        assert not flags & WRITE_FLAGS, (path, hex(flags))
