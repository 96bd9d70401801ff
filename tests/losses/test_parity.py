"""Parity with MONAI and kornia where their definitions coincide with ours.

Each test states the configuration under which the two libraries compute the same
number; outside it they differ on purpose (e.g. kornia's focal ``mean`` divides by
``C`` times the pixel count, MONAI's Dice ``mean`` divides weighted terms by ``C``).
"""

from __future__ import annotations

import pytest
import torch

import segstats.losses as L

N, C, H, W = 3, 4, 6, 7


@pytest.fixture
def data():
    x = torch.randn(N, C, H, W, dtype=torch.float64)
    y = torch.randint(0, C, (N, H, W))
    return x, y


# --------------------------------------------------------------------------- kornia


def test_kornia_focal_sum(data):
    """kornia focal_loss(alpha=None, reduction="sum", weight=w, ignore_index) ==
    ours reduction="sum" (kornia's "mean" divides by C * pixels instead)."""
    kornia = pytest.importorskip("kornia")
    x, y = data
    y[0, 0] = -100
    w = torch.rand(C, dtype=torch.float64) + 0.1
    ref = kornia.losses.focal_loss(x, y, alpha=None, gamma=2.0, reduction="sum", weight=w, ignore_index=-100)
    ours = L.focal_loss(x, y, gamma=2.0, weight=w, reduction="sum")
    torch.testing.assert_close(ours, ref)


def test_kornia_dice_macro(data):
    """kornia dice_loss(average="macro", weight=w, ignore_index) == ours per_image=True,
    classes="present", smooth=0 (kornia adds eps=1e-8 to the denominator; ours bounds it
    below), as long as no image is entirely ignored."""
    kornia = pytest.importorskip("kornia")
    x, y = data
    y[0, 0] = 255
    w = torch.rand(C, dtype=torch.float64) + 0.1
    ref = kornia.losses.dice_loss(x, y, average="macro", eps=1e-8, weight=w, ignore_index=255)
    ours = L.dice_loss(x, y, weight=w, ignore_index=255, per_image=True, classes="present")
    torch.testing.assert_close(ours, ref, rtol=1e-6, atol=1e-7)


def test_kornia_tversky(data):
    """kornia tversky_loss(alpha, beta, ignore_index) == ours per_image=True,
    classes="present", smooth=0, no weight."""
    kornia = pytest.importorskip("kornia")
    x, y = data
    y[1, 2] = 255
    ref = kornia.losses.tversky_loss(x, y, alpha=0.3, beta=0.7, eps=1e-8, ignore_index=255)
    ours = L.tversky_loss(x, y, alpha=0.3, beta=0.7, ignore_index=255, per_image=True)
    torch.testing.assert_close(ours, ref, rtol=1e-6, atol=1e-7)


def test_kornia_lovasz_softmax(data):
    """kornia lovasz_softmax_loss(weight=w) == ours per_image=True, classes="all", when
    mean(w) = 1 (kornia divides the weighted sum by C, ours by sum(w)); no ignore."""
    kornia = pytest.importorskip("kornia")
    x, y = data
    w = torch.rand(C, dtype=torch.float64) + 0.1
    w = w / w.mean()
    ref = kornia.losses.lovasz_softmax_loss(x, y, weight=w)
    ours = L.lovasz_softmax_loss(x, y, weight=w, per_image=True, classes="all")
    torch.testing.assert_close(ours, ref)


def test_kornia_lovasz_hinge():
    """kornia lovasz_hinge_loss (per image, (B, 1, H, W) logits, (B, H, W) labels) ==
    ours per_image=True."""
    kornia = pytest.importorskip("kornia")
    x = torch.randn(N, 1, H, W, dtype=torch.float64)
    y = torch.randint(0, 2, (N, H, W))
    ref = kornia.losses.lovasz_hinge_loss(x, y)
    ours = L.lovasz_hinge_loss(x, y.double(), per_image=True)
    torch.testing.assert_close(ours, ref)


# --------------------------------------------------------------------------- MONAI


