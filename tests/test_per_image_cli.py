"""--per-image FILE and --incremental on scan and weights: rows checked against a brute-force
count, sums against the document, atomic tables, incremental scans equal to full ones."""

from __future__ import annotations

import csv
import json
import os
from collections import Counter

import numpy as np
import pytest
from labelmasks import random_mask, write_mask
from typer.testing import CliRunner

from segstats.cli import app
from segstats.table import merged_rows, read_table, sum_rows

runner = CliRunner()
K = 4
IGNORE = 255


def brute_rows(arrays: dict[str, np.ndarray]) -> dict[str, dict[str, object]]:
    """path -> {width, height, ignored, counts} counted pixel by pixel (no segstats code)."""
    out = {}
    for path, array in arrays.items():
        values = Counter(int(v) for v in array.ravel().tolist())
        ignored = values.pop(IGNORE, 0)
        out[path] = {
            "width": array.shape[1],
            "height": array.shape[0],
            "ignored": ignored,
            "counts": {c: n for c, n in sorted(values.items())},
        }
    return out


@pytest.fixture
def dataset(tmp_path, rng):
    """30 masks in two folders (L and P), and their arrays by path."""
    arrays = {}
    for index in range(30):
        folder = tmp_path / "labels" / f"d{index % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        array = random_mask(rng, 8 + index % 5, 10 + index % 3, K, ignore_index=IGNORE)
        path = str(folder / f"m{index:02d}.png")
        write_mask(path, array, "L" if index % 3 else "P")
        arrays[path] = array
    return tmp_path / "labels", arrays


def run(*args: str, expect: int = 0):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == expect, (result.exit_code, result.output, result.exception)
    return result


def scan(folder, out, table, *extra: str, expect: int = 0):
    return run(
        "scan",
        folder,
        "-k",
        K,
        "--ignore-index",
        IGNORE,
        "-o",
        out,
        "--per-image",
        table,
        *extra,
        expect=expect,
    )


def leftovers(folder) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.endswith(".tmp"))


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_rows_match_a_brute_force_count_and_sum_to_the_document(tmp_path, dataset, suffix):
    folder, arrays = dataset
    table = tmp_path / f"rows{suffix}"
    scan(folder, tmp_path / "stats.json", table)
    rows = list(read_table(table))
    expected = brute_rows(arrays)
    assert [r.path for r in rows] == sorted(expected)  # sorted path order, one row per image
    for row in rows:
        want = expected[row.path]
        assert (row.width, row.height, row.ignored_pixels) == (want["width"], want["height"], want["ignored"])
        assert row.counts() == want["counts"]
        stat = os.stat(row.path)
        assert (row.size, row.mtime_ns) == (stat.st_size, stat.st_mtime_ns)
        assert row.label_options is not None and len(row.label_options) == 16
    document = json.loads((tmp_path / "stats.json").read_text())
    sums = sum_rows(rows, K)
    for name in (
        "num_images",
        "total_pixels",
        "ignored_pixels",
        "pixel_counts",
        "image_counts",
        "image_pixels",
    ):
        assert sums[name] == document[name], name


def test_csv_header_and_jsonl_fields(tmp_path, dataset):
    folder, _ = dataset
    scan(folder, tmp_path / "s.json", tmp_path / "rows.csv")
    with open(tmp_path / "rows.csv", newline="") as handle:
        header = next(csv.reader(handle))
    assert header[: 4 + K] == ["path", "width", "height", "ignored_pixels", "0", "1", "2", "3"]
    scan(folder, tmp_path / "s.json", tmp_path / "rows.jsonl")
    first = json.loads((tmp_path / "rows.jsonl").read_text().splitlines()[0])
    assert list(first)[:5] == ["path", "width", "height", "ignored_pixels", "counts"]


def test_weights_writes_the_table_too(tmp_path, dataset):
    folder, arrays = dataset
    result = run("weights", folder, "-k", K, "--ignore-index", IGNORE, "--per-image", tmp_path / "w.jsonl")
    assert len(json.loads(result.stdout)) == K
    assert len(list(read_table(tmp_path / "w.jsonl"))) == len(arrays)


