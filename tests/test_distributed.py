"""--backend dask: a real LocalCluster (2 worker processes on loopback) gives the local document."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from labelmasks import brute_force, random_mask, same_counts, write_mask
from static_server import serve_directory
from typer.testing import CliRunner

import segstats
from segstats import cluster
from segstats.cli import app
from segstats.errors import BadInputError, UsageError
from segstats.reduce import chunk_paths

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Worker processes of the test cluster (one thread each).
WORKERS = 2
runner = CliRunner()


@pytest.fixture(scope="module")
def scheduler():
    """A LocalCluster with WORKERS worker processes on 127.0.0.1, closed after this module."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=WORKERS,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",
        worker_dashboard_address=":0",
    ) as local_cluster:
        yield local_cluster.scheduler_address


@pytest.fixture
def masks(tmp_path, rng):
    """40 small masks (L, P and I;16) in nested folders, and their arrays."""
    arrays = []
    for index in range(40):
        folder = tmp_path / "labels" / f"d{index % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        array = random_mask(rng, 10 + index % 7, 12, 5, ignore_index=255)
        write_mask(folder / f"m{index:03d}.png", array, ("L", "P", "I;16")[index % 3])
        arrays.append(array)
    return tmp_path / "labels", arrays


def test_cluster_document_equals_the_local_run(scheduler, masks):
    folder, arrays = masks
    local = segstats.scan(folder, num_classes=5, ignore_index=255, jobs=1)
    done = []
    distributed_run = segstats.scan(
        folder, num_classes=5, ignore_index=255, backend="dask", scheduler=scheduler, progress=done.append
    )
    assert distributed_run.to_dict() == local.to_dict()
    assert distributed_run.image_sizes == local.image_sizes
    assert distributed_run.image_modes == local.image_modes
    expected = brute_force(arrays, 5, 255)
    assert distributed_run.pixel_counts.tolist() == expected.pixel_counts
    assert distributed_run.image_counts.tolist() == expected.image_counts
    assert distributed_run.image_pixels.tolist() == expected.image_pixels
    # progress: one call per finished chunk, files adding up; more chunks than workers
    assert sum(done) == 40
    assert len(done) == len(chunk_paths(list(range(40)), WORKERS)) > WORKERS


def test_cluster_reads_files_on_the_workers(scheduler, masks, monkeypatch):
    """The workers open the files: with reading poisoned in this process, the scan still works."""
    import distributed

    from segstats import reduce

    folder, arrays = masks
    with distributed.Client(scheduler, set_as_default=False) as client:
        pids = set(client.run(os.getpid).values())
    assert os.getpid() not in pids and len(pids) == WORKERS

    def poisoned(items, paths, options, dense=None):
        raise AssertionError(f"the client read {paths[0]}")

    monkeypatch.setattr(reduce, "decode_chunk", poisoned)
    with pytest.raises(AssertionError, match="the client read"):
        segstats.scan(folder, num_classes=5, ignore_index=255, jobs=1)  # the poison works locally
    stats = segstats.scan(folder, num_classes=5, ignore_index=255, backend="dask", scheduler=scheduler)
    assert stats.num_images == 40
    assert stats.pixel_counts.tolist() == brute_force(arrays, 5, 255).pixel_counts


