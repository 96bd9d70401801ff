"""--per-image on --backend dask: a real LocalCluster gives the local run's table, byte for byte;
and the remote fingerprints (memory:// through fsspec) make incremental scans reuse rows."""

from __future__ import annotations

import json

import numpy as np
import pytest
from labelmasks import random_mask, write_mask
from typer.testing import CliRunner

import segstats
from segstats.cli import app
from segstats.table import read_table

runner = CliRunner()


@pytest.fixture(scope="module")
def scheduler():
    """A LocalCluster with 2 worker processes on 127.0.0.1, closed after this module."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",
        worker_dashboard_address=":0",
    ) as local_cluster:
        yield local_cluster.scheduler_address


def invoke(*args: object) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_dask_rows_equal_the_local_rows(tmp_path, rng, scheduler, suffix):
    folder = tmp_path / "labels"
    for index in range(90):  # more than one chunk per worker, so chunks finish out of order
        sub = folder / f"d{index % 3}"
        sub.mkdir(parents=True, exist_ok=True)
        write_mask(sub / f"m{index:03d}.png", random_mask(rng, 6 + index % 4, 9, 5, ignore_index=255), "L")
    common = ["scan", folder, "-k", 5, "--ignore-index", 255]
    invoke(*common, "-o", tmp_path / "local.json", "--per-image", tmp_path / f"local{suffix}", "-j", 2)
    invoke(
        *common,
        "-o",
        tmp_path / "dask.json",
        "--per-image",
        tmp_path / f"dask{suffix}",
        "--backend",
        "dask",
        "--scheduler",
        scheduler,
    )
    assert (tmp_path / f"dask{suffix}").read_bytes() == (tmp_path / f"local{suffix}").read_bytes()
    assert json.loads((tmp_path / "dask.json").read_text()) == json.loads(
        (tmp_path / "local.json").read_text()
    )
    # An incremental run on the cluster reads only the changed file.
    changed = folder / "d1" / "m004.png"
    write_mask(changed, np.full((3, 3), 2, dtype=np.uint8), "L")
    out = invoke(
        *common,
        "-o",
        tmp_path / "dask2.json",
        "--per-image",
        tmp_path / f"dask{suffix}",
        "--incremental",
        "--backend",
        "dask",
        "--scheduler",
        scheduler,
    )
    assert "read 1 file, reused 89 rows" in out
    invoke(*common, "-o", tmp_path / "local2.json", "--per-image", tmp_path / f"local{suffix}", "-j", 2)
    assert (tmp_path / f"dask{suffix}").read_bytes() == (tmp_path / f"local{suffix}").read_bytes()


def test_remote_rows_carry_the_listing_fingerprint_and_are_reused(tmp_path, rng):
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    root = "/per-image-test"
    for index in range(5):
        path = tmp_path / f"m{index}.png"
        write_mask(path, random_mask(rng, 7, 7, 3), "L")
        fs.pipe(f"{root}/m{index}.png", path.read_bytes())
    try:
        url = f"memory://{root}/"
        table = tmp_path / "rows.jsonl"
        invoke("scan", url, "-k", 3, "-o", tmp_path / "s.json", "--per-image", table)
        rows = list(read_table(table))
        assert [r.size for r in rows] == [fs.info(f"{root}/m{i}.png")["size"] for i in range(5)]
        assert all(r.mtime_ns is not None for r in rows)
        out = invoke("scan", url, "-k", 3, "-o", tmp_path / "s2.json", "--per-image", table, "--incremental")
        assert "read 0 files, reused 5 rows" in out
        fs.pipe(f"{root}/m2.png", (tmp_path / "m0.png").read_bytes() + b"")  # new object: new size/time
        out = invoke("scan", url, "-k", 3, "-o", tmp_path / "s3.json", "--per-image", table, "--incremental")
        assert "read 1 file, reused 4 rows" in out
        assert (
            json.loads((tmp_path / "s3.json").read_text())["pixel_counts"]
            == segstats.scan(url, num_classes=3).pixel_counts.tolist()
        )
    finally:
        fs.rm(root, recursive=True)
