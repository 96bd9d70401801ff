"""Sampling weights from ``segstats sample --output`` for a PyTorch dataset (torch imported here only).

The weights file lists the label files in sorted path order; a dataset has its
own order. These helpers put the weights in the dataset's order, matching each
dataset path to a path of the file, and refuse a dataset path the file does
not know (a silent mismatch would bias the sampling)::

    from segstats.torch_sampling import weighted_sampler
    sampler = weighted_sampler("weights.json", dataset.label_paths, match="stem")
    loader = torch.utils.data.DataLoader(dataset, sampler=sampler, batch_size=8)

Matching (``match=``):

- ``"path"``: the same file: both sides are compared as absolute, normalised
  local paths (URLs as they are), so ``labels/a.png`` matches ``./labels/a.png``
  when run from the same folder;
- ``"stem"``: the same file name without its last suffix (``a.png`` ~ ``a.jpg``),
  for datasets that list images rather than labels; a stem that two paths of
  the file share is refused as ambiguous;
- a function ``str -> str`` applied to both sides (Cityscapes:
  ``lambda p: os.path.basename(p).rsplit("_", 2)[0]``).

Paths of the file that the dataset does not list are allowed (a split of the
table); ``WeightedRandomSampler`` does not need weights that sum to 1.
Only ``.json`` and ``.csv`` weights files hold paths; ``.npy``/``.pt`` are refused.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, Literal

from segstats.errors import display_path
from segstats.remote import is_remote
from segstats.sampling import read_sampling

MatchBy = Literal["path", "stem"] | Callable[[str], str]
# Unknown dataset paths named in one error at most.
MAX_SHOWN = 3


def _path_key(path: str) -> str:
    return path if is_remote(path) else os.path.normpath(os.path.abspath(path))


def _stem_key(path: str) -> str:
    name = path.rstrip("/").rsplit("/", 1)[-1] if is_remote(path) else os.path.basename(path)
    return os.path.splitext(name)[0]


def _key_function(match: MatchBy) -> Callable[[str], str]:
    if callable(match):
        return match
    if match == "path":
        return _path_key
    if match == "stem":
        return _stem_key
    raise ValueError(f"match must be 'path', 'stem' or a function, got {match!r}")


def aligned_weights(
    weights_file: str | os.PathLike[str],
    dataset_paths: Sequence[str | os.PathLike[str]],
    match: MatchBy = "path",
) -> list[float]:
    """The weights of ``weights_file`` in the order of ``dataset_paths`` (no torch needed).

    Raises:
        ValueError: the file holds no paths (.npy/.pt), two of its paths share a
            key, a dataset path is listed twice or is not in the file.
        BadInputError: the file cannot be read.
    """
    key = _key_function(match)
    name = os.fspath(weights_file)
    paths, weights = read_sampling(name)
    if paths is None:
        raise ValueError(
            f"{name}: a .npy/.pt weights file holds no paths, so it cannot be matched to a dataset; "
            "write .json or .csv with segstats sample --output"
        )
    by_key: dict[str, int] = {}
    for index, path in enumerate(paths):
        k = key(path)
        if k in by_key:
            raise ValueError(
                f"{name}: {paths[by_key[k]]} and {path} both match {k!r} (match={match!r}); "
                "use match='path' or a key function"
            )
        by_key[k] = index
    out: list[float] = []
    unknown: list[str] = []
    used: dict[int, str] = {}
    for raw in dataset_paths:
        shown = display_path(os.fspath(raw))
        index_or_none = by_key.get(key(shown))
        if index_or_none is None:
            unknown.append(shown)
            continue
        if index_or_none in used:
            raise ValueError(
                f"dataset paths {used[index_or_none]} and {shown} both match {paths[index_or_none]}"
            )
        used[index_or_none] = shown
        out.append(float(weights[index_or_none]))
    if unknown:
        listed = ", ".join(unknown[:MAX_SHOWN]) + (
            f" (and {len(unknown) - MAX_SHOWN} more)" if len(unknown) > MAX_SHOWN else ""
        )
        raise ValueError(
            f"{name} has no weight for {len(unknown)} of the {len(dataset_paths)} dataset paths "
            f"(match={match!r}): {listed}"
        )
    return out


def load_sampling_weights(
    weights_file: str | os.PathLike[str],
    dataset_paths: Sequence[str | os.PathLike[str]],
    match: MatchBy = "path",
) -> Any:
    """The weights as a 1-D float64 ``torch.Tensor`` in the order of ``dataset_paths``.

    See :func:`aligned_weights` for the matching and the errors.
    """
    import torch

    return torch.tensor(aligned_weights(weights_file, dataset_paths, match), dtype=torch.float64)


def weighted_sampler(
    weights_file: str | os.PathLike[str],
    dataset_paths: Sequence[str | os.PathLike[str]],
    num_samples: int | None = None,
    replacement: bool = True,
    generator: Any = None,
    match: MatchBy = "path",
) -> Any:
    """A ``torch.utils.data.WeightedRandomSampler`` over the dataset's indices.

    ``num_samples`` defaults to ``len(dataset_paths)`` (one epoch's worth).
    """
    from torch.utils.data import WeightedRandomSampler

    if not dataset_paths:
        raise ValueError("no dataset paths to sample from")
    weights = load_sampling_weights(weights_file, dataset_paths, match)
    if not bool((weights > 0).any()):
        raise ValueError(f"{os.fspath(weights_file)}: every weight of the dataset's images is 0")
    count = len(dataset_paths) if num_samples is None else num_samples
    return WeightedRandomSampler(weights, count, replacement=replacement, generator=generator)
