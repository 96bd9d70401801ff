"""Ctrl-C (SIGINT) and SIGTERM during a scan, through a real ``python -m segstats`` process.

The scans use ``--decoder pillow`` (the slower path) so that they are still
running when the signal arrives; ``-j 2`` runs the worker pool (threads by
default; loky processes where a backend uses them: descendants are checked too).

The scan must stop within a few seconds with exit 130 / 143 and one line on
stderr, leave no output and no temporary file (an existing output file stays
byte-identical), and leave no worker process behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

psutil = pytest.importorskip("psutil")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Copies of one 2000x2000 mask (~30 ms to decode each): several seconds of scanning on 1 or 2 workers.
NUM_FILES = 240
# Seconds the process may take to exit after the signal (it is well under one when the machine is idle).
EXIT_WITHIN_S = 5.0
# Seconds the worker processes may take to disappear after the parent exited.
WORKERS_GONE_WITHIN_S = 10.0
SENTINEL = b'{"previous": "output"}\n'


@pytest.fixture(scope="module")
def big_dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("big")
    rng = np.random.default_rng(7)
    blocks = rng.integers(0, 3, size=(500, 500))
    array = np.kron(blocks, np.ones((4, 4), dtype=np.int64)).astype(np.uint8)
    Image.fromarray(array).save(folder / "m0000.png")
    data = (folder / "m0000.png").read_bytes()
    for index in range(1, NUM_FILES):
        (folder / f"m{index:04d}.png").write_bytes(data)
    return folder


def wait_until_scanning(process: subprocess.Popen[bytes], jobs: int) -> list[psutil.Process]:
    """Wait until the scan is under way (with jobs > 1: the pool is up); return the child processes."""
    parent = psutil.Process(process.pid)
    started = time.monotonic()
    while time.monotonic() - started < 60:
        assert process.poll() is None, "the scan finished before the signal: make the dataset larger"
        if time.monotonic() - started > 1.5 and (jobs == 1 or parent.num_threads() > jobs):
            break  # imports done; with jobs > 1 the pool's threads (or processes) are up
        time.sleep(0.05)
    assert process.poll() is None, "the scan finished before the signal: make the dataset larger"
    return parent.children(recursive=True)


@pytest.mark.parametrize(
    ("signum", "jobs", "whole_group"),
    [
        (signal.SIGINT, 1, False),
        (signal.SIGTERM, 1, False),
        (signal.SIGINT, 2, False),
        (signal.SIGINT, 2, True),  # Ctrl-C in a terminal: the whole process group gets it
        (signal.SIGTERM, 2, False),
    ],
    ids=["sigint-serial", "sigterm-serial", "sigint-pool", "ctrl-c-group-pool", "sigterm-pool"],
)
def test_signal_stops_the_scan_cleanly(big_dataset, tmp_path, signum, jobs, whole_group):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    existing = out_dir / "stats.json"
    existing.write_bytes(SENTINEL)
    env = dict(os.environ, PYTHONPATH=ROOT, NO_COLOR="1")
    command = [
        "scan",
        str(big_dataset),
        "-k",
        "3",
        "-j",
        str(jobs),
        "--decoder",
        "pillow",
        "-o",
        str(existing),
    ]
    process = subprocess.Popen(
        [sys.executable, "-m", "segstats", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,  # its own process group, as a shell job would have
    )
    try:
        descendants = wait_until_scanning(process, jobs)
        sent = time.monotonic()
        if whole_group:
            os.killpg(process.pid, signum)
        else:
            process.send_signal(signum)
        _, stderr = process.communicate(timeout=60)
        elapsed = time.monotonic() - sent
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    expected = {signal.SIGINT: (130, "error: interrupted"), signal.SIGTERM: (143, "error: terminated")}
    code, message = expected[signum]
    text = stderr.decode()
    assert process.returncode == code, text
    assert elapsed < EXIT_WITHIN_S, f"took {elapsed:.1f} s to exit"
    assert text.strip().splitlines()[-1] == message
    if not whole_group:  # (workers hit by Ctrl-C while still starting may print their own traceback)
        assert "Traceback" not in text
    assert sorted(os.listdir(out_dir)) == ["stats.json"]  # no partial or temporary (.*.tmp) file
    assert existing.read_bytes() == SENTINEL
    _, alive = psutil.wait_procs(descendants, timeout=WORKERS_GONE_WITHIN_S)
    assert alive == [], f"orphaned processes: {alive}"
