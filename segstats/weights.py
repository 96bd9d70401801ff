"""Class weights from DatasetStats: one small function per method, a registry by name.

Every method sees only the present classes (``pixel_counts > 0``); absent
classes get weight 0.0 and are left out of medians and normalisations.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from segstats.errors import UsageError
from segstats.stats import DatasetStats

FloatArray = npt.NDArray[np.float64]

# Default method (contract: median-frequency).
DEFAULT_METHOD = "median-frequency"
# ENet's constant c in 1 / ln(c + p) (Paszke et al. 2016).
DEFAULT_ENET_C = 1.02
# Normalisations applied to the present weights after the method.
NORMALIZATIONS = ("none", "mean", "sum")
# Every option compute_weights accepts (a misspelt one is refused, never ignored).
OPTION_NAMES = frozenset({"enet_c", "beta", "normalize", "clip"})


@dataclass(frozen=True)
class PresentCounts:
    """The counts of the present classes only, as float64."""

    pixel_counts: FloatArray
    image_pixels: FloatArray

    @property
    def share(self) -> FloatArray:
        result: FloatArray = self.pixel_counts / self.pixel_counts.sum()
        return result

    @property
    def frequency(self) -> FloatArray:
        return self.pixel_counts / self.image_pixels


def median_frequency(counts: PresentCounts) -> FloatArray:
    """Median-frequency balancing: ``w_c = median(f) / f_c``, ``f_c = n_c / image_pixels_c``.

    Eigen & Fergus, "Predicting Depth, Surface Normals and Semantic Labels with a
    Common Multi-Scale Convolutional Architecture", ICCV 2015 (used by SegNet).
    """
    frequency = counts.frequency
    result: FloatArray = np.median(frequency) / frequency
    return result


def enet(counts: PresentCounts, enet_c: float = DEFAULT_ENET_C) -> FloatArray:
    """ENet weighting: ``w_c = 1 / ln(c + p_c)`` with ``p_c`` the class share.

    Paszke et al., "ENet: A Deep Neural Network Architecture for Real-Time
    Semantic Segmentation", 2016 (``c = 1.02``).
    """
    result: FloatArray = 1.0 / np.log(enet_c + counts.share)
    return result


def balanced(counts: PresentCounts) -> FloatArray:
    """``w_c = sum(n) / (P * n_c)``, as scikit-learn's ``compute_class_weight("balanced")``."""
    result: FloatArray = counts.pixel_counts.sum() / (counts.pixel_counts.size * counts.pixel_counts)
    return result


def inverse_sqrt(counts: PresentCounts) -> FloatArray:
    """``w_c = sqrt(balanced_c)``: a softer inverse-frequency weighting."""
    result: FloatArray = np.sqrt(balanced(counts))
    return result


def effective_number(counts: PresentCounts, beta: float | None = None) -> FloatArray:
    """Class-balanced weights of Cui et al., CVPR 2019.

    ``w_c = (1 - beta) / (1 - beta ** n_c)``, rescaled so the present weights
    sum to ``P`` (the number of present classes). ``0 <= beta < 1``.
    """
    if beta is None:
        raise UsageError("effective-number needs --beta B with 0 <= B < 1")
    # 1 - beta**n computed as -expm1(n * log(beta)) stays exact for beta near 1
    if beta == 0.0:
        raw = np.ones_like(counts.pixel_counts)
    else:
        raw = (1.0 - beta) / -np.expm1(counts.pixel_counts * math.log(beta))
    result: FloatArray = raw * (raw.size / raw.sum())
    return result


def pos_weight(counts: PresentCounts) -> FloatArray:
    """``w_c = (sum(n) - n_c) / n_c``: negatives per positive, one-vs-rest.

    What ``torch.nn.BCEWithLogitsLoss(pos_weight=...)`` expects for per-class
    binary targets (PyTorch documentation: "the number of negative examples
    divided by the number of positive examples"); for a binary 0/1 mask, the
    entry of class 1.
    """
    total = counts.pixel_counts.sum()
    result: FloatArray = (total - counts.pixel_counts) / counts.pixel_counts
    return result


MethodFunction = Callable[..., FloatArray]

# Registry: method name -> (function, names of the options it takes).
METHODS: dict[str, tuple[MethodFunction, tuple[str, ...]]] = {
    "median-frequency": (median_frequency, ()),
    "enet": (enet, ("enet_c",)),
    "balanced": (balanced, ()),
    "inverse-sqrt": (inverse_sqrt, ()),
    "pos-weight": (pos_weight, ()),
    "effective-number": (effective_number, ("beta",)),
}