def test_cluster_inferred_k_and_skipped_errors_match_local(scheduler, masks):
    folder, _ = masks
    (folder / "d1" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnope")
    (folder / "d2" / "empty.png").write_bytes(b"")
    local = segstats.scan(folder, ignore_index=255, skip_errors=True, jobs=1)
    remote = segstats.scan(folder, ignore_index=255, skip_errors=True, backend="dask", scheduler=scheduler)
    assert same_counts(remote, local)
    assert [e["path"] for e in remote.errors] == [str(folder / "d1/broken.png"), str(folder / "d2/empty.png")]
    with pytest.raises(BadInputError) as info:
        segstats.scan(folder, ignore_index=255, backend="dask", scheduler=scheduler)
    # the bad file of the first chunk to finish with one (chunks finish in any order)
    assert info.value.path in (str(folder / "d1" / "broken.png"), str(folder / "d2" / "empty.png"))


def test_cluster_applies_the_value_map_like_local(scheduler, masks):
    folder, _ = masks
    options = {"num_classes": 3, "ignore_index": 255, "value_map": {0: 0, 1: 0, 2: 1, 3: 2, 4: 2, 255: 255}}
    local = segstats.scan(folder, jobs=1, **options)
    remote = segstats.scan(folder, backend="dask", scheduler=scheduler, **options)
    assert same_counts(remote, local)
    assert remote.pixel_counts.sum() + remote.ignored_pixels == remote.total_pixels


def test_cluster_reads_file_urls(scheduler, masks):
    folder, _ = masks
    local = segstats.scan(folder, num_classes=5, ignore_index=255, jobs=1)
    remote = segstats.scan(
        "file://" + str(folder), num_classes=5, ignore_index=255, backend="dask", scheduler=scheduler
    )
    assert same_counts(remote, local)


def test_cluster_workers_fetch_http_urls(scheduler, masks):
    """Remote URLs: the client lists the served folder, the worker processes download the files."""
    pytest.importorskip("aiohttp")
    folder, _ = masks
    local = segstats.scan(folder, num_classes=5, ignore_index=255, jobs=1)
    with serve_directory(folder) as base:
        remote = segstats.scan(
            f"{base}/", num_classes=5, ignore_index=255, backend="dask", scheduler=scheduler
        )
    assert same_counts(remote, local)


def test_scheduler_from_the_environment(scheduler, masks, monkeypatch):
    folder, _ = masks
    monkeypatch.setenv(cluster.SCHEDULER_ENV, scheduler)
    stats = segstats.scan(folder, num_classes=5, ignore_index=255, backend="dask")
    assert stats.num_images == 40


def test_default_client_is_used_and_left_open(scheduler, masks, monkeypatch):
    import distributed

    folder, _ = masks
    monkeypatch.delenv(cluster.SCHEDULER_ENV, raising=False)
    with distributed.Client(scheduler) as client:  # the default client of this process
        stats = segstats.scan(folder, num_classes=5, ignore_index=255, backend="dask")
        assert stats.num_images == 40
        assert client.status == "running"


def test_cluster_without_workers(masks, monkeypatch):
    import distributed

    folder, _ = masks
    monkeypatch.setattr(cluster, "WORKER_WAIT_S", 1)
    with (
        distributed.LocalCluster(
            n_workers=0, processes=True, host="127.0.0.1", dashboard_address=":0"
        ) as empty,
        pytest.raises(segstats.SegstatsError, match="has no workers"),
    ):
        segstats.scan(folder, num_classes=5, backend="dask", scheduler=empty.scheduler_address)


def test_cli_dask_document_equals_local(scheduler, masks, tmp_path):
    folder, _ = masks
    local_out, dask_out = tmp_path / "local.json", tmp_path / "dask.json"
    common = ["scan", str(folder), "-k", "5", "--ignore-index", "255"]
    result = runner.invoke(app, [*common, "-o", str(local_out)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, [*common, "--backend", "dask", "--scheduler", scheduler, "-o", str(dask_out)])
    assert result.exit_code == 0, result.output
    assert json.loads(dask_out.read_text()) == json.loads(local_out.read_text())


def test_cli_subprocess_weights_on_the_cluster(scheduler, masks):
    folder, _ = masks
    env = dict(os.environ, PYTHONPATH=ROOT, NO_COLOR="1", SEGSTATS_SCHEDULER=scheduler)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "segstats",
            "weights",
            str(folder),
            "-k",
            "5",
            "--ignore-index",
            "255",
            "--backend",
            "dask",
            "--shard",
            "1/2",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)) == 5
    assert "scanned 20 images" in result.stderr and "shard 1/2: 20 of 40 files" in result.stderr


