"""Overlap losses: Dice and Jaccard (IoU); Tversky and focal Tversky in :mod:`segstats.losses.tversky`.

All four share one pass (:func:`overlap_loss`, here) that computes, per class ``c`` (and per image when
``per_image``), over the kept (non-ignored) pixels:

- ``I_c = sum p_c g_c`` (multiclass: a ``scatter_add`` of the true-class probability
  into its class bin, no one-hot tensor),
- ``P_c = sum p_c`` and ``G_c = sum g_c`` (multiclass: an integer ``scatter_add`` of ones).

``p`` is the softmax over classes (``mode="multiclass"``) or the element-wise
sigmoid (``"binary"``, ``"multilabel"``); ``g`` is the one-hot target (multiclass)
or the float target. Then a score ``X_c`` in ``[0, 1]`` per class, a per-class term
``(1 - X_c)`` (``-log(max(X_c, eps))`` with ``log_loss``) and the class average

.. math:: L = \\frac{\\sum_{c \\in S} w_c\\, \\text{term}_c}{\\sum_{c \\in S} w_c}

over ``S`` = the classes present in the (kept) target (``classes="present"``) or
all classes (``"all"``). An image or batch with no kept pixel has ``S`` empty and
loss 0. With ``per_image`` the loss is the mean of the per-image losses over all
images, an image with empty ``S`` counting as 0 (as in Berman et al.'s reference
code). In binary / multilabel mode with ``per_image`` the same convention holds per
(image, channel) pair: a pair whose elements are all ignored has term 0 and is in
``S`` (its weight stays in the image's denominator), with either ``classes``
setting; without ``per_image`` a channel with no kept element in the whole batch is
left out of ``S``. ``reduction="sum"`` returns the unnormalised
``sum_{c in S} w_c term_c`` (summed over images); ``"none"`` returns the terms
``w_c term_c`` (0 outside ``S``) with shape ``(C,)`` or ``(N, C)`` with ``per_image``.

Target values are checked on the target's own device with no host synchronisation
(:func:`torch._assert_async`, the same code on every device): multiclass, a value
that is neither a class in ``[0, C)`` nor ``ignore_index``; binary / multilabel, a
value outside ``[0, 1]`` (or NaN) that is not ``ignore_index``. Either raises
:class:`ValueError` at once on CPU; on CUDA it fails a device-side assert, reported
at the next synchronisation as ``CUDA error: device-side assert triggered``.
Multiclass mode with ``C = 1`` raises :class:`ValueError` (the softmax is 1, the loss
identically 0): use ``mode="binary"``.
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
    check_nonnegative,
    check_reduction,
    check_same_shape,
    check_several_classes,
    check_target_values,
    check_weight,
    reduce_class_terms,
    safe_divide,
    to_compute,
)
from segstats.losses._weights import WeightedLoss, WeightLike, resolve_weight, weight_for

MODES = ("multiclass", "binary", "multilabel")


def _multiclass_stats(
    x: Tensor, target: Tensor, ignore_index: int | None
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """I, P, G per image and class ``(N, C)`` and the per-(image, class) kept mask."""
    n, c, m = x.shape[0], x.shape[1], math.prod(x.shape[2:])  # m explicit: N may be 0
    p = F.softmax(x, dim=1).reshape(n, c, m)
    t = target.reshape(n, m)
    if ignore_index is None:
        valid = None
        idx = t
        safe = t
    else:
        valid = t != ignore_index
        idx = torch.where(valid, t, torch.full_like(t, c))  # ignored pixels -> spare bin C
        safe = torch.where(valid, t, torch.zeros_like(t))
    p_y = p.gather(1, safe.unsqueeze(1)).squeeze(1)  # (N, M) true-class probability
    inter = p_y.new_zeros(n, c + 1).scatter_add_(1, idx, p_y)[:, :c]
    # int64 scatter_add, not bincount: CUDA's bincount syncs with the host (it reads
    # the input's min and max); integer counts stay exact past 2**24 pixels
    counts = torch.zeros(n, c + 1, dtype=torch.long, device=t.device)
    counts.scatter_add_(1, idx, torch.ones_like(idx))
    g = counts[:, :c].to(x.dtype)
    if valid is None:
        psum = p.sum(-1)
        kept = torch.full((n, c), t.shape[1] > 0, dtype=torch.bool, device=x.device)
    else:
        psum = torch.bmm(p, valid.to(p.dtype).unsqueeze(-1)).squeeze(-1)
        kept = valid.any(dim=1, keepdim=True).expand(n, c)
    return inter, psum, g, kept


def _elementwise_stats(
    x: Tensor, target: Tensor, ignore_index: float | None
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    n, c, m = x.shape[0], x.shape[1], math.prod(x.shape[2:])  # m explicit: N may be 0
    p = torch.sigmoid(x).reshape(n, c, m)
    t = target.reshape(n, c, m)
    g = t.to(x.dtype)
    if ignore_index is None:
        kept = torch.full((n, c), t.shape[2] > 0, dtype=torch.bool, device=x.device)
    else:
        valid = t != ignore_index
        g = torch.where(valid, g, torch.zeros_like(g))
        p = torch.where(valid, p, torch.zeros_like(p))
        kept = valid.any(dim=-1)
    return (p * g).sum(-1), p.sum(-1), g.sum(-1), kept


def overlap_loss(
    kind: str,
    input: Tensor,
    target: Tensor,
    *,
    weight: WeightLike,
    ignore_index: float | None,
    smooth: float,
    eps: float,
    per_image: bool,
    classes: str,
    log_loss: bool,
    mode: str,
    reduction: str,
    alpha: float = 0.5,
    beta: float = 0.5,
    gamma: float = 1.0,
) -> Tensor:
    check_reduction(reduction)
    check_classes(classes)
    check_nonnegative("smooth", smooth)
    check_nonnegative("eps", eps)
    check_nonnegative("gamma", gamma)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mode == "multiclass":
        check_multiclass(input, target)
        check_several_classes(input, "mode='binary' (sigmoid of the one channel)")
        target = as_index(target)
        if ignore_index is not None and ignore_index != int(ignore_index):
            raise ValueError(f"ignore_index must be an integer in multiclass mode, got {ignore_index}")
    else:
        if mode == "binary" and target.ndim == input.ndim - 1:
            target = target.unsqueeze(1)
        check_same_shape(input, target)
        check_binary_target_values(target, ignore_index)
        if mode == "binary" and input.shape[1] != 1:
            raise ValueError(
                f"mode='binary' needs one channel, input shape (N, 1, *spatial); got "
                f"{tuple(input.shape)} (use mode='multilabel' for several channels)"
            )
    w = resolve_weight(weight)
    num_classes = input.shape[1]
    check_weight(w, num_classes)
    with autocast_off(input.device):
        x = to_compute(input)
        if mode == "multiclass":
            ii = None if ignore_index is None else int(ignore_index)
            check_target_values(target, num_classes, ii)
            inter, psum, g, kept = _multiclass_stats(x, target, ii)
        else:
            inter, psum, g, kept = _elementwise_stats(x, target, ignore_index)
        if not per_image:
            inter, psum, g = (s.sum(0, keepdim=True) for s in (inter, psum, g))
            kept = kept.any(0, keepdim=True)
        # safe_divide: with eps = 0 a class with P = G = 0 (an image with no kept
        # pixel) would be 0 / 0, whose NaN reaches the gradients through torch.where
        if kind == "dice":
            score = safe_divide(2 * inter + smooth, (psum + g + smooth).clamp_min(eps))
        elif kind == "jaccard":
            score = safe_divide(inter + smooth, (psum + g - inter + smooth).clamp_min(eps))
        else:
            fp, fn = psum - inter, g - inter
            score = safe_divide(inter + smooth, (inter + alpha * fp + beta * fn + smooth).clamp_min(eps))
        if log_loss:
            term = -torch.log(score.clamp_min(max(eps, torch.finfo(score.dtype).tiny)))
        else:
            term = 1 - score
        if gamma != 1:
            # I_c and P_c are summed in different orders, so rounding can put a score a
            # hair above 1 and the term below 0, where a fractional power is NaN; for
            # gamma < 1 the base also stays off 0, where the derivative is infinite
            term = term.clamp_min(torch.finfo(term.dtype).tiny if gamma < 1 else 0.0)
            term = term.pow(gamma)
        selected = (g > 0) & kept if classes == "present" else kept
        if per_image and mode != "multiclass":
            # an (image, channel) pair with every element ignored counts as 0 and stays
            # in the image's denominator, as an all-ignored image does in the mean over
            # images (Berman's convention; the Lovász hinge follows the same rule)
            term = torch.where(kept, term, torch.zeros_like(term))
            selected = selected | ~kept
        return reduce_class_terms(term, selected, weight_for(w, x), reduction, per_image)


OVERLAP_DOC_ARGS = """
    Args:
        input: logits.
        target: multiclass: class indices in ``[0, C)`` or ``ignore_index``;
            binary / multilabel: float targets in ``[0, 1]`` of the input's shape
            (binary also accepts ``(N, *spatial)``).
        weight: per-class weights (tensor, sequence or ``segstats weights`` file).
        ignore_index: target value whose pixels take part in no sum (default None).
        smooth: added to numerator and denominator.
        eps: lower bound of the denominator.
        per_image: one score per image and class, then the mean over images
            (binary / multilabel: an (image, channel) pair whose elements are all
            ignored counts as 0 and stays in that image's denominator).
        classes: ``"present"`` (classes in the kept target) or ``"all"``.
        log_loss: use ``-log(max(score, eps))`` instead of ``1 - score``.
        mode: ``"multiclass"`` (softmax), ``"binary"`` or ``"multilabel"`` (sigmoid).
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (see the module docstring).

    Shape:
        input ``(N, C, *spatial)``; target ``(N, *spatial)`` (multiclass) or
        ``(N, C, *spatial)``; output a scalar, or ``(C,)`` / ``(N, C)`` for ``"none"``.

    Returns:
        The loss, in float32 under autocast (float64 for float64 input); 0.0 with zero
        gradients when every pixel is ignored.
"""


def dice_loss(
    input: Tensor,
    target: Tensor,
    *,
    weight: WeightLike = None,
    ignore_index: float | None = None,
    smooth: float = 0.0,
    eps: float = 1e-7,
    per_image: bool = False,
    classes: str = "present",
    log_loss: bool = False,
    mode: str = "multiclass",
    reduction: str = "mean",
) -> Tensor:
    return overlap_loss(
        "dice",
        input,
        target,
        weight=weight,
        ignore_index=ignore_index,
        smooth=smooth,
        eps=eps,
        per_image=per_image,
        classes=classes,
        log_loss=log_loss,
        mode=mode,
        reduction=reduction,
    )


dice_loss.__doc__ = (
    r"""Soft Dice loss (Milletari et al., "V-Net", 3DV 2016).

    .. math::
        D_c = \frac{2 I_c + s}{\max(P_c + G_c + s, \epsilon)}, \qquad
        L = \frac{\sum_{c \in S} w_c (1 - D_c)}{\sum_{c \in S} w_c}
"""
    + OVERLAP_DOC_ARGS
    + """
    Example:
        >>> import torch
        >>> x = torch.tensor([[[[9.0, -9.0]], [[-9.0, 9.0]]]])   # confident, correct
        >>> dice_loss(x, torch.tensor([[[0, 1]]])).item() < 1e-3
        True
"""
)


def jaccard_loss(
    input: Tensor,
    target: Tensor,
    *,
    weight: WeightLike = None,
    ignore_index: float | None = None,
    smooth: float = 0.0,
    eps: float = 1e-7,
    per_image: bool = False,
    classes: str = "present",
    log_loss: bool = False,
    mode: str = "multiclass",
    reduction: str = "mean",
) -> Tensor:
    return overlap_loss(
        "jaccard",
        input,
        target,
        weight=weight,
        ignore_index=ignore_index,
        smooth=smooth,
        eps=eps,
        per_image=per_image,
        classes=classes,
        log_loss=log_loss,
        mode=mode,
        reduction=reduction,
    )


jaccard_loss.__doc__ = (
    r"""Soft Jaccard (IoU) loss (Rahman & Wang 2016; Berman et al. 2018).

    .. math::
        J_c = \frac{I_c + s}{\max(P_c + G_c - I_c + s, \epsilon)}, \qquad
        L = \frac{\sum_{c \in S} w_c (1 - J_c)}{\sum_{c \in S} w_c}

    With ``smooth=0``, ``J_c = D_c / (2 - D_c)`` per class.
"""
    + OVERLAP_DOC_ARGS
    + """
    Example:
        >>> import torch
        >>> x = torch.zeros(1, 2, 1, 2)              # p = 0.5 everywhere
        >>> round(jaccard_loss(x, torch.tensor([[[0, 1]]])).item(), 6)  # 1 - 0.5/1.5
        0.666667
"""
)


class OverlapLoss(WeightedLoss):
    _kind = "dice"

    def __init__(
        self,
        weight: WeightLike = None,
        *,
        ignore_index: float | None = None,
        smooth: float = 0.0,
        eps: float = 1e-7,
        per_image: bool = False,
        classes: str = "present",
        log_loss: bool = False,
        mode: str = "multiclass",
        reduction: str = "mean",
    ) -> None:
        super().__init__(weight)
        check_reduction(reduction)
        check_classes(classes)
        check_nonnegative("smooth", smooth)
        check_nonnegative("eps", eps)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.ignore_index = ignore_index
        self.smooth = smooth
        self.eps = eps
        self.per_image = per_image
        self.classes = classes
        self.log_loss = log_loss
        self.mode = mode
        self.reduction = reduction

    def _extra(self) -> dict[str, float]:
        return {}

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return overlap_loss(
            self._kind,
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            smooth=self.smooth,
            eps=self.eps,
            per_image=self.per_image,
            classes=self.classes,
            log_loss=self.log_loss,
            mode=self.mode,
            reduction=self.reduction,
            **self._extra(),
        )


class DiceLoss(OverlapLoss):
    """Module form of :func:`dice_loss` (same keywords; ``weight`` is a buffer).

    Example:
        >>> import torch
        >>> loss = DiceLoss(weight=[1.0, 1.0, 2.0], ignore_index=255, smooth=1.0)
        >>> x = torch.randn(2, 3, 8, 8, requires_grad=True)
        >>> loss(x, torch.randint(0, 3, (2, 8, 8))).backward()
    """

    _kind = "dice"


class JaccardLoss(OverlapLoss):
    """Module form of :func:`jaccard_loss` (same keywords; ``weight`` is a buffer).

    Example:
        >>> import torch
        >>> loss = JaccardLoss(classes="all", per_image=True)
        >>> x = torch.randn(2, 3, 8, 8, requires_grad=True)
        >>> loss(x, torch.randint(0, 3, (2, 8, 8))).backward()
    """

    _kind = "jaccard"
