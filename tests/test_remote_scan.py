"""Scanning over HTTP with latency, 503s and dropped connections gives the local document.

The delaying server (tests/delay_server.py) answers every request after a delay and
fails some requests; the scan fetches each chunk with many requests in flight and
retries transient errors, on the local backend (threads) and on a Dask LocalCluster.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from delay_server import serve_files
from labelmasks import brute_force, random_mask, same_counts
from PIL import Image
from typer.testing import CliRunner

import segstats
from segstats.cli import app
from segstats.errors import BadInputError

# Fast retries for tests (the defaults back off 0.2 s, 0.4 s, ...).
FETCH = {"retries": 3, "concurrency": 16, "timeout": 10.0}


@pytest.fixture
def masks(tmp_path):
    """70 masks (the parallel path starts at 64 files) on disk and as served bytes."""
    rng = np.random.default_rng(21)
    folder = tmp_path / "labels"
    folder.mkdir()
    files, arrays = {}, []
    for index in range(70):
        array = random_mask(rng, 12, 16, 4, ignore_index=255)
        buffer = io.BytesIO()
        Image.fromarray(array.astype(np.uint8), "L").save(buffer, format="PNG")
        name = f"m{index:03d}.png"
        files[name] = buffer.getvalue()
        (folder / name).write_bytes(files[name])
        arrays.append(array)
    return folder, files, arrays


def test_http_scan_with_latency_and_transient_errors_equals_the_local_scan(masks):
    folder, files, arrays = masks
    local = segstats.scan(folder, num_classes=4, ignore_index=255)
    names = sorted(files)
    with serve_files(files, delay=0.02) as (base, server):
        server.fail = {names[0]: 2, names[33]: 1}  # 503, then the file
        server.drop = {names[50]: 1}  # a reset connection
        urls = [f"{base}/{name}" for name in names]
        remote = segstats.scan(urls[0], files=urls, num_classes=4, ignore_index=255, jobs=2, fetch=FETCH)
    assert same_counts(remote, local)
    assert remote.pixel_counts.tolist() == brute_force(arrays, 4, 255).pixel_counts
    assert server.attempts[names[0]] == 3 and server.attempts[names[33]] == 2
    assert server.peak_active > 2  # more requests in flight than workers


def test_a_persistent_503_names_the_url_and_skip_errors_counts_it(masks):
    _, files, _ = masks
    names = sorted(files)
    with serve_files(files) as (base, server):
        server.fail = {names[7]: 100}
        urls = [f"{base}/{name}" for name in names]
        with pytest.raises(BadInputError) as caught:
            segstats.scan(urls[0], files=urls, num_classes=4, ignore_index=255, fetch=FETCH)
        assert caught.value.path == urls[7] and "503" in caught.value.cause
        assert "after 4 attempts" in caught.value.cause
        skipped = segstats.scan(
            urls[0], files=urls, num_classes=4, ignore_index=255, skip_errors=True, fetch=FETCH
        )
    assert skipped.num_images == 69 and [e["path"] for e in skipped.errors] == [urls[7]]


def test_fetch_options_on_the_command_line(masks, tmp_path):
    _, files, _ = masks
    with serve_files(files, delay=0.01) as (base, server):
        server.fail = {sorted(files)[3]: 1}
        result = CliRunner().invoke(
            app,
            [
                "weights",
                f"{base}/",
                "-k",
                "4",
                "--ignore-index",
                "255",
                "-q",
                "--fetch-concurrency",
                "8",
                "--fetch-retries",
                "1",
                "--fetch-max-bytes",
                "1M",
            ],
        )
        assert result.exit_code == 0, result.output
        assert server.peak_active <= 8 * 2  # at most 8 per worker thread
        bad = CliRunner().invoke(app, ["weights", f"{base}/", "-k", "4", "--fetch-max-bytes", "lots"])
    assert bad.exit_code == 2 and "not a size" in bad.output


def test_dask_backend_fetches_inside_each_task(masks):
    distributed = pytest.importorskip("distributed")
    folder, files, _ = masks
    local = segstats.scan(folder, num_classes=4, ignore_index=255)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=":0"
        ) as cluster,
        serve_files(files, delay=0.01) as (base, server),
    ):
        server.fail = {sorted(files)[5]: 1}
        urls = [f"{base}/{name}" for name in sorted(files)]
        remote = segstats.scan(
            urls[0],
            files=urls,
            num_classes=4,
            ignore_index=255,
            backend="dask",
            scheduler=cluster.scheduler_address,
            fetch=FETCH,
        )
    assert same_counts(remote, local)
