"""The pipeline arguments (issue 5): ``reduction="weighted_mean"``, ``mask``, ``label_smoothing``,
``axis``/``keepdims``, ``out=``, the gradient and hessian for gradient boosting, and the streaming
accumulator. Each against a float64 reference written here from the definitions (on top of the
the formulas of docs/DESIGN.md in conftest.py) and central finite differences; each argument's errors."""

from __future__ import annotations

import itertools
import math
import pickle
from fractions import Fraction
from typing import Any, Optional

import fastbce
import numpy as np
import pytest
from conftest import (
    FUNCTIONS,
    LOGITS,
    PROBS,
    assert_close,
    elementwise,
    random_input,
    random_target,
)

F = fastbce.functional
LOSS = {LOGITS: F.binary_cross_entropy_with_logits, PROBS: F.binary_cross_entropy}
GRAD = {LOGITS: F.binary_cross_entropy_with_logits_grad, PROBS: F.binary_cross_entropy_grad}
VALUE_AND_GRAD = {
    LOGITS: F.binary_cross_entropy_with_logits_value_and_grad,
    PROBS: F.binary_cross_entropy_value_and_grad,
}
DTYPES = (np.float32, np.float64)


# --------------------------------------------------------------------------------------------
# The reference
# --------------------------------------------------------------------------------------------


def smoothed_target(y: np.ndarray, eps: float, dtype: Any) -> tuple[np.ndarray, float]:
    """``y (1 - ε) + ε / 2`` as the kernels form it: ``1 - ε`` and ``ε / 2`` rounded to the
    compute dtype, then one rounding of the exact ``y k + h``. Returns it (as float64) and ``k``."""
    k = float(np.dtype(dtype).type(1.0 - eps))
    h = float(np.dtype(dtype).type(eps / 2.0))
    exact = [
        float(Fraction(float(v)) * Fraction(k) + Fraction(h)) if math.isfinite(v) else v * k + h
        for v in np.ravel(y)
    ]
    ys = np.array(exact, dtype=np.float64).astype(dtype).astype(np.float64).reshape(np.shape(y))
    return ys, k


def pipeline_reference(
    function: str,
    x: Any,
    y: Any,
    weight: Any = None,
    pos_weight: Any = None,
    *,
    mask: Any = None,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
    axis: Any = None,
    keepdims: bool = False,
    grad_output: Any = 1.0,
) -> tuple[Any, np.ndarray, np.ndarray]:
    """(loss, grad_input, grad_target) in float64 for every pipeline argument."""
    x = np.asarray(x)
    shape = x.shape
    compute = np.float32 if x.dtype == np.float32 else np.float64
    ys, k = smoothed_target(np.asarray(y), label_smoothing, compute)
    loss, dx, dy = elementwise(function, x, ys, weight, pos_weight)
    dy = dy * k
    kept = np.ones(shape, bool) if mask is None else np.broadcast_to(mask, shape)
    loss, dx, dy = (np.where(kept, a, 0.0) for a in (loss, dx, dy))
    w = np.ones(shape) if weight is None else np.broadcast_to(np.asarray(weight, np.float64), shape)
    if reduction == "none":
        go = np.broadcast_to(np.asarray(grad_output, np.float64), shape)
        return loss, dx * go, dy * go
    axes = tuple(range(len(shape))) if axis is None else tuple(np.atleast_1d(axis) % max(len(shape), 1))
    total = np.sum(loss, axis=axes, keepdims=True)
    if reduction == "sum":
        den = np.ones_like(total)
    elif reduction == "mean":
        den = np.sum(kept, axis=axes, keepdims=True).astype(np.float64)
    else:
        den = np.sum(np.where(kept, w, 0.0), axis=axes, keepdims=True)
    with np.errstate(all="ignore"):
        value = total / den
        go = np.asarray(grad_output, np.float64)
        if not keepdims and axis is not None:
            go = np.expand_dims(np.broadcast_to(go, np.squeeze(value, axis=axes).shape), axes)
        factor = np.where(den != 0, go / den, 0.0)
    if not keepdims:
        value = np.squeeze(value, axis=axes)
    return value, dx * factor, dy * factor


