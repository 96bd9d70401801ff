"""``weight=`` as a tensor, a sequence or a file written by ``segstats weights --output``.

Accepted files (chosen by suffix, case-insensitive):

- ``.json``: the full document (``{"weights": {"values": [...]}, ...}``) or a bare list;
- ``.pt``: a 1-D tensor (or a list of numbers) saved with :func:`torch.save`;
- ``.npy``: a 1-D numeric array saved with :func:`numpy.save`;
- ``.yaml`` / ``.yml``: the ``class_weight:`` list that ``segstats weights -o x.yaml``
  writes (``class_weight:`` then one ``- number`` line per class; a flow list
  ``class_weight: [1.0, 2.0]``, blank lines and ``#`` comments are accepted too). It is
  read by a small parser of that layout, so PyYAML is not needed.

Every value must be finite and >= 0. Problems raise :class:`ValueError` naming the
file and what is wrong with it.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Union

import torch
from torch import Tensor

WeightLike = Union[Tensor, Sequence[float], str, "os.PathLike[str]", None]

SUFFIXES = (".json", ".pt", ".npy", ".yaml", ".yml")
YAML_KEY = "class_weight"


def _from_json(path: Path) -> list[Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read weights file: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from exc
    if isinstance(document, list):
        return document
    if not isinstance(document, dict):
        raise ValueError(
            f"{path}: expected a JSON list of weights or a segstats document with "
            f"'weights': {{'values': [...]}}, got a JSON {type(document).__name__}"
        )
    weights = document.get("weights")
    if not isinstance(weights, dict) or "values" not in weights:
        raise ValueError(
            f"{path}: segstats document has no 'weights': {{'values': [...]}} entry "
            "(a file written by `segstats scan` holds counts only; use `segstats weights`)"
        )
    values = weights["values"]
    if not isinstance(values, list):
        raise ValueError(f"{path}: 'weights.values' must be a list, got {type(values).__name__}")
    num_classes = document.get("num_classes")
    if isinstance(num_classes, int) and num_classes != len(values):
        raise ValueError(
            f"{path}: 'weights.values' has {len(values)} entries but 'num_classes' is {num_classes}"
        )
    return values


def _yaml_number(text: str, path: Path, line: int) -> float:
    try:
        return float(text)
    except ValueError:
        # YAML's spellings of infinity and NaN, so the message says "finite", not "number"
        special = {".inf": math.inf, "+.inf": math.inf, "-.inf": -math.inf, ".nan": math.nan}
        if text.lower() in special:
            return special[text.lower()]
        raise ValueError(f"{path}: line {line}: {text!r} is not a number") from None


def _from_yaml(path: Path) -> list[float]:
    """The ``class_weight:`` list of a ``.yaml`` file as ``segstats weights`` writes it.

    Not a YAML parser: exactly one key, ``class_weight``, holding a block list
    (``- number`` lines) or a flow list (``[a, b]``); anything else is refused with
    the line number, never guessed at.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read weights file: {exc}") from exc
    lines = []
    for number, raw in enumerate(text.splitlines(), start=1):
        # a '#' starts a comment at the line start or after a blank (YAML's rule)
        stripped = raw.lstrip()
        content = "" if stripped.startswith("#") else raw.split(" #", 1)[0].strip()
        if content and content != "---":
            lines.append((number, content))
    expected = (
        f"expected '{YAML_KEY}:' followed by a list of numbers (as `segstats weights -o x.yaml` writes)"
    )
    if not lines or not lines[0][1].startswith(f"{YAML_KEY}:"):
        where = f"line {lines[0][0]}: " if lines else ""
        raise ValueError(f"{path}: {where}{expected}")
    first_line, first = lines[0]
    inline = first[len(YAML_KEY) + 1 :].strip()
    if inline:
        if len(lines) > 1 or not (inline.startswith("[") and inline.endswith("]")):
            raise ValueError(f"{path}: line {first_line}: {expected}")
        items = [item.strip() for item in inline[1:-1].split(",")]
        if items == [""]:
            return []
        return [_yaml_number(item, path, first_line) for item in items]
    values = []
    for number, content in lines[1:]:
        if not content.startswith("- "):  # "-1.0" alone is a scalar, not an item
            raise ValueError(f"{path}: line {number}: {content!r} is not a '- number' list item; {expected}")
        values.append(_yaml_number(content[1:].strip(), path, number))
    return values


