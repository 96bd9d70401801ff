"""Lovász-Softmax and Lovász hinge."""

from __future__ import annotations

import pytest
import torch

import segstats.losses as L

# A (0.75, 0.25) -> 0, B (0.25, 0.75) -> 0, C (0.5, 0.5) -> 1 (worked by hand from
# Berman's algorithm: class 0 errors sorted .75(g1) .5(g0) .25(g1), Jaccard steps
# .5, 1/6, 1/3; class 1 errors .75(g0) .5(g1) .25(g0), steps .5, .5, 0)
PROBS = [[0.75, 0.25], [0.25, 0.75], [0.5, 0.5]]
L0 = 0.75 * 0.5 + 0.5 / 6 + 0.25 / 3
L1 = 0.75 * 0.5 + 0.5 * 0.5


def test_softmax_closed_form(logits_for):
    x = logits_for(PROBS)
    y = torch.tensor([[0, 0, 1]])
    assert L.lovasz_softmax_loss(x, y).item() == pytest.approx((L0 + L1) / 2)
    assert L.lovasz_softmax_loss(x, y, weight=[1.0, 3.0]).item() == pytest.approx((L0 + 3 * L1) / 4)
    torch.testing.assert_close(
        L.lovasz_softmax_loss(x, y, reduction="none"), torch.tensor([L0, L1], dtype=torch.float64)
    )
    # an ignored pixel changes nothing
    x4 = torch.cat([x, torch.randn(1, 2, 1, dtype=torch.float64)], dim=2)
    y4 = torch.tensor([[0, 0, 1, 255]])
    assert L.lovasz_softmax_loss(x4, y4, ignore_index=255).item() == pytest.approx((L0 + L1) / 2)


def test_softmax_present_all_and_per_image(logits_for):
    x = logits_for([[*p, 1e-12] for p in PROBS])  # a third class, absent, p ~ 0
    y = torch.tensor([[0, 0, 1]])
    assert L.lovasz_softmax_loss(x, y).item() == pytest.approx((L0 + L1) / 2)
    # absent class under "all": the largest error, max p_2 ~ 0
    assert L.lovasz_softmax_loss(x, y, classes="all").item() == pytest.approx((L0 + L1) / 3, abs=1e-9)
    x2 = torch.cat([x, x.flip(2)])
    y2 = torch.cat([y, y.flip(1)])
    assert L.lovasz_softmax_loss(x2, y2, per_image=True).item() == pytest.approx((L0 + L1) / 2)
    assert L.lovasz_softmax_loss(x2, y2, per_image=True, reduction="none").shape == (2, 3)


def test_hinge_closed_form():
    # errors 1 - x s = [-1, 2, 1.5]; sorted 2(g1) 1.5(g0) -1(g1); steps .5, 1/6, 1/3
    x = torch.tensor([[[2.0, -1.0, 0.5]]], dtype=torch.float64)
    t = torch.tensor([[[1.0, 1.0, 0.0]]], dtype=torch.float64)
    assert L.lovasz_hinge_loss(x, t).item() == pytest.approx(2 * 0.5 + 1.5 / 6)
    t_ign = torch.tensor([[[1.0, 1.0, 0.0, 255.0]]], dtype=torch.float64)
    x4 = torch.cat([x, torch.tensor([[[9.0]]], dtype=torch.float64)], dim=2)
    assert L.lovasz_hinge_loss(x4, t_ign, ignore_index=255).item() == pytest.approx(1.25)
    assert L.LovaszHingeLoss()(x, t[:, 0]).item() == pytest.approx(1.25)


def test_no_python_loop_float64_and_large_c():
    x = torch.randn(2, 40, 9, 9, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 40, (2, 9, 9))
    loss = L.lovasz_softmax_loss(x, y, per_image=True)
    loss.backward()
    assert loss.dtype == torch.float64 and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("per_image", [False, True])
@pytest.mark.parametrize("classes", ["present", "all"])
def test_softmax_ignore_index_that_is_a_class_index(per_image, classes):
    # ignore_index=0 (a "void = 0" dataset) must ignore those pixels exactly as
    # ignore_index=255 does: they are no class's foreground, not even class 0's.
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    y = torch.randint(1, 3, (2, 4, 5))
    y[0, 0] = 0
    y[1, :, :2] = 0
    y255 = torch.where(y == 0, 255, y)
    kw = {"per_image": per_image, "classes": classes, "reduction": "none"}
    torch.testing.assert_close(
        L.lovasz_softmax_loss(x, y, ignore_index=0, **kw),
        L.lovasz_softmax_loss(x, y255, ignore_index=255, **kw),
    )