def data(rng: np.random.Generator, function: str, shape: tuple[int, ...], dtype: Any) -> tuple:
    x = random_input(rng, function, shape).astype(dtype)
    y = random_target(rng, shape).astype(dtype)
    return x, y


# --------------------------------------------------------------------------------------------
# weighted_mean, mask, label_smoothing, axis: one at a time and all together
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize(
    "weight_shape", [None, (6, 7), (7,), (6, 1), ()], ids=["none", "same", "column", "row", "scalar"]
)
def test_weighted_mean(rng, function, dtype, weight_shape):
    x, y = data(rng, function, (6, 7), dtype)
    weight = None if weight_shape is None else rng.uniform(0.0, 3.0, weight_shape).astype(dtype)
    loss, grad = VALUE_AND_GRAD[function](x, y, weight, reduction="weighted_mean")
    want, want_dx, _ = pipeline_reference(function, x, y, weight, reduction="weighted_mean")
    assert loss.dtype == dtype and np.ndim(loss) == 0
    assert_close(loss, want, dtype, "weighted mean")
    assert_close(grad, want_dx, dtype, "weighted mean gradient")
    # sum(w l) / sum(w): not the mean's sum(w l) / N (unless the weights average to one)
    if weight is not None:
        by_hand = np.sum(
            np.broadcast_to(weight, x.shape) * LOSS[function](x, y, reduction="none"), dtype=np.float64
        )
        assert_close(loss, by_hand / np.sum(np.broadcast_to(weight, x.shape), dtype=np.float64), dtype)
    else:
        assert loss == LOSS[function](x, y)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum", "weighted_mean"])
@pytest.mark.parametrize("mask_shape", [(5, 9), (9,), (5, 1), ()], ids=["same", "column", "row", "scalar"])
def test_mask(rng, function, dtype, reduction, mask_shape):
    x, y = data(rng, function, (5, 9), dtype)
    weight = rng.uniform(0.5, 2.0, (9,)).astype(dtype)
    mask = rng.uniform(size=mask_shape) < 0.6 if mask_shape else np.bool_(True)
    # masked-out elements are ignored whatever they hold
    kept = np.broadcast_to(mask, x.shape)
    x = np.where(kept, x, np.nan).astype(dtype)
    y = np.where(kept, y, np.inf if function == LOGITS else 0.5).astype(dtype)
    before = (x.copy(), y.copy(), np.array(mask).copy())
    for wrt, index in (("input", 1), ("target", 2)):
        loss, grad = VALUE_AND_GRAD[function](x, y, weight, reduction=reduction, mask=mask, wrt=wrt)
        want = pipeline_reference(function, x, y, weight, mask=mask, reduction=reduction)
        assert_close(loss, want[0], dtype, f"masked {reduction} loss")
        assert_close(grad, want[index], dtype, f"masked {reduction} gradient w.r.t. {wrt}")
        assert not np.isnan(grad).any()
        assert np.all(grad[~kept] == 0)
    for a, b in zip((x, y, np.array(mask)), before):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_all_masked(function):
    x = np.array([[0.3, 0.6], [0.2, 0.9]])
    y = np.array([[1.0, 0.0], [1.0, 1.0]])
    none = np.zeros((2, 2), bool)
    assert math.isnan(LOSS[function](x, y, mask=none))
    assert math.isnan(LOSS[function](x, y, mask=none, reduction="weighted_mean"))
    assert LOSS[function](x, y, mask=none, reduction="sum") == 0.0
    np.testing.assert_array_equal(GRAD[function](x, y, mask=none), np.zeros((2, 2)))
    # one row fully masked, per-row means: NaN there only, like np.mean of an empty row
    rows = np.array([[True], [False]])
    per_row = LOSS[function](x, y, mask=rows, axis=1)
    assert not math.isnan(per_row[0]) and math.isnan(per_row[1])
    np.testing.assert_array_equal(GRAD[function](x, y, mask=rows, axis=1)[1], [0.0, 0.0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("eps", [0.1, 1e-6, 0.5, 0.99])
def test_label_smoothing(rng, function, dtype, eps):
    x, y = data(rng, function, (40,), dtype)
    y[:10] = 0
    y[10:20] = 1
    if function == LOGITS:
        x[:5] = x[:5] * 100  # large logits, where the loss is most sensitive to the target
    for wrt, index in (("input", 1), ("target", 2)):
        loss, grad = VALUE_AND_GRAD[function](x, y, reduction="none", label_smoothing=eps, wrt=wrt)
        want = pipeline_reference(function, x, y, label_smoothing=eps, reduction="none")
        assert_close(loss, want[0], dtype, "smoothed loss")
        assert_close(grad, want[index], dtype, f"smoothed gradient w.r.t. {wrt}")
    # Keras's definition, checked directly: the loss at y (1 - eps) + eps / 2
    if dtype == np.float64:
        plain = LOSS[function](x, y * (1 - eps) + eps / 2, reduction="none")
        np.testing.assert_allclose(
            LOSS[function](x, y, reduction="none", label_smoothing=eps), plain, rtol=1e-12
        )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "weighted_mean"])
