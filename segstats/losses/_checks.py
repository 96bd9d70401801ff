"""Validation helpers shared by the losses.

Every check raises :class:`ValueError` with the offending shapes or values in the
message; nothing here uses ``assert`` (it disappears under ``python -O``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor

REDUCTIONS = ("mean", "sum", "none")
_LOW_PRECISION = (torch.float16, torch.bfloat16)


def check_reduction(reduction: str) -> None:
    """Raise ValueError unless ``reduction`` is ``"mean"``, ``"sum"`` or ``"none"``."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def check_classes(classes: str) -> None:
    """Raise ValueError unless ``classes`` is ``"present"`` or ``"all"``."""
    if classes not in ("present", "all"):
        raise ValueError(f"classes must be 'present' or 'all', got {classes!r}")


def check_nonnegative(name: str, value: float) -> None:
    """Raise ValueError unless ``value`` is a finite number >= 0."""
    if not (value >= 0 and value < float("inf")):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


def check_multiclass(input: Tensor, target: Tensor) -> None:
    """Check logits ``(N, C, *spatial)`` against integer targets ``(N, *spatial)``."""
    if not isinstance(input, Tensor) or not isinstance(target, Tensor):
        raise ValueError(
            f"input and target must be tensors, got {type(input).__name__} and {type(target).__name__}"
        )
    if input.ndim < 2:
        raise ValueError(f"input must have shape (N, C, *spatial), got shape {tuple(input.shape)}")
    if not input.is_floating_point():
        raise ValueError(f"input must be floating point logits, got dtype {input.dtype}")
    if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        raise ValueError(
            f"target must hold integer class indices, got dtype {target.dtype} (shape {tuple(target.shape)})"
        )
    expected = (input.shape[0], *input.shape[2:])
    if tuple(target.shape) != expected:
        raise ValueError(
            f"target must have shape (N, *spatial) = {expected} for input of shape "
            f"{tuple(input.shape)}, got {tuple(target.shape)}"
        )
    if input.shape[1] < 1:
        raise ValueError(f"input must have at least one class, got shape {tuple(input.shape)}")
    if input.device != target.device:
        raise ValueError(
            f"input and target must be on the same device, got {input.device} and {target.device}"
        )


def check_several_classes(input: Tensor, binary: str) -> None:
    """Refuse ``C = 1`` for a multiclass (softmax) loss, naming the ``binary`` alternative.

    The softmax over one class is 1 everywhere, so every multiclass loss is then a
    constant 0 with zero gradients: a silent no-op, almost surely a binary mask fed to
    the wrong loss.
    """
    if input.shape[1] == 1:
        raise ValueError(
            f"input has one class (shape {tuple(input.shape)}): a softmax over C = 1 is 1 "
            f"everywhere, so this multiclass loss is identically 0 with zero gradients; "
            f"for a binary mask use {binary}"
        )


def as_index(target: Tensor) -> Tensor:
    """Integer targets of any dtype (uint8 masks, int32 from numpy) as int64 indices,
    which ``gather`` / ``scatter_add`` / ``F.cross_entropy`` require."""
    return target if target.dtype == torch.int64 else target.long()


def assert_on_device(ok: Tensor, message: str) -> None:
    """Raise ``ValueError(message)`` unless the one-element bool tensor ``ok`` is True,
    with no host synchronisation on any device.

    The same call on every device: :func:`torch._assert_async` evaluates ``ok`` at once
    on CPU (which raises the ``ValueError`` here) and, on CUDA, enqueues a tiny kernel
    that fails a device-side assert when ``ok`` is False. There the error surfaces at a
    later synchronisation (``loss.item()``, the optimiser step, the next copy to the
    host) as ``RuntimeError: CUDA error: device-side assert triggered``, without this
    message, and the CUDA context is unusable afterwards, as it is after any
    out-of-range index in a CUDA kernel. On the meta device it checks nothing.
    """
    try:
        torch._assert_async(ok, message)
    except RuntimeError as exc:
        # only CPU raises here; a CUDA error from an earlier kernel is not ours to rename
        if ok.device.type != "cpu":
            raise
        raise ValueError(message) from exc


def _first(values: Tensor, bad: Tensor) -> object:
    """The first value where ``bad`` holds, for an error message: called only after
    :func:`assert_on_device` raised, which it does on CPU alone, so reading it costs
    no synchronisation."""
    return values[bad][:1].tolist()[0]


def check_target_values(target: Tensor, num_classes: int, ignore_index: int | None) -> None:
    """Check that every target value is a class in ``[0, C)`` or ``ignore_index``.

    One pass that replaces ignored values by 0 and one ``aminmax``: the test runs on
    the target's device and raises through :func:`assert_on_device`, so it costs no
    host synchronisation (a ``ValueError`` at once on CPU, a device-side assert on CUDA).
    """
    if target.numel() == 0:
        return
    kept = target if ignore_index is None else torch.where(target != ignore_index, target, 0)
    low, high = torch.aminmax(kept)
    allowed = f"neither a class in [0, {num_classes}) nor ignore_index={ignore_index}"
    try:
        assert_on_device((low >= 0) & (high < num_classes), f"target holds a value that is {allowed}")
    except ValueError:
        bad = (kept < 0) | (kept >= num_classes)
        value = _first(target, bad)
        raise ValueError(
            f"target contains {value}, which is {allowed} (target shape {tuple(target.shape)})"
        ) from None


