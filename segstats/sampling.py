"""Per-image sampling weights from the per-image table (``segstats sample``).

For image ``i``, ``C_i`` is the set of classes with at least ``M`` pixels in it
(``min_pixels``: 1 by default, 3000 for rare-class), ``n_c`` the number of images
with ``c`` in ``C_i`` and ``N`` the number of images (contract, "Sampling weights"):

- ``repeat-factor``: ``max over c in C_i of max(1, sqrt(t / (n_c / N)))``, 1 when
  ``C_i`` is empty (Gupta et al., LVIS, CVPR 2019; detectron2's
  ``RepeatFactorTrainingSampler``);
- ``class-aware``: ``sum over c in C_i of 1 / (P * n_c)``, ``P`` the number of
  classes with ``n_c > 0``: pick a class uniformly, then an image holding it
  uniformly (Shen et al., ECCV 2016; mmdet ``ClassAwareSampler``); sums to 1;
- ``rare-class``: ``sum over c in C_i of q_c / n_c``, ``q`` the softmax over the
  classes with ``n_c > 0`` of ``(1 - p_c) / T``, ``p_c`` the class's pixel share
  ``pixel_counts[c] / sum(pixel_counts)`` over the whole dataset (all pixels, not
  only those of images meeting ``M``: DAFormer's ``freq`` from its class stats),
  ``T`` the temperature (Hoyer et al., DAFormer, CVPR 2022); sums to 1.

The weights come in the table's order (sorted path order). Images with an empty
``C_i`` get weight 0 under class-aware and rare-class (nothing draws them).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from segstats.errors import BadInputError, SegstatsError, UsageError
from segstats.sampling_methods import (
    DEFAULT_METHOD,
    DEFAULT_MIN_PIXELS,
    DEFAULT_TEMPERATURE,
    DEFAULT_THRESHOLD,
    METHOD_OPTIONS,
    RARE_CLASS_MIN_PIXELS,
    SAMPLE_SUFFIXES,
    SamplingMethod,
    parse_method,
)
from segstats.sampling_methods import METHOD_HELP as METHOD_HELP  # re-exported: the public names
from segstats.sampling_methods import methods_help as methods_help
from segstats.table.rows import ImageRow
from segstats.table.writer import read_table
from segstats.writers import atomic_output, weights_json_list

FloatArray = npt.NDArray[np.float64]


def sampling_options(
    method: str | SamplingMethod,
    *,
    threshold: float | None = None,
    temperature: float | None = None,
    min_pixels: int | None = None,
) -> dict[str, Any]:
    """The method's options with their defaults filled in, validated.

    Raises:
        UsageError: an unknown method, an option the method does not use, or a
            value out of range.
    """
    chosen = parse_method(method)
    given = {"threshold": threshold, "temperature": temperature, "min_pixels": min_pixels}
    for name, value in given.items():
        if value is not None and name not in METHOD_OPTIONS[chosen]:
            raise UsageError(f"--{name.replace('_', '-')} does not apply to --method {chosen.value}")
    options: dict[str, Any] = {}
    if chosen is SamplingMethod.REPEAT_FACTOR:
        t = DEFAULT_THRESHOLD if threshold is None else float(threshold)
        if not (math.isfinite(t) and t >= 0):
            raise UsageError(f"--threshold must be a finite number >= 0, got {threshold}")
        options["threshold"] = t
    if chosen is SamplingMethod.RARE_CLASS:
        temp = DEFAULT_TEMPERATURE if temperature is None else float(temperature)
        if not (math.isfinite(temp) and temp > 0):
            raise UsageError(f"--temperature must be a finite number > 0, got {temperature}")
        options["temperature"] = temp
    default_m = RARE_CLASS_MIN_PIXELS if chosen is SamplingMethod.RARE_CLASS else DEFAULT_MIN_PIXELS
    m = default_m if min_pixels is None else min_pixels
    if isinstance(m, bool) or not isinstance(m, int | np.integer) or m < 1:
        raise UsageError(f"--min-pixels must be an integer >= 1, got {min_pixels!r}")
    options["min_pixels"] = int(m)
    return options


@dataclass
class SamplingResult:
    """Weights of the images of a table, with what produced them."""

    method: SamplingMethod
    options: dict[str, Any]
    paths: list[str]
    weights: FloatArray

    def to_document(self) -> dict[str, Any]:
        """The contract's ``.json`` document."""
        return {
            "method": self.method.value,
            "options": dict(self.options),
            "num_images": len(self.paths),
            "paths": list(self.paths),
            "weights": [float(w) for w in self.weights],
        }