def test_skipped_files_have_no_row(tmp_path, dataset):
    folder, arrays = dataset
    bad = folder / "d0" / "m00.png"
    bad.write_bytes(b"not a png")
    scan(folder, tmp_path / "s.json", tmp_path / "rows.jsonl", "--skip-errors")
    paths = [r.path for r in read_table(tmp_path / "rows.jsonl")]
    assert str(bad) not in paths and len(paths) == len(arrays) - 1
    document = json.loads((tmp_path / "s.json").read_text())
    assert [e["path"] for e in document["errors"]] == [str(bad)]
    assert document["num_images"] == len(paths)


def test_a_failed_scan_leaves_the_old_table_whole(tmp_path, dataset):
    folder, _ = dataset
    table = tmp_path / "out" / "rows.csv"
    table.parent.mkdir()
    scan(folder, tmp_path / "s.json", table)
    before = table.read_bytes()
    (folder / "d1" / "zz.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    result = scan(folder, tmp_path / "s2.json", table, expect=2)
    assert "zz.png" in result.output
    assert table.read_bytes() == before
    assert leftovers(table.parent) == []
    assert not (tmp_path / "s2.json").exists()


def test_ctrl_c_leaves_the_old_table_whole(tmp_path, dataset, monkeypatch):
    folder, _ = dataset
    table = tmp_path / "rows.jsonl"
    scan(folder, tmp_path / "s.json", table)
    before = table.read_bytes()
    from segstats.table import writer

    calls = []
    real = writer.TableWriter.write

    def interrupted(self, row):
        calls.append(row)
        if len(calls) == 5:
            raise KeyboardInterrupt
        real(self, row)

    monkeypatch.setattr(writer.TableWriter, "write", interrupted)
    result = runner.invoke(
        app,
        [
            "scan",
            str(folder),
            "-k",
            str(K),
            "-o",
            str(tmp_path / "s2.json"),
            "--per-image",
            str(table),
            "--ignore-index",
            str(IGNORE),
        ],
    )
    assert result.exit_code != 0
    assert len(calls) == 5
    assert table.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_every_skipped_file_writes_no_table(tmp_path, dataset):
    folder, arrays = dataset
    for path in arrays:
        with open(path, "wb") as handle:
            handle.write(b"junk")
    scan(folder, tmp_path / "s.json", tmp_path / "rows.jsonl", "--skip-errors", expect=2)
    assert not (tmp_path / "rows.jsonl").exists()
    assert leftovers(tmp_path) == []


def test_missing_pyarrow_and_bad_suffix_are_reported_before_reading(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "pyarrow" else real(name, *a)
    )
    # The label path does not exist: the table's problem is reported before anything is listed.
    result = run(
        "scan",
        tmp_path / "nothing",
        "-o",
        tmp_path / "s.json",
        "--per-image",
        tmp_path / "t.parquet",
        expect=2,
    )
    assert "pyarrow" in result.output and "nothing" not in result.output.replace("t.parquet", "")
    result = run(
        "scan", tmp_path / "nothing", "-o", tmp_path / "s.json", "--per-image", tmp_path / "t.txt", expect=2
    )
    assert "t.txt" in result.output and "suffix" in result.output


def test_incremental_needs_per_image(tmp_path, dataset):
    folder, _ = dataset
    result = run("scan", folder, "-k", K, "-o", tmp_path / "s.json", "--incremental", expect=2)
    assert "--per-image" in result.output


# ----------------------------------------------------------------- incremental scans
def rewrite(path: str, array: np.ndarray, mode: str = "L") -> None:
    write_mask(path, array, mode)


def assert_same_as_full_scan(tmp_path, folder, table, name: str) -> str:
    """Incremental scan into ``table``; a full scan into another file; same bytes, same document."""
    result = scan(folder, tmp_path / f"{name}-inc.json", table, "--incremental")
    full = tmp_path / f"{name}-full{table.suffix}"
    scan(folder, tmp_path / f"{name}-full.json", full)
    assert table.read_bytes() == full.read_bytes()
    inc_doc = json.loads((tmp_path / f"{name}-inc.json").read_text())
    full_doc = json.loads((tmp_path / f"{name}-full.json").read_text())
    assert inc_doc == full_doc
    return result.output


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_incremental_equals_a_full_scan_after_add_change_delete(tmp_path, dataset, rng, suffix):
    folder, arrays = dataset
    table = tmp_path / f"rows{suffix}"
    out = assert_same_as_full_scan(tmp_path, folder, table, "first")  # no table yet: reads all
    assert "read 30 files, reused 0 rows" in out

    out = assert_same_as_full_scan(tmp_path, folder, table, "same")
    assert "read 0 files, reused 30 rows" in out

    added = str(folder / "d0" / "new.png")
    rewrite(added, random_mask(rng, 9, 9, K, ignore_index=IGNORE))
    out = assert_same_as_full_scan(tmp_path, folder, table, "add")
    assert "read 1 file, reused 30 rows" in out

    changed = sorted(arrays)[3]
    before = os.stat(changed)
    rewrite(changed, random_mask(rng, 20, 7, K, ignore_index=IGNORE))
    os.utime(changed, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000))
    out = assert_same_as_full_scan(tmp_path, folder, table, "change")
    assert "read 1 file, reused 30 rows" in out

    os.remove(sorted(arrays)[0])
    os.remove(added)
    out = assert_same_as_full_scan(tmp_path, folder, table, "delete")
    assert "read 0 files, reused 29 rows" in out and "dropped 2" in out