@pytest.mark.parametrize("axis", [0, 1, -1, (0, 2), (2, 0, 1), ()])
@pytest.mark.parametrize("keepdims", [False, True])
def test_axis(rng, function, dtype, reduction, axis, keepdims):
    shape = (3, 4, 5)
    x, y = data(rng, function, shape, dtype)
    weight = rng.uniform(0.1, 2.0, (4, 1)).astype(dtype)
    loss = LOSS[function](x, y, weight, reduction=reduction, axis=axis, keepdims=keepdims)
    want, _, _ = pipeline_reference(function, x, y, weight, reduction=reduction, axis=axis, keepdims=keepdims)
    expected_shape = np.sum(x, axis=axis, keepdims=keepdims).shape
    assert np.shape(loss) == expected_shape and loss.dtype == dtype
    assert_close(loss, want, dtype, f"{reduction} over axis {axis}")
    # the gradient of sum(loss * g) for an upstream g of the reduced shape
    g = rng.uniform(-2.0, 2.0, expected_shape)
    grad = GRAD[function](x, y, weight, reduction=reduction, axis=axis, keepdims=keepdims, grad_output=g)
    _, want_dx, _ = pipeline_reference(
        function, x, y, weight, reduction=reduction, axis=axis, keepdims=keepdims, grad_output=g
    )
    assert_close(grad, want_dx, dtype, f"gradient of the {reduction} over axis {axis}")


def test_axis_over_everything_is_the_plain_reduction(rng):
    x, y = data(rng, LOGITS, (4, 6), np.float64)
    for reduction in ("mean", "sum"):
        whole = F.binary_cross_entropy_with_logits(x, y, reduction=reduction, axis=(0, 1))
        assert isinstance(whole, np.float64)
        np.testing.assert_allclose(
            whole, F.binary_cross_entropy_with_logits(x, y, reduction=reduction), rtol=1e-15
        )


def test_keepdims_without_axis_keeps_every_axis(rng):
    x, y = data(rng, LOGITS, (4, 6), np.float32)
    kept = F.binary_cross_entropy_with_logits(x, y, keepdims=True)
    assert kept.shape == (1, 1) and kept.dtype == np.float32
    assert kept[0, 0] == F.binary_cross_entropy_with_logits(x, y)
    grad = F.binary_cross_entropy_with_logits_grad(x, y, keepdims=True, grad_output=np.full((1, 1), 2.0))
    np.testing.assert_allclose(grad, 2 * F.binary_cross_entropy_with_logits_grad(x, y), rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["none", "mean", "sum", "weighted_mean"])
