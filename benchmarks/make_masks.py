"""Write realistic synthetic label masks for the scan benchmarks into benchmarks/data/.

Masks are piecewise constant, like real annotations: large regions (sky, road,
buildings, background) with straight or wavy borders, and small objects
(ellipses, boxes, thin poles), with void (255) where annotators leave it. They
are not noise, which would make PNG compression and filtering unrealistic.

Kinds (folder name: size, mode, classes):

- ``cityscapes``: 2048x1024 L, 19 classes + 255 (street scene, ego-vehicle void band)
- ``voc``: 512x512 P, 21 classes (0 = background) + 255 (void border around objects)
- ``camvid``: 480x360 L, 11 classes + 255 (street scene)
- ``uint16``: 1024x1024 I;16, 300 classes (blocky regions + many objects)
- ``many``: 20,000 small copies (160x120 L street scenes, 8 distinct masks) for peak RSS

Usage: ``python benchmarks/make_masks.py [--scale S]``: S multiplies the number of files.
Files are written with Pillow's defaults (adaptive filters for L and I;16, as
real datasets saved with Pillow have).
"""

from __future__ import annotations

import argparse
import os
import shutil
from collections.abc import Callable

import numpy as np
from PIL import Image

# Output folder (git-ignored).
DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
# Seed: the same files on every run.
SEED = 20261122
# Files per kind at --scale 1 (a benchmark run then takes about a minute or two).
COUNTS = {"cityscapes": 120, "voc": 600, "camvid": 600, "uint16": 120}
# Files of the peak-RSS set, and how many distinct masks they repeat.
MANY_FILES, MANY_DISTINCT = 20_000, 8
# VOC palette for P masks: the standard bit-interleaved colour map.
VOC_PALETTE = [
    channel
    for index in range(256)
    for channel in (
        sum(((index >> (3 * k)) & 1) << (7 - k) for k in range(8)),
        sum(((index >> (3 * k + 1)) & 1) << (7 - k) for k in range(8)),
        sum(((index >> (3 * k + 2)) & 1) << (7 - k) for k in range(8)),
    )
]


def _ellipse(mask: np.ndarray, cy: float, cx: float, ry: float, rx: float, value: int) -> None:
    height, width = mask.shape
    y0, y1 = max(0, int(cy - ry)), min(height, int(cy + ry) + 1)
    x0, x1 = max(0, int(cx - rx)), min(width, int(cx + rx) + 1)
    if y0 >= y1 or x0 >= x1:
        return
    yy, xx = np.ogrid[y0:y1, x0:x1]
    inside = ((yy - cy) / max(ry, 0.5)) ** 2 + ((xx - cx) / max(rx, 0.5)) ** 2 <= 1
    mask[y0:y1, x0:x1][inside] = value


