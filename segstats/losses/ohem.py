"""Online hard example mining cross entropy (Shrivastava et al., CVPR 2016; the
pixel-wise form used by PSPNet / OCNet / mmsegmentation).

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
from segstats.losses.cross_entropy import kept_weight


def ohem_cross_entropy(
    input: Tensor,
    target: Tensor,
    *,
    weight: WeightLike = None,
    ignore_index: int | None = -100,
    threshold: float = 0.7,
    min_kept: int = 100000,
    top_k: float | None = None,
    reduction: str = "mean",
) -> Tensor:
    r"""Cross entropy over the hard pixels only.

    With :math:`p_i` the softmax probability of pixel :math:`i`'s true class, a kept
    (non-ignored) pixel is *selected* when :math:`p_i <` ``threshold``, or when it is
    among the ``min_kept`` kept pixels with the lowest :math:`p_i` (so at least
    ``min(min_kept, #kept)`` pixels are selected; ties broken arbitrarily). With
    ``top_k`` (a fraction in ``(0, 1]``) the threshold is not used: the
    ``max(ceil(top_k * #kept), min(min_kept, #kept))`` hardest pixels are selected.

    .. math::
        l_i = -w_{y_i} \log p_i, \qquad
        \text{mean} = \frac{\sum_{i \in \text{sel}} l_i}{\sum_{i \in \text{sel}} w_{y_i}}

    The selection is over the whole batch and involves no host synchronisation.

    Args:
        input: logits.
        target: class indices in ``[0, C)`` or ``ignore_index``.
        weight: per-class weights (tensor, sequence or ``segstats weights`` file).
        ignore_index: target value that takes part in nothing.
        threshold: probability below which a pixel is hard.
        min_kept: minimum number of selected pixels (0 disables).
        top_k: fraction of the kept pixels to select instead of ``threshold``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (``(N, *spatial)``, 0 where
            not selected).

    Shape:
        input ``(N, C, *spatial)``, target ``(N, *spatial)``.

    Returns:
        The loss; 0.0 with zero gradients when every pixel is ignored.

    Example:
        >>> import torch
        >>> x = torch.tensor([[[0.0, 4.0], [0.0, -4.0]]])     # N=1, C=2, 2 pixels
        >>> y = torch.tensor([[0, 0]])                         # p = 0.5 and 0.9997
        >>> round(ohem_cross_entropy(x, y, threshold=0.7, min_kept=0).item(), 6)  # ln 2
        0.693147
    """
    check_reduction(reduction)
    check_multiclass(input, target)
    check_several_classes(
        input,
        "a binary loss: binary_focal_loss or F.binary_cross_entropy_with_logits (OHEM has no binary form)",
    )
    target = as_index(target)
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    if min_kept < 0:
        raise ValueError(f"min_kept must be >= 0, got {min_kept}")
    if top_k is not None and not 0.0 < top_k <= 1.0:
        raise ValueError(f"top_k must be a fraction in (0, 1], got {top_k}")
    w = resolve_weight(weight)
    num_classes = input.shape[1]
    check_weight(w, num_classes)
    check_target_values(target, num_classes, ignore_index)
    with autocast_off(input.device):
        x = to_compute(input)
        w = weight_for(w, x)
        w_y, valid, safe = kept_weight(target, w, ignore_index, x)
        logp = F.log_softmax(x, dim=1).gather(1, safe.unsqueeze(1)).squeeze(1)
        with torch.no_grad():
            prob = torch.where(valid, logp.exp(), torch.full_like(logp, 2.0)).reshape(-1)
            numel = prob.numel()
            if top_k is None:
                selected = (prob < threshold).view(valid.shape) & valid
                k = min(min_kept, numel)
                if k > 0:
                    hardest = torch.topk(prob, k, largest=False, sorted=False).indices
                    extra = torch.zeros_like(prob, dtype=torch.bool).index_fill_(0, hardest, True)
                    selected |= extra.view(valid.shape) & valid
            else:
                n_valid = valid.sum()
                k_sel = torch.maximum(torch.ceil(n_valid * top_k), torch.clamp(n_valid, max=min_kept)).to(
                    torch.long
                )
                order = torch.sort(prob, stable=True).indices
                rank = torch.empty_like(order)
                rank[order] = torch.arange(numel, device=order.device)
                selected = (rank < k_sel).view(valid.shape) & valid
        w_sel = w_y * selected
        loss = torch.where(selected, -logp * w_sel, torch.zeros_like(logp))
        if reduction == "none":
            return loss
        total = loss.sum()
        if reduction == "sum":
            return total
        return safe_divide(total, w_sel.sum())


class OhemCrossEntropyLoss(WeightedLoss):
    """Module form of :func:`ohem_cross_entropy` (same keywords; ``weight`` is a buffer).

    Example:
        >>> import torch
        >>> loss = OhemCrossEntropyLoss(ignore_index=255, threshold=0.7, min_kept=16)
        >>> x = torch.randn(2, 3, 8, 8, requires_grad=True)
        >>> loss(x, torch.randint(0, 3, (2, 8, 8))).backward()
    """

    def __init__(
        self,
        weight: WeightLike = None,
        *,
        ignore_index: int | None = -100,
        threshold: float = 0.7,
        min_kept: int = 100000,
        top_k: float | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(weight)
        check_reduction(reduction)
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        if min_kept < 0:
            raise ValueError(f"min_kept must be >= 0, got {min_kept}")
        if top_k is not None and not 0.0 < top_k <= 1.0:
            raise ValueError(f"top_k must be a fraction in (0, 1], got {top_k}")
        self.ignore_index = ignore_index
        self.threshold = threshold
        self.min_kept = min_kept
        self.top_k = top_k
        self.reduction = reduction

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return ohem_cross_entropy(
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            threshold=self.threshold,
            min_kept=self.min_kept,
            top_k=self.top_k,
            reduction=self.reduction,
        )


__all__ = ["OhemCrossEntropyLoss", "ohem_cross_entropy"]