def test_hinge_target_must_be_zero_or_one():
    x = torch.randn(2, 1, 4, 4)
    t = torch.randint(0, 2, (2, 1, 4, 4)).float()
    t[0, 0, 1, 1] = 255  # void label without ignore_index: was silently a negative
    with pytest.raises(ValueError, match=r"target contains 255.*0 or 1.*ignore_index=None"):
        L.lovasz_hinge_loss(x, t)
    t[0, 0, 1, 1] = 0.5  # a soft label was silently a negative too
    with pytest.raises(ValueError, match=r"target contains 0\.5"):
        L.LovaszHingeLoss()(x, t)
    t[0, 0, 1, 1] = 255
    assert torch.isfinite(L.lovasz_hinge_loss(x, t, ignore_index=255))


def test_per_image_counts_a_fully_ignored_image_as_zero():
    # Berman's reference averages over every image; one with no kept pixel adds 0
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    y = torch.randint(0, 3, (2, 4, 4))
    y[1] = 255
    both = L.lovasz_softmax_loss(x, y, ignore_index=255, per_image=True)
    alone = L.lovasz_softmax_loss(x[:1], y[:1], ignore_index=255, per_image=True)
    torch.testing.assert_close(both, alone / 2)


# --------------------------------------------------------------------------- brute force
# Berman et al.'s algorithm written out plainly, one (image or batch, class) row at a
# time in float64: sort the errors (descending), Jaccard sequence, its differences.


def _extension(errors: torch.Tensor, fg: torch.Tensor) -> torch.Tensor:
    order = torch.sort(errors, descending=True).indices
    e, g = errors[order], fg[order].double()
    inter = g.sum() - g.cumsum(0)
    union = g.sum() + (1 - g).cumsum(0)
    jac = 1 - inter / union
    jac = torch.cat([jac[:1], jac[1:] - jac[:-1]])
    return (e * jac).sum()


def _softmax_reference(x, y, ignore_index, per_image, classes, weight):
    p = x.double().softmax(1)
    n, c = p.shape[:2]
    p, y = p.reshape(n, c, -1), y.reshape(n, -1)
    groups = [(p[i : i + 1], y[i : i + 1]) for i in range(n)] if per_image else [(p, y)]
    image_losses = []
    for pg, yg in groups:
        pg = pg.transpose(0, 1).reshape(c, -1)
        yg = yg.reshape(-1)
        keep = yg != ignore_index if ignore_index is not None else torch.ones_like(yg, dtype=torch.bool)
        num = den = 0.0
        for k in range(c):
            fg = (yg[keep] == k).double()
            if keep.sum() == 0 or (classes == "present" and fg.sum() == 0):
                continue
            wk = 1.0 if weight is None else float(weight[k])
            num = num + wk * _extension((fg - pg[k][keep]).abs(), fg)
            den += wk
        image_losses.append(num / den if den else torch.zeros((), dtype=torch.float64))
    return sum(image_losses) / max(len(image_losses), 1)


def _hinge_reference(x, t, ignore_index, per_image, weight):
    n, c = x.shape[:2]
    x, t = x.double().reshape(n, c, -1), t.double().reshape(n, c, -1)
    groups = [(x[i : i + 1], t[i : i + 1]) for i in range(n)] if per_image else [(x, t)]
    total = 0.0
    for xg, tg in groups:
        num = den = 0.0
        for k in range(c):
            xs, ts = xg[:, k].reshape(-1), tg[:, k].reshape(-1)
            keep = ts != ignore_index if ignore_index is not None else torch.ones_like(ts, dtype=torch.bool)
            wk = 1.0 if weight is None else float(weight[k])
            if keep.any():  # an all-ignored (image, channel) pair adds 0, keeps its weight
                errors = 1 - xs[keep] * (2 * ts[keep] - 1)
                order = torch.sort(errors, descending=True).indices
                g = ts[keep][order]
                inter = g.sum() - g.cumsum(0)
                union = g.sum() + (1 - g).cumsum(0)
                jac = 1 - inter / union
                jac = torch.cat([jac[:1], jac[1:] - jac[:-1]])
                num = num + wk * (torch.relu(errors[order]) * jac).sum()
            den += wk
        total = total + num / den
    return total / len(groups)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(2, 4, 5, 7), (1, 3, 200, 200)])  # 40000 pixels: radix sort