def test_same_size_and_mtime_is_reused_without_reading(tmp_path, dataset, monkeypatch):
    """Like make: a file whose size and mtime are unchanged is not read again."""
    folder, arrays = dataset
    table = tmp_path / "rows.jsonl"
    scan(folder, tmp_path / "s.json", table)
    path = sorted(arrays)[5]
    before = os.stat(path)
    os.utime(path, ns=(before.st_atime_ns + 5, before.st_mtime_ns))  # access time only
    read = []
    from segstats import reduce

    real = reduce.count_chunk

    def spy(paths, *args, **kwargs):
        read.extend(paths)
        return real(paths, *args, **kwargs)

    monkeypatch.setattr(reduce, "count_chunk", spy)
    out = assert_same_as_full_scan(tmp_path, folder, table, "touch")
    assert "read 0 files, reused 30 rows" in out
    assert len(read) == len(arrays)  # only the full scan of the comparison read files
    # A changed mtime alone (same size) makes the file read again.
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 10_000_000))
    read.clear()
    scan(folder, tmp_path / "s3.json", table, "--incremental")
    assert read == [path]


def test_other_label_options_mean_a_full_rescan_with_a_note(tmp_path, dataset):
    folder, arrays = dataset
    table = tmp_path / "rows.jsonl"
    scan(folder, tmp_path / "s.json", table)
    value_map = tmp_path / "map.json"
    value_map.write_text(json.dumps({"0": 1, "1": 0, "2": 2, "3": 3, "255": 255}))
    result = scan(folder, tmp_path / "s2.json", table, "--incremental", "--map", value_map)
    assert "other label options" in result.output
    assert f"read {len(arrays)} files, reused 0 rows" in result.output
    full = tmp_path / "full.jsonl"
    scan(folder, tmp_path / "s3.json", full, "--map", value_map)
    assert table.read_bytes() == full.read_bytes()
    # ...and back to the first options: a full rescan again.
    result = scan(folder, tmp_path / "s4.json", table, "--incremental")
    assert "other label options" in result.output


