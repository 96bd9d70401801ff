"""Lovász losses (Berman, Rannen Triki & Blaschko, "The Lovász-Softmax loss", CVPR 2018).

Both losses evaluate the Lovász extension of the Jaccard loss at a vector of
per-pixel errors ``e``: sort the errors in decreasing order, and with ``g`` the
foreground indicator in that order and ``G = sum g``,

.. math::
    J_k = 1 - \\frac{G - \\sum_{j \\le k} g_j}{G + \\sum_{j \\le k} (1 - g_j)}, \\qquad
    \\bar\\Delta(e) = \\sum_k e_{(k)} (J_k - J_{k-1}), \\quad J_0 = 0.

The implementation is vectorised over classes and images: all error vectors form one
``(B, C, M)`` tensor sorted by a single batched :func:`torch.sort`; no Python loop
over classes or images and no host synchronisation. Ignored pixels get a sort key
below every real error (so they come last) and contribute an error of 0. Works in
float32 and float64.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from segstats.losses._checks import (
    as_index,
    autocast_off,
    check_binary_target_values,
    check_classes,
    check_multiclass,
    check_reduction,
    check_same_shape,
    check_target_values,
    check_weight,
    reduce_class_terms,
    to_compute,
)
from segstats.losses._weights import WeightedLoss, WeightLike, resolve_weight, weight_for


def _lovasz_batched(errors: Tensor, fg: Tensor, valid: Tensor | None, key: Tensor) -> Tensor:
    """Lovász extension of each row of ``errors`` ``(B, C, M)`` -> ``(B, C)``.

    ``key`` orders the pixels (descending), ``fg`` is the float foreground indicator
    (0 at ignored pixels) and ``valid`` masks the errors.
    """
    order = torch.sort(key.detach(), dim=-1, descending=True).indices
    if valid is not None:
        errors = torch.where(valid, errors, torch.zeros_like(errors))
    e_sorted = errors.gather(-1, order)
    g_sorted = fg.gather(-1, order)
    total = g_sorted.sum(-1, keepdim=True)
    inter = total - g_sorted.cumsum(-1)
    union = total + (1 - g_sorted).cumsum(-1)  # >= 1 at every position
    jac = 1 - inter / union
    grad = torch.diff(jac, dim=-1, prepend=torch.zeros_like(jac[..., :1]))
    return (e_sorted * grad).sum(-1)


def lovasz_softmax_loss(
    input: Tensor,
    target: Tensor,
    *,
    weight: WeightLike = None,
    ignore_index: int | None = None,
    per_image: bool = False,
    classes: str = "present",
    reduction: str = "mean",
) -> Tensor:
    r"""Lovász-Softmax loss (Berman et al., CVPR 2018), multiclass.

    Per class :math:`c`, errors :math:`e_i = |[y_i = c] - p_{i,c}|` over kept pixels
    (softmax :math:`p`), and :math:`L_c = \bar\Delta_{J_c}(e)` (see the module
    docstring). The loss is :math:`\sum_{c \in S} w_c L_c / \sum_{c \in S} w_c` over
    ``S`` = classes present in the kept target (``"present"``) or all classes; with
    ``per_image``, the mean over all images of the per-image loss (an image with empty
    ``S`` counts as 0, as in Berman et al.'s reference code).

    Args:
        input: logits.
        target: class indices in ``[0, C)`` or ``ignore_index``.
        weight: per-class weights (tensor, sequence or ``segstats weights`` file).
        ignore_index: target value that takes part in nothing.
        per_image: compute the loss per image and average.
        classes: ``"present"`` or ``"all"``.
        reduction: ``"mean"``, ``"sum"`` (unnormalised weighted sum over classes
            and images) or ``"none"`` (``(C,)`` or ``(N, C)`` weighted terms).

    Shape:
        input ``(N, C, *spatial)``, target ``(N, *spatial)``.

    Returns:
        The loss; 0.0 with zero gradients when every pixel is ignored.

    Example:
        >>> import torch
        >>> x = torch.zeros(1, 2, 1, 2)          # p = 0.5 everywhere
        >>> lovasz_softmax_loss(x, torch.tensor([[[0, 1]]])).item()
        0.5
    """
    check_reduction(reduction)
    check_classes(classes)
    check_multiclass(input, target)
    target = as_index(target)
    w = resolve_weight(weight)
    n, c, m = input.shape[0], input.shape[1], math.prod(input.shape[2:])  # N may be 0
    check_weight(w, c)
    check_target_values(target, c, ignore_index)
    with autocast_off(input.device):
        x = to_compute(input)
        p = F.softmax(x, dim=1).reshape(n, c, m)
        t = target.reshape(n, 1, m)
        if not per_image:  # one row holding every pixel of the batch
            p = p.transpose(0, 1).reshape(1, c, n * m)
            t = t.reshape(1, 1, n * m)
        classes_idx = torch.arange(c, device=t.device).view(1, c, 1)
        fg_bool = t == classes_idx
        valid = None if ignore_index is None else t != ignore_index
        if valid is not None:  # an ignore_index in [0, C) is no class's foreground
            fg_bool = fg_bool & valid
        fg = fg_bool.to(p.dtype)
        errors = (fg - p).abs()
        if valid is None:
            key = errors
            kept = torch.full((p.shape[0], c), p.shape[2] > 0, dtype=torch.bool, device=p.device)
        else:
            key = torch.where(valid, errors.detach(), torch.full_like(errors, -1.0))
            kept = valid.any(-1).expand(p.shape[0], c)
        losses = _lovasz_batched(errors, fg, valid, key)
        selected = (fg.sum(-1) > 0) & kept if classes == "present" else kept
        return reduce_class_terms(losses, selected, weight_for(w, p), reduction, per_image)


class LovaszSoftmaxLoss(WeightedLoss):
    """Module form of :func:`lovasz_softmax_loss` (same keywords; ``weight`` is a buffer).

    Example:
        >>> import torch
        >>> loss = LovaszSoftmaxLoss(ignore_index=255, per_image=True)
        >>> x = torch.randn(2, 3, 8, 8, requires_grad=True)
        >>> loss(x, torch.randint(0, 3, (2, 8, 8))).backward()
    """

    def __init__(
        self,
        weight: WeightLike = None,
        *,
        ignore_index: int | None = None,
        per_image: bool = False,
        classes: str = "present",
        reduction: str = "mean",
    ) -> None:
        super().__init__(weight)
        check_reduction(reduction)
        check_classes(classes)
        self.ignore_index = ignore_index
        self.per_image = per_image
        self.classes = classes
        self.reduction = reduction

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return lovasz_softmax_loss(
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            per_image=self.per_image,
            classes=self.classes,
            reduction=self.reduction,
        )


def lovasz_hinge_loss(
    input: Tensor,
    target: Tensor,
    *,
    weight: WeightLike = None,
    ignore_index: float | None = None,
    per_image: bool = False,
    reduction: str = "mean",
) -> Tensor:
    r"""Lovász hinge loss (Berman et al., CVPR 2018) for binary / multilabel logits.

    Per channel :math:`c`, with signs :math:`s_i = 2 t_i - 1` and hinge errors
    :math:`e_i = 1 - x_i s_i` over kept elements, sorted by :math:`e` (descending),
    :math:`L_c = \sum_k \max(e_{(k)}, 0) (J_k - J_{k-1})`. The loss is the
    ``weight``-weighted mean over the channels (every channel counts, as in Berman's
    code), averaged over images with ``per_image``.

    Args:
        input: logits.
        target: binary targets (0 / 1, or ``ignore_index``), same shape as input
            (``(N, *spatial)`` is taken as one channel).
        weight: per-channel weights.
        ignore_index: target value that takes part in nothing.
        per_image: compute the loss per image and average.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (as :func:`lovasz_softmax_loss`).

    Shape:
        input and target ``(N, C, *spatial)``.

    Returns:
        The loss; 0.0 with zero gradients when every element is ignored.

    Example:
        >>> import torch
        >>> x = torch.tensor([[[2.0, -2.0]]])     # correct with margin 2
        >>> lovasz_hinge_loss(x, torch.tensor([[[1.0, 0.0]]])).item()
        0.0
    """
    check_reduction(reduction)
    if target.ndim == input.ndim - 1:
        target = target.unsqueeze(1)
    check_same_shape(input, target)
    check_binary_target_values(target, ignore_index, hard=True)
    w = resolve_weight(weight)
    n, c, m = input.shape[0], input.shape[1], math.prod(input.shape[2:])  # N may be 0
    check_weight(w, c)
    with autocast_off(input.device):
        x = to_compute(input).reshape(n, c, m)
        t = target.reshape(n, c, m)
        if not per_image:
            x = x.transpose(0, 1).reshape(1, c, n * m)
            t = t.transpose(0, 1).reshape(1, c, n * m)
        valid = None if ignore_index is None else t != ignore_index
        fg = (t == 1).to(x.dtype)
        errors = 1 - x * (2 * fg - 1)
        if valid is None:
            key = errors
            kept = torch.full(x.shape[:2], x.shape[2] > 0, dtype=torch.bool, device=x.device)
        else:
            key = torch.where(valid, errors.detach(), torch.full_like(errors, -float("inf")))
            kept = valid.any(-1)
        losses = _lovasz_batched(F.relu(errors), fg * valid if valid is not None else fg, valid, key)
        return reduce_class_terms(losses, kept, weight_for(w, x), reduction, per_image)


class LovaszHingeLoss(WeightedLoss):
    """Module form of :func:`lovasz_hinge_loss` (same keywords; ``weight`` is a buffer).

    Example:
        >>> import torch
        >>> loss = LovaszHingeLoss(per_image=True)
        >>> x = torch.randn(2, 1, 8, 8, requires_grad=True)
        >>> loss(x, torch.randint(0, 2, (2, 1, 8, 8)).float()).backward()
    """

    def __init__(
        self,
        weight: WeightLike = None,
        *,
        ignore_index: float | None = None,
        per_image: bool = False,
        reduction: str = "mean",
    ) -> None:
        super().__init__(weight)
        check_reduction(reduction)
        self.ignore_index = ignore_index
        self.per_image = per_image
        self.reduction = reduction

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return lovasz_hinge_loss(
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            per_image=self.per_image,
            reduction=self.reduction,
        )
