"""Peak memory of the per-image table: N rows through TableWriter, each case in a fresh process.

Usage::

    python benchmarks/bench_table.py [--rows 1000000] [--classes 19] [--cases jsonl csv ...]

Cases: ``baseline`` (a process that only imports segstats), ``baseline-table``
(imports segstats.table and numpy, what a writer process needs), ``jsonl``, ``csv``
(K known up front), ``csv-staged`` (K only known at the end: rows staged as jsonl in
an anonymous temporary file, converted at close), ``parquet``, ``read-jsonl`` (read
the jsonl table back, row by row), ``sample`` (repeat-factor weights from it: this
one keeps C_i and the paths for all N rows, so it grows with N by design).

Rows are generated on the fly (about 5 classes each, Cityscapes-like K=19) and never
held, so a flat writer shows the baseline's peak RSS whatever N is. Peak RSS is
``resource.getrusage(RUSAGE_SELF).ru_maxrss`` of the child (KiB on Linux).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, os, resource, sys, time
sys.path.insert(0, {repo!r})
case, rows, classes, folder = {case!r}, {rows}, {classes}, {folder!r}
import segstats
if case != "baseline":
    import numpy as np
    from segstats.table import ImageRow, TableWriter, read_table

def generate():
    for i in range(rows):
        first = i % classes
        ids = sorted({{first, (first * 7 + 3) % classes, (i // 3) % classes, (i * 13) % classes, 0}})
        pixels = [1000 + (i + c) % 5000 for c in ids]
        yield ImageRow(
            f"leftImg8bit/train/city{{i // 1000:04d}}/frame_{{i:07d}}_gtFine_labelIds.png",
            2048, 1024, 1024, np.array(ids, dtype=np.int64), np.array(pixels, dtype=np.int64),
            size=100_000 + i, mtime_ns=1_700_000_000_000_000_000 + i,
        )

start = time.perf_counter()
path = None
if case in ("jsonl", "csv", "csv-staged", "parquet"):
    suffix = "csv" if case.startswith("csv") else case
    path = os.path.join(folder, f"rows.{{suffix}}")
    k = None if case == "csv-staged" else classes
    with TableWriter(path, k, label_options="0123456789abcdef") as table:
        for row in generate():
            table.write(row)
elif case == "read-jsonl":
    n = sum(1 for _ in read_table(os.path.join(folder, "rows.jsonl")))
    assert n == rows, n
elif case == "sample":
    from segstats.sampling import sampling_weights
    weights = sampling_weights(os.path.join(folder, "rows.jsonl"), "repeat-factor", threshold=0.5)
    assert weights.size == rows
seconds = time.perf_counter() - start
size = os.path.getsize(path) if path else None
print(json.dumps({{"case": case, "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "seconds": round(seconds, 2), "bytes": size}}))
"""

ALL_CASES = ["baseline", "baseline-table", "jsonl", "csv", "csv-staged", "parquet", "read-jsonl", "sample"]


def run_case(case: str, rows: int, classes: int, folder: str) -> dict[str, object]:
    code = CHILD.format(repo=str(REPO), case=case, rows=rows, classes=classes, folder=folder)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--classes", type=int, default=19)
    parser.add_argument("--cases", nargs="+", default=ALL_CASES, choices=ALL_CASES)
    parser.add_argument("--dir", default=None, help="folder for the tables (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        print(f"{args.rows} rows, K={args.classes}, python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
        print(f"{'case':<16}{'peak RSS MiB':>14}{'seconds':>10}{'file MB':>10}")
        for case in args.cases:
            if case in ("read-jsonl", "sample") and not os.path.exists(os.path.join(folder, "rows.jsonl")):
                run_case("jsonl", args.rows, args.classes, folder)
            r = run_case(case, args.rows, args.classes, folder)
            size = f"{int(r['bytes']) / 1e6:.1f}" if r["bytes"] is not None else "-"  # type: ignore[call-overload]
            print(f"{case:<16}{int(r['maxrss_kib']) / 1024:>14.1f}{r['seconds']:>10}{size:>10}")  # type: ignore[call-overload]


if __name__ == "__main__":
    main()