def test_everything_together(rng, dtype, reduction):
    shape = (4, 3, 8)
    x, y = data(rng, LOGITS, shape, dtype)
    weight = rng.uniform(0.0, 2.0, (3, 8)).astype(dtype)
    pos_weight = rng.uniform(0.5, 3.0, (8,)).astype(dtype)
    mask = rng.uniform(size=(4, 3, 1)) < 0.7
    axis = None if reduction == "none" else (0, -1)
    kwargs = dict(mask=mask, label_smoothing=0.05, reduction=reduction, axis=axis)
    for wrt, index in (("input", 1), ("target", 2)):
        go = 1.5 if reduction != "none" else rng.uniform(-1, 1, shape)
        if axis is not None:
            go = rng.uniform(-1, 1, (3,))
        loss, grad = F.binary_cross_entropy_with_logits_value_and_grad(
            x, y, weight, pos_weight, grad_output=go, wrt=wrt, **kwargs
        )
        want = pipeline_reference(LOGITS, x, y, weight, pos_weight, grad_output=go, **kwargs)
        assert_close(loss, want[0], dtype, "loss")
        assert_close(grad, want[index], dtype, f"gradient w.r.t. {wrt}")
        # the loss alone and the gradient alone agree with the one-pass call (bit for bit in
        # float64; float32 losses beside a gradient are computed in float64, alone in float32)
        alone = F.binary_cross_entropy_with_logits(x, y, weight, pos_weight=pos_weight, **kwargs)
        if dtype == np.float64:
            np.testing.assert_array_equal(alone, loss)
        else:
            assert_close(alone, loss, dtype, "loss alone")
        g_alone = F.binary_cross_entropy_with_logits_grad(
            x, y, weight, pos_weight, grad_output=go, wrt=wrt, **kwargs
        )
        np.testing.assert_array_equal(g_alone, grad)


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("reduction", ["weighted_mean", "mean", "sum"])
def test_new_gradients_by_finite_differences(rng, function, reduction):
    shape = (3, 5)
    x, y = data(rng, function, shape, np.float64)
    if function == PROBS:
        x = np.clip(x, 0.05, 0.95)
    weight = rng.uniform(0.2, 2.0, (5,))
    mask = rng.uniform(size=shape) < 0.8
    g = rng.uniform(-1.0, 1.0, (3,))
    kwargs = dict(reduction=reduction, mask=mask, label_smoothing=0.1, axis=1)

    def objective(xv: np.ndarray, yv: np.ndarray) -> float:
        return float(np.sum(LOSS[function](xv, yv, weight, **kwargs) * g))

    for wrt in ("input", "target"):
        grad = GRAD[function](x, y, weight, grad_output=g, wrt=wrt, **kwargs)
        h = 1e-6
        for i in np.ndindex(shape):
            point = (x if wrt == "input" else y).copy()
            if wrt == "target" and not 1e-5 < point[i] < 1 - 1e-5:
                continue
            up, down = point.copy(), point.copy()
            up[i] += h
            down[i] -= h
            pair = ((up, y), (down, y)) if wrt == "input" else ((x, up), (x, down))
            fd = (objective(*pair[0]) - objective(*pair[1])) / (2 * h)
            assert grad[i] == pytest.approx(fd, rel=1e-5, abs=1e-7), (wrt, i)


# --------------------------------------------------------------------------------------------
# out=
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("layout", ["contiguous", "strided"])
def test_out(rng, dtype, layout):
    x, y = data(rng, LOGITS, (6, 5), dtype)

    def buffer() -> np.ndarray:
        if layout == "contiguous":
            return np.full((6, 5), -7, dtype)
        return np.full((6, 10), -7, dtype)[:, ::2]

    out = buffer()
    got = F.binary_cross_entropy_with_logits(x, y, reduction="none", out=out)
    assert got is out
    np.testing.assert_array_equal(out, F.binary_cross_entropy_with_logits(x, y, reduction="none"))

    out = buffer()
    assert F.binary_cross_entropy_with_logits_grad(x, y, reduction="sum", out=out) is out
    np.testing.assert_array_equal(out, F.binary_cross_entropy_with_logits_grad(x, y, reduction="sum"))

    loss_out, grad_out = buffer(), buffer()
    loss, grad = F.binary_cross_entropy_with_logits_value_and_grad(
        x, y, reduction="none", out=(loss_out, grad_out)
    )
    assert loss is loss_out and grad is grad_out
    want_loss, want_grad = F.binary_cross_entropy_with_logits_value_and_grad(x, y, reduction="none")
    np.testing.assert_array_equal(loss, want_loss)
    np.testing.assert_array_equal(grad, want_grad)
    # a mean with only the gradient going to a caller's array
    grad_out = buffer()
    mean, grad = F.binary_cross_entropy_value_and_grad(1 / (1 + np.exp(-x)), y, out=(None, grad_out))
    assert grad is grad_out and np.ndim(mean) == 0

    g_out, h_out = buffer(), buffer()
    g, h = F.binary_cross_entropy_with_logits_grad_hess(x, y, out=(g_out, h_out))
    assert g is g_out and h is h_out
    want_g, want_h = F.binary_cross_entropy_with_logits_grad_hess(x, y)
    np.testing.assert_array_equal(g, want_g)
    np.testing.assert_array_equal(h, want_h)


