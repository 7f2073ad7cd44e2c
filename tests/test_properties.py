"""Property tests: random shapes (0-4 dims), memory layouts, dtypes, broadcast weights, reductions
and extreme values, checked against an independent float64 NumPy reference.

The default profile, "quick", runs 300 examples per test (the README's test command); CI sets
FASTBCE_HYPOTHESIS_PROFILE=ci, 5,000 each.
"""

from __future__ import annotations

import os

import fastbce as fb
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

settings.register_profile(
    "ci", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "quick", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("FASTBCE_HYPOTHESIS_PROFILE", "quick"))

LOGITS = st.one_of(
    st.floats(-30, 30),
    st.floats(-1e4, 1e4),
    st.sampled_from([0.0, -0.0, 1e-8, -1e-8, 88.0, -88.0, 104.0, -104.0, 700.0, -750.0, np.inf, -np.inf]),
)
UNIT = st.one_of(st.floats(0, 1), st.sampled_from([0.0, 1.0, 1e-40, 1e-7, 0.5, 1 - 1e-7, 1 - 2**-24]))
POSITIVE = st.floats(0, 5)
DTYPES = st.sampled_from([np.float32, np.float64])
REDUCTIONS = st.sampled_from(["none", "mean", "sum"])


def rounded(values, dtype):
    """The Python floats of `values` rounded to `dtype`. Written as a function of its own: the
    hypothesis releases that still support Python 3.9 drop a plain `.map(dtype)` inside arrays()
    and then refuse the unrounded floats as not representable in float32."""
    return values.map(lambda v: dtype(v))


@st.composite
def shapes_and_operands(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5))

    def operand_shape():
        if not draw(st.booleans()):
            return None
        keep = draw(st.integers(0, len(shape)))
        tail = shape[len(shape) - keep :]
        return tuple(d if draw(st.booleans()) else 1 for d in tail)

    return shape, operand_shape(), operand_shape()


def layout(draw, values: np.ndarray) -> np.ndarray:
    """The same values in a randomly chosen memory layout."""
    kind = draw(st.sampled_from(["C", "F", "reversed", "stepped"]))
    if values.ndim == 0:
        return values  # (np.asfortranarray would make it 1-d)
    if kind == "F":
        return np.asfortranarray(values)
    if kind == "reversed":
        flipped = np.ascontiguousarray(np.flip(values))
        return np.flip(flipped)
    if kind == "stepped":
        big = np.zeros(tuple(2 * d for d in values.shape), values.dtype)
        big[tuple(slice(None, None, 2) for _ in values.shape)] = values
        return big[tuple(slice(None, None, 2) for _ in values.shape)]
    return values


def logits_reference(x, y, w, pw):
    """The formulas of docs/DESIGN.md in float64 with NumPy: both terms non-negative; exact limits
    at infinite logits."""
    with np.errstate(all="ignore"):
        a = np.abs(x)
        e = np.exp(-a)
        sp = np.log1p(e)
        coef = np.where(x < 0, pw * y, 1 - y)
        linear = np.where(coef == 0, 0.0, coef * a)
        lw = (1 - y) + pw * y  # = 1 + (pw - 1) y, without its cancellation for small pw
        loss = w * (linear + lw * sp)
        sig = 1 / (1 + np.exp(-x))
        sig_neg = 1 / (1 + np.exp(x))
        term_a, term_b = (1 - y) * sig, pw * y * sig_neg
        grad = w * (term_a - term_b)
        scale = w * (np.abs(term_a) + np.abs(term_b))
    return loss, grad, scale


def probs_reference(p, y, w):
    with np.errstate(all="ignore"):
        log_p = np.maximum(np.log(p), -100.0)
        log_q = np.maximum(np.log1p(-p), -100.0)
        loss = w * ((y - 1) * log_q - y * log_p)
        eps = float(np.float32(1e-12))
        grad = w * (p - y) / np.maximum(p * (1 - p), eps)
        scale = np.abs(grad) + w * (np.abs(p) + np.abs(y)) / np.maximum(p * (1 - p), eps)
    return loss, grad, scale


def tolerance(dtype):
    return 1e-5 if dtype == np.float32 else 1e-12