def street_scene(rng: np.random.Generator, height: int, width: int, num_classes: int) -> np.ndarray:
    """Sky, slanted building/vegetation blocks, a road in perspective, objects, void band."""
    sky, building, vegetation, road, sidewalk = 10 % num_classes, 2, 8 % num_classes, 0, 1
    rows = np.arange(height)[:, None]
    cols = np.arange(width)
    horizon = height * rng.uniform(0.4, 0.5)
    mask = np.full((height, width), sky, dtype=np.uint8)
    # buildings / vegetation / walls: blocks whose roof lines slope (perspective)
    top = np.zeros(width)
    value = np.zeros(width, dtype=np.uint8)
    x = 0
    while x < width:
        w = int(rng.integers(width // 16, width // 4))
        start, slope = rng.uniform(0.05, 0.8) * horizon, rng.uniform(-0.4, 0.4)
        top[x : x + w] = start + slope * np.arange(min(w, width - x))
        value[x : x + w] = rng.choice([building, vegetation, 3 % num_classes, 4 % num_classes])
        x += w
    blocks = (rows >= top[None, :]) & (rows < horizon + 0.1 * height)
    mask[blocks] = np.broadcast_to(value[None, :], mask.shape)[blocks]
    # sidewalk below the horizon, road between two lines from the vanishing point
    vanish = width * rng.uniform(0.35, 0.65)
    below = rows >= horizon + 0.05 * height
    mask[np.broadcast_to(below, mask.shape)] = sidewalk
    depth = np.maximum(rows - horizon, 0)
    left = vanish - depth * rng.uniform(1.0, 2.5)
    right = vanish + depth * rng.uniform(1.0, 2.5)
    mask[below & (cols[None, :] > left) & (cols[None, :] < right)] = road
    # objects: cars, people, signs (classes 5..num_classes-1), mostly ellipses
    for _ in range(int(rng.integers(10, 40))):
        label = int(rng.integers(5, num_classes))
        cy, cx = rng.uniform(0.4, 0.85) * height, rng.uniform(0, width)
        if rng.random() < 0.3:
            h, w = rng.uniform(0.01, 0.08) * height, rng.uniform(0.005, 0.06) * width
            mask[int(cy - h) : int(cy + h), int(cx - w) : int(cx + w)] = label
        else:
            _ellipse(mask, cy, cx, rng.uniform(0.005, 0.08) * height, rng.uniform(0.003, 0.06) * width, label)
    for _ in range(int(rng.integers(2, 10))):  # thin poles
        px, pw = int(rng.uniform(0, width)), int(rng.integers(2, 8))
        mask[int(height * rng.uniform(0.1, 0.4)) : int(height * 0.7), px : px + pw] = 5 % num_classes
    # void: an ego-vehicle hood (an ellipse cut by the bottom edge) and a few unlabelled blobs
    _ellipse(mask, height * 1.3, width * 0.5, height * rng.uniform(0.38, 0.45), width * 0.7, 255)
    for _ in range(int(rng.integers(0, 4))):
        _ellipse(mask, rng.uniform(0, height), rng.uniform(0, width), 0.02 * height, 0.02 * width, 255)
    return mask


def voc_scene(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Background with 1-4 objects of classes 1-20, each with a 4-pixel void border."""
    mask = np.zeros((height, width), dtype=np.uint8)
    for _ in range(int(rng.integers(1, 5))):
        value = int(rng.integers(1, 21))
        cy, cx = rng.uniform(0.2, 0.8) * height, rng.uniform(0.2, 0.8) * width
        ry, rx = rng.uniform(0.05, 0.35) * height, rng.uniform(0.05, 0.35) * width
        _ellipse(mask, cy, cx, ry + 4, rx + 4, 255)
        _ellipse(mask, cy, cx, ry, rx, value)
    return mask


def blocky_scene(rng: np.random.Generator, height: int, width: int, num_classes: int) -> np.ndarray:
    """Rectangular regions of many classes (a coarse grid upsampled) plus many small objects."""
    grid = rng.integers(0, num_classes, size=(16, 16))
    mask = np.repeat(np.repeat(grid, -(-height // 16), axis=0), -(-width // 16), axis=1)[:height, :width]
    mask = mask.astype(np.uint16)
    for _ in range(int(rng.integers(50, 150))):
        _ellipse(
            mask,
            rng.uniform(0, height),
            rng.uniform(0, width),
            rng.uniform(2, 40),
            rng.uniform(2, 40),
            int(rng.integers(0, num_classes)),
        )
    return mask


def _save(path: str, mask: np.ndarray, mode: str) -> None:
    if mode == "P":
        image = Image.frombytes("P", (mask.shape[1], mask.shape[0]), mask.tobytes())
        image.putpalette(VOC_PALETTE)
    else:
        image = Image.fromarray(mask)
    assert image.mode == mode, (image.mode, mode)
    image.save(path)


KINDS: dict[str, tuple[Callable[[np.random.Generator], np.ndarray], str]] = {
    "cityscapes": (lambda rng: street_scene(rng, 1024, 2048, 19), "L"),
    "voc": (lambda rng: voc_scene(rng, 512, 512), "P"),
    "camvid": (lambda rng: street_scene(rng, 360, 480, 11), "L"),
    "uint16": (lambda rng: blocky_scene(rng, 1024, 1024, 300), "I;16"),
}


def make_kind(name: str, count: int, out_dir: str = DATA_DIR) -> str:
    """Write ``count`` masks of kind ``name`` into ``out_dir/name`` (skipped if already complete)."""
    folder = os.path.join(out_dir, name)
    if os.path.isdir(folder) and len(os.listdir(folder)) == count:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    make, mode = KINDS[name]
    rng = np.random.default_rng([SEED, sorted(KINDS).index(name)])
    for index in range(count):
        _save(os.path.join(folder, f"{name}_{index:05d}.png"), make(rng), mode)
    return folder


def make_many(out_dir: str = DATA_DIR, count: int = MANY_FILES) -> str:
    """``count`` small masks (copies of a few distinct ones) in 100 subfolders, for peak RSS."""
    folder = os.path.join(out_dir, "many")
    if os.path.isdir(folder) and sum(len(f) for _, _, f in os.walk(folder)) == count:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    rng = np.random.default_rng([SEED, 99])
    blobs = []
    for index in range(MANY_DISTINCT):
        path = os.path.join(out_dir, f"_many_{index}.png")
        _save(path, street_scene(rng, 120, 160, 19), "L")
        with open(path, "rb") as handle:
            blobs.append(handle.read())
        os.remove(path)
    for index in range(count):
        sub = os.path.join(folder, f"{index // 200:03d}")
        os.makedirs(sub, exist_ok=True)
        with open(os.path.join(sub, f"m{index:05d}.png"), "wb") as handle:
            handle.write(blobs[index % MANY_DISTINCT])
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the number of files per kind")
    parser.add_argument("--out", default=DATA_DIR, help="output folder (default: benchmarks/data)")
    args = parser.parse_args()
    for name, count in COUNTS.items():
        folder = make_kind(name, max(1, int(count * args.scale)), args.out)
        print(f"{folder}: {len(os.listdir(folder))} files")
    print(f"{make_many(args.out)}: {MANY_FILES} files")


if __name__ == "__main__":
    main()