def _rows(table: Iterable[ImageRow] | str | os.PathLike[str]) -> Iterable[ImageRow]:
    return read_table(table) if isinstance(table, str | os.PathLike) else table


def compute_sampling(
    table: Iterable[ImageRow] | str | os.PathLike[str],
    method: str | SamplingMethod = DEFAULT_METHOD,
    **options: Any,
) -> SamplingResult:
    """Sampling weights and the paths they belong to; see :func:`sampling_weights`."""
    chosen = parse_method(method)
    unknown = sorted(set(options) - {"threshold", "temperature", "min_pixels"})
    if unknown:
        raise UsageError(f"unknown sampling option(s) {', '.join(unknown)}")
    resolved = sampling_options(chosen, **options)
    m = resolved["min_pixels"]
    paths: list[str] = []
    # C_i of every image, flat (8 bytes an entry, no object per image), and its sizes.
    ids_flat, sizes = array("q"), array("q")
    totals: dict[int, int] = {}  # pixels of each class over the dataset, exact
    for row in _rows(table):
        paths.append(row.path)
        kept = 0
        for c, pixels in zip(row.class_ids.tolist(), row.class_pixels.tolist(), strict=True):
            totals[c] = totals.get(c, 0) + pixels
            if pixels >= m:
                ids_flat.append(c)
                kept += 1
        sizes.append(kept)
    num_images = len(paths)
    if num_images == 0:
        return SamplingResult(chosen, resolved, paths, np.zeros(0))
    pixel_counts = np.zeros(max(totals, default=-1) + 1, dtype=np.int64)
    for c, pixels in totals.items():
        pixel_counts[c] = pixels
    ids_all = np.frombuffer(ids_flat, dtype=np.int64) if ids_flat else np.zeros(0, dtype=np.int64)
    image_of = np.repeat(np.arange(num_images), np.frombuffer(sizes, dtype=np.int64))
    n = np.bincount(ids_all, minlength=pixel_counts.size).astype(np.int64)
    present = n > 0
    weights: FloatArray
    if chosen is SamplingMethod.REPEAT_FACTOR:
        t = resolved["threshold"]
        factor = np.ones(n.size)
        # Contract's formula, operation for operation: max(1, sqrt(t / (n_c / N))).
        factor[present] = np.maximum(1.0, np.sqrt(t / (n[present] / num_images)))
        weights = np.ones(num_images)
        np.maximum.at(weights, image_of, factor[ids_all])
    else:
        if not present.any():
            raise UsageError(
                f"--method {chosen.value}: no image has a class with at least {m} pixels "
                "(lower --min-pixels?)"
            )
        if chosen is SamplingMethod.CLASS_AWARE:
            class_prob = np.zeros(n.size)
            class_prob[present] = 1.0 / present.sum()
        else:
            share = pixel_counts / pixel_counts.sum()
            # softmax((1 - p) / T) == softmax((p_min - p) / T) over the same classes: the
            # shifted form never overflows exp and skips the rounding of 1 - p.
            e = np.exp((share[present].min() - share[present]) / resolved["temperature"])
            class_prob = np.zeros(n.size)
            class_prob[present] = e / e.sum()
        per_image = np.zeros(n.size)
        per_image[present] = class_prob[present] / n[present]
        weights = np.zeros(num_images)
        np.add.at(weights, image_of, per_image[ids_all])
    return SamplingResult(chosen, resolved, paths, weights)


def sampling_weights(
    table: Iterable[ImageRow] | str | os.PathLike[str],
    method: str | SamplingMethod = DEFAULT_METHOD,
    **options: Any,
) -> FloatArray:
    """One weight per image of a per-image table, in the table's order.

    Args:
        table: rows (``segstats.table.ImageRow``) or the path of a table written
            with ``--per-image`` (``.jsonl``, ``.csv``, ``.parquet``).
        method: ``"repeat-factor"`` (default), ``"class-aware"`` or ``"rare-class"``.
        threshold: repeat-factor's ``t`` (default 0.001).
        temperature: rare-class's ``T`` (default 0.01).
        min_pixels: ``M``, the pixels a class needs in an image to count there
            (default 1; 3000 for rare-class).

    Returns:
        float64 array of the images' weights, for
        ``torch.utils.data.WeightedRandomSampler`` or as repeat factors.

    Raises:
        UsageError: unknown method or option, a value out of range, or (class-aware,
            rare-class) no image with a class of at least ``min_pixels`` pixels.

    Example:
        >>> import numpy as np
        >>> from segstats.table import ImageRow
        >>> rows = [ImageRow("a.png", 2, 1, 0, np.array([0]), np.array([2])),
        ...         ImageRow("b.png", 2, 1, 0, np.array([0, 1]), np.array([1, 1]))]
        >>> sampling_weights(rows, "class-aware").tolist()
        [0.25, 0.75]
    """
    return compute_sampling(table, method, **options).weights