def check(got, want, scale, dtype):
    """`got` within the dtype's tolerance of `want`, relative to `scale`, plus a floor below the
    dtype's smallest normal number; NaN matches NaN and an infinity itself."""
    tiny = 1e-37 if dtype == np.float32 else 1e-300
    got = np.asarray(got, np.float64)
    want = np.broadcast_to(want, got.shape)
    scale = np.broadcast_to(scale, got.shape)
    both_nan = np.isnan(got) & np.isnan(want)
    same_inf = np.isinf(want) & (got == want)
    with np.errstate(invalid="ignore"):
        close = np.abs(got - want) <= tolerance(dtype) * np.abs(scale) + tiny
    ok = both_nan | same_inf | close
    assert ok.all(), (got[~ok], want[~ok])


def reduce(values, reduction):
    if reduction == "none":
        return values
    total = values.sum(dtype=np.float64)
    if reduction == "sum":
        return total
    return total / values.size if values.size else np.nan


def check_loss_and_grad(loss, grad, ref_loss, ref_grad, grad_scale, shape, dtype, reduction):
    """Per-element losses are their own scale (both terms of each are non-negative); a reduction
    of finite losses is checked against their float64 sum; the gradient against the reference's,
    relative to the size of its terms."""
    ref_loss = np.broadcast_to(ref_loss, shape)
    if reduction == "none":
        check(loss, ref_loss, ref_loss, dtype)
    elif np.isfinite(ref_loss).all():
        want = reduce(ref_loss, reduction)
        check(loss, want, want, dtype)
    n = max(np.prod(shape, dtype=np.int64), 1)
    g_scale = 1.0 / n if reduction == "mean" else 1.0
    check(grad, ref_grad * g_scale, grad_scale * g_scale, dtype)


@given(data=st.data(), dtype=DTYPES, reduction=REDUCTIONS)
def test_with_logits_matches_reference(data, dtype, reduction):
    shape, wshape, pwshape = data.draw(shapes_and_operands())
    x = data.draw(hnp.arrays(dtype, shape, elements=rounded(LOGITS, dtype)))
    y = data.draw(hnp.arrays(dtype, shape, elements=rounded(UNIT, dtype)))
    w = None if wshape is None else data.draw(hnp.arrays(dtype, wshape, elements=rounded(POSITIVE, dtype)))
    pw = None if pwshape is None else data.draw(hnp.arrays(dtype, pwshape, elements=rounded(POSITIVE, dtype)))
    xl, yl = layout(data.draw, x), layout(data.draw, y)
    before = (xl.tobytes(), yl.tobytes())

    loss, grad = fb.binary_cross_entropy_with_logits_value_and_grad(
        xl, yl, weight=w, pos_weight=pw, reduction=reduction
    )
    assert xl.tobytes() == before[0] and yl.tobytes() == before[1]
    assert np.asarray(loss).dtype == dtype and grad.dtype == dtype and grad.shape == shape

    f64 = lambda a, default: np.float64(default) if a is None else a.astype(np.float64)  # noqa: E731
    ref_loss, ref_grad, grad_scale = logits_reference(
        x.astype(np.float64), y.astype(np.float64), f64(w, 1.0), f64(pw, 1.0)
    )
    check_loss_and_grad(loss, grad, ref_loss, ref_grad, grad_scale, shape, dtype, reduction)


@given(data=st.data(), dtype=DTYPES, reduction=REDUCTIONS)
def test_on_probabilities_matches_reference(data, dtype, reduction):
    shape, wshape, _ = data.draw(shapes_and_operands())
    p = data.draw(hnp.arrays(dtype, shape, elements=rounded(UNIT, dtype)))
    y = data.draw(hnp.arrays(dtype, shape, elements=rounded(UNIT, dtype)))
    w = None if wshape is None else data.draw(hnp.arrays(dtype, wshape, elements=rounded(POSITIVE, dtype)))
    pl, yl = layout(data.draw, p), layout(data.draw, y)

    loss, grad = fb.binary_cross_entropy_value_and_grad(pl, yl, weight=w, reduction=reduction)
    assert np.asarray(loss).dtype == dtype and grad.shape == shape

    w64 = np.float64(1.0) if w is None else w.astype(np.float64)
    ref_loss, ref_grad, grad_scale = probs_reference(p.astype(np.float64), y.astype(np.float64), w64)
    check_loss_and_grad(loss, grad, ref_loss, ref_grad, grad_scale, shape, dtype, reduction)
