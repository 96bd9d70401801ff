"""audit --examples N (issue 13): per class, the files holding most of its pixels, from the
per-image counts streamed by the scan, checked against a brute-force ranking of every file."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from labelmasks import write_mask
from typer.testing import CliRunner

from segstats.cli import app
from segstats.topfiles import FileExample, TopFiles, top_files

runner = CliRunner()


@dataclass(frozen=True)
class Counts:
    class_ids: list[int]
    class_pixels: list[int]


@dataclass(frozen=True)
class Row:
    path: str
    counts: Counts


def brute_force(rows: list[tuple[str, dict[int, int]]], k: int, n: int) -> list[list[tuple[str, int]]]:
    """Every (path, pixels) of each class, fully sorted (most pixels, then path), cut to n."""
    ranked = []
    for c in range(k):
        holding = [(path, counts[c]) for path, counts in rows if counts.get(c, 0) > 0]
        holding.sort(key=lambda item: (-item[1], item[0]))
        ranked.append(holding[:n])
    return ranked


def as_rows(rows: list[tuple[str, dict[int, int]]]) -> list[Row]:
    return [Row(path, Counts(sorted(counts), [counts[c] for c in sorted(counts)])) for path, counts in rows]


def plain(result: list[tuple[FileExample, ...]]) -> list[list[tuple[str, int]]]:
    return [[(e.path, e.pixels) for e in examples] for examples in result]


def test_ties_are_broken_by_path_whatever_the_order():
    rows = [("c.png", {0: 5}), ("a.png", {0: 5, 1: 2}), ("b.png", {0: 5, 1: 9}), ("d.png", {0: 7})]
    expected = [[("d.png", 7), ("a.png", 5)], [("b.png", 9), ("a.png", 2)], []]
    for order in (rows, rows[::-1], [rows[2], rows[0], rows[3], rows[1]]):
        assert plain(top_files(as_rows(order), 3, 2)) == expected
    assert plain(top_files(as_rows(rows), 2, 0)) == [[], []]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.dictionaries(st.integers(0, 5), st.integers(0, 4), max_size=6),  # small pixels: many ties
        max_size=40,
    ),
    st.integers(0, 5),
    st.randoms(use_true_random=False),
)
def test_top_files_against_a_full_ranking(images, n, shuffle):
    rows = [(f"f{index:03d}.png", counts) for index, counts in enumerate(images)]
    order = list(rows)
    shuffle.shuffle(order)
    assert plain(top_files(as_rows(order), 6, n)) == brute_force(rows, 6, n)
    # fed in chunks, as scan(on_rows=...) does
    top = TopFiles(n)
    for start in range(0, len(order), 7):
        top.add_rows(as_rows(order[start : start + 7]))
    assert plain(top.result(6)) == brute_force(rows, 6, n)


def test_memory_is_bounded_by_classes_times_n():
    top = TopFiles(3)
    generator = (Row(f"{i:05d}", Counts([i % 4, 4], [i % 97 + 1, 1])) for i in range(5000))
    top.add_rows(generator)  # any iterable, read once
    assert [len(e) for e in top.result(5)] == [3, 3, 3, 3, 3]
    assert sum(len(heap) for heap in top._heaps) == 15  # never more than K * n entries kept


def test_bad_rows_and_class_counts():
    top = TopFiles(2)
    with pytest.raises(ValueError, match=r"class_ids \(2,\) and class_pixels \(1,\) differ"):
        top.add("a.png", [0, 1], [3])
    with pytest.raises(ValueError, match="negative class id"):
        top.add("a.png", [-1], [3])
    top.add("a.png", [4], [3])
    with pytest.raises(ValueError, match="more than 3 classes"):
        top.result(3)
    with pytest.raises(ValueError, match="n must be >= 0"):
        TopFiles(-1)


# ----------------------------------------------------------- the CLI
@pytest.fixture
def rare_dataset(tmp_path):
    """80 images of 8x8, K = 4 (enough files for threads): class 3 in four images (2, 9, 9, 4
    pixels; a tie), class 2 in 40, classes 0 and 1 everywhere. Returns (folder, arrays)."""
    folder = tmp_path / "labels"
    folder.mkdir()
    rng = np.random.default_rng(7)
    arrays = {}
    rare = {5: 2, 17: 9, 41: 9, 63: 4}
    for index in range(80):
        array = rng.integers(0, 2, size=(8, 8))
        if index % 2:
            array[7, : 1 + index % 5] = 2
        if index in rare:
            array.ravel()[: rare[index]] = 3
        path = folder / f"img{index:03d}.png"
        write_mask(path, array, "L")
        arrays[str(path)] = array
    return folder, arrays


def expected_examples(arrays, k, n):
    rows = [(path, {c: int((a == c).sum()) for c in range(k)}) for path, a in arrays.items()]
    return brute_force(rows, k, n)


@pytest.mark.parametrize(("n", "jobs"), [(None, "1"), (2, "2"), (5, "2"), (1, "1")])
def test_json_lists_the_examples_of_every_class(rare_dataset, n, jobs):
    folder, arrays = rare_dataset
    extra = [] if n is None else ["--examples", str(n)]
    result = runner.invoke(app, ["audit", str(folder), "-k", "4", "--json", "-j", jobs, *extra])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    n = 3 if n is None else n
    assert document["examples_per_class"] == n
    found = [[(e["path"], e["pixels"]) for e in c["examples"]] for c in document["classes"]]
    assert found == expected_examples(arrays, 4, n)
    rare = [("img017.png", 9), ("img041.png", 9), ("img063.png", 4), ("img005.png", 2)]
    assert found[3] == [(str(folder / name), pixels) for name, pixels in rare][:n]  # the tie: by path


def test_the_table_shows_the_files_of_rare_classes(rare_dataset):
    folder, _ = rare_dataset
    result = runner.invoke(app, ["audit", str(folder), "-k", "4", "--min-image-share", "0.1"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "rare classes: the files holding most of their pixels" in out
    section = out.split("rare classes: the files holding most of their pixels")[1].split("warning:")[0]
    rows = [line.split() for line in section.splitlines() if ".png" in line]
    assert rows == [
        ["3", "9", str(folder / "img017.png")],
        ["9", str(folder / "img041.png")],
        ["4", str(folder / "img063.png")],
    ]  # class 3 is in 4 of 80 images (5% < 10%); class 2, in half of them, is not rare


def test_examples_zero_and_no_rare_class(rare_dataset):
    folder, _ = rare_dataset
    result = runner.invoke(
        app, ["audit", str(folder), "-k", "4", "--examples", "0", "--min-image-share", "0.1"]
    )
    assert result.exit_code == 0 and "rare classes:" not in result.stdout
    document = json.loads(
        runner.invoke(app, ["audit", str(folder), "-k", "4", "--examples", "0", "--json"]).stdout
    )
    assert document["examples_per_class"] is None
    assert all(c["examples"] is None for c in document["classes"])
    result = runner.invoke(app, ["audit", str(folder), "-k", "4"])  # 4/80 = 5% >= 1%: nothing rare
    assert result.exit_code == 0 and "rare classes:" not in result.stdout
    result = runner.invoke(app, ["audit", str(folder), "-k", "4", "--examples", "-1"])
    assert result.exit_code == 2


def test_examples_with_an_inferred_k_and_a_wider_against_split(tmp_path):
    train, val = tmp_path / "train", tmp_path / "val"
    train.mkdir()
    val.mkdir()
    write_mask(train / "a.png", np.array([[0, 1, 1]]), "L")
    write_mask(train / "b.png", np.array([[1, 1, 1]]), "L")
    write_mask(val / "a.png", np.array([[0, 4]]), "L")
    result = runner.invoke(app, ["audit", str(train), "--against", str(val), "--json"])
    assert result.exit_code == 0, result.output
    examples = [
        [(e["path"], e["pixels"]) for e in c["examples"]] for c in json.loads(result.stdout)["classes"]
    ]
    a, b = str(train / "a.png"), str(train / "b.png")
    assert examples == [[(a, 1)], [(b, 3), (a, 2)], [], [], []]  # K = 5 from val; train's examples only


def test_random_order_of_rows_gives_the_same_result():
    rng = random.Random(3)
    rows = [(f"{i:02d}", {c: rng.randint(0, 3) for c in range(3)}) for i in range(30)]
    expected = brute_force(rows, 3, 4)
    for _ in range(5):
        rng.shuffle(rows)
        assert plain(top_files(as_rows(rows), 3, 4)) == expected
