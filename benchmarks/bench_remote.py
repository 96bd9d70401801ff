"""Fetch throughput (images/s) of ``fetch_many`` against per-request latency and requests in flight.

VOC-size masks (512x512 P, from make_masks.py) are served over loopback HTTP by
``tests/delay_server.py`` in a separate process, which answers every request
after a fixed delay (an object store's latency). Each measurement is a fresh
child process that fetches every file once with ``fetch_many`` (fetch only, no
counting) and reports images/s and its peak RSS; the median of ``--repeat`` runs
is shown, with the CPU time per image of the client and of the server (less
sensitive than images/s to other load on the machine). Baselines in the same
run: the same child reading the files from the local disk (peak RSS reference),
and one request at a time (the scan before issue 15) on a subset.

Usage: ``python benchmarks/bench_remote.py [--images 1500] [--repeat 3]
[--latencies 0,10,50,100] [--concurrency 8,32,64,128]``. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# Its own folder: make_masks' own voc/ set (600 files) is left as the other benchmarks expect it.
DATA_DIR = os.path.join(HERE, "data", "remote")
# One request at a time is slow: measured on this many files only.
SERIAL_IMAGES = 100


def peak_rss_kib() -> int:
    """This process's peak RSS. Not ru_maxrss: after fork+exec it keeps the parent's peak."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # other systems: an upper bound


def child(args: argparse.Namespace) -> None:
    """One measurement in this process: fetch (or read) every listed file once."""
    sys.path.insert(0, ROOT)
    from segstats.sources.remote_fetch import FetchOptions, FetchStats, fetch_many

    with open(args.urls) as handle:
        urls = handle.read().split()
    stats = FetchStats()
    nbytes, errors = 0, 0
    if args.mode != "local":
        # A scan lists the files with fsspec's HTTP filesystem first, which imports these:
        # their import is the listing's cost, not the fetching's.
        import fsspec.implementations.http  # noqa: F401
    cpu_start, start = time.process_time(), time.perf_counter()
    if args.mode == "local":
        for path in urls:
            with open(path, "rb") as handle:
                nbytes += len(handle.read())
    elif args.mode == "serial":
        from segstats.remote import read_remote_bytes

        for url in urls:
            nbytes += len(read_remote_bytes(url))
    else:
        options = FetchOptions.from_env(concurrency=int(args.concurrency) or None)
        for _, data in fetch_many(urls, options, stats=stats):
            if isinstance(data, bytes):
                nbytes += len(data)
            else:
                errors += 1
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    peak_kib = peak_rss_kib()
    result = {
        "images_per_s": len(urls) / elapsed,
        "seconds": elapsed,
        "cpu_ms_per_image": 1000 * cpu / len(urls),
        "bytes": nbytes,
        "errors": errors,
        "peak_rss_mb": peak_kib / 1024,
        "peak_in_flight": stats.peak_in_flight,
        "peak_held_mb": stats.peak_bytes_held / 2**20,
    }
    print(json.dumps(result))


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux /proc; 0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def run_child(
    mode: str, urls: list[str], concurrency: int, scratch: str, server_pid: int = 0
) -> dict[str, float]:
    list_path = os.path.join(scratch, "urls.txt")
    with open(list_path, "w") as handle:
        handle.write("\n".join(urls))
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--child",
        mode,
        "--urls",
        list_path,
        "--concurrency",
        str(concurrency),
    ]
    server_cpu = process_cpu_seconds(server_pid) if server_pid else 0.0
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    if server_pid:
        result["server_cpu_ms_per_image"] = 1000 * (process_cpu_seconds(server_pid) - server_cpu) / len(urls)
    if result["errors"]:
        raise SystemExit(f"{mode} c={concurrency}: {result['errors']} files failed")
    return result


class Server:
    """tests/delay_server.py in its own process (its own GIL, as a real server would be)."""

    def __init__(self, folder: str, delay_ms: float) -> None:
        script = os.path.join(ROOT, "tests", "delay_server.py")
        self.process = subprocess.Popen(
            [sys.executable, script, folder, "--delay", str(delay_ms / 1000)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http://"):
            raise SystemExit("the delay server did not start")

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


def median_of(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--latencies", default="0,10,50,100", help="milliseconds, comma-separated")
    parser.add_argument("--concurrency", default="8,32,64,128", help="requests in flight, comma-separated")
    parser.add_argument("--no-serial", action="store_true", help="skip the one-request-at-a-time rows")
    parser.add_argument("--child", choices=["fetch", "serial", "local"], help=argparse.SUPPRESS)
    parser.add_argument("--urls", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.mode = args.child
        child(args)
        return

    sys.path.insert(0, HERE)
    from make_masks import make_kind

    folder = make_kind("voc", args.images, DATA_DIR)
    names = sorted(os.listdir(folder))
    total_mb = sum(os.path.getsize(os.path.join(folder, n)) for n in names) / 2**20
    scratch = os.path.join(DATA_DIR, "scratch")
    os.makedirs(scratch, exist_ok=True)
    latencies = [float(x) for x in args.latencies.split(",")]
    levels = [int(x) for x in args.concurrency.split(",")]

    print(
        f"{len(names)} VOC-size masks (512x512 P), {total_mb:.1f} MB, {os.cpu_count()} CPUs, "
        f"median of {args.repeat}; server: tests/delay_server.py in another process"
    )
    local = [
        run_child("local", [os.path.join(folder, n) for n in names], 0, scratch) for _ in range(args.repeat)
    ]
    print(
        f"\nlocal read (reference): {median_of(local, 'images_per_s'):.0f} images/s, "
        f"peak RSS {median_of(local, 'peak_rss_mb'):.1f} MB\n"
    )
    print(
        "| latency (ms) | in flight | images/s | MB/s | client CPU ms/image | server CPU ms/image "
        "| peak RSS (MB) | RSS - local (MB) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for latency in latencies:
        server = Server(folder, latency)
        try:
            urls = [f"{server.url}/{n}" for n in names]
            rows: list[tuple[str, list[dict[str, float]]]] = []
            if not args.no_serial:
                serial = [
                    run_child("serial", urls[:SERIAL_IMAGES], 1, scratch, server.process.pid)
                    for _ in range(args.repeat)
                ]
                rows.append((f"1 (serial, {SERIAL_IMAGES} files)", serial))
            for level in levels:
                runs = [
                    run_child("fetch", urls, level, scratch, server.process.pid) for _ in range(args.repeat)
                ]
                rows.append((str(level), runs))
            for label, runs in rows:
                rate = median_of(runs, "images_per_s")
                rss = median_of(runs, "peak_rss_mb")
                print(
                    f"| {latency:g} | {label} | {rate:.0f} | {rate * total_mb / len(names):.1f} "
                    f"| {median_of(runs, 'cpu_ms_per_image'):.2f} "
                    f"| {median_of(runs, 'server_cpu_ms_per_image'):.2f} "
                    f"| {rss:.1f} | {rss - median_of(local, 'peak_rss_mb'):+.1f} |",
                    flush=True,
                )
        finally:
            server.close()


if __name__ == "__main__":
    main()