def test_out_empty():
    empty = np.zeros((0, 3))
    both = np.zeros((2, 0, 3))
    loss_out, grad_out = both[0], both[1]
    loss, grad = F.binary_cross_entropy_with_logits_value_and_grad(
        empty, empty, reduction="none", out=(loss_out, grad_out)
    )
    assert loss is loss_out and grad is grad_out


def test_out_errors():
    x = np.linspace(-3, 3, 12).reshape(3, 4)
    y = np.full((3, 4), 0.25)
    call = F.binary_cross_entropy_with_logits
    with pytest.raises(
        ValueError, match=r"out of shape \(4, 3\) must have the same shape as input of shape \(3, 4\)"
    ):
        call(x, y, reduction="none", out=np.empty((4, 3)))
    with pytest.raises(TypeError, match="out has dtype float32, expected the result dtype float64"):
        call(x, y, reduction="none", out=np.empty((3, 4), np.float32))
    read_only = np.empty((3, 4))
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        call(x, y, reduction="none", out=read_only)
    with pytest.raises(ValueError, match="out shares memory with an input"):
        call(x, y, reduction="none", out=x)
    both = np.zeros((2, 3, 4))
    both[0] = x
    with pytest.raises(ValueError, match="out shares memory with an input"):
        call(both[0], y, reduction="none", out=both[0])
    np.testing.assert_array_equal(both[0], x)  # refused before anything was written
    # a neighbouring, non-overlapping view of the same buffer is fine
    neighbour = both[1]
    assert call(both[0], y, reduction="none", out=neighbour) is neighbour
    with pytest.raises(TypeError, match="out must be a NumPy array"):
        call(x, y, reduction="none", out=[[0.0] * 4] * 3)
    with pytest.raises(ValueError, match="needs reduction='none'"):
        call(x, y, out=np.empty((3, 4)))
    with pytest.raises(TypeError, match="out must be a tuple of 2 arrays"):
        F.binary_cross_entropy_with_logits_value_and_grad(x, y, out=np.empty((3, 4)))
    shared = np.empty((3, 4))
    with pytest.raises(ValueError, match="out shares memory with another output"):
        F.binary_cross_entropy_with_logits_grad_hess(x, y, out=(shared, shared))
    with pytest.raises(ValueError, match="shares memory with an input"):
        F.binary_cross_entropy_with_logits_grad(x, y, weight=np.ones(4), out=x)


# --------------------------------------------------------------------------------------------
# Argument errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, pattern",
    [
        (dict(mask=np.ones((3, 4), np.int64)), TypeError, "mask must be a boolean array"),
        (dict(mask=np.ones((4, 3), bool)), ValueError, r"mask of shape \(4, 3\) does not broadcast"),
        (dict(mask=np.ones((2, 3, 4), bool)), ValueError, "mask of shape .* without enlarging"),
        (dict(label_smoothing=1.0), ValueError, "label_smoothing must lie in"),
        (dict(label_smoothing=-0.1), ValueError, "label_smoothing must lie in"),
        (dict(label_smoothing=float("nan")), ValueError, "label_smoothing must lie in"),
        (dict(label_smoothing="0.1"), TypeError, "label_smoothing must be a real number"),
        (dict(label_smoothing=True), TypeError, "label_smoothing must be a real number"),
        (dict(axis=2), ValueError, "axis 2 is out of bounds"),
        (dict(axis=-3), ValueError, "axis -3 is out of bounds"),
        (dict(axis=(0, -2)), ValueError, "names an axis more than once"),
        (dict(axis=1.0), TypeError, "axis must be an int or a tuple of ints"),
        (dict(axis=(0, "1")), TypeError, "axis must be an int or a tuple of ints"),
        (dict(axis=0, reduction="none"), ValueError, "reduction='none' reduces nothing"),
        (dict(keepdims="yes"), TypeError, "keepdims must be True or False"),
        (dict(keepdims=True, reduction="none"), ValueError, "keepdims is given but reduction='none'"),
        (dict(label_smoothing=np.array([0.1, 0.2])), TypeError, "label_smoothing must be a real number"),
        (dict(reduction="weighted"), ValueError, "'weighted' is not a valid value for reduction"),
    ],
)
@pytest.mark.parametrize("function", FUNCTIONS)
def test_argument_errors(function, kwargs, error, pattern):
    x = np.full((3, 4), 0.5)
    y = np.full((3, 4), 1.0)
    for call in (LOSS[function], GRAD[function], VALUE_AND_GRAD[function]):
        with pytest.raises(error, match=pattern):
            call(x, y, **kwargs)