def test_incremental_with_inferred_k_and_skipped_files(tmp_path, dataset, rng):
    """K inferred over read and reused rows together; skipped files are read again every time."""
    folder, _ = dataset
    bad = folder / "d1" / "bad.png"
    bad.write_bytes(b"junk")
    table = tmp_path / "rows.csv"

    def go(name: str, *extra: str):
        run(
            "scan",
            folder,
            "--ignore-index",
            IGNORE,
            "-o",
            tmp_path / f"{name}.json",
            "--per-image",
            table,
            "--skip-errors",
            *extra,
        )
        return json.loads((tmp_path / f"{name}.json").read_text())

    go("first")
    # A new file of only ignored pixels: the read part alone has no class pixel.
    write_mask(folder / "d0" / "void.png", np.full((5, 5), IGNORE, dtype=np.uint8), "L")
    inc = go("inc", "--incremental")
    os.rename(table, tmp_path / "inc.csv")
    full = go("full")
    assert inc == full
    assert (tmp_path / "inc.csv").read_bytes() == table.read_bytes()
    assert [e["path"] for e in inc["errors"]] == [str(bad)]


def test_shards_merge_into_the_whole_table(tmp_path, dataset):
    folder, _ = dataset
    whole = tmp_path / "whole.jsonl"
    scan(folder, tmp_path / "w.json", whole)
    parts = []
    for index in range(2):
        part = tmp_path / f"shard{index}.csv"
        scan(folder, tmp_path / f"s{index}.json", part, "--shard", f"{index}/2")
        parts.append(part)
    assert list(merged_rows(*(read_table(p) for p in parts))) == list(read_table(whole))
    run("merge", *parts, "-o", tmp_path / "merged.jsonl")
    assert (tmp_path / "merged.jsonl").read_bytes() == whole.read_bytes()


def test_merge_refuses_a_file_in_two_tables(tmp_path, dataset):
    folder, _ = dataset
    scan(folder, tmp_path / "a.json", tmp_path / "a.jsonl")
    scan(folder, tmp_path / "b.json", tmp_path / "b.jsonl", "--shard", "0/2")
    result = run("merge", tmp_path / "a.jsonl", tmp_path / "b.jsonl", "-o", tmp_path / "m.jsonl", expect=2)
    assert "b.jsonl" in result.output and "a.jsonl" in result.output and "m00.png" in result.output
    assert not (tmp_path / "m.jsonl").exists()
    result = run("merge", tmp_path / "a.json", tmp_path / "b.jsonl", "-o", tmp_path / "m.jsonl", expect=2)
    assert "not both" in result.output


def test_weights_from_stats_refuses_a_table(tmp_path, dataset):
    folder, _ = dataset
    scan(folder, tmp_path / "s.json", tmp_path / "rows.jsonl")
    result = run(
        "weights", "--from-stats", tmp_path / "s.json", "--per-image", tmp_path / "x.jsonl", expect=2
    )
    assert "--from-stats" in result.output
    assert not (tmp_path / "x.jsonl").exists()


def test_table_order_is_the_shown_path_order_for_any_listing(tmp_path, dataset):
    """The table is sorted by path as shown even when the listing is not (a file list)."""
    from segstats.table.scanning import TableScan

    _, arrays = dataset
    listed = sorted(arrays, reverse=True)
    prepared = TableScan.prepare(str(tmp_path / "t.jsonl"), listed, "k" * 16)
    assert prepared.to_read == sorted(arrays)


def test_files_from_with_a_missing_entry_and_incremental(tmp_path, dataset):
    """A listed file that does not exist (--skip-errors) is an error of every run, never a row."""
    folder, arrays = dataset
    listing = tmp_path / "list.txt"
    names = [os.path.relpath(p, folder) for p in sorted(arrays)[:5]]
    listing.write_text("\n".join([*names, "d0/missing.png"]) + "\n")
    table = tmp_path / "rows.jsonl"
    common = ["--files-from", listing, "--root", folder, "--skip-errors"]
    run("scan", "-k", K, "--ignore-index", IGNORE, "-o", tmp_path / "a.json", "--per-image", table, *common)
    assert len(list(read_table(table))) == 5
    result = run(
        "scan",
        "-k",
        K,
        "--ignore-index",
        IGNORE,
        "-o",
        tmp_path / "b.json",
        "--per-image",
        table,
        "--incremental",
        *common,
    )
    assert "read 0 files, reused 5 rows" in result.output
    first, second = (json.loads((tmp_path / n).read_text()) for n in ("a.json", "b.json"))
    assert first == second and [e["path"] for e in second["errors"]] == [str(folder / "d0" / "missing.png")]
