"""--shard I/N: a partition of the sorted file list; merged shards equal the unsharded scan."""

from __future__ import annotations

import json

import pytest
from labelmasks import brute_force, random_mask, write_mask
from typer.testing import CliRunner

import segstats
from segstats.cli import app
from segstats.errors import UsageError
from segstats.shard import parse_shard, select_shard

runner = CliRunner()


@pytest.mark.parametrize(
    ("text", "expected"), [("0/1", (0, 1)), ("2/7", (2, 7)), (" 6 / 7 ", (6, 7)), ((1, 3), (1, 3))]
)
def test_parse_shard_accepts(text, expected):
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text", ["3/3", "7/3", "0/0", "-1/3", "1", "a/b", "1/2/3", "", (3, 3), (-1, 2)])
def test_parse_shard_refuses(text):
    with pytest.raises(UsageError, match="--shard"):
        parse_shard(text)


@pytest.mark.parametrize("count", [1, 2, 3, 7, 20])
@pytest.mark.parametrize("num_files", [0, 1, 5, 12, 101])
def test_shards_partition_the_sorted_list(count, num_files):
    files = [f"dir/{(i * 7919) % 1000:04d}.png" for i in range(num_files)]  # unsorted, unique
    ordered = sorted(files)
    shards = [select_shard(files, index, count) for index in range(count)]
    seen = [name for shard in shards for name in shard]
    assert sorted(seen) == ordered  # every file in exactly one shard
    assert len(seen) == len(set(seen))
    sizes = [len(s) for s in shards]
    assert max(sizes) - min(sizes) <= 1
    for index, shard in enumerate(shards):  # the documented rule: positions I, I+N, I+2N...
        assert shard == [ordered[p] for p in range(index, num_files, count)]
    assert select_shard(list(reversed(files)), 0, count) == shards[0]  # input order does not matter


@pytest.fixture
def dataset(tmp_path, rng):
    """12 masks in nested folders (one PNG with an upper-case suffix), and their arrays."""
    arrays = []
    for index in range(12):
        folder = tmp_path / "labels" / f"part{index % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        array = random_mask(rng, 16 + index, 20, 4, ignore_index=255)
        suffix = "PNG" if index == 5 else "png"
        write_mask(folder / f"m{index:02d}.{suffix}", array, "L" if index % 2 else "P")
        arrays.append(array)
    return tmp_path / "labels", arrays


@pytest.mark.parametrize("count", [1, 3, 7])
def test_merged_shards_equal_the_unsharded_scan(dataset, count):
    folder, arrays = dataset
    whole = segstats.scan(folder, num_classes=4, ignore_index=255)
    parts = [
        segstats.scan(folder, num_classes=4, ignore_index=255, shard=f"{i}/{count}") for i in range(count)
    ]
    assert sum(p.num_images for p in parts) == len(arrays)  # each file counted once
    merged = segstats.merge_stats(parts)
    assert merged.to_dict() == whole.to_dict()
    expected = brute_force(arrays, 4, 255)
    assert merged.pixel_counts.tolist() == expected.pixel_counts
    assert merged.image_counts.tolist() == expected.image_counts
    assert merged.image_pixels.tolist() == expected.image_pixels
    assert merged.total_pixels == expected.total_pixels
    assert merged.ignored_pixels == expected.ignored_pixels


def test_each_file_lands_in_exactly_one_shard(dataset):
    folder, _ = dataset
    files = segstats.discover(folder)
    owners: dict[str, list[int]] = {name: [] for name in files}
    for index in range(7):
        for name in select_shard(files, index, 7):
            owners[name].append(index)
    assert all(len(v) == 1 for v in owners.values())
    assert {v[0] for v in owners.values()} == set(range(7))


def test_shard_counts_exactly_its_files(dataset):
    folder, arrays = dataset
    files = segstats.discover(folder)
    by_name = {
        str(folder / f"part{i % 3}" / f"m{i:02d}.{'PNG' if i == 5 else 'png'}"): a
        for i, a in enumerate(arrays)
    }
    mine = select_shard(files, 2, 3)
    stats = segstats.scan(folder, num_classes=4, ignore_index=255, shard=(2, 3))
    expected = brute_force([by_name[name] for name in mine], 4, 255)
    assert stats.num_images == len(mine) == 4
    assert stats.pixel_counts.tolist() == expected.pixel_counts


