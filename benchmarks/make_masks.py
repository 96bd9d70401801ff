"""Write realistic synthetic label masks for the scan benchmarks into benchmarks/data/.

Masks are piecewise constant, like real annotations: large regions (sky, road,
buildings, background) with straight or wavy borders, and small objects
(ellipses, boxes, thin poles), with void (255) where annotators leave it. They
are not noise, which would make PNG compression and filtering unrealistic.

Kinds (folder name: size, mode, classes):

- ``cityscapes``: 2048x1024 L, 19 classes + 255 (street scene, ego-vehicle void band)
- ``voc``: 512x512 P, 21 classes (0 = background) + 255 (void border around objects)
- ``voc500``: VOC-like 500x375 P (some 375x500 and 500x333, as VOC's photos vary), 21
  classes + 255: 1-4 objects of natural shape (lobed blobs, some of several parts) on
  background, each inside a 3-6 pixel void (255) border, as VOC draws them
- ``ade20k``: ADE20K-like 680x510 L, 150 classes (1-150; 0 = unlabelled): a few large
  irregular "stuff" regions (warped Voronoi cells) and many small irregular objects;
  written by our own PNG writer with the Sub filter on every row
- ``camvid``: 480x360 L, 11 classes + 255 (street scene)
- ``uint16``: 1024x1024 I;16, 300 classes (blocky regions + many objects)
- ``many``: 20,000 small copies (160x120 L street scenes, 8 distinct masks) for peak RSS

Usage: ``python benchmarks/make_masks.py [--scale S] [--kinds K ...]``: S multiplies the
number of files. Files are written with Pillow's defaults (adaptive filters for L and
I;16, as real datasets saved with Pillow have), except ``ade20k``: ADE20K's annotation
PNGs have every row Sub-filtered, and Pillow's writer picks filters per row, so those
are written with zlib + struct here (filter byte 1 on each row). Every file has its own
seed: the same files on every run, whatever the number of processes writing them.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import struct
import zlib
from collections.abc import Callable

import numpy as np
from PIL import Image

# Output folder (git-ignored).
DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
# Seed: the same files on every run.
SEED = 20261122
# Files per kind at --scale 1. cityscapes, voc500 and ade20k have the sizes of Cityscapes' val,
# VOC2012's segmentation trainval and ADE20K's val splits.
COUNTS = {"cityscapes": 500, "voc": 600, "camvid": 600, "uint16": 120, "voc500": 2913, "ade20k": 2000}
# Seed stream of each kind (fixed, so adding a kind changes no other kind's files).
KIND_SEEDS = {"camvid": 0, "cityscapes": 1, "uint16": 2, "voc": 3, "ade20k": 4, "voc500": 5}
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
            dy, dx = rng.uniform(0.01, 0.08) * height, rng.uniform(0.005, 0.06) * width
            mask[int(cy - dy) : int(cy + dy), int(cx - dx) : int(cx + dx)] = label
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


def _lobe(
    shape: tuple[int, int], rng: np.random.Generator, cy: float, cx: float, ry: float, rx: float, grow: float
) -> tuple[tuple[slice, slice], np.ndarray] | None:
    """A rotated ellipse whose radius wobbles with the angle (harmonics 2-6): a natural blob.

    Returns the bounding box (with ``grow`` pixels to spare) and, inside it, each
    pixel's distance outside the outline in pixels (<= 0 inside, <= g within g
    pixels of it), or None when the box misses the image.
    """
    height, width = shape
    margin = grow + 1.6 * max(ry, rx)  # the wobble makes the radius at most ~1.57 times the ellipse's
    y0, y1 = max(0, int(cy - margin)), min(height, int(cy + margin) + 1)
    x0, x1 = max(0, int(cx - margin)), min(width, int(cx + margin) + 1)
    if y0 >= y1 or x0 >= x1:
        return None
    amplitude = rng.uniform(0.0, 0.25, size=5) / np.arange(1, 6)
    phase = rng.uniform(0, 2 * np.pi, size=5)
    rotation = rng.uniform(0, np.pi)
    yy, xx = np.ogrid[y0:y1, x0:x1]
    dy, dx = (yy - cy).astype(np.float32), (xx - cx).astype(np.float32)
    distance = np.hypot(dy, dx)
    # unit complex number of each pixel's angle (minus the rotation): its powers give
    # cos(k * angle + phase) without a transcendental function per pixel and harmonic
    turn = np.complex64(np.exp(-1j * rotation))
    unit = (dx + 1j * dy).astype(np.complex64) / np.maximum(distance, 1e-6) * turn
    ry, rx = max(ry, 0.5), max(rx, 0.5)
    ellipse = rx * ry / np.hypot(ry * unit.real, rx * unit.imag)
    wobble = np.ones_like(distance)
    power = unit
    for k in range(5):
        power = power * unit
        wobble += amplitude[k] * (power * np.complex64(np.exp(1j * phase[k]))).real
    return (slice(y0, y1), slice(x0, x1)), distance - ellipse * np.maximum(wobble, 0.3)


def _draw_lobe(
    mask: np.ndarray,
    rng: np.random.Generator,
    cy: float,
    cx: float,
    ry: float,
    rx: float,
    value: int,
    border: float = 0.0,
    border_value: int = 0,
) -> None:
    """Draw a :func:`_lobe` of ``value``, inside a ``border``-pixel ring of ``border_value``."""
    lobe = _lobe(mask.shape, rng, cy, cx, ry, rx, border)
    if lobe is None:
        return
    box, outside = lobe
    if border > 0:
        mask[box][outside <= border] = border_value
    mask[box][outside <= 0] = value


def voc_natural_scene(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Background with 1-4 objects (classes 1-20) of 1-3 lobed parts, in a 3-6 pixel void border."""
    mask = np.zeros((height, width), dtype=np.uint8)
    for _ in range(int(rng.choice([1, 1, 2, 2, 3, 4]))):
        value = int(rng.integers(1, 21))
        cy, cx = rng.uniform(0.25, 0.75) * height, rng.uniform(0.2, 0.8) * width
        size = rng.uniform(0.08, 0.4) * min(height, width)
        border = float(rng.integers(3, 7))
        parts = [(cy, cx, size * rng.uniform(0.6, 1.4), size * rng.uniform(0.6, 1.4))]
        for _ in range(int(rng.integers(0, 3))):  # a head, a wheel, a wing: smaller lobes near the body
            angle = rng.uniform(0, 2 * np.pi)
            parts.append(
                (
                    cy + np.sin(angle) * parts[0][2] * 0.9,
                    cx + np.cos(angle) * parts[0][3] * 0.9,
                    parts[0][2] * rng.uniform(0.25, 0.5),
                    parts[0][3] * rng.uniform(0.25, 0.5),
                )
            )
        lobes = [_lobe(mask.shape, rng, *part, border) for part in parts]
        # the whole object's border first, then its inside: its parts join without a void line
        for limit, fill in ((border, 255), (0.0, value)):
            for lobe in lobes:
                if lobe is not None:
                    mask[lobe[0]][lobe[1] <= limit] = fill
    return mask


