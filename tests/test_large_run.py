"""A large run: 20,000 small files, stable memory, and the same result as the sum of its shards."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from labelmasks import brute_force, random_mask, write_mask

import segstats

psutil = pytest.importorskip("psutil")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUM_FILES = 20_000
# Distinct masks written; file i holds mask i % NUM_DISTINCT (16x16, L and P).
NUM_DISTINCT = 250
NUM_CLASSES = 5
IGNORE_INDEX = 255
NUM_SHARDS = 4
# Peak resident memory allowed to any one process of the scan (generous: ~100 MB is typical).
MAX_RSS_BYTES = 600 * 2**20
# Growth of the peak from a tenth of the files to all of them (memory must not grow with files).
MAX_RSS_GROWTH_BYTES = 64 * 2**20
COUNT_FIELDS = (
    "num_images",
    "total_pixels",
    "ignored_pixels",
    "pixel_counts",
    "image_counts",
    "image_pixels",
)


@pytest.fixture(scope="module")
def many_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("many")
    scratch = tmp_path_factory.mktemp("distinct")
    rng = np.random.default_rng(2024)
    blobs, arrays = [], []
    for index in range(NUM_DISTINCT):
        array = random_mask(rng, 16, 16, NUM_CLASSES, ignore_index=IGNORE_INDEX)
        path = write_mask(scratch / f"d{index}.png", array, "LP"[index % 2])
        with open(path, "rb") as handle:
            blobs.append(handle.read())
        arrays.append(array)
    for index in range(NUM_FILES):
        sub = folder / f"part{index // 1000:02d}"
        if index % 1000 == 0:
            sub.mkdir()
        (sub / f"f{index:05d}.png").write_bytes(blobs[index % NUM_DISTINCT])
    return folder, arrays


def expected_counts(arrays, num_files):
    """Brute force per distinct mask, times how many files hold it."""
    totals = {name: 0 for name in COUNT_FIELDS[:3]}
    per_class = {name: [0] * NUM_CLASSES for name in COUNT_FIELDS[3:]}
    for index, array in enumerate(arrays):
        copies = len(range(index, num_files, NUM_DISTINCT))
        truth = brute_force([array], NUM_CLASSES, IGNORE_INDEX)
        for name in totals:
            totals[name] += copies * getattr(truth, name)
        for name in per_class:
            per_class[name] = [
                a + copies * b for a, b in zip(per_class[name], getattr(truth, name), strict=True)
            ]
    return {**totals, **per_class}


def high_water_rss(process) -> int:
    """Peak resident memory of ``process`` so far (Linux VmHWM, so no poll misses a peak), else RSS."""
    try:
        with open(f"/proc/{process.pid}/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(process.memory_info().rss)


def scan_with_peak_rss(paths, out, jobs=2):
    """Run ``segstats scan`` and poll the peak RSS of the process and of each worker."""
    args = [str(p) for p in paths]
    command = [sys.executable, "-m", "segstats", "scan", *args, "-k", str(NUM_CLASSES)]
    command += ["--ignore-index", str(IGNORE_INDEX), "-j", str(jobs), "-o", str(out)]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=ROOT)
    )
    parent = psutil.Process(process.pid)
    peak = 0
    while process.poll() is None:
        try:
            for member in [parent, *parent.children(recursive=True)]:
                peak = max(peak, high_water_rss(member))
        except psutil.Error:
            pass
        time.sleep(0.02)
    stderr = process.stderr.read().decode() if process.stderr else ""
    assert process.returncode == 0, stderr
    return peak


def test_twenty_thousand_files_stable_memory_and_shards_add_up(many_files, tmp_path):
    folder, arrays = many_files
    expected = expected_counts(arrays, NUM_FILES)

    # a tenth of the files, then all of them: the peak memory must not grow with the file count
    small_peak = scan_with_peak_rss(sorted(folder.iterdir())[:2], tmp_path / "small.json")
    full_peak = scan_with_peak_rss([folder], tmp_path / "full.json")
    full = json.loads((tmp_path / "full.json").read_text())
    assert {name: full[name] for name in COUNT_FIELDS} == expected
    assert full["errors"] == []
    print(f"peak RSS: {small_peak / 2**20:.1f} MiB (2,000 files), {full_peak / 2**20:.1f} MiB (20,000 files)")
    small = json.loads((tmp_path / "small.json").read_text())
    assert small["num_images"] == 2000
    assert full_peak < MAX_RSS_BYTES, f"peak RSS {full_peak / 2**20:.0f} MiB"
    assert small_peak > 0, "the small run was never sampled"
    assert full_peak - small_peak < MAX_RSS_GROWTH_BYTES, (small_peak / 2**20, full_peak / 2**20)

    # the same files in shards, scanned separately and merged, give the same document
    files = segstats.discover(folder)
    assert len(files) == NUM_FILES
    bounds = [len(files) * i // NUM_SHARDS for i in range(NUM_SHARDS + 1)]
    shards = [
        segstats.scan(
            folder,
            num_classes=NUM_CLASSES,
            ignore_index=IGNORE_INDEX,
            jobs=1,
            files=files[start:stop],
        )
        for start, stop in itertools.pairwise(bounds)
    ]
    assert sum(s.num_images for s in shards) == NUM_FILES
    merged = segstats.merge_stats(shards).to_dict()
    assert {name: merged[name] for name in COUNT_FIELDS} == expected
