"""Shared fixtures: small label masks written into tmp_path."""

from __future__ import annotations

import numpy as np
import pytest
from labelmasks import random_mask, write_mask


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture
def masks_dir(tmp_path, rng):
    """A folder of 12 three-class masks (L and P) with 255 as void, and their arrays."""
    folder = tmp_path / "labels"
    folder.mkdir()
    arrays = []
    for index in range(12):
        array = random_mask(rng, 24 + index, 32, 3, ignore_index=255)
        write_mask(folder / f"m{index:02d}.png", array, "L" if index % 2 else "P")
        arrays.append(array)
    return folder, arrays
