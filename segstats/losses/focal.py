"""Focal loss (Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017).

Two forms: the multiclass softmax form :func:`focal_loss` / :class:`FocalLoss`, and
the sigmoid form :func:`binary_focal_loss` / :class:`BinaryFocalLoss` with the
semantics of ``torchvision.ops.sigmoid_focal_loss``.

Target values are checked on the target's own device with no host synchronisation
(:func:`torch._assert_async`, the same code on every device): a
value that is neither a class in ``[0, C)`` nor ``ignore_index`` raises
:class:`ValueError` at once on CPU; on CUDA it fails a device-side assert, reported
at the next synchronisation as ``CUDA error: device-side assert triggered``. ``C = 1``
raises :class:`ValueError` (the loss would be identically 0).
For the binary form the values must be in ``[0, 1]`` or ``ignore_index``, checked
the same way (NaN fails).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from segstats.losses._checks import (
    as_index,
    autocast_off,
    check_binary_target_values,
    check_multiclass,
    check_nonnegative,
    check_reduction,
    check_same_shape,
    check_several_classes,
    check_target_values,
    check_weight,
    safe_divide,
    to_compute,
)
from segstats.losses._weights import WeightedLoss, WeightLike, resolve_weight, weight_for
from segstats.losses.cross_entropy import kept_weight


def _modulating_factor(one_minus_p: Tensor, gamma: float) -> Tensor | None:
    """``(1 - p) ** gamma`` with a finite gradient everywhere (None for gamma = 0).

    For ``0 < gamma < 1`` the derivative of ``u ** gamma`` is infinite at ``u = 0``;
    the base is clamped at the smallest normal number there, which changes the value
    by less than one ulp of the loss and keeps the (true, zero) gradient finite.
    """
    if gamma == 0:
        return None
    if gamma == 1:
        return one_minus_p
    if gamma == 2:
        return one_minus_p * one_minus_p
    if gamma < 1:
        one_minus_p = one_minus_p.clamp_min(torch.finfo(one_minus_p.dtype).tiny)
    return one_minus_p.pow(gamma)


def focal_loss(
    input: Tensor,
    target: Tensor,
    *,
    weight: WeightLike = None,
    gamma: float = 2.0,
    ignore_index: int | None = -100,
    reduction: str = "mean",
) -> Tensor:
    r"""Multiclass (softmax) focal loss.

    Per kept pixel :math:`i` with true class :math:`y_i` and softmax probability
    :math:`p_{i,y_i}` (computed from ``log_softmax``, never by clamping :math:`p`):

    .. math::
        l_i = -w_{y_i} (1 - p_{i,y_i})^\gamma \log p_{i,y_i}, \qquad
        \text{mean} = \frac{\sum_i l_i}{\sum_i w_{y_i}}

    so ``gamma=0`` is exactly ``F.cross_entropy(weight=w, ignore_index=...)``. Only
    the true-class log-probability is gathered; no one-hot tensor is built.

    Args:
        input: logits.
        target: class indices in ``[0, C)`` or ``ignore_index``.
        weight: per-class weights (tensor, sequence or ``segstats weights`` file).
        gamma: focusing parameter, >= 0.
        ignore_index: target value that contributes nothing.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Shape:
        input ``(N, C, *spatial)``, target ``(N, *spatial)``; output a scalar or
        ``(N, *spatial)`` for ``reduction="none"`` (0 at ignored pixels).

    Returns:
        The loss; 0.0 with zero gradients when every pixel is ignored.

    Example:
        >>> import torch
        >>> x = torch.tensor([[[0.0], [0.0]]])        # p = 0.5 for both classes
        >>> round(focal_loss(x, torch.tensor([[0]]), gamma=2.0).item(), 6)  # 0.25 * ln 2
        0.173287
    """
    check_reduction(reduction)
    check_nonnegative("gamma", gamma)
    check_multiclass(input, target)
    check_several_classes(input, "binary_focal_loss / BinaryFocalLoss")
    target = as_index(target)
    w = resolve_weight(weight)
    num_classes = input.shape[1]
    check_weight(w, num_classes)
    check_target_values(target, num_classes, ignore_index)
    with autocast_off(input.device):
        x = to_compute(input)
        w = weight_for(w, x)
        w_y, valid, safe = kept_weight(target, w, ignore_index, x)
        logp = F.log_softmax(x, dim=1).gather(1, safe.unsqueeze(1)).squeeze(1)
        factor = _modulating_factor(-torch.expm1(logp), gamma)
        nll = -logp if factor is None else -factor * logp
        # where, not multiply: a -inf log-probability at an ignored pixel must not give NaN
        loss = torch.where(valid, nll * w_y, torch.zeros_like(nll))
        if reduction == "none":
            return loss
        total = loss.sum()
        if reduction == "sum":
            return total
        return safe_divide(total, w_y.sum())


class FocalLoss(WeightedLoss):
    """Module form of :func:`focal_loss` (same keywords; ``weight`` is a buffer).

    Example:
        >>> import torch
        >>> loss = FocalLoss(weight=[0.5, 1.0, 2.0], gamma=2.0, ignore_index=255)
        >>> x = torch.randn(2, 3, 8, 8, requires_grad=True)
        >>> loss(x, torch.randint(0, 3, (2, 8, 8))).backward()
    """

    def __init__(
        self,
        weight: WeightLike = None,
        *,
        gamma: float = 2.0,
        ignore_index: int | None = -100,
        reduction: str = "mean",
    ) -> None:
        super().__init__(weight)
        check_reduction(reduction)
        check_nonnegative("gamma", gamma)
        self.gamma = gamma
        self.ignore_index = ignore_index
        self.reduction = reduction

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return focal_loss(
            input,
            target,
            weight=self.weight,
            gamma=self.gamma,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
        )


def binary_focal_loss(
    input: Tensor,
    target: Tensor,
    *,
    weight: WeightLike = None,
    alpha: float = 0.25,
    gamma: float = 2.0,
    ignore_index: float | None = None,
    reduction: str = "mean",
) -> Tensor:
    r"""Sigmoid focal loss, ``torchvision.ops.sigmoid_focal_loss`` semantics.

    Per element with probability :math:`p = \sigma(x)` and target :math:`t \in [0, 1]`:

    .. math::
        p_t = p t + (1 - p)(1 - t), \quad
        \alpha_t = \alpha t + (1 - \alpha)(1 - t), \quad
        l = w_c\, \alpha_t (1 - p_t)^\gamma \, \mathrm{BCE}(x, t)

    with :math:`\alpha_t = 1` when ``alpha < 0``. ``mean`` is :math:`\sum l / \sum w_c`
    over kept elements (the plain mean when ``weight`` is None, as torchvision).

    Args:
        input: logits.
        target: float targets in ``[0, 1]`` (or ``ignore_index``), same shape.
        weight: optional per-channel weights (length C = ``input.shape[1]``).
        alpha: balance of positives vs negatives; negative disables it.
        gamma: focusing parameter, >= 0.
        ignore_index: target value whose elements contribute nothing.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Shape:
        input and target ``(N, C, *spatial)``; output a scalar or the input's shape.

    Returns:
        The loss; 0.0 with zero gradients when every element is ignored.

    Example:
        >>> import torch
        >>> x, t = torch.zeros(1, 1, 1), torch.ones(1, 1, 1)   # p = 0.5, positive
        >>> round(binary_focal_loss(x, t).item(), 6)   # 0.25 * 0.25 * ln 2
        0.043322
    """
    check_reduction(reduction)
    check_nonnegative("gamma", gamma)
    check_same_shape(input, target)
    check_binary_target_values(target, ignore_index)
    w = resolve_weight(weight)
    check_weight(w, input.shape[1])
    with autocast_off(input.device):
        x = to_compute(input)
        t = target.to(x.dtype)
        if ignore_index is None:
            valid = None
        else:
            valid = target != ignore_index
            t = torch.where(valid, t, torch.zeros_like(t))
        ce = F.binary_cross_entropy_with_logits(x, t, reduction="none")
        p = torch.sigmoid(x)
        one_minus_pt = p + t - 2 * p * t  # = 1 - (p t + (1 - p)(1 - t))
        factor = _modulating_factor(one_minus_pt, gamma)
        loss = ce if factor is None else ce * factor
        if alpha >= 0:
            loss = (alpha * t + (1 - alpha) * (1 - t)) * loss
        shape = (1, -1) + (1,) * (x.ndim - 2)
        w_el: Tensor | None = None
        wx = weight_for(w, x)
        if wx is not None:
            loss = loss * wx.view(shape)
            w_el = wx.view(shape).expand_as(loss)
        if valid is not None:
            loss = torch.where(valid, loss, torch.zeros_like(loss))
        if reduction == "none":
            return loss
        total = loss.sum()
        if reduction == "sum":
            return total
        if w_el is None:
            count = x.new_tensor(float(x.numel())) if valid is None else valid.sum().to(x.dtype)
        else:
            count = w_el.sum() if valid is None else (w_el * valid).sum()
        return safe_divide(total, count)


class BinaryFocalLoss(WeightedLoss):
    """Module form of :func:`binary_focal_loss` (same keywords).

    Example:
        >>> import torch
        >>> loss = BinaryFocalLoss(alpha=0.25, gamma=2.0, ignore_index=255)
        >>> x = torch.randn(2, 1, 8, 8, requires_grad=True)
        >>> loss(x, torch.randint(0, 2, (2, 1, 8, 8)).float()).backward()
    """

    def __init__(
        self,
        weight: WeightLike = None,
        *,
        alpha: float = 0.25,
        gamma: float = 2.0,
        ignore_index: float | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(weight)
        check_reduction(reduction)
        check_nonnegative("gamma", gamma)
        self.alpha = alpha
        self.gamma = gamma
        self.ignore_index = ignore_index
        self.reduction = reduction

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return binary_focal_loss(
            input,
            target,
            weight=self.weight,
            alpha=self.alpha,
            gamma=self.gamma,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
        )
