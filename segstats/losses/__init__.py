"""Weighted segmentation losses that read ``segstats weights`` files.

Importable without the CLI: this package needs only torch (and numpy for ``.npy``
weight files). Every loss has a functional form and an :class:`torch.nn.Module`
with the same keywords; ``weight=`` accepts a tensor, a sequence or a path to a
``.json`` / ``.pt`` / ``.npy`` / ``.yaml`` / ``.yml`` file written by
``segstats weights --output``.

Target values are checked on the target's device with no host synchronisation (one
:func:`torch._assert_async` per call, the same code on every device): a ``ValueError``
at once on CPU, a device-side assert on CUDA (reported at the next synchronisation).
A multiclass loss given ``C = 1`` raises ``ValueError`` naming the binary form to use.

Example:
    >>> import torch
    >>> from segstats.losses import build
    >>> loss = build("focal", weight=[1.0, 2.0, 0.5], gamma=2.0, ignore_index=255)
    >>> x = torch.randn(2, 3, 8, 8, requires_grad=True)
    >>> loss(x, torch.randint(0, 3, (2, 8, 8))).backward()
"""

from __future__ import annotations

from typing import Any

from torch import nn

from segstats.losses._weights import load_weight
from segstats.losses.combo import ComboLoss, combo_loss
from segstats.losses.cross_entropy import CrossEntropyLoss, cross_entropy
from segstats.losses.dice import DiceLoss, JaccardLoss, dice_loss, jaccard_loss
from segstats.losses.focal import BinaryFocalLoss, FocalLoss, binary_focal_loss, focal_loss
from segstats.losses.lovasz import (
    LovaszHingeLoss,
    LovaszSoftmaxLoss,
    lovasz_hinge_loss,
    lovasz_softmax_loss,
)
from segstats.losses.ohem import OhemCrossEntropyLoss, ohem_cross_entropy
from segstats.losses.tversky import FocalTverskyLoss, TverskyLoss, focal_tversky_loss, tversky_loss

#: registry name -> loss class, for :func:`build`
LOSSES: dict[str, type[nn.Module]] = {
    "cross_entropy": CrossEntropyLoss,
    "ce": CrossEntropyLoss,
    "focal": FocalLoss,
    "binary_focal": BinaryFocalLoss,
    "dice": DiceLoss,
    "jaccard": JaccardLoss,
    "iou": JaccardLoss,
    "tversky": TverskyLoss,
    "focal_tversky": FocalTverskyLoss,
    "lovasz": LovaszSoftmaxLoss,
    "lovasz_softmax": LovaszSoftmaxLoss,
    "lovasz_hinge": LovaszHingeLoss,
    "ohem": OhemCrossEntropyLoss,
    "ohem_cross_entropy": OhemCrossEntropyLoss,
    "combo": ComboLoss,
}


def build(name: str, **kwargs: Any) -> nn.Module:
    """Build a loss module by registry name, for config-driven training.

    Args:
        name: a key of :data:`LOSSES` (case-insensitive; ``-`` and ``_`` are the same).
        **kwargs: the loss class's keywords (``weight`` may be a file path).

    Returns:
        The loss module.

    Raises:
        ValueError: unknown name (the message lists the known ones) or bad keywords.

    Example:
        >>> loss = build("dice", smooth=1.0, ignore_index=255)
        >>> type(loss).__name__, loss.smooth
        ('DiceLoss', 1.0)
    """
    key = name.lower().replace("-", "_")
    if key not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; known: {', '.join(sorted(LOSSES))}")
    try:
        return LOSSES[key](**kwargs)
    except TypeError as exc:
        raise ValueError(f"bad arguments for loss {name!r}: {exc}") from exc


__all__ = [
    "LOSSES",
    "BinaryFocalLoss",
    "ComboLoss",
    "CrossEntropyLoss",
    "DiceLoss",
    "FocalLoss",
    "FocalTverskyLoss",
    "JaccardLoss",
    "LovaszHingeLoss",
    "LovaszSoftmaxLoss",
    "OhemCrossEntropyLoss",
    "TverskyLoss",
    "binary_focal_loss",
    "build",
    "combo_loss",
    "cross_entropy",
    "dice_loss",
    "focal_loss",
    "focal_tversky_loss",
    "jaccard_loss",
    "load_weight",
    "lovasz_hinge_loss",
    "lovasz_softmax_loss",
    "ohem_cross_entropy",
    "tversky_loss",
]