# Present weights whose largest/smallest ratio is at most this are "uniform" (a warning says so).
NEAR_UNIFORM_RATIO = 1.01


def near_uniform(weights: FloatArray, present: npt.NDArray[np.bool_]) -> bool:
    """Whether the present classes' weights are all within 1% of each other (two or more classes)."""
    values = weights[present]
    if values.size < 2 or not (values > 0).all():
        return False
    return bool(values.max() / values.min() <= NEAR_UNIFORM_RATIO)


def weight_warnings(method: str, weights: FloatArray, present: npt.NDArray[np.bool_]) -> list[str]:
    """One-line warnings about weights that are probably not what the user wants."""
    if not near_uniform(weights, present):
        return []
    text = f"the {method} weights are within 1% of uniform: they will barely change the loss"
    if method == "effective-number":
        text += (
            "; beta acts on pixel counts, so 1 - beta must be about 1 / (pixels of a class) "
            "to matter (e.g. beta = 0.9999999 for classes of about 10 million pixels)"
        )
    return [text]


def _check_options(method: str, options: dict[str, Any]) -> None:
    if method not in METHODS:
        raise UsageError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    unknown = sorted(set(options) - OPTION_NAMES)
    if unknown:
        known = ", ".join(sorted(OPTION_NAMES))
        raise UsageError(f"unknown weight option(s) {', '.join(unknown)}; known: {known}")
    beta = options.get("beta")
    if method == "effective-number" and beta is None:
        raise UsageError("effective-number needs --beta B with 0 <= B < 1")
    if beta is not None and not (0.0 <= beta < 1.0):
        raise UsageError(f"--beta must satisfy 0 <= beta < 1, got {beta}")
    enet_c = options.get("enet_c")
    if enet_c is not None and not (1.0 < enet_c < math.inf):
        raise UsageError(f"--enet-c must be a finite number greater than 1, got {enet_c}")
    normalize = options.get("normalize", "none")
    if normalize not in NORMALIZATIONS:
        raise UsageError(f"--normalize must be one of {', '.join(NORMALIZATIONS)}, got {normalize!r}")
    clip = options.get("clip")
    if clip is not None and not clip > 0:
        raise UsageError(f"--clip must be positive, got {clip}")


def method_options(method: str, **options: Any) -> dict[str, Any]:
    """Every option in force for ``method``, defaults filled in (recorded in the JSON)."""
    _check_options(method, options)
    recorded: dict[str, Any] = {}
    if method == "enet":
        recorded["enet_c"] = float(options.get("enet_c") or DEFAULT_ENET_C)
    if method == "effective-number":
        recorded["beta"] = options.get("beta")
    recorded["normalize"] = options.get("normalize") or "none"
    recorded["clip"] = options.get("clip")
    return recorded


def compute_weights(stats: DatasetStats, method: str = DEFAULT_METHOD, **options: Any) -> FloatArray:
    """Class weights for ``stats`` by ``method``; absent classes get 0.0.

    Args:
        stats: the dataset's counts.
        method: one of ``METHODS`` (median-frequency, enet, balanced,
            inverse-sqrt, pos-weight, effective-number).
        **options: ``enet_c`` (enet), ``beta`` (effective-number), ``normalize``
            (none | mean: present weights average 1 | sum: they sum to 1) and
            ``clip`` (maximum weight, applied after normalising).

    Returns:
        float64 array of ``stats.num_classes`` weights.

    Example:
        >>> import numpy as np
        >>> s = DatasetStats(3, None, 2, 8, 0, np.array([6, 2, 0]), np.array([2, 1, 0]),
        ...                  np.array([8, 4, 0]))
        >>> compute_weights(s).tolist()
        [0.8333333333333334, 1.25, 0.0]
    """
    recorded = method_options(method, **options)
    function, option_names = METHODS[method]
    weights = np.zeros(stats.num_classes, dtype=np.float64)
    present = stats.present
    if not present.any():
        return weights
    counts = PresentCounts(
        stats.pixel_counts[present].astype(np.float64),
        stats.image_pixels[present].astype(np.float64),
    )
    kwargs = {name: recorded[name] for name in option_names}
    values = function(counts, **kwargs)
    # all-zero weights (pos-weight with one present class: no negatives) stay zero
    if recorded["normalize"] == "mean" and values.any():
        values = values / values.mean()
    elif recorded["normalize"] == "sum" and values.any():
        values = values / values.sum()
    if recorded["clip"] is not None:
        values = np.minimum(values, recorded["clip"])
    weights[present] = values
    return weights
