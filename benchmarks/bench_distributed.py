"""Throughput of --backend dask on a LocalCluster vs the local backend, on the same files, one run.

Writes N generated label PNGs to a temporary folder, scans them once untimed (to warm
the page cache), then times ``--repeat`` interleaved runs of the local backend
(joblib threads, one per core: the default) and of the Dask backend on a
``distributed.LocalCluster`` with one single-threaded worker process per core on
127.0.0.1 (cluster start-up timed separately). Checks that both documents are
identical and prints the ratio of medians. On one machine the Dask path can only add
overhead (task scheduling, a TCP hop per chunk); its point is many machines.

Usage::

    python benchmarks/bench_distributed.py --files 2000 --size 256 --repeat 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np
from PIL import Image

import segstats

# Number of classes in the generated masks.
NUM_CLASSES = 19
# Value of void pixels in the generated masks.
IGNORE_INDEX = 255


def write_masks(folder: str, count: int, size: int, seed: int = 0) -> None:
    """``count`` piecewise-constant ``size`` x ``size`` L masks with some void pixels."""
    rng = np.random.default_rng(seed)
    for index in range(count):
        blocks = rng.integers(0, NUM_CLASSES, size=(size // 16, size // 16), dtype=np.uint8)
        mask = np.kron(blocks, np.ones((16, 16), dtype=np.uint8))
        mask[rng.random(mask.shape) < 0.02] = IGNORE_INDEX
        Image.fromarray(mask, "L").save(os.path.join(folder, f"mask_{index:06d}.png"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each backend, interleaved")
    parser.add_argument(
        "--decoder",
        default="pillow",
        choices=["auto", "fast", "pillow"],
        help="the decoder of both backends (auto decides per backend, so it may differ between them)",
    )
    args = parser.parse_args()

    from distributed import LocalCluster

    with tempfile.TemporaryDirectory() as folder:
        write_masks(folder, args.files, args.size)
        options = {"num_classes": NUM_CLASSES, "ignore_index": IGNORE_INDEX, "decoder": args.decoder}
        segstats.scan(folder, **options)  # warm the page cache and the worker pool

        started = time.perf_counter()
        with LocalCluster(
            n_workers=args.workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster:
            startup_s = time.perf_counter() - started
            local_times, dask_times = [], []
            for _ in range(args.repeat):  # interleaved, so that a load change hits both alike
                started = time.perf_counter()
                local = segstats.scan(folder, jobs=args.workers, **options)
                local_times.append(time.perf_counter() - started)
                started = time.perf_counter()
                remote = segstats.scan(folder, backend="dask", scheduler=cluster.scheduler_address, **options)
                dask_times.append(time.perf_counter() - started)

    assert remote.to_dict() == local.to_dict(), "the Dask document differs from the local one"
    print(
        f"{args.files} masks of {args.size}x{args.size}, {args.workers} workers, "
        f"--decoder {args.decoder}, identical documents"
    )
    local_s, dask_s = statistics.median(local_times), statistics.median(dask_times)
    print(f"local backend (joblib threads):   median {local_s:6.2f} s  {args.files / local_s:8.1f} images/s")
    print(f"dask LocalCluster (processes):    median {dask_s:6.2f} s  {args.files / dask_s:8.1f} images/s")
    print("  local runs (s): " + " ".join(f"{t:.2f}" for t in local_times))
    print("  dask runs (s):  " + " ".join(f"{t:.2f}" for t in dask_times))
    print(f"dask cluster start-up (not in the scan times): {startup_s:.2f} s")
    print(f"ratio dask / local throughput (medians): {local_s / dask_s:.2f}x")


if __name__ == "__main__":
    main()
