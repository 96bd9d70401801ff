"""ComboLoss and the build() registry."""

from __future__ import annotations

import math

import pytest
import torch

import segstats.losses as L


def test_closed_form():
    x = torch.zeros(1, 2, 1, 2)
    y = torch.tensor([[[0, 1]]])
    loss = L.ComboLoss({"ce": 1.0, "dice": 2.0})
    assert loss(x, y).item() == pytest.approx(math.log(2) + 2 * 0.5)


def test_is_the_weighted_sum_with_shared_weight_and_ignore():
    x = torch.randn(2, 3, 5, 5, dtype=torch.float64)
    y = torch.randint(0, 3, (2, 5, 5))
    y[0, 0] = 255
    w = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    options = {"dice": {"smooth": 1.0}, "focal": {"gamma": 1.0}}
    combo = L.ComboLoss(
        {"cross_entropy": 0.7, "dice": 0.3, "focal": 1.0}, weight=w, ignore_index=255, options=options
    )
    expected = (
        0.7 * L.cross_entropy(x, y, weight=w, ignore_index=255)
        + 0.3 * L.dice_loss(x, y, weight=w, ignore_index=255, smooth=1.0)
        + L.focal_loss(x, y, weight=w, ignore_index=255, gamma=1.0)
    )
    torch.testing.assert_close(combo(x, y), expected)
    assert combo.to(torch.float64).weight.dtype == torch.float64


def test_errors():
    with pytest.raises(ValueError, match="unknown ComboLoss term 'hinge'"):
        L.ComboLoss({"hinge": 1.0})
    with pytest.raises(ValueError, match="non-empty"):
        L.ComboLoss({})
    with pytest.raises(ValueError, match="shares it"):
        L.ComboLoss({"dice": 1.0}, options={"dice": {"ignore_index": 3}})
    with pytest.raises(ValueError, match="not among the terms"):
        L.ComboLoss({"dice": 1.0}, options={"ce": {}})


def test_build_registry():
    for name, cls in L.LOSSES.items():
        kwargs = {"terms": {"ce": 1.0}} if name == "combo" else {}
        assert type(L.build(name, **kwargs)) is cls
    assert isinstance(L.build("Focal-Tversky"), L.FocalTverskyLoss)
    assert L.build("focal", gamma=3.0).gamma == 3.0
    with pytest.raises(ValueError, match=r"unknown loss 'nope'; known: .*focal"):
        L.build("nope")
    with pytest.raises(ValueError, match="bad arguments for loss 'focal'"):
        L.build("focal", gama=2.0)
