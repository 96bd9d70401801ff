"""Label sources: --map, --colors, --class-names files, colour masks, palette PNGs, TIFF."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from labelmasks import brute_force, random_mask, write_mask
from PIL import Image
from typer.testing import CliRunner

import segstats
from segstats.cli import app
from segstats.decoders import pillow as pillow_decoder
from segstats.errors import BadInputError, UsageError
from segstats.labels import (
    UNKNOWN_LABEL_PREFIX,
    colour_table,
    load_class_names,
    load_colors,
    load_value_map,
)

runner = CliRunner()

# A CamVid-like colour coding: class id -> colour (255: void).
COLOURS = {0: (128, 64, 128), 1: (70, 70, 70), 2: (107, 142, 35), 255: (0, 0, 0)}


def write_text(path, text):
    path.write_text(text)
    return str(path)


def assert_same_counts(a, b):
    for name in ("num_classes", "ignore_index", "num_images", "total_pixels", "ignored_pixels"):
        assert getattr(a, name) == getattr(b, name), name
    for name in ("pixel_counts", "image_counts", "image_pixels"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def colourise(array, colours=COLOURS, alpha=None):
    rgb = np.zeros((*array.shape, 3), dtype=np.uint8)
    for value, colour in colours.items():
        rgb[array == value] = colour
    if alpha is None:
        return Image.fromarray(rgb, "RGB")
    return Image.fromarray(np.dstack([rgb, alpha.astype(np.uint8)]), "RGBA")


# ------------------------------------------------------------------ loaders
def test_value_map_object_and_pairs(tmp_path):
    as_object = write_text(tmp_path / "a.json", '{"7": 0, "8": 1, " 0 ": 255, "-1": 255}')
    as_pairs = write_text(tmp_path / "b.json", "[[7, 0], [8, 1], [0, 255], [-1, 255]]")
    expected = {7: 0, 8: 1, 0: 255, -1: 255}
    assert load_value_map(as_object) == expected
    assert load_value_map(as_pairs) == expected


@pytest.mark.parametrize(
    "text,cause",
    [
        ('{"7": 0, "7": 1}', "raw value 7 is mapped twice, to 0 and to 1"),
        ('{"seven": 0}', "raw value 'seven' is not an integer"),
        ('{"7": -1}', "the class must be a non-negative integer"),
        ('{"7": "road"}', "the class must be a non-negative integer"),
        ('{"7": true}', "the class must be a non-negative integer"),
        ("{}", "empty"),
        ("[[7, 0, 1]]", "pairs"),
        ('"text"', "JSON object or a list of pairs"),
        ("{7: 0}", "invalid JSON"),
    ],
)
def test_bad_value_map_names_file_and_problem(tmp_path, text, cause):
    path = write_text(tmp_path / "map.json", text)
    with pytest.raises(BadInputError) as caught:
        load_value_map(path)
    assert caught.value.path == path
    assert cause in caught.value.cause
    assert str(caught.value).startswith(f"{path}: ")


def test_missing_label_file_names_it(tmp_path):
    path = str(tmp_path / "nope.json")
    for loader in (load_value_map, load_colors, load_class_names):
        with pytest.raises(BadInputError, match="nope.json: file not found"):
            loader(path)


def test_colour_map_forms(tmp_path):
    as_object = write_text(tmp_path / "a.json", '{"128,64,128": 0, " 70, 70, 70 ": 1, "#6b8e23": 2}')
    as_pairs = write_text(tmp_path / "b.json", '[[[128, 64, 128], 0], ["70,70,70", 1], [[107, 142, 35], 2]]')
    expected = ((0x464646, 1), (0x6B8E23, 2), (0x804080, 0))
    assert load_colors(as_object) == expected
    assert load_colors(as_pairs) == expected
    assert colour_table({(128, 64, 128): 0, 0x464646: 1, "#6B8E23": 2}) == expected


@pytest.mark.parametrize(
    "text,cause",
    [
        ('{"1,2,3": 0, "#010203": 1}', "(1,2,3) is mapped twice, to 0 and to 1"),
        ('{"1,2,256": 0}', "must be three integers 0..255"),
        ('{"1,2": 0}', "must be three integers"),
        ('{"red": 0}', "is not 'r,g,b'"),
        ("[[[1, 2, 3.5], 0]]", "must be three integers"),
        ('{"1,2,3": 1.5}', "non-negative integer"),
        ("[]", "empty"),
    ],
)
def test_bad_colour_map_names_file_and_problem(tmp_path, text, cause):
    path = write_text(tmp_path / "colors.json", text)
    with pytest.raises(BadInputError) as caught:
        load_colors(path)
    assert caught.value.path == path and cause in caught.value.cause


def test_class_names_lines_and_json(tmp_path):
    lines = write_text(tmp_path / "names.txt", "road\n  traffic light \n\nsky\n")
    as_json = write_text(tmp_path / "names.json", '["road", "traffic light", "sky"]')
    assert load_class_names(lines) == ["road", "traffic light", "sky"]
    assert load_class_names(as_json) == ["road", "traffic light", "sky"]
    for text, cause in (("\n \n", "no class names"), ("[1, 2]", "list of strings"), ("[1,", "invalid JSON")):
        with pytest.raises(BadInputError, match="names.bad: .*" + cause):
            load_class_names(write_text(tmp_path / "names.bad", text))
    (tmp_path / "binary.txt").write_bytes(b"\xff\xfe\x00road")
    with pytest.raises(BadInputError, match="not a UTF-8"):
        load_class_names(str(tmp_path / "binary.txt"))


def test_class_names_as_id2label_object_and_config(tmp_path):
    """Hugging Face id2label ({"0": "road", ...}), in any key order, or inside a config.json."""
    as_object = write_text(tmp_path / "id2label.json", '{"1": "sidewalk", "0": "road", "2": "sky"}')
    config = write_text(tmp_path / "config.json", '{"id2label": {"0": "road", "1": "sidewalk"}, "x": 1}')
    assert load_class_names(as_object) == ["road", "sidewalk", "sky"]
    assert load_class_names(config) == ["road", "sidewalk"]
    for text, cause in (
        ('{"0": "a", "2": "b"}', "class ids must be 0..1; missing 1"),
        ('{"0": "a", "x": "b"}', "class id 'x' is not an integer"),
        ('{"0": 5}', "the name of class 0 must be a string"),
        ('{"0": "a", " 0": "b"}', "class id 0 appears twice"),
    ):
        with pytest.raises(BadInputError, match="bad.json: " + re.escape(cause)):
            load_class_names(write_text(tmp_path / "bad.json", text))


CAMVID_CLASS_DICT = "name,r,g,b\nAnimal,64,128,64\nArchway,192,0,128\nBicyclist,0,128, 192\n\n"


def test_camvid_class_dict_csv_for_colors_and_names(tmp_path):
    path = write_text(tmp_path / "class_dict.csv", CAMVID_CLASS_DICT)
    assert load_colors(path) == tuple(
        sorted([(64 << 16 | 128 << 8 | 64, 0), (192 << 16 | 0 << 8 | 128, 1), (0 << 16 | 128 << 8 | 192, 2)])
    )
    assert load_class_names(path) == ["Animal", "Archway", "Bicyclist"]
    headless = write_text(tmp_path / "plain.csv", "Sky,128,128,128\nRoad,128,64,128\n")
    assert load_colors(headless) == ((128 << 16 | 64 << 8 | 128, 1), (128 << 16 | 128 << 8 | 128, 0))
    for text, cause in (
        ("name,r,g,b\nSky,128,128\n", "line 2: expected name,r,g,b"),
        ("name,r,g,b\nSky,128,x,128\n", "line 2: r,g,b must be integers"),
        ("name,r,g,b\nSky,128,300,128\n", "three integers 0..255"),
        ("name,r,g,b\nA,1,2,3\nB,1,2,3\n", "is mapped twice"),
        ("name,r,g,b\n", "no name,r,g,b rows"),
    ):
        with pytest.raises(BadInputError, match=re.escape(cause)):
            load_colors(write_text(tmp_path / "bad.csv", text))


# ------------------------------------------------------------ label images
def test_palette_png_counts_indices_not_colours(tmp_path, rng):
    arrays = [random_mask(rng, 20, 24, 3, ignore_index=255) for _ in range(3)]
    for folder, mode in (("p", "P"), ("l", "L")):
        (tmp_path / folder).mkdir()
        for i, array in enumerate(arrays):
            write_mask(tmp_path / folder / f"{i}.png", array, mode)
    with Image.open(tmp_path / "p" / "0.png") as image:
        assert image.mode == "P"
        palette = image.getpalette()
        assert palette is not None and palette[3:6] != [1, 1, 1]  # colour of index 1 is not 1
    p = segstats.scan(tmp_path / "p", num_classes=3, ignore_index=255, jobs=1)
    ell = segstats.scan(tmp_path / "l", num_classes=3, ignore_index=255, jobs=1)
    assert_same_counts(p, ell)
    expected = brute_force(arrays, 3, 255)
    assert p.pixel_counts.tolist() == expected.pixel_counts


@pytest.mark.parametrize("with_alpha", [False, True])
def test_rgb_mask_with_colour_map_equals_the_l_mask(tmp_path, rng, with_alpha):
    arrays = [random_mask(rng, 18 + i, 30, 3, ignore_index=255) for i in range(4)]
    (tmp_path / "rgb").mkdir()
    (tmp_path / "l").mkdir()
    for i, array in enumerate(arrays):
        alpha = rng.integers(0, 256, array.shape) if with_alpha else None
        colourise(array, alpha=alpha).save(tmp_path / "rgb" / f"{i}.png")
        write_mask(tmp_path / "l" / f"{i}.png", array, "L")
    colors = {colour: value for value, colour in COLOURS.items()}
    from_rgb = segstats.scan(tmp_path / "rgb", num_classes=3, ignore_index=255, colors=colors, jobs=1)
    from_l = segstats.scan(tmp_path / "l", num_classes=3, ignore_index=255, jobs=1)
    assert_same_counts(from_rgb, from_l)
    assert from_rgb.image_modes == {"RGBA" if with_alpha else "RGB": 4}


def test_colour_fallback_path_for_many_colours(tmp_path, rng, monkeypatch):
    array = random_mask(rng, 32, 32, 3, ignore_index=255)
    colourise(array).save(tmp_path / "m.png")
    colors = {colour: value for value, colour in COLOURS.items()}
    fast = segstats.scan(tmp_path / "m.png", num_classes=3, ignore_index=255, colors=colors)
    monkeypatch.setattr(pillow_decoder, "MAX_GETCOLORS", 1)  # getcolors gives up: numpy.unique path
    slow = segstats.scan(tmp_path / "m.png", num_classes=3, ignore_index=255, colors=colors)
    assert_same_counts(fast, slow)
    assert fast.pixel_counts.tolist() == brute_force([array], 3, 255).pixel_counts


def test_unmapped_colour_is_an_unknown_value(tmp_path):
    array = np.zeros((8, 8), dtype=np.int64)
    image = colourise(array)
    image.putpixel((3, 3), (1, 2, 3))
    image.putpixel((4, 4), (1, 2, 3))
    image.save(tmp_path / "m.png")
    colors = {(128, 64, 128): 0}
    with pytest.raises(BadInputError) as caught:
        segstats.scan(tmp_path / "m.png", num_classes=3, colors=colors)
    assert caught.value.cause.startswith(UNKNOWN_LABEL_PREFIX)
    assert "(1,2,3) in 2 pixels" in caught.value.cause
    stats = segstats.scan(tmp_path / "m.png", num_classes=3, colors=colors, skip_errors=True)
    assert stats.num_images == 0 and "(1,2,3)" in stats.errors[0]["error"]


def test_rgb_without_colour_map_and_palette_with_colour_map(tmp_path):
    colourise(np.zeros((4, 4), dtype=np.int64)).save(tmp_path / "rgb.png")
    with pytest.raises(BadInputError, match="--colors"):
        segstats.scan(tmp_path / "rgb.png", num_classes=3)
    # a P image stays palette indices even when a colour map is given
    write_mask(tmp_path / "p.png", np.full((4, 4), 2), "P")
    stats = segstats.scan(tmp_path / "p.png", num_classes=3, colors={(1, 2, 3): 0})
    assert stats.pixel_counts.tolist() == [0, 0, 16]


def test_label_map_equals_pre_mapped_labels(tmp_path, rng):
    # Cityscapes-like: labelIds 0..9 -> trainIds 0..2, several raw values per class, 255 void
    label_to_train = {0: 255, 1: 255, 2: 0, 3: 0, 4: 1, 5: 255, 6: 2, 7: 2, 8: 1, 9: 0}
    raw_arrays = [random_mask(rng, 20, 20 + i, 10) for i in range(5)]
    lookup = np.array([label_to_train[v] for v in range(10)])
    (tmp_path / "raw").mkdir()
    (tmp_path / "mapped").mkdir()
    for i, raw in enumerate(raw_arrays):
        write_mask(tmp_path / "raw" / f"{i}.png", raw, "L")
        write_mask(tmp_path / "mapped" / f"{i}.png", lookup[raw], "L")
    mapped = segstats.scan(tmp_path / "mapped", num_classes=3, ignore_index=255, jobs=1)
    via_map = segstats.scan(
        tmp_path / "raw", num_classes=3, ignore_index=255, value_map=label_to_train, jobs=1
    )
    assert_same_counts(via_map, mapped)
    assert via_map.pixel_counts.tolist() == brute_force([lookup[r] for r in raw_arrays], 3, 255).pixel_counts


def test_value_missing_from_map_is_unknown(tmp_path):
    write_mask(tmp_path / "m.png", np.array([[1, 2], [3, 3]]), "L")
    with pytest.raises(BadInputError, match="unknown label values 3 in 2 pixels.*missing from --map"):
        segstats.scan(tmp_path / "m.png", num_classes=3, value_map={1: 0, 2: 1})


def test_map_target_outside_the_classes_is_refused_before_reading(tmp_path):
    with pytest.raises(UsageError, match=r"--map maps to 255, .*pass --ignore-index 255"):
        segstats.scan(tmp_path / "nothing-read.png", num_classes=3, value_map={1: 0, 0: 255})
    with pytest.raises(UsageError, match="--colors maps to 7"):
        segstats.scan(tmp_path / "nothing-read.png", num_classes=3, colors={(1, 2, 3): 7})


def test_colours_then_map(tmp_path):
    array = np.array([[0, 1], [2, 255]])
    colourise(array).save(tmp_path / "m.png")
    colors = {colour: value for value, colour in COLOURS.items()}
    stats = segstats.scan(
        tmp_path / "m.png",
        num_classes=2,
        ignore_index=255,
        colors=colors,
        value_map={0: 1, 1: 0, 2: 0, 255: 255},
    )
    assert stats.pixel_counts.tolist() == [2, 1] and stats.ignored_pixels == 1


@pytest.mark.parametrize("mode,high", [("L", 200), ("I;16", 40000), ("I;16B", 40000), ("I", 70000)])
def test_tiff_single_band(tmp_path, rng, mode, high):
    array = rng.integers(0, high, size=(17, 23))
    array[0, 0] = high - 1
    path = tmp_path / "m.tif"
    if mode == "I;16B":
        Image.frombytes(mode, (23, 17), array.astype(">u2").tobytes()).save(path)
    else:
        write_mask(path, array, mode)
    with Image.open(path) as image:
        assert image.format == "TIFF" and image.mode == mode
    stats = segstats.scan(path, num_classes=high)
    values, counts = np.unique(array, return_counts=True)
    expected = np.zeros(high, dtype=np.int64)
    expected[values] = counts
    np.testing.assert_array_equal(stats.pixel_counts, expected)
    assert stats.image_modes == {mode: 1}


def test_multi_band_tiff_without_colours_is_refused(tmp_path):
    Image.new("RGB", (4, 4)).save(tmp_path / "m.tif")
    with pytest.raises(BadInputError, match="--colors"):
        segstats.scan(tmp_path / "m.tif", num_classes=3)


# -------------------------------------------------------------------- CLI
def test_cli_scan_with_colors_map_and_class_names(tmp_path, rng):
    arrays = [random_mask(rng, 16, 16, 3, ignore_index=255) for _ in range(3)]
    (tmp_path / "rgb").mkdir()
    for i, array in enumerate(arrays):
        colourise(array).save(tmp_path / "rgb" / f"{i}.png")
    colors = write_text(
        tmp_path / "colors.json", json.dumps({",".join(map(str, c)): v for v, c in COLOURS.items()})
    )
    names = write_text(tmp_path / "names.txt", "road\nbuilding\nvegetation\n")
    out = tmp_path / "stats.json"
    result = runner.invoke(
        app,
        [
            "scan",
            str(tmp_path / "rgb"),
            "--ignore-index",
            "255",
            "--colors",
            colors,
            "--class-names",
            names,
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert document["class_names"] == ["road", "building", "vegetation"]
    assert document["num_classes"] == 3  # K from the class names
    assert document["pixel_counts"] == brute_force(arrays, 3, 255).pixel_counts
    assert "--num-classes not given" not in result.output

    swap = write_text(tmp_path / "map.json", "[[0, 2], [1, 1], [2, 0], [255, 255]]")
    result = runner.invoke(
        app,
        [
            "weights",
            str(tmp_path / "rgb"),
            "-k",
            "3",
            "--ignore-index",
            "255",
            "--colors",
            colors,
            "--map",
            swap,
            "-o",
            str(tmp_path / "w.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "w.json").read_text())["pixel_counts"] == document["pixel_counts"][::-1]


def test_cli_label_file_errors_exit_2(tmp_path, masks_dir):
    folder, _ = masks_dir
    bad = write_text(tmp_path / "bad.json", "{")
    for flag in ("--colors", "--map"):
        result = runner.invoke(app, ["weights", str(folder), "-k", "3", flag, bad])
        assert result.exit_code == 2
        assert f"{bad}: invalid JSON" in result.output
    names = write_text(tmp_path / "names.txt", "a\nb\n")
    result = runner.invoke(app, ["weights", str(folder), "-k", "3", "--class-names", names])
    assert result.exit_code == 2 and "2 class names given for 3 classes" in result.output


def test_cli_from_stats_takes_class_names_but_not_colours(tmp_path, masks_dir):
    folder, _ = masks_dir
    stats = tmp_path / "stats.json"
    assert (
        runner.invoke(
            app, ["scan", str(folder), "-k", "3", "--ignore-index", "255", "-o", str(stats)]
        ).exit_code
        == 0
    )
    names = write_text(tmp_path / "names.txt", "a\nb\nc\n")
    out = tmp_path / "w.json"
    result = runner.invoke(
        app, ["weights", "--from-stats", str(stats), "--class-names", names, "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["class_names"] == ["a", "b", "c"]
    colors = write_text(tmp_path / "c.json", '{"1,2,3": 0}')
    result = runner.invoke(app, ["weights", "--from-stats", str(stats), "--colors", colors])
    assert result.exit_code == 2 and "not with --from-stats" in result.output


def test_grey_masks_saved_as_rgb_with_grey_rgb(tmp_path, rng):
    """R = G = B masks are refused by default, read as grey with --grey-rgb, the bands checked."""
    grey = random_mask(rng, 7, 9, 3)
    rgb = np.repeat(grey[..., None], 3, axis=2).astype(np.uint8)
    Image.fromarray(rgb, "RGB").save(tmp_path / "a.png")
    Image.fromarray(np.dstack([rgb, np.full(grey.shape, 7, np.uint8)]), "RGBA").save(tmp_path / "b.png")
    with pytest.raises(BadInputError, match="colour map .* or --grey-rgb"):
        segstats.scan(tmp_path, num_classes=3)
    for decoder in ("auto", "pillow"):
        stats = segstats.scan(tmp_path, num_classes=3, grey_rgb=True, decoder=decoder)
        expected = np.bincount(grey.ravel(), minlength=3) * 2
        assert stats.pixel_counts.tolist() == expected.tolist()
    rgb[3, 4] = (1, 2, 1)
    Image.fromarray(rgb, "RGB").save(tmp_path / "a.png")
    with pytest.raises(
        BadInputError, match=r"a.png: --grey-rgb: 1 pixels have bands that differ, the first at x=4, y=3"
    ):
        segstats.scan(tmp_path, num_classes=3, grey_rgb=True)
    with pytest.raises(UsageError, match="--grey-rgb and --colors"):
        segstats.scan(tmp_path, num_classes=3, grey_rgb=True, colors={"0,0,0": 0})
    result = CliRunner().invoke(app, ["weights", str(tmp_path / "b.png"), "-k", "3", "--grey-rgb", "-q"])
    assert result.exit_code == 0, result.output
