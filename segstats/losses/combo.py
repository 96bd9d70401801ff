"""A weighted sum of losses sharing one ``weight`` and one ``ignore_index``.

Every term is a multiclass loss: ``C = 1`` raises :class:`ValueError` (each term
would be identically 0), and each term checks the target values on the target's
device with no host synchronisation (see the terms' modules).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch import Tensor

from segstats.losses._checks import check_multiclass, check_several_classes
from segstats.losses._weights import WeightedLoss, WeightLike, resolve_weight
from segstats.losses.cross_entropy import cross_entropy
from segstats.losses.dice import dice_loss, jaccard_loss
from segstats.losses.focal import focal_loss
from segstats.losses.lovasz import lovasz_softmax_loss
from segstats.losses.ohem import ohem_cross_entropy
from segstats.losses.tversky import focal_tversky_loss, tversky_loss

#: multiclass functional losses a ComboLoss term may name
COMBO_TERMS: dict[str, Callable[..., Tensor]] = {
    "cross_entropy": cross_entropy,
    "ce": cross_entropy,
    "focal": focal_loss,
    "dice": dice_loss,
    "jaccard": jaccard_loss,
    "tversky": tversky_loss,
    "focal_tversky": focal_tversky_loss,
    "lovasz": lovasz_softmax_loss,
    "lovasz_softmax": lovasz_softmax_loss,
    "ohem": ohem_cross_entropy,
}


def _check_terms(terms: Mapping[str, float], options: Mapping[str, Mapping[str, Any]] | None) -> None:
    if not isinstance(terms, Mapping) or not terms:
        raise ValueError(f"terms must be a non-empty mapping name -> factor, got {terms!r}")
    for name, factor in terms.items():
        if name not in COMBO_TERMS:
            raise ValueError(f"unknown ComboLoss term {name!r}; known: {', '.join(sorted(COMBO_TERMS))}")
        if isinstance(factor, bool) or not isinstance(factor, (int, float)):
            raise ValueError(f"factor of term {name!r} must be a number, got {factor!r}")
    for name, opts in (options or {}).items():
        if name not in terms:
            raise ValueError(f"options given for {name!r}, which is not among the terms {list(terms)}")
        for key in ("weight", "ignore_index", "reduction"):
            if key in opts:
                raise ValueError(f"options[{name!r}] must not set {key!r}: ComboLoss shares it")


def combo_loss(
    input: Tensor,
    target: Tensor,
    *,
    terms: Mapping[str, float],
    weight: WeightLike = None,
    ignore_index: int | None = -100,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> Tensor:
    r"""Weighted sum of multiclass losses: :math:`L = \sum_k \lambda_k L_k`.

    Every term gets the same ``weight`` and ``ignore_index`` and its own keyword
    options; each term is reduced with ``"mean"``.

    Args:
        input: logits.
        target: class indices in ``[0, C)`` or ``ignore_index``.
        terms: term name -> factor :math:`\lambda_k`, e.g.
            ``{"cross_entropy": 1.0, "dice": 0.5}``. Names: those of ``COMBO_TERMS``.
        weight: per-class weights shared by all terms.
        ignore_index: shared ignored target value.
        options: term name -> extra keywords, e.g. ``{"dice": {"smooth": 1.0}}``.

    Shape:
        input ``(N, C, *spatial)``, target ``(N, *spatial)``; output a scalar.

    Returns:
        The combined loss.

    Example:
        >>> import torch
        >>> x = torch.zeros(1, 2, 1, 2)
        >>> y = torch.tensor([[[0, 1]]])
        >>> round(combo_loss(x, y, terms={"ce": 1.0, "dice": 2.0}).item(), 6)  # ln 2 + 2 * 0.5
        1.693147
    """
    _check_terms(terms, options)
    check_multiclass(input, target)
    check_several_classes(
        input,
        "a sum of binary losses, e.g. binary_focal_loss(x, t) + dice_loss(x, t, mode='binary')",
    )
    w = resolve_weight(weight)
    values = [
        factor
        * COMBO_TERMS[name](
            input,
            target,
            weight=w,
            ignore_index=ignore_index,
            reduction="mean",
            **dict((options or {}).get(name, {})),
        )
        for name, factor in terms.items()
    ]
    total = values[0]
    for value in values[1:]:
        total = total + value
    return total


class ComboLoss(WeightedLoss):
    """Module form of :func:`combo_loss` (same keywords; the shared ``weight`` is a buffer).

    Example:
        >>> import torch
        >>> loss = ComboLoss({"cross_entropy": 1.0, "dice": 1.0}, weight=[1.0, 3.0],
        ...                  ignore_index=255, options={"dice": {"smooth": 1.0}})
        >>> x = torch.randn(2, 2, 8, 8, requires_grad=True)
        >>> loss(x, torch.randint(0, 2, (2, 8, 8))).backward()
    """

    def __init__(
        self,
        terms: Mapping[str, float],
        weight: WeightLike = None,
        *,
        ignore_index: int | None = -100,
        options: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        super().__init__(weight)
        _check_terms(terms, options)
        self.terms = dict(terms)
        self.ignore_index = ignore_index
        self.options = {k: dict(v) for k, v in (options or {}).items()}

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return combo_loss(
            input,
            target,
            terms=self.terms,
            weight=self.weight,
            ignore_index=self.ignore_index,
            options=self.options,
        )