def test_cluster_shards_merge_to_the_whole(scheduler, masks):
    folder, _ = masks
    whole = segstats.scan(folder, num_classes=5, ignore_index=255, jobs=1)
    parts = [
        segstats.scan(
            folder, num_classes=5, ignore_index=255, backend="dask", scheduler=scheduler, shard=(i, 3)
        )
        for i in range(3)
    ]
    assert segstats.merge_stats(parts).to_dict() == whole.to_dict()


# --------------------------------------------------------------- refusals
def test_memory_files_are_refused_on_dask():
    with pytest.raises(UsageError, match="memory:// files exist in this process only"):
        cluster.connect(None, ["memory://x/a.png"])


def test_missing_dask_extra_names_it(monkeypatch, masks):
    folder, _ = masks
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(UsageError) as info:
        segstats.scan(folder, num_classes=5, ignore_index=255, backend="dask", scheduler="tcp://127.0.0.1:1")
    assert "pip install 'segstats[dask]'" in str(info.value)


def test_cli_missing_dask_extra_is_one_line_exit_2(monkeypatch, masks, tmp_path):
    folder, _ = masks
    monkeypatch.setitem(sys.modules, "distributed", None)
    out = tmp_path / "s.json"
    result = runner.invoke(
        app,
        [
            "scan",
            str(folder),
            "-k",
            "5",
            "--ignore-index",
            "255",
            "--backend",
            "dask",
            "--scheduler",
            "tcp://127.0.0.1:1",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "segstats[dask]" in lines[0]
    assert not out.exists()


def test_dask_without_a_scheduler(monkeypatch, masks):
    folder, _ = masks
    monkeypatch.delenv(cluster.SCHEDULER_ENV, raising=False)
    with pytest.raises(UsageError, match="--scheduler ADDRESS"):
        segstats.scan(folder, num_classes=5, ignore_index=255, backend="dask")


def test_unreachable_scheduler(monkeypatch, masks):
    folder, _ = masks
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 1)
    with pytest.raises(UsageError, match="cannot connect to the Dask scheduler at tcp://127.0.0.1:9"):
        segstats.scan(folder, num_classes=5, ignore_index=255, backend="dask", scheduler="tcp://127.0.0.1:9")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"backend": "spark"}, "unknown backend 'spark'"),
        ({"scheduler": "tcp://h:8786"}, "--scheduler needs --backend dask"),
        ({"backend": "dask", "jobs": 4}, "--jobs applies to --backend local"),
    ],
)
def test_backend_option_combinations(masks, options, message):
    folder, _ = masks
    with pytest.raises(UsageError, match=message):
        segstats.scan(folder, num_classes=5, ignore_index=255, **options)


def test_cli_backend_refusals_exit_2(masks, tmp_path):
    folder, _ = masks
    out = tmp_path / "s.json"
    for extra in (["--backend", "spark"], ["--scheduler", "tcp://h:1"], ["--backend", "dask", "-j", "2"]):
        result = runner.invoke(
            app, ["scan", str(folder), "-k", "5", "--ignore-index", "255", *extra, "-o", str(out)]
        )
        assert result.exit_code == 2, (extra, result.output)
        assert not out.exists()


def _slow_unless_first(index: int) -> int:
    import time

    if index:
        time.sleep(0.5)  # still running when the caller stops at task 0's result
    return index


def test_stopping_early_cancels_the_other_tasks_without_a_warning(scheduler):
    """The reduce loop stops at a bad file's chunk; joblib then cancels the tasks still running and
    warns about it, which a user of --backend dask would see as a stray UserWarning."""
    import warnings

    distributed = pytest.importorskip("distributed")
    from segstats.executors import DaskExecutor

    with distributed.Client(scheduler) as client, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = DaskExecutor(client=client).run(_slow_unless_first, [(i,) for i in range(WORKERS + 2)])
        assert next(iter(results))[0] == 0
        results.close()  # as the reduce loop's generator is closed when it stops
    assert [str(w.message) for w in caught if "still being processed" in str(w.message)] == []
