"""--per-image and --incremental on a large set of tiny masks: peak RSS and wall time of
whole ``segstats scan`` processes, interleaved, medians.

Usage::

    python benchmarks/bench_per_image.py [--files 20000] [--rounds 5] [--changed 0.01] [--jobs 2]

Writes ``--files`` tiny masks (32x24 L by default, ``--scale S``: 32S x 24S; 6 classes +
255, blocky) into a temporary folder
(100 folders), then for each round, in this order:

1. ``plain``: ``segstats scan DIR -k 6 --ignore-index 255 -o stats.json``;
2. ``table``: the same with ``--per-image rows.jsonl`` (a full scan writing the table);
3. rewrite ``--changed`` of the files (new content, new mtime);
4. ``incremental``: the same with ``--per-image rows.jsonl --incremental`` (reads the
   changed files only, reuses the other rows);
5. ``table``'s rows are then the current state again for the next round (step 2).

Peak RSS is the child's ``ru_maxrss`` from ``os.wait4`` (KiB on Linux); time is the
whole process's wall time (start-up and imports included). Prints one table of medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SEED = 20261202


# Mask size (width, height); --scale multiplies both.
BASE_SHAPE = (32, 24)
SCALE = 1


def tiny_mask(rng: np.random.Generator) -> np.ndarray:
    blocks = rng.integers(0, 6, size=(6, 8)).astype(np.uint8)
    mask = np.kron(blocks, np.ones((4 * SCALE, 4 * SCALE), dtype=np.uint8))
    mask[rng.random(mask.shape) < 0.05] = 255
    return mask


def write_set(root: Path, files: int, rng: np.random.Generator) -> list[Path]:
    paths = []
    for index in range(files):
        folder = root / f"d{index % 100:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"m{index:06d}.png"
        Image.fromarray(tiny_mask(rng)).save(path)
        paths.append(path)
    return paths


def run(args: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one whole process."""
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "segstats", *args], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    stderr = child.stderr.read().decode() if child.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"segstats {' '.join(args)} failed:\n{stderr}")
    return elapsed, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--changed", type=float, default=0.01, help="share of files changed per round")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--scale", type=int, default=1, help="masks of 32*S x 24*S pixels (default 1)")
    options = parser.parse_args()
    global SCALE
    SCALE = options.scale
    rng = np.random.default_rng(SEED)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "labels"
        started = time.perf_counter()
        paths = write_set(root, options.files, rng)
        print(f"wrote {len(paths):,} masks in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        common = [str(root), "-k", "6", "--ignore-index", "255", "-j", str(options.jobs), "-q"]
        common_out = ["-o", str(Path(tmp) / "stats.json")]
        table = ["--per-image", str(Path(tmp) / "rows.jsonl")]
        results: dict[str, list[tuple[float, float]]] = {"plain": [], "table": [], "incremental": []}
        changed = max(1, round(options.files * options.changed))
        for round_number in range(options.rounds):
            results["plain"].append(run(["scan", *common, *common_out]))
            results["table"].append(run(["scan", *common, *common_out, *table]))
            for index in rng.choice(len(paths), size=changed, replace=False).tolist():
                Image.fromarray(tiny_mask(rng)).save(paths[index])
                stat = paths[index].stat()  # a new mtime even within the filesystem's tick
                os.utime(paths[index], ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
            results["incremental"].append(run(["scan", *common, *common_out, *table, "--incremental"]))
            print(f"round {round_number + 1}/{options.rounds} done", file=sys.stderr)
    plain_time = statistics.median(t for t, _ in results["plain"])
    shape = f"{BASE_SHAPE[0] * SCALE}x{BASE_SHAPE[1] * SCALE}"
    print(f"{options.files:,} files of {shape}, {changed:,} changed a round, {options.rounds} rounds")
    print("| case | median wall s | vs plain scan | median peak RSS MiB | max peak RSS MiB |")
    print("|---|---|---|---|---|")
    for name, runs in results.items():
        wall = statistics.median(t for t, _ in runs)
        rss = statistics.median(r for _, r in runs)
        top = max(r for _, r in runs)
        print(f"| {name} | {wall:.2f} | {wall / plain_time:.2f}x | {rss:.1f} | {top:.1f} |")


if __name__ == "__main__":
    main()