@pytest.mark.parametrize("per_image", [False, True])
@pytest.mark.parametrize("classes", ["present", "all"])
def test_softmax_matches_brute_force(dtype, shape, per_image, classes):
    n, c = shape[:2]
    x = torch.randn(*shape, dtype=dtype, requires_grad=True)
    y = torch.randint(0, c - 1, (n, *shape[2:]))  # class c - 1 absent: "present" vs "all"
    y[0, 0] = 255
    w = torch.rand(c, dtype=dtype) + 0.5
    ours = L.lovasz_softmax_loss(x, y, weight=w, ignore_index=255, per_image=per_image, classes=classes)
    ref = _softmax_reference(x, y, 255, per_image, classes, w)
    assert ours.dtype == dtype
    tol = {"rtol": 1e-6, "atol": 1e-6} if dtype == torch.float32 else {"rtol": 1e-12, "atol": 1e-12}
    torch.testing.assert_close(ours.double(), ref.detach(), **tol)
    (g_ours,) = torch.autograd.grad(ours, x)
    (g_ref,) = torch.autograd.grad(ref, x)  # random logits: no tied errors, one gradient
    gtol = {"rtol": 1e-4, "atol": 1e-9} if dtype == torch.float32 else {"rtol": 1e-9, "atol": 1e-14}
    torch.testing.assert_close(g_ours.double(), g_ref.double(), **gtol)


@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (2, 2, 200, 100)])
@pytest.mark.parametrize("per_image", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_hinge_matches_brute_force(shape, per_image, dtype):
    x = (3 * torch.randn(*shape, dtype=dtype)).requires_grad_(True)
    t = torch.randint(0, 2, shape).to(dtype)
    t[0, 0, 0] = 255
    t[1, 1] = 255  # an all-ignored (image, channel) pair
    w = torch.rand(shape[1], dtype=dtype) + 0.5
    ours = L.lovasz_hinge_loss(x, t, weight=w, ignore_index=255, per_image=per_image)
    ref = _hinge_reference(x, t, 255, per_image, w)
    tol = {"rtol": 1e-6, "atol": 1e-6} if dtype == torch.float32 else {"rtol": 1e-12, "atol": 1e-12}
    torch.testing.assert_close(ours.double(), ref.detach(), **tol)
    (g_ours,) = torch.autograd.grad(ours, x)
    (g_ref,) = torch.autograd.grad(ref, x)
    gtol = {"rtol": 1e-4, "atol": 1e-9} if dtype == torch.float32 else {"rtol": 1e-9, "atol": 1e-14}
    torch.testing.assert_close(g_ours.double(), g_ref.double(), **gtol)


@pytest.mark.parametrize("per_image", [False, True])
@pytest.mark.parametrize("classes", ["present", "all"])
def test_batched_rows_equal_host_rows(monkeypatch, per_image, classes):
    # the path accelerators take (every row in one batched sort, no host reads),
    # run here on CPU: same values and gradients as the CPU row-by-row path
    import segstats.losses.lovasz as lovasz

    x = torch.randn(2, 4, 60, 70, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 3, (2, 60, 70))
    y[1, :5] = 255
    kw = {"ignore_index": 255, "per_image": per_image, "classes": classes, "reduction": "none"}
    host = L.lovasz_softmax_loss(x, y, **kw)
    (g_host,) = torch.autograd.grad(host.sum(), x)
    t = (torch.rand(2, 3, 9, 9) > 0.5).double()
    t[0, 1] = 255
    h_host = L.lovasz_hinge_loss(x[:, :3, :9, :9], t, ignore_index=255, per_image=per_image, reduction="none")
    monkeypatch.setattr(lovasz, "_host_rows", lambda z: False)
    batched = L.lovasz_softmax_loss(x, y, **kw)
    (g_batched,) = torch.autograd.grad(batched.sum(), x)
    torch.testing.assert_close(batched, host)
    torch.testing.assert_close(g_batched, g_host)
    torch.testing.assert_close(
        L.lovasz_hinge_loss(x[:, :3, :9, :9], t, ignore_index=255, per_image=per_image, reduction="none"),
        h_host,
    )


def test_tied_errors_give_the_reference_value():
    # equal logits: every error of a class is tied; the value cannot depend on the order
    x = torch.zeros(2, 3, 50, 800)  # 40000 pixels per image: radix sort
    y = torch.randint(0, 3, (2, 50, 800))
    for per_image in (False, True):
        ref = _softmax_reference(x, y, None, per_image, "present", None)
        torch.testing.assert_close(L.lovasz_softmax_loss(x, y, per_image=per_image).double(), ref)
    xh = torch.zeros(1, 1, 200, 200)
    th = torch.randint(0, 2, (1, 1, 200, 200)).float()
    torch.testing.assert_close(
        L.lovasz_hinge_loss(xh, th).double(), _hinge_reference(xh, th, None, False, None)
    )


def test_nan_logits_give_nan():
    x = torch.randn(1, 3, 4, 4)
    x[0, :, 1, 1] = float("nan")
    y = torch.randint(0, 3, (1, 4, 4))
    assert torch.isnan(L.lovasz_softmax_loss(x, y))
    assert torch.isnan(L.lovasz_hinge_loss(x, (torch.rand(1, 3, 4, 4) > 0.5).float()))
    # a NaN at an ignored pixel takes part in nothing, as today
    y[0, 1, 1] = 255
    assert torch.isfinite(L.lovasz_softmax_loss(x, y, ignore_index=255))


# --------------------------------------------------------------------------- bad input


def _count_async_asserts(monkeypatch):
    calls = []
    real = torch._assert_async

    def spy(*args, **kwargs):
        calls.append(args[0].device.type)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "_assert_async", spy)
    return calls