def _from_pt(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a bad file
        raise ValueError(f"{path}: cannot load weights with torch.load: {exc}") from exc


def _from_npy(path: Path) -> Any:
    import numpy as np

    try:
        array = np.load(path, allow_pickle=False)
    except Exception as exc:  # numpy raises ValueError, OSError, EOFError ...
        raise ValueError(f"{path}: cannot load weights with numpy.load: {exc}") from exc
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
        raise ValueError(f"{path}: expected a numeric array, got {getattr(array, 'dtype', array)}")
    return torch.from_numpy(array.astype(np.float64))


def _to_tensor(values: Any, source: str) -> Tensor:
    if isinstance(values, Tensor):
        tensor = values.detach()
        if tensor.is_complex() or tensor.dtype == torch.bool:
            raise ValueError(f"{source}: weights must be real numbers, got dtype {tensor.dtype}")
        if not tensor.is_floating_point():
            tensor = tensor.to(torch.float32)
    else:
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            raise ValueError(f"{source}: weights must be a sequence of numbers, got {type(values).__name__}")
        for i, v in enumerate(values):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ValueError(f"{source}: weight {i} is {v!r}, not a number")
            if not math.isfinite(v):
                raise ValueError(f"{source}: weight {i} is {v!r}; weights must be finite")
        tensor = torch.tensor([float(v) for v in values], dtype=torch.float32)
    if tensor.ndim != 1:
        raise ValueError(f"{source}: weights must be one-dimensional, got shape {tuple(tensor.shape)}")
    if tensor.numel() == 0:
        raise ValueError(f"{source}: weights are empty")
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{source}: weights contain NaN or infinity: {tensor.tolist()}")
    if bool((tensor < 0).any()):
        raise ValueError(f"{source}: weights must be >= 0, got {tensor.tolist()}")
    return tensor.clone() if isinstance(values, Tensor) else tensor


def load_weight(weight: WeightLike, num_classes: int | None = None) -> Tensor | None:
    """Turn ``weight=`` into a 1-D float tensor (or ``None``).

    Args:
        weight: ``None``, a tensor, a sequence of numbers, or a path to a ``.json``,
            ``.pt``, ``.npy`` or ``.yaml`` / ``.yml`` file written by
            ``segstats weights --output``.
        num_classes: if given, the number of entries the weights must have.

    Returns:
        A detached 1-D floating tensor (float32 unless a floating tensor of another
        dtype was given), or ``None``.

    Raises:
        ValueError: unreadable or malformed file, unknown suffix, NaN / infinite /
            negative values, or a length other than ``num_classes``.

    Example:
        >>> load_weight([1, 2.5])
        tensor([1.0000, 2.5000])
    """
    if weight is None:
        return None
    if isinstance(weight, (str, os.PathLike)):
        path = Path(weight)
        source = str(path)
        suffix = path.suffix.lower()
        if suffix not in SUFFIXES:
            raise ValueError(
                f"{path}: unsupported weights file suffix {path.suffix!r}; expected one of "
                f"{', '.join(SUFFIXES)}"
            )
        if not path.is_file():
            raise ValueError(f"{path}: weights file not found")
        raw: Any
        if suffix == ".json":
            raw = _from_json(path)
        elif suffix == ".pt":
            raw = _from_pt(path)
        elif suffix in (".yaml", ".yml"):
            raw = _from_yaml(path)
        else:
            raw = _from_npy(path)
        tensor = _to_tensor(raw, source)
        if suffix == ".npy":
            tensor = tensor.to(torch.float32)
    else:
        source = "weight"
        tensor = _to_tensor(weight, source)
    if num_classes is not None and tensor.numel() != num_classes:
        raise ValueError(f"{source}: {tensor.numel()} weights given but {num_classes} classes expected")
    return tensor


def weight_for(weight: Tensor | None, like: Tensor) -> Tensor | None:
    """The weights on ``like``'s device in ``like``'s dtype (no copy when already there)."""
    if weight is None:
        return None
    return weight.to(device=like.device, dtype=like.dtype)


def resolve_weight(weight: WeightLike) -> Tensor | None:
    """For the functional forms: a tensor passes through untouched (no validation, so
    no host sync on an accelerator); anything else goes through :func:`load_weight`."""
    if weight is None or isinstance(weight, Tensor):
        return weight
    return load_weight(weight)


class WeightedLoss(torch.nn.Module):
    """Base class: holds ``weight`` as a buffer (moves with ``.to(device)``)."""

    weight: Tensor | None

    def __init__(self, weight: WeightLike = None) -> None:
        super().__init__()
        self.register_buffer("weight", load_weight(weight))

    def extra_repr(self) -> str:
        parts = []
        for key, value in vars(self).items():
            if key.startswith("_") or key == "training":
                continue
            parts.append(f"{key}={value!r}")
        if self.weight is not None:
            parts.append(f"weight=<{self.weight.numel()} classes>")
        return ", ".join(parts)
