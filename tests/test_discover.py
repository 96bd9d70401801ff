from __future__ import annotations

import os

import pytest

from segstats.discover import discover
from segstats.errors import BadInputError, NoFilesError


def touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return str(path)


def test_directory_is_searched_recursively_for_png_and_tiff_in_any_case(tmp_path):
    a = touch(tmp_path / "b" / "z.png")
    b = touch(tmp_path / "a.PNG")
    c = touch(tmp_path / "c" / "d" / "e.Png")
    d = touch(tmp_path / "geo" / "tile.tif")  # torchgeo-style TIFF masks
    e = touch(tmp_path / "geo" / "tile2.TIFF")
    touch(tmp_path / "notes.txt")
    touch(tmp_path / "x.jpg")
    touch(tmp_path / "y.tif.bak")
    assert discover(tmp_path) == sorted([a, b, c, d, e])


def test_files_globs_and_duplicates_are_sorted_once(tmp_path):
    a = touch(tmp_path / "a.png")
    b = touch(tmp_path / "b.tif")
    assert discover([b, a, a]) == sorted([a, b])
    assert discover(str(tmp_path / "*.tif")) == [b]
    assert discover(str(tmp_path / "**" / "*.png")) == [a]


def test_missing_path_names_it(tmp_path):
    with pytest.raises(BadInputError, match="no such file"):
        discover(tmp_path / "nope")
    with pytest.raises(BadInputError, match="no files match"):
        discover(str(tmp_path / "*.png"))


def test_empty_folder_is_an_error(tmp_path):
    with pytest.raises(NoFilesError, match="no label files"):
        discover(tmp_path)


def test_symlink_loop_terminates(tmp_path):
    a = touch(tmp_path / "d" / "a.png")
    os.symlink(tmp_path / "d", tmp_path / "d" / "loop")
    assert discover(tmp_path) == [a]