@pytest.mark.parametrize("bad", [7, 3, -1])
def test_softmax_target_outside_the_classes(monkeypatch, bad):
    # the check that runs on an accelerator (torch._assert_async, no host sync) is the
    # one that raises here: on CPU the assertion fails at once and becomes a ValueError
    calls = _count_async_asserts(monkeypatch)
    x = torch.randn(2, 3, 4, 4)
    y = torch.randint(0, 3, (2, 4, 4))
    y[1, 2, 3] = bad
    with pytest.raises(ValueError, match=rf"target contains {bad}, which is not a class in \[0, 3\)"):
        L.lovasz_softmax_loss(x, y, ignore_index=255)
    assert calls == ["cpu"]
    assert torch.isfinite(L.lovasz_softmax_loss(x, y, ignore_index=bad))


def test_hinge_target_two_is_rejected_through_the_async_check(monkeypatch):
    calls = _count_async_asserts(monkeypatch)
    t = torch.randint(0, 2, (2, 2, 4, 4)).float()
    t[0, 1, 0, 0] = 2
    with pytest.raises(ValueError, match=r"target contains 2\.0, which is not 0 or 1"):
        L.lovasz_hinge_loss(torch.randn(2, 2, 4, 4), t)
    assert calls == ["cpu"]


def test_target_check_needs_no_host_sync():
    # on the meta device nothing can be read back: the check must still run through
    x = torch.randn(2, 3, 4, 4, device="meta")
    assert L.lovasz_softmax_loss(x, torch.full((2, 4, 4), 7, device="meta")).device.type == "meta"
    assert L.lovasz_hinge_loss(x, torch.full((2, 3, 4, 4), 2.0, device="meta")).device.type == "meta"


def test_softmax_one_class_asks_for_the_binary_mode():
    with pytest.raises(ValueError, match=r"at least 2 classes.*LovaszHingeLoss"):
        L.lovasz_softmax_loss(torch.randn(2, 1, 4, 4), torch.zeros(2, 4, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="binary mode"):
        L.LovaszSoftmaxLoss()(torch.randn(2, 1, 4, 4), torch.zeros(2, 4, 4, dtype=torch.long))


@pytest.mark.parametrize("weighted", [False, True])
def test_hinge_per_image_all_ignored_pair_counts_as_zero(weighted):
    # rule: an (image, channel) pair with every element ignored counts as 0 and stays in
    # that image's denominator (Berman's convention for an all-ignored image)
    x = torch.randn(2, 3, 5, 5, dtype=torch.float64)
    t = torch.randint(0, 2, (2, 3, 5, 5)).double()
    t[1, 2] = 255
    w = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64) if weighted else torch.ones(3, dtype=torch.float64)

    def pair(i, k):
        return L.lovasz_hinge_loss(x[i : i + 1, k : k + 1], t[i : i + 1, k : k + 1], ignore_index=255)

    terms = [
        [pair(i, k) if (i, k) != (1, 2) else torch.zeros((), dtype=torch.float64) for k in range(3)]
        for i in range(2)
    ]
    expected = sum(sum(w[k] * terms[i][k] for k in range(3)) / w.sum() for i in range(2)) / 2
    ours = L.lovasz_hinge_loss(x, t, weight=w if weighted else None, ignore_index=255, per_image=True)
    torch.testing.assert_close(ours, expected)
    assert pair(1, 2).item() == 0.0