def check_binary_target_values(target: Tensor, ignore_index: float | None, *, hard: bool = False) -> None:
    """Check that every target value is in ``[0, 1]`` (exactly 0 or 1 when ``hard``)
    or ``ignore_index``; NaN fails. On the target's device with no host
    synchronisation, as :func:`check_target_values`."""
    if target.numel() == 0 or target.dtype == torch.bool:  # bool: 0 / 1 by its type
        return
    kept = target if ignore_index is None else torch.where(target != ignore_index, target, 0)
    if hard:
        ok = ((kept == 0) | (kept == 1)).all()
        allowed = "0 or 1"
    else:
        low, high = torch.aminmax(kept)  # NaN gives NaN, which fails both comparisons
        ok = (low >= 0) & (high <= 1)
        allowed = "in [0, 1]"
    rule = f"not {allowed} and not ignore_index={ignore_index}"
    try:
        assert_on_device(ok, f"target holds a value that is {rule}")
    except ValueError:
        bad = (kept != 0) & (kept != 1) if hard else ~((kept >= 0) & (kept <= 1))
        value = _first(target, bad)
        raise ValueError(
            f"target contains {value}, which is {rule} (target shape {tuple(target.shape)})"
        ) from None


def check_same_shape(input: Tensor, target: Tensor) -> None:
    """Check logits ``(N, C, *spatial)`` against float targets of the same shape."""
    if not isinstance(input, Tensor) or not isinstance(target, Tensor):
        raise ValueError(
            f"input and target must be tensors, got {type(input).__name__} and {type(target).__name__}"
        )
    if input.ndim < 2:
        raise ValueError(f"input must have shape (N, C, *spatial), got shape {tuple(input.shape)}")
    if not input.is_floating_point():
        raise ValueError(f"input must be floating point logits, got dtype {input.dtype}")
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(
            f"target must have the shape of input {tuple(input.shape)}, got {tuple(target.shape)}"
        )
    if input.device != target.device:
        raise ValueError(
            f"input and target must be on the same device, got {input.device} and {target.device}"
        )


def check_weight(weight: Tensor | None, num_classes: int) -> None:
    """Check that a weight vector has one entry per class, each finite and >= 0.

    The values are checked on CPU tensors only (on an accelerator that would be a host
    sync per call); a module's weights were checked when it was built.
    """
    if weight is None:
        return
    if weight.ndim != 1 or weight.shape[0] != num_classes:
        raise ValueError(
            f"weight has {weight.numel()} entries (shape {tuple(weight.shape)}) but input has "
            f"{num_classes} classes (dimension 1 of the input)"
        )
    if weight.device.type != "cpu" or weight.is_complex():
        return
    if not bool(torch.isfinite(weight).all()):
        raise ValueError(f"weight contains NaN or infinity: {weight.tolist()}")
    if bool((weight < 0).any()):
        raise ValueError(f"weight must be >= 0, got {weight.tolist()}")


def compute_dtype(input: Tensor) -> torch.dtype:
    """float32 for half / bfloat16 input, the input's own dtype otherwise."""
    return torch.float32 if input.dtype in _LOW_PRECISION else input.dtype


def to_compute(input: Tensor) -> Tensor:
    """Upcast half / bfloat16 logits to float32; leave float32 / float64 alone."""
    return input.float() if input.dtype in _LOW_PRECISION else input


@contextlib.contextmanager
def autocast_off(device: torch.device) -> Iterator[None]:
    """Disable autocast for ``device`` so the loss math runs in float32 or float64."""
    try:
        ctx: contextlib.AbstractContextManager[object] = torch.autocast(
            device_type=device.type, enabled=False
        )
    except (RuntimeError, ValueError):  # a device type autocast does not know
        ctx = contextlib.nullcontext()
    with ctx:
        yield


def safe_divide(numerator: Tensor, denominator: Tensor) -> Tensor:
    """``numerator / denominator`` where the denominator is > 0, else 0, with zero gradients.

    No host sync: the denominator is replaced by 1 where it is 0, so the result there is
    ``numerator / 1`` which every caller guarantees to be 0 (an empty sum).
    """
    den = torch.where(denominator > 0, denominator, torch.ones_like(denominator))
    return torch.where(denominator > 0, numerator / den, torch.zeros_like(numerator))


def reduce_class_terms(
    terms: Tensor, selected: Tensor, weight: Tensor | None, reduction: str, per_image: bool
) -> Tensor:
    """Reduce per-class terms ``(B, C)`` (``B`` = N images, or 1 for the whole batch).

    Only ``selected`` entries count, each with its class weight (1 without one).
    "none" returns the weighted terms (``(N, C)``, or ``(C,)`` when not
    ``per_image``); "sum" their sum; "mean" the weighted mean of each row, then
    the mean of the rows: every image counts, one with nothing selected as 0
    (Berman's reference convention).
    """
    wsel = selected.to(terms.dtype) if weight is None else weight.unsqueeze(0) * selected
    weighted = torch.where(selected, wsel * terms, torch.zeros_like(terms))
    if reduction == "none":
        return weighted if per_image else weighted.squeeze(0)
    if reduction == "sum":
        return weighted.sum()
    per_row = safe_divide(weighted.sum(1), wsel.sum(1))
    return per_row.sum() / max(per_row.shape[0], 1)