def test_axis_grad_output_must_fit_the_reduced_shape():
    x = np.zeros((3, 4))
    with pytest.raises(
        ValueError, match=r"grad_output of shape \(4,\) does not broadcast to the reduced shape \(3,\)"
    ):
        F.binary_cross_entropy_with_logits_grad(x, x, axis=1, grad_output=np.ones(4))
    # a scalar, or the reduced shape with or without the kept axes, is fine
    for g in (2.0, np.ones(3), np.ones((3, 1))):
        keep = np.ndim(g) == 2
        F.binary_cross_entropy_with_logits_grad(x, x, axis=1, keepdims=keep, grad_output=g)


# --------------------------------------------------------------------------------------------
# Gradient and hessian
# --------------------------------------------------------------------------------------------


def sigmoid(x: np.ndarray) -> np.ndarray:
    return np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))


@pytest.mark.parametrize("dtype", DTYPES)
def test_grad_hess(rng, dtype):
    shape = (50, 3)
    x = (rng.standard_normal(shape) * 6).astype(dtype)
    x[0] = [np.inf, -np.inf, 40.0]
    y = random_target(rng, shape).astype(dtype)
    weight = rng.uniform(0, 2, (3,)).astype(dtype)
    pos_weight = rng.uniform(0.5, 3, shape).astype(dtype)
    g, h = fastbce.binary_cross_entropy_with_logits_grad_hess(x, y, weight, pos_weight)
    assert g.dtype == dtype and h.dtype == dtype and g.shape == shape
    _, dx, _ = elementwise(LOGITS, x, y, weight, pos_weight)
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    lw = (1 - y64) + pos_weight.astype(np.float64) * y64
    want_h = np.broadcast_to(weight, shape) * lw * sigmoid(x64) * sigmoid(-x64)
    assert_close(g, dx, dtype, "grad")
    assert_close(h, want_h, dtype, "hess")
    assert np.all(h >= 0)
    # the gradient is the per-element ("none") gradient
    np.testing.assert_array_equal(
        g, F.binary_cross_entropy_with_logits_grad(x, y, weight, pos_weight, reduction="none")
    )
    # the hessian is the derivative of the gradient
    if dtype == np.float64:
        step = 1e-6
        up = F.binary_cross_entropy_with_logits_grad(x + step, y, weight, pos_weight, reduction="none")
        down = F.binary_cross_entropy_with_logits_grad(x - step, y, weight, pos_weight, reduction="none")
        finite = np.isfinite(x)
        np.testing.assert_allclose(h[finite], ((up - down) / (2 * step))[finite], rtol=1e-5, atol=1e-9)


