"""Tversky and focal Tversky losses: the overlap losses of :mod:`segstats.losses.dice` with
``alpha``/``beta`` trading false positives against false negatives (Salehi et al., 2017) and a
focal exponent ``gamma`` (Abraham & Khan, 2019). The shared pass, the modes, ``per_image``,
``classes``, the target checks and the reductions are those of :mod:`segstats.losses.dice`.
"""

from __future__ import annotations

from torch import Tensor

from segstats.losses._checks import check_nonnegative
from segstats.losses._weights import WeightLike
from segstats.losses.dice import OVERLAP_DOC_ARGS, OverlapLoss, overlap_loss


def tversky_loss(
    input: Tensor,
    target: Tensor,
    *,
    weight: WeightLike = None,
    alpha: float = 0.5,
    beta: float = 0.5,
    gamma: float = 1.0,
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
        "tversky",
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
        alpha=alpha,
        beta=beta,
        gamma=gamma,
    )


tversky_loss.__doc__ = (
    r"""Tversky loss (Salehi et al., MLMI 2017) and its focal form (Abraham &
    Khan, ISBI 2019).

    .. math::
        T_c = \frac{I_c + s}{\max(I_c + \alpha FP_c + \beta FN_c + s, \epsilon)}, \quad
        FP_c = P_c - I_c,\ FN_c = G_c - I_c, \qquad
        L = \frac{\sum_{c \in S} w_c (1 - T_c)^\gamma}{\sum_{c \in S} w_c}

    ``alpha`` weighs false positives, ``beta`` false negatives. ``alpha = beta = 0.5,
    gamma = 1`` is the Dice loss with ``smooth`` doubled (identical at ``smooth=0``).
    With ``log_loss`` the term is ``(-log max(T_c, eps)) ** gamma``.
"""
    + OVERLAP_DOC_ARGS.replace(
        "        smooth:",
        "        alpha: weight of false positives.\n"
        "        beta: weight of false negatives.\n"
        "        gamma: exponent of the per-class term (focal Tversky).\n"
        "        smooth:",
    )
    + """
    Example:
        >>> import torch
        >>> x = torch.zeros(1, 2, 1, 2)              # p = 0.5 everywhere
        >>> y = torch.tensor([[[0, 1]]])
        >>> round(tversky_loss(x, y, alpha=0.7, beta=0.3).item(), 6)  # 1 - 0.5/(0.5+0.35+0.15)
        0.5
"""
)


def focal_tversky_loss(
    input: Tensor,
    target: Tensor,
    *,
    weight: WeightLike = None,
    alpha: float = 0.7,
    beta: float = 0.3,
    gamma: float = 0.75,
    ignore_index: float | None = None,
    smooth: float = 0.0,
    eps: float = 1e-7,
    per_image: bool = False,
    classes: str = "present",
    log_loss: bool = False,
    mode: str = "multiclass",
    reduction: str = "mean",
) -> Tensor:
    """:func:`tversky_loss` with the defaults of Abraham & Khan (2019): ``alpha=0.7,
    beta=0.3, gamma=0.75`` (their ``1 / gamma`` with ``gamma = 4/3``).

    Example:
        >>> import torch
        >>> x = torch.zeros(1, 2, 1, 2)
        >>> round(focal_tversky_loss(x, torch.tensor([[[0, 1]]])).item(), 6)  # 0.5 ** 0.75
        0.594604
    """
    return overlap_loss(
        "tversky",
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
        alpha=alpha,
        beta=beta,
        gamma=gamma,
    )


class TverskyLoss(OverlapLoss):
    """Module form of :func:`tversky_loss` (same keywords; ``weight`` is a buffer).

    Example:
        >>> import torch
        >>> loss = TverskyLoss(alpha=0.3, beta=0.7)
        >>> x = torch.randn(2, 3, 8, 8, requires_grad=True)
        >>> loss(x, torch.randint(0, 3, (2, 8, 8))).backward()
    """

    _kind = "tversky"

    def __init__(
        self,
        weight: WeightLike = None,
        *,
        alpha: float = 0.5,
        beta: float = 0.5,
        gamma: float = 1.0,
        ignore_index: float | None = None,
        smooth: float = 0.0,
        eps: float = 1e-7,
        per_image: bool = False,
        classes: str = "present",
        log_loss: bool = False,
        mode: str = "multiclass",
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            weight,
            ignore_index=ignore_index,
            smooth=smooth,
            eps=eps,
            per_image=per_image,
            classes=classes,
            log_loss=log_loss,
            mode=mode,
            reduction=reduction,
        )
        check_nonnegative("gamma", gamma)
        self.alpha = alpha
        self.beta = beta
        self.gamma = gamma

    def _extra(self) -> dict[str, float]:
        return {"alpha": self.alpha, "beta": self.beta, "gamma": self.gamma}


class FocalTverskyLoss(TverskyLoss):
    """:class:`TverskyLoss` with Abraham & Khan's defaults ``alpha=0.7, beta=0.3, gamma=0.75``.

    Example:
        >>> import torch
        >>> loss = FocalTverskyLoss()
        >>> x = torch.randn(2, 3, 8, 8, requires_grad=True)
        >>> loss(x, torch.randint(0, 3, (2, 8, 8))).backward()
    """

    def __init__(
        self,
        weight: WeightLike = None,
        *,
        alpha: float = 0.7,
        beta: float = 0.3,
        gamma: float = 0.75,
        ignore_index: float | None = None,
        smooth: float = 0.0,
        eps: float = 1e-7,
        per_image: bool = False,
        classes: str = "present",
        log_loss: bool = False,
        mode: str = "multiclass",
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            weight,
            alpha=alpha,
            beta=beta,
            gamma=gamma,
            ignore_index=ignore_index,
            smooth=smooth,
            eps=eps,
            per_image=per_image,
            classes=classes,
            log_loss=log_loss,
            mode=mode,
            reduction=reduction,
        )
