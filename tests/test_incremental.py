"""Incremental scans: reuse rows of unchanged files, read the rest, drop the gone; same table."""

from __future__ import annotations

import datetime as dt
import os

import numpy as np
import pytest
from labelmasks import random_mask, write_mask

from segstats.decode import read_value_histogram
from segstats.histogram import LabelSpec, classify
from segstats.table import (
    Fingerprint,
    ImageRow,
    TableWriter,
    fingerprint_from_info,
    label_options_key,
    local_fingerprint,
    merged_rows,
    plan_incremental,
    read_table,
    reused_rows,
    row_from_counts,
    sum_rows,
)

SPEC = LabelSpec(num_classes=4, ignore_index=255)
KEY = label_options_key({"num_classes": 4, "ignore_index": 255, "map": None, "colors": None})


def count(path: str) -> ImageRow:
    fingerprint = local_fingerprint(path)  # before reading: a change while reading is seen next time
    histogram = read_value_histogram(path)
    return row_from_counts(
        path,
        classify(histogram, SPEC),
        histogram.width,
        histogram.height,
        size=fingerprint.size,
        mtime_ns=fingerprint.mtime_ns,
        label_options=KEY,
    )


def write_table(path, rows) -> None:
    with TableWriter(path, 4) as table:
        for row in rows:
            table.write(row)


def listed(folder) -> list[str]:
    return sorted(str(p) for p in folder.iterdir())


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_incremental_gives_the_full_scan_table(tmp_path, rng, suffix):
    folder = tmp_path / "labels"
    folder.mkdir()
    for index in range(7):
        write_mask(folder / f"m{index}.png", random_mask(rng, 10, 12, 4, 255), "L")
    table = tmp_path / f"rows{suffix}"
    write_table(table, [count(p) for p in listed(folder)])

    # Change one file (new content, new mtime), delete one, add one.
    changed = folder / "m2.png"
    write_mask(changed, random_mask(rng, 11, 12, 4, 255), "L")
    os.utime(changed, ns=(1, os.stat(changed).st_mtime_ns + 10**9))
    (folder / "m4.png").unlink()
    write_mask(folder / "m9.png", random_mask(rng, 8, 8, 4, 255), "L")

    current = listed(folder)
    plan = plan_incremental(read_table(table), [(p, local_fingerprint(p)) for p in current], KEY)
    assert plan.full_rescan is None
    assert plan.to_read == [str(changed), str(folder / "m9.png")]
    assert plan.dropped == 1 and plan.changed == 1
    assert plan.reuse == {str(folder / f"m{i}.png") for i in (0, 1, 3, 5, 6)}

    fresh = [count(p) for p in plan.to_read]
    with TableWriter(table, 4) as writer:  # over the old table, read while it is written
        for row in merged_rows(reused_rows(read_table(table), plan), fresh):
            writer.write(row)
    full = tmp_path / f"full{suffix}"
    write_table(full, [count(p) for p in current])
    assert table.read_bytes() == full.read_bytes()
    assert sum_rows(read_table(table), 4) == sum_rows(count(p) for p in current)


def test_other_label_options_mean_a_full_rescan(tmp_path, rng):
    path = write_mask(tmp_path / "a.png", random_mask(rng, 4, 4, 4, 255), "L")
    table = tmp_path / "t.jsonl"
    write_table(table, [count(path)])
    other = label_options_key({"num_classes": 4, "ignore_index": None, "map": None, "colors": None})
    plan = plan_incremental(read_table(table), [(path, local_fingerprint(path))], other)
    assert plan.full_rescan == "the table was written with other label options"
    assert plan.to_read == [path] and not plan.reuse


def test_unsorted_table_means_a_full_rescan():
    rows = [ImageRow(p, 1, 1, 1, [], [], size=1, mtime_ns=1) for p in ("b", "a")]
    plan = plan_incremental(rows, [("a", Fingerprint(1, 1)), ("b", Fingerprint(1, 1))], None)
    assert plan.full_rescan is not None and "sorted path order" in plan.full_rescan
    assert plan.to_read == ["a", "b"]


def test_unknown_fingerprint_is_read_again():
    rows = [ImageRow("a", 1, 1, 1, [], [], size=1, mtime_ns=1)]
    plan = plan_incremental(rows, [("a", None)], None)
    assert plan.to_read == ["a"] and plan.changed == 1