def test_grad_hess_with_mask_and_smoothing(rng):
    x = rng.standard_normal((10, 4))
    y = random_target(rng, (10, 4), soft=False)
    mask = rng.uniform(size=(10, 4)) < 0.5
    g, h = fastbce.binary_cross_entropy_with_logits_grad_hess(x, y, mask=mask, label_smoothing=0.2)
    ys = y * 0.8 + 0.1
    want_g = np.where(mask, sigmoid(x) - ys, 0.0)
    want_h = np.where(mask, sigmoid(x) * sigmoid(-x), 0.0)
    np.testing.assert_allclose(g, want_g, rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(h, want_h, rtol=1e-13, atol=1e-16)
    criterion = fastbce.BCEWithLogitsLoss(label_smoothing=0.2)
    g2, h2 = criterion.grad_hess(x, y, mask=mask)
    np.testing.assert_array_equal(g2, g)
    np.testing.assert_array_equal(h2, h)


def test_grad_hess_errors():
    x = np.zeros((2, 3))
    with pytest.raises(ValueError, match="target of shape"):
        fastbce.binary_cross_entropy_with_logits_grad_hess(x, np.zeros(3))
    with pytest.raises(ValueError, match="pos_weight of shape"):
        fastbce.binary_cross_entropy_with_logits_grad_hess(x, x, pos_weight=np.ones(2))
    with pytest.raises(TypeError, match="mask must be a boolean array"):
        fastbce.binary_cross_entropy_with_logits_grad_hess(x, x, mask=np.ones((2, 3)))


# --------------------------------------------------------------------------------------------
# Classes
# --------------------------------------------------------------------------------------------


def test_modules_take_pipeline_arguments(rng):
    x, y = data(rng, LOGITS, (8, 3), np.float64)
    mask = rng.uniform(size=(8, 1)) < 0.5
    criterion = fastbce.BCEWithLogitsLoss(
        weight=np.ones(3) * 2, reduction="weighted_mean", label_smoothing=0.1
    )
    assert "label_smoothing=0.1" in repr(criterion)
    want = F.binary_cross_entropy_with_logits(
        x, y, np.ones(3) * 2, reduction="weighted_mean", label_smoothing=0.1, mask=mask
    )
    assert criterion(x, y, mask=mask) == want
    loss, grad = criterion.value_and_grad(x, y, mask=mask)
    assert loss == want
    np.testing.assert_array_equal(grad, criterion.grad(x, y, mask=mask))
    p = 1 / (1 + np.exp(-x))
    bce = fastbce.BCELoss(label_smoothing=0.1)
    assert bce(p, y) == F.binary_cross_entropy(p, y, label_smoothing=0.1)
    with pytest.raises(ValueError, match="label_smoothing must lie in"):
        fastbce.BCELoss(label_smoothing=2)


# --------------------------------------------------------------------------------------------
# The streaming accumulator
# --------------------------------------------------------------------------------------------


def splits(n: int, rng: np.random.Generator, parts: int) -> list[tuple[int, int]]:
    cuts = np.sort(rng.choice(np.arange(1, n), size=parts - 1, replace=False))
    edges = [0, *cuts.tolist(), n]
    return list(zip(edges[:-1], edges[1:]))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("with_logits", [True, False])
def test_accumulator_matches_one_call(rng, dtype, with_logits):
    function = LOGITS if with_logits else PROBS
    n = 100_000
    x, y = data(rng, function, (n, 3), dtype)
    sample_weight = rng.uniform(0, 2, (n, 1)).astype(dtype)
    mask = rng.uniform(size=(n, 3)) < 0.9
    column_weight = np.array([1.0, 2.0, 0.5], dtype)
    pos_weight = np.array([1.5, 1.0, 3.0], dtype) if with_logits else None
    settings = dict(weight=column_weight, label_smoothing=0.05)
    if with_logits:
        settings["pos_weight"] = pos_weight
    weight = (column_weight * sample_weight).astype(dtype)
    call = dict(mask=mask, label_smoothing=0.05)
    if with_logits:
        call["pos_weight"] = pos_weight
    one_sum = float(LOSS[function](x, y, weight, reduction="sum", **call))
    one_mean = LOSS[function](x, y, weight, reduction="mean", **call)
    one_weighted = LOSS[function](x, y, weight, reduction="weighted_mean", **call)

    accs = []
    for parts in (1, 2, 7, 50):
        acc = fastbce.BCEAccumulator(with_logits, **settings)
        for a, b in splits(n, rng, parts):
            assert acc.update(x[a:b], y[a:b], weight=sample_weight[a:b], mask=mask[a:b]) is acc
        assert acc.count == int(mask.sum())
        if dtype == np.float64 and parts == 1:
            assert acc.sum == one_sum  # one batch: the one call's float64 sum, bit for bit
        # one_sum is the one call's sum rounded to the result dtype
        assert acc.sum == pytest.approx(one_sum, rel=1e-13 if dtype == np.float64 else 1e-7)
        # the one call's results are rounded to the result dtype
        rel = 1e-13 if dtype == np.float64 else 1e-7
        assert acc.mean == pytest.approx(float(one_mean), rel=rel)
        assert acc.weighted_mean == pytest.approx(float(one_weighted), rel=rel)
        assert acc.weight_sum == pytest.approx(
            float(np.sum(np.where(mask, weight, 0), dtype=np.float64)), rel=1e-13
        )
        accs.append(acc)
    if dtype == np.float32:
        # the float32 result of any split rounds to the one call's float32 mean (in practice)
        assert {np.float32(a.mean) for a in accs} == {one_mean}


def test_accumulator_order_and_grouping_do_not_matter(rng):
    batches = [data(rng, LOGITS, (int(rng.integers(0, 5000)),), np.float64) for _ in range(12)]
    batches.append((np.zeros(0), np.zeros(0)))
    singles = []
    for x, y in batches:
        acc = fastbce.BCEAccumulator()
        acc.update(x, y)
        singles.append(acc)
    results = set()
    for order in itertools.islice(itertools.permutations(range(len(batches))), 0, 200, 37):
        # sequential updates in this order
        seq = fastbce.BCEAccumulator()
        for i in order:
            seq.update(*batches[i])
        # a tree of merges in this order
        level = [pickle.loads(pickle.dumps(singles[i])) for i in order]
        while len(level) > 1:
            level = [
                level[i].merge(level[i + 1]) if i + 1 < len(level) else level[i]
                for i in range(0, len(level), 2)
            ]
        for acc in (seq, level[0]):
            results.add((acc.sum, acc.count, acc.weight_sum, acc.mean))
    assert len(results) == 1


def test_accumulator_state_and_errors():
    acc = fastbce.BCEAccumulator()
    assert acc.sum == 0.0 and acc.count == 0 and math.isnan(acc.mean) and math.isnan(acc.weighted_mean)
    acc.update(np.array([0.0, 1.0]), np.array([1.0, 0.0]))
    restored = pickle.loads(pickle.dumps(acc))
    assert (restored.sum, restored.count, restored.mean) == (acc.sum, acc.count, acc.mean)
    assert restored.sum == pytest.approx(math.log(2) + math.log1p(math.e), rel=1e-15)
    acc.reset()
    assert acc.count == 0 and acc.sum == 0.0
    with pytest.raises(ValueError, match="different loss settings"):
        fastbce.BCEAccumulator().merge(fastbce.BCEAccumulator(label_smoothing=0.1))
    with pytest.raises(ValueError, match="different loss settings"):
        fastbce.BCEAccumulator(pos_weight=[2.0]).merge(fastbce.BCEAccumulator(pos_weight=[3.0]))
    with pytest.raises(TypeError, match="other must be a BCEAccumulator"):
        fastbce.BCEAccumulator().merge(3)
    with pytest.raises(ValueError, match="pos_weight is an argument of the with-logits loss"):
        fastbce.BCEAccumulator(False, pos_weight=2.0)
    with pytest.raises(ValueError, match="all elements of input should be between 0 and 1"):
        fastbce.BCEAccumulator(False).update(np.array([2.0]), np.array([1.0]))
    with pytest.raises(ValueError, match="weight of shape"):
        fastbce.BCEAccumulator().update(np.zeros(3), np.zeros(3), weight=np.ones(2))
    with pytest.raises(TypeError, match="mask must be a boolean array"):
        fastbce.BCEAccumulator().update(np.zeros(3), np.zeros(3), mask=[1, 0, 1])
    # a failed update leaves the state as it was
    ok = fastbce.BCEAccumulator().update(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError):
        ok.update(np.zeros(3), np.zeros(4))
    assert ok.count == 3


def test_pipeline_defaults_leave_results_unchanged(rng):
    """Passing every new argument at its default is the same call as not passing it."""
    x, y = data(rng, LOGITS, (30,), np.float32)
    default: dict[str, Optional[Any]] = dict(
        mask=None, label_smoothing=0.0, axis=None, keepdims=False, out=None
    )
    for reduction in ("none", "mean", "sum"):
        np.testing.assert_array_equal(
            F.binary_cross_entropy_with_logits(x, y, reduction=reduction, **default),
            F.binary_cross_entropy_with_logits(x, y, reduction=reduction),
        )
        np.testing.assert_array_equal(
            F.binary_cross_entropy_with_logits_grad(x, y, reduction=reduction, **default),
            F.binary_cross_entropy_with_logits_grad(x, y, reduction=reduction),
        )