def _smooth_field(rng: np.random.Generator, height: int, width: int, amplitude: float) -> np.ndarray:
    """A smooth random field (a coarse grid of noise, bicubic-upsampled), values about +-amplitude."""
    coarse = rng.normal(0, amplitude, size=(5, 7)).astype(np.float32)
    return np.asarray(Image.fromarray(coarse, mode="F").resize((width, height), Image.Resampling.BICUBIC))


def ade_scene(rng: np.random.Generator, height: int, width: int, num_classes: int = 150) -> np.ndarray:
    """ADE20K-like: irregular stuff cells (warped Voronoi), then 20-120 small irregular objects.

    Each scene draws its 4-20 object classes by a Zipf-like law over 1..num_classes
    (ADE20K's classes are very unequal), then several objects of each; 0 (unlabelled)
    appears as thin gaps around some objects.
    """
    half_h, half_w = -(-height // 2), -(-width // 2)  # cells at half resolution: 2-pixel steps
    yy, xx = np.mgrid[0:half_h, 0:half_w].astype(np.float32)
    yy += _smooth_field(rng, half_h, half_w, 18.0)
    xx += _smooth_field(rng, half_h, half_w, 18.0)
    seeds = int(rng.integers(4, 14))
    sy, sx = rng.uniform(0, half_h, seeds), rng.uniform(0, half_w, seeds)
    stuff = rng.choice(np.arange(1, 31), size=seeds)  # wall, floor, sky, ... : the low class ids
    nearest = np.argmin((yy[None] - sy[:, None, None]) ** 2 + (xx[None] - sx[:, None, None]) ** 2, axis=0)
    cells = stuff[nearest].astype(np.uint8)
    mask = np.repeat(np.repeat(cells, 2, axis=0), 2, axis=1)[:height, :width].copy()
    weights = 1.0 / np.arange(1, num_classes + 1)
    weights /= weights.sum()
    # the object classes of this scene (chairs, lamps, windows, ...), several objects of each
    present = rng.choice(np.arange(1, num_classes + 1), size=int(rng.integers(4, 20)), p=weights)
    for _ in range(int(rng.integers(20, 120))):
        value = int(rng.choice(present))
        radius = float(np.exp(rng.uniform(np.log(3), np.log(50))))
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        ry, rx = radius * rng.uniform(0.5, 1.5), radius * rng.uniform(0.5, 1.5)
        gap = float(rng.integers(1, 3)) if rng.random() < 0.3 else 0.0
        _draw_lobe(mask, rng, cy, cx, ry, rx, value, border=gap, border_value=0)
    return mask


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def save_sub_filtered(path: str, mask: np.ndarray) -> None:
    """Write an 8-bit grey PNG with filter type 1 (Sub) on every row, IDAT in 8 KiB chunks."""
    if mask.dtype != np.uint8 or mask.ndim != 2:
        raise ValueError(f"expected a 2-D uint8 mask, got {mask.dtype} of shape {mask.shape}")
    height, width = mask.shape
    # Sub: each byte minus the byte to its left (0 before the first), modulo 256
    sub = np.diff(mask, axis=1, prepend=np.uint8(0))
    rows = np.concatenate([np.ones((height, 1), dtype=np.uint8), sub], axis=1)
    data = zlib.compress(rows.tobytes(), 6)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    parts = [b"\x89PNG\r\n\x1a\n", _chunk(b"IHDR", header)]
    parts += [_chunk(b"IDAT", data[i : i + 8192]) for i in range(0, len(data), 8192)]
    parts.append(_chunk(b"IEND", b""))
    with open(path, "wb") as handle:
        handle.write(b"".join(parts))


def _voc_size(rng: np.random.Generator) -> tuple[int, int]:
    """(height, width) of a VOC-like photo: mostly 375x500, some portrait and 333x500."""
    return [(375, 500), (375, 500), (375, 500), (500, 375), (333, 500)][int(rng.integers(0, 5))]


def _save(path: str, mask: np.ndarray, mode: str) -> None:
    if mode == "P":
        image = Image.frombytes("P", (mask.shape[1], mask.shape[0]), mask.tobytes())
        image.putpalette(VOC_PALETTE)
    elif mode == "L-sub":
        save_sub_filtered(path, mask)
        return
    else:
        image = Image.fromarray(mask)
    assert image.mode == mode, (image.mode, mode)
    image.save(path)


KINDS: dict[str, tuple[Callable[[np.random.Generator], np.ndarray], str]] = {
    "cityscapes": (lambda rng: street_scene(rng, 1024, 2048, 19), "L"),
    "voc": (lambda rng: voc_scene(rng, 512, 512), "P"),
    "camvid": (lambda rng: street_scene(rng, 360, 480, 11), "L"),
    "uint16": (lambda rng: blocky_scene(rng, 1024, 1024, 300), "I;16"),
    "voc500": (lambda rng: voc_natural_scene(rng, *_voc_size(rng)), "P"),
    "ade20k": (lambda rng: ade_scene(rng, 510, 680), "L-sub"),
}


def _write_one(job: tuple[str, int, str]) -> None:
    name, index, folder = job
    make, mode = KINDS[name]
    # one seed per file: the same files whatever the number of worker processes
    rng = np.random.default_rng([SEED, KIND_SEEDS[name], index])
    _save(os.path.join(folder, f"{name}_{index:05d}.png"), make(rng), mode)


def make_kind(name: str, count: int, out_dir: str = DATA_DIR, workers: int | None = None) -> str:
    """Write ``count`` masks of kind ``name`` into ``out_dir/name`` (skipped if already complete).

    ``workers`` processes write them (default: one per core).
    """
    folder = os.path.join(out_dir, name)
    if os.path.isdir(folder) and len(os.listdir(folder)) == count:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    jobs = [(name, index, folder) for index in range(count)]
    workers = min(workers or os.cpu_count() or 1, count)
    if workers <= 1:
        for job in jobs:
            _write_one(job)
    else:
        with multiprocessing.Pool(workers) as pool:
            for _ in pool.imap_unordered(_write_one, jobs, chunksize=8):
                pass
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
    parser.add_argument(
        "--kinds", nargs="*", default=[*COUNTS, "many"], choices=[*COUNTS, "many"], help="default: all"
    )
    args = parser.parse_args()
    for name in args.kinds:
        if name == "many":
            print(f"{make_many(args.out)}: {MANY_FILES} files")
            continue
        folder = make_kind(name, max(1, int(COUNTS[name] * args.scale)), args.out)
        print(f"{folder}: {len(os.listdir(folder))} files")


if __name__ == "__main__":
    main()