@pytest.mark.parametrize("per_image", [False, True])
def test_monai_dice(data, per_image):
    """MONAI DiceLoss(softmax=True, to_onehot_y=True, batch=not per_image,
    smooth_nr=s, smooth_dr=s, weight=w) == ours classes="all", smooth=s, when mean(w) = 1
    (MONAI's "mean" divides the weighted terms by C)."""
    monai = pytest.importorskip("monai.losses")
    x, y = data
    w = torch.rand(C, dtype=torch.float64) + 0.1
    w = w / w.mean()
    ref = monai.DiceLoss(
        softmax=True, to_onehot_y=True, batch=not per_image, smooth_nr=1.0, smooth_dr=1.0, weight=w
    )(x, y.unsqueeze(1))
    ours = L.dice_loss(x, y, weight=w, smooth=1.0, classes="all", per_image=per_image)
    torch.testing.assert_close(ours, ref)


def test_monai_dice_jaccard(data):
    """MONAI DiceLoss(jaccard=True, smooth_nr=s, smooth_dr=s) computes
    (2I + s) / (2(P + G - I) + s): ours jaccard_loss(smooth=s/2, classes="all")."""
    monai = pytest.importorskip("monai.losses")
    x, y = data
    ref = monai.DiceLoss(
        softmax=True, to_onehot_y=True, batch=True, jaccard=True, smooth_nr=1.0, smooth_dr=1.0
    )(x, y.unsqueeze(1))
    ours = L.jaccard_loss(x, y, smooth=0.5, classes="all")
    torch.testing.assert_close(ours, ref)


def test_monai_tversky(data):
    """MONAI TverskyLoss(softmax=True, to_onehot_y=True, batch=True, alpha (FP), beta (FN),
    smooth_nr=s, smooth_dr=s) == ours classes="all", smooth=s."""
    monai = pytest.importorskip("monai.losses")
    x, y = data
    ref = monai.TverskyLoss(
        softmax=True, to_onehot_y=True, batch=True, alpha=0.3, beta=0.7, smooth_nr=1e-5, smooth_dr=1e-5
    )(x, y.unsqueeze(1))
    ours = L.tversky_loss(x, y, alpha=0.3, beta=0.7, smooth=1e-5, classes="all")
    torch.testing.assert_close(ours, ref)


def test_monai_softmax_focal_sum(data):
    """MONAI FocalLoss(use_softmax=True, to_onehot_y=True, gamma, reduction="sum") == ours
    reduction="sum" / (H * W) without weight: MONAI's "sum" averages over the spatial
    dimensions first (kept for backward compatibility), its "mean" over C * pixels."""
    monai = pytest.importorskip("monai.losses")
    x, y = data
    ref = monai.FocalLoss(use_softmax=True, to_onehot_y=True, gamma=2.0, reduction="sum")(x, y.unsqueeze(1))
    # MONAI's focal loss returns float32 whatever the input dtype
    ours = L.focal_loss(x, y, gamma=2.0, reduction="sum") / (H * W)
    torch.testing.assert_close(ours.float(), ref)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_monai_sigmoid_focal(reduction):
    """MONAI FocalLoss(use_softmax=False, alpha, gamma) is torchvision's sigmoid focal
    loss: == ours binary_focal_loss(alpha, gamma) on multilabel targets ("mean"), and
    ours "sum" / (H * W) for MONAI's "sum" (which averages the spatial dims first)."""
    monai = pytest.importorskip("monai.losses")
    x = torch.randn(N, C, H, W, dtype=torch.float64)
    t = torch.randint(0, 2, (N, C, H, W)).double()
    ref = monai.FocalLoss(alpha=0.25, gamma=2.0, reduction=reduction)(x, t)
    ours = L.binary_focal_loss(x, t, alpha=0.25, gamma=2.0, reduction=reduction)
    if reduction == "sum":
        ours = ours / (H * W)
    torch.testing.assert_close(ours.float(), ref)  # MONAI returns float32


def test_monai_dice_ce(data):
    """MONAI DiceCELoss(softmax=True, to_onehot_y=True, batch=True, smooth s, lambda_dice=a,
    lambda_ce=b) == ours ComboLoss({"ce": b, "dice": a}) with dice classes="all", smooth=s."""
    monai = pytest.importorskip("monai.losses")
    x, y = data
    ref = monai.DiceCELoss(
        softmax=True,
        to_onehot_y=True,
        batch=True,
        smooth_nr=1.0,
        smooth_dr=1.0,
        lambda_dice=0.4,
        lambda_ce=0.6,
    )(x, y.unsqueeze(1))
    ours = L.ComboLoss({"ce": 0.6, "dice": 0.4}, options={"dice": {"classes": "all", "smooth": 1.0}})(x, y)
    torch.testing.assert_close(ours, ref)
