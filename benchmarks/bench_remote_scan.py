"""Whole ``segstats scan`` processes over HTTP against per-request latency: images/s and peak RSS.

VOC-size masks (make_masks.py "voc") are served over loopback by
``tests/delay_server.py`` in its own process, which answers every request after a
fixed delay (an object store's latency). Each measurement is a fresh
``segstats scan URL/ -k 21 --ignore-index 255 -o out.json -q`` process (listing,
fetching and counting: what a user runs), timed from outside with its peak RSS
(``os.wait4``). Baseline in the same run: the same scan of the same files on the local
disk. Rows are interleaved (every configuration once per round), medians shown. With
``--dask``, the 50 ms row is repeated on a ``LocalCluster`` of 2 single-threaded worker
processes (the scheduler address passed with ``--scheduler``); cluster start-up is not
counted.

Usage: ``python benchmarks/bench_remote_scan.py [--images 1500] [--repeat 3]
[--latencies 0,10,50,100] [--concurrency 16,64] [--dask]``. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
DATA_DIR = os.path.join(HERE, "data", "remote")


def timed(command: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one whole process."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    stderr = process.stderr.read().decode() if process.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed: {stderr.strip()}")
    return wall, usage.ru_maxrss / 1024


def scan_command(source: str, out: str, extra: list[str]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "segstats",
        "scan",
        source,
        "-k",
        "21",
        "--ignore-index",
        "255",
        "-o",
        out,
        "-q",
        *extra,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--latencies", default="0,10,50,100", help="milliseconds, comma-separated")
    parser.add_argument(
        "--concurrency", default="16,64", help="--fetch-concurrency values (64 is the default)"
    )
    parser.add_argument("--dask", action="store_true", help="also the 50 ms row on a LocalCluster")
    args = parser.parse_args()
    from bench_remote import Server  # the delay server in its own process
    from make_masks import make_kind

    folder = make_kind("voc", args.images, DATA_DIR)
    latencies = [float(v) for v in args.latencies.split(",")]
    concurrencies = [int(v) for v in args.concurrency.split(",")]
    scratch = tempfile.mkdtemp(prefix="segstats-bench-")
    servers = {latency: Server(folder, latency) for latency in latencies}
    cluster = None
    if args.dask:
        import distributed

        # the scheduler (this process) and the workers unpickle segstats' tasks: they need it too
        sys.path.insert(0, ROOT)
        os.environ["PYTHONPATH"] = ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")

        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=":0"
        )
    configs: list[tuple[str, list[str]]] = [("local disk", scan_command(folder, f"{scratch}/l.json", []))]
    for latency in latencies:
        for concurrency in concurrencies:
            configs.append(
                (
                    f"http {latency:g} ms, {concurrency} in flight",
                    scan_command(
                        servers[latency].url + "/",
                        f"{scratch}/h.json",
                        ["--fetch-concurrency", str(concurrency)],
                    ),
                )
            )
    if cluster is not None and 50.0 in servers:
        configs.append(
            (
                "http 50 ms, Dask LocalCluster (2 workers)",
                scan_command(
                    servers[50.0].url + "/",
                    f"{scratch}/d.json",
                    ["--backend", "dask", "--scheduler", cluster.scheduler_address],
                ),
            )
        )
    try:
        for _, command in configs:  # warm-up: page cache, imports
            timed(command)
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in configs}
        for _ in range(args.repeat):
            for name, command in configs:
                runs[name].append(timed(command))
        with open(f"{scratch}/l.json") as a, open(f"{scratch}/h.json") as b:
            local_doc, http_doc = json.load(a), json.load(b)
        local_doc.pop("files_digest"), http_doc.pop("files_digest")
        if local_doc != http_doc:
            raise SystemExit("the HTTP scan's document differs from the local scan's")
    finally:
        for server in servers.values():
            server.close()
        if cluster is not None:
            cluster.close()
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(
        f"\n{now}, {platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{args.images} VOC-size masks, median of {args.repeat} interleaved rounds, whole processes"
    )
    print(f"command: python benchmarks/bench_remote_scan.py {' '.join(sys.argv[1:])}\n")
    base_wall = statistics.median(w for w, _ in runs["local disk"])
    base_rss = statistics.median(r for _, r in runs["local disk"])
    print("| source | wall s (min-max) | images/s | vs local disk | peak RSS MiB (vs local) |")
    print("|---|---:|---:|---:|---:|")
    for name, values in runs.items():
        walls = [w for w, _ in values]
        wall, rss = statistics.median(walls), statistics.median(r for _, r in values)
        print(
            f"| {name} | {wall:.2f} ({min(walls):.2f}-{max(walls):.2f}) | {args.images / wall:,.0f} | "
            f"{base_wall / wall:.2f}x | {rss:.0f} ({rss - base_rss:+.0f}) |"
        )


if __name__ == "__main__":
    main()