def test_label_options_key():
    a = label_options_key({"num_classes": 3, "ignore_index": 255, "map": {1: 0, 2: 1}})
    assert a == label_options_key({"map": {2: 1, 1: 0}, "ignore_index": 255, "num_classes": 3})
    assert a != label_options_key({"num_classes": 3, "ignore_index": 255, "map": {1: 0, 2: 2}})
    assert a != label_options_key({"num_classes": None, "ignore_index": 255, "map": {1: 0, 2: 1}})
    colours = {(1, 2, 3): 0, (4, 5, 6): 1}
    assert label_options_key({"colors": colours}) == label_options_key(
        {"colors": dict(reversed(colours.items()))}
    )


@pytest.mark.parametrize(
    ("old", "new", "same"),
    [
        (Fingerprint(5, 10), Fingerprint(5, 10), True),
        (Fingerprint(5, 10), Fingerprint(6, 10), False),
        (Fingerprint(5, 10), Fingerprint(5, 11), False),
        (Fingerprint(None, 10), Fingerprint(None, 10), False),  # size unknown
        (Fingerprint(5), Fingerprint(5), False),  # nothing but the size
        (Fingerprint(5, etag="x"), Fingerprint(5, 99, "x"), True),
        (Fingerprint(5, 10, "x"), Fingerprint(5, 10, "y"), False),
        (Fingerprint(5, 10), Fingerprint(5, None, "x"), False),  # nothing compared on both sides
    ],
)
def test_fingerprint_matching(old, new, same):
    assert old.matches(new) is same


def test_fingerprints_from_fsspec_info():
    stamp = dt.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=dt.timezone.utc)
    ns = int(stamp.timestamp()) * 10**9 + 123456000
    s3 = {"name": "b/k.png", "size": 10, "ETag": '"abc"', "LastModified": stamp, "type": "file"}
    assert fingerprint_from_info(s3) == Fingerprint(10, ns, '"abc"')
    gcs = {"size": 10, "etag": "CJ", "updated": "2024-01-02T03:04:05.123456Z"}
    assert fingerprint_from_info(gcs) == Fingerprint(10, ns, "CJ")
    http = {"size": None, "ETag": "W/x"}
    assert fingerprint_from_info(http) == Fingerprint(None, None, "W/x")
    local = {"size": 3, "mtime": 1.5}
    assert fingerprint_from_info(local) == Fingerprint(3, 1_500_000_000)
    sftp = {"size": 3, "mtime": 2}  # whole seconds
    assert fingerprint_from_info(sftp) == Fingerprint(3, 2_000_000_000)
    odd = {"size": True, "mtime": "not a date"}
    assert fingerprint_from_info(odd) == Fingerprint(None, None, None)


def test_memory_filesystem_fingerprint_changes_on_rewrite():
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    fs.pipe("/inc/a.png", b"12345")
    before = fingerprint_from_info(fs.info("/inc/a.png"))
    assert before.matches(fingerprint_from_info(fs.info("/inc/a.png")))
    fs.pipe("/inc/a.png", b"123456")
    assert not before.matches(fingerprint_from_info(fs.info("/inc/a.png")))
    fs.rm("/inc/a.png")


def test_merged_rows_refuses_duplicates():
    a = ImageRow("a", 1, 1, 1, [], [])
    b = ImageRow("b", 1, 1, 1, [], [])
    assert [r.path for r in merged_rows([a], [b])] == ["a", "b"]
    with pytest.raises(ValueError, match="duplicated"):
        list(merged_rows([a, b], [b]))


def test_local_fingerprint(tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(b"xyz")
    os.utime(path, ns=(0, 1_234_567_890_123))
    assert local_fingerprint(str(path)) == Fingerprint(3, 1_234_567_890_123)
    from segstats.errors import BadInputError

    with pytest.raises(BadInputError, match="cannot read"):
        local_fingerprint(str(tmp_path / "missing.png"))


def test_reused_rows_keep_their_counts(tmp_path):
    rows = [
        ImageRow(f"r{i}", 4, 1, 1, np.array([i % 3]), np.array([3]), size=i, mtime_ns=i) for i in range(5)
    ]
    table = tmp_path / "t.jsonl"
    write_table(table, rows)
    plan = plan_incremental(
        read_table(table), [(r.path, Fingerprint(r.size, r.mtime_ns)) for r in rows], None
    )
    assert plan.to_read == [] and len(plan.reuse) == 5
    assert list(reused_rows(read_table(table), plan)) == rows
