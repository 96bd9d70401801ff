"""Weighted cross entropy, identical to :func:`torch.nn.functional.cross_entropy`.

Target values are checked on the target's own device with no host synchronisation
(:func:`torch._assert_async`, the same code on every device): a
value that is neither a class in ``[0, C)`` nor ``ignore_index`` raises
:class:`ValueError` at once on CPU; on CUDA it fails a device-side assert, reported
at the next synchronisation as ``CUDA error: device-side assert triggered``. ``C = 1``
raises :class:`ValueError` (the loss would be identically 0).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from segstats.losses._checks import (
    as_index,
    autocast_off,
    check_multiclass,
    check_reduction,
    check_several_classes,
    check_target_values,
    check_weight,
    safe_divide,
    to_compute,
)
from segstats.losses._weights import WeightedLoss, WeightLike, resolve_weight, weight_for


def kept_weight(
    target: Tensor, weight: Tensor | None, ignore_index: int | None, like: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """Per-pixel ``w[y]`` (0 at ignored pixels), the keep mask and a safe target.

    The safe target replaces ignored pixels by class 0 so it can index / gather.
    """
    if ignore_index is None:
        valid = torch.ones_like(target, dtype=torch.bool)
        safe = target
    else:
        valid = target != ignore_index
        safe = torch.where(valid, target, torch.zeros_like(target))
    if weight is None:
        w_y = valid.to(like.dtype)
    else:
        w_y = weight.gather(0, safe.reshape(-1)).view(safe.shape) * valid
    return w_y, valid, safe


def cross_entropy(
    input: Tensor,
    target: Tensor,
    *,
    weight: WeightLike = None,
    ignore_index: int | None = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    r"""Cross entropy with class weights, the same numbers as ``F.cross_entropy``.

    .. math::
        l_i = -w_{y_i} \log \frac{e^{x_{i,y_i}}}{\sum_c e^{x_{i,c}}}, \qquad
        \text{mean} = \frac{\sum_{i \text{ kept}} l_i}{\sum_{i \text{ kept}} w_{y_i}}

    (with ``label_smoothing`` as in PyTorch). The only difference from
    :func:`torch.nn.functional.cross_entropy`: when every pixel is ignored (or every
    kept pixel has weight 0) the mean is ``0.0`` with zero gradients, not NaN; and the
    math runs in float32 under autocast.

    Args:
        input: logits.
        target: class indices in ``[0, C)`` or ``ignore_index``.
        weight: per-class weights: tensor, sequence or a ``segstats weights`` file.
        ignore_index: target value that contributes nothing (None: no value is ignored).
        label_smoothing: in ``[0, 1]``, as in PyTorch.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Shape:
        input ``(N, C, *spatial)``, target ``(N, *spatial)``; output a scalar, or
        ``(N, *spatial)`` for ``reduction="none"``.

    Returns:
        The loss, float32 (or float64 for float64 input).

    Example:
        >>> import torch
        >>> x = torch.tensor([[[0.0], [1.0]]])       # N=1, C=2, 1 pixel
        >>> round(cross_entropy(x, torch.tensor([[1]])).item(), 4)
        0.3133
    """
    check_reduction(reduction)
    check_multiclass(input, target)
    check_several_classes(
        input, "F.binary_cross_entropy_with_logits (or binary_focal_loss with alpha=-1, gamma=0)"
    )
    target = as_index(target)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
    w = resolve_weight(weight)
    num_classes = input.shape[1]
    check_weight(w, num_classes)
    check_target_values(target, num_classes, ignore_index)
    # torch takes only an int; with None every target value was checked to be a class
    torch_ignore = -100 if ignore_index is None else ignore_index
    with autocast_off(input.device):
        x = to_compute(input)
        w = weight_for(w, x)
        if reduction == "none":
            return F.cross_entropy(
                x,
                target,
                weight=w,
                ignore_index=torch_ignore,
                label_smoothing=label_smoothing,
                reduction="none",
            )
        total = F.cross_entropy(
            x, target, weight=w, ignore_index=torch_ignore, label_smoothing=label_smoothing, reduction="sum"
        )
        if reduction == "sum":
            return total
        w_y, _, _ = kept_weight(target, w, ignore_index, x)
        return safe_divide(total, w_y.sum())


class CrossEntropyLoss(WeightedLoss):
    """Module form of :func:`cross_entropy` (same keywords; ``weight`` is a buffer).

    Example:
        >>> import torch
        >>> loss = CrossEntropyLoss(weight=[1.0, 2.0], ignore_index=255)
        >>> x = torch.randn(2, 2, 4, 4, requires_grad=True)
        >>> y = torch.randint(0, 2, (2, 4, 4))
        >>> loss(x, y).backward()
    """

    def __init__(
        self,
        weight: WeightLike = None,
        *,
        ignore_index: int | None = -100,
        label_smoothing: float = 0.0,
        reduction: str = "mean",
    ) -> None:
        super().__init__(weight)
        check_reduction(reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing
        self.reduction = reduction

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return cross_entropy(
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing,
            reduction=self.reduction,
        )