def test_empty_shard_needs_num_classes_and_merges_as_zeros(dataset, tmp_path):
    folder, _ = dataset
    files = segstats.discover(folder)[:3]
    with pytest.raises(UsageError, match="holds no files.*--num-classes"):
        segstats.scan(folder, files=files, shard="5/7")
    empty = segstats.scan(folder, files=files, num_classes=4, ignore_index=255, shard="5/7")
    assert empty.num_images == 0 and empty.pixel_counts.tolist() == [0, 0, 0, 0]
    parts = [
        segstats.scan(folder, files=files, num_classes=4, ignore_index=255, shard=(i, 7)) for i in range(7)
    ]
    whole = segstats.scan(folder, files=files, num_classes=4, ignore_index=255)
    assert segstats.merge_stats(parts).to_dict() == whole.to_dict()


def test_skipped_errors_merge_in_the_same_order(dataset):
    folder, _ = dataset
    for name in ("bad1.png", "bad2.png", "bad3.png"):
        (folder / name).write_bytes(b"not a png")
    whole = segstats.scan(folder, num_classes=4, ignore_index=255, skip_errors=True)
    parts = [
        segstats.scan(folder, num_classes=4, ignore_index=255, skip_errors=True, shard=(i, 3))
        for i in range(3)
    ]
    assert len(whole.errors) == 3
    assert segstats.merge_stats(parts).to_dict() == whole.to_dict()


def test_cli_shards_then_merge_equal_the_unsharded_document(dataset, tmp_path):
    folder, _ = dataset
    common = [str(folder), "-k", "4", "--ignore-index", "255"]
    whole = tmp_path / "whole.json"
    assert runner.invoke(app, ["scan", *common, "-o", str(whole)]).exit_code == 0
    shards = []
    for index in range(3):
        out = tmp_path / f"shard-{index}.json"
        result = runner.invoke(app, ["scan", *common, "--shard", f"{index}/3", "-o", str(out)])
        assert result.exit_code == 0, result.output
        assert f"shard {index}/3: 4 of 12 files" in result.output
        shards.append(str(out))
    merged = tmp_path / "merged.json"
    result = runner.invoke(app, ["merge", *shards, "-o", str(merged)])
    assert result.exit_code == 0, result.output
    assert json.loads(merged.read_text()) == json.loads(whole.read_text())


def test_cli_weights_with_shard(dataset):
    folder, _ = dataset
    result = runner.invoke(
        app, ["weights", str(folder), "-k", "4", "--ignore-index", "255", "--shard", "0/2"]
    )
    assert result.exit_code == 0, result.output
    assert "shard 0/2: 6 of 12 files" in result.output
    assert "scanned 6 images" in result.output


@pytest.mark.parametrize("shard", ["3/3", "x", "1/0"])
def test_cli_bad_shard_is_exit_2(dataset, tmp_path, shard):
    folder, _ = dataset
    out = tmp_path / "s.json"
    result = runner.invoke(app, ["scan", str(folder), "-k", "4", "--shard", shard, "-o", str(out)])
    assert result.exit_code == 2
    assert "--shard" in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_cli_shard_without_num_classes_warns(dataset, tmp_path):
    folder, _ = dataset
    result = runner.invoke(app, ["scan", str(folder), "--shard", "0/2", "-o", str(tmp_path / "s.json")])
    assert result.exit_code == 0, result.output
    assert "--shard without --num-classes" in result.output


def test_cli_shard_refused_with_from_stats(dataset, tmp_path):
    folder, _ = dataset
    doc = tmp_path / "s.json"
    assert (
        runner.invoke(
            app, ["scan", str(folder), "-k", "4", "--ignore-index", "255", "-o", str(doc)]
        ).exit_code
        == 0
    )
    result = runner.invoke(app, ["weights", "--from-stats", str(doc), "--shard", "0/2"])
    assert result.exit_code == 2 and "--from-stats" in result.output


def test_cli_shard_with_class_names_does_not_warn(dataset, tmp_path):
    folder, _ = dataset
    names = tmp_path / "names.txt"
    names.write_text("a\nb\nc\nd\n")
    out = tmp_path / "s.json"
    result = runner.invoke(
        app, ["scan", str(folder), "--class-names", str(names), "--ignore-index", "255", "--shard", "1/2",
              "-o", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "--shard without --num-classes" not in result.output
    assert json.loads(out.read_text())["num_classes"] == 4