# ------------------------------------------------------------------------- outputs
def sample_format_for(path: str, fmt: str | None = None) -> str:
    if fmt is not None:
        if fmt not in (*SAMPLE_SUFFIXES.values(), "list"):
            raise UsageError(f"unknown sample output format {fmt!r}")
        return fmt
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in SAMPLE_SUFFIXES:
        raise UsageError(
            f"{path}: cannot tell the output format from the suffix; use .json, .csv, .pt or .npy"
        )
    return SAMPLE_SUFFIXES[suffix]


def render_sampling(result: SamplingResult, fmt: str) -> bytes:
    """The bytes of a sample output in ``fmt`` (json, csv, pt, npy, list)."""
    weights = np.asarray(result.weights, dtype=np.float64)
    if fmt == "json":
        return (json.dumps(result.to_document(), indent=2) + "\n").encode()
    if fmt == "list":
        return (weights_json_list(weights) + "\n").encode()
    if fmt == "csv":
        text = io.StringIO(newline="")
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(["path", "weight"])
        writer.writerows([path, repr(float(w))] for path, w in zip(result.paths, weights, strict=True))
        return text.getvalue().encode()
    buffer = io.BytesIO()
    if fmt == "npy":
        np.save(buffer, weights, allow_pickle=False)
    elif fmt == "pt":
        try:
            import torch
        except ImportError:
            raise SegstatsError("writing .pt needs PyTorch: pip install 'segstats[torch]'") from None
        torch.save(torch.from_numpy(weights.copy()), buffer)
    else:
        raise UsageError(f"unknown sample output format {fmt!r}")
    return buffer.getvalue()


def write_sampling(path: str, result: SamplingResult, fmt: str | None = None) -> str:
    """Write ``result`` to ``path`` atomically (format from the suffix); returns the format."""
    chosen = sample_format_for(path, fmt)
    payload = render_sampling(result, chosen)
    with atomic_output(path) as handle:
        handle.write(payload)
    return chosen


def read_sampling(path: str) -> tuple[list[str] | None, FloatArray]:
    """``(paths, weights)`` of a file written by :func:`write_sampling`; paths None for .npy/.pt.

    Raises:
        BadInputError: the file is missing or not such a file.
    """
    fmt = sample_format_for(path)
    try:
        if fmt == "npy":
            array = np.load(path, allow_pickle=False)
            paths = None
        elif fmt == "pt":
            import torch

            array = torch.load(path, weights_only=True).numpy()
            paths = None
        elif fmt == "json":
            with open(path, encoding="utf-8") as handle:
                document = json.load(handle)
            if not isinstance(document, dict) or not isinstance(document.get("paths"), list):
                raise ValueError("not a segstats sample document (no 'paths' list)")
            paths = document["paths"]
            array = np.asarray(document.get("weights"), dtype=np.float64)
        else:
            with open(path, encoding="utf-8", newline="") as handle:
                records = list(csv.reader(handle))
            if not records or records[0] != ["path", "weight"]:
                raise ValueError("not a sample csv (header 'path,weight')")
            paths = [r[0] for r in records[1:] if r]
            array = np.array([float(r[1]) for r in records[1:] if r], dtype=np.float64)
    except FileNotFoundError:
        raise BadInputError(path, "no such file") from None
    except (OSError, ValueError, TypeError, IndexError, RuntimeError) as exc:
        raise BadInputError(path, f"cannot read sampling weights ({exc})") from None
    weights = np.asarray(array, dtype=np.float64)
    if weights.ndim != 1 or (paths is not None and len(paths) != weights.size):
        raise BadInputError(path, f"weights of shape {weights.shape} for {len(paths or [])} paths")
    if paths is not None and not all(isinstance(p, str) for p in paths):
        raise BadInputError(path, "paths must be strings")
    return paths, weights
