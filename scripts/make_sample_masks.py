"""Make sample_masks/: a small deterministic set of 3-class label PNGs.

Classes: 0 background (most pixels), 1 a ground region along the bottom with a
wavy edge (about a quarter), 2 a few small objects (rare, absent from some
images). Even-numbered images are mode L, odd-numbered mode P with a palette
whose colours differ from the indices (the indices are the labels).

Run from the repository root: ``python scripts/make_sample_masks.py``.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

# Number of masks written.
NUM_MASKS = 40
# Mask size (width, height): CamVid-like aspect, small enough to commit.
WIDTH, HEIGHT = 160, 120
# Seed of the generator: the set is identical on every run.
SEED = 20261122
# Palette for the P images: class 0 black, 1 purple-grey, 2 red (VOC-like colours).
PALETTE = [0, 0, 0, 128, 64, 128, 220, 20, 60]


def make_mask(rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    mask = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    horizon = rng.uniform(0.55, 0.8) * HEIGHT
    amplitude = rng.uniform(2, 10)
    phase = rng.uniform(0, 2 * np.pi)
    edge = horizon + amplitude * np.sin(xx / WIDTH * 2 * np.pi * rng.uniform(0.5, 2) + phase)
    mask[yy > edge] = 1
    for _ in range(rng.integers(0, 4)):  # 0-3 small objects, sometimes none
        cy, cx = rng.uniform(0.3, 0.95) * HEIGHT, rng.uniform(0, 1) * WIDTH
        ry, rx = rng.uniform(2, 9), rng.uniform(2, 7)
        mask[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1] = 2
    return mask


def main(out_dir: str = "sample_masks") -> None:
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(SEED)
    for index in range(NUM_MASKS):
        mask = make_mask(rng)
        mode = "P" if index % 2 else "L"
        image = Image.frombytes(mode, (WIDTH, HEIGHT), mask.tobytes())
        if mode == "P":
            image.putpalette(PALETTE)
        image.save(os.path.join(out_dir, f"mask_{index:03d}.png"), optimize=False)


if __name__ == "__main__":
    main()
