"""Per-element accuracy against exact values (mpmath, 60 digits), at every instruction-set level.

docs/DESIGN.md, "Accuracy": the loss within 4 ulp of the exact value, each gradient within 4 ulp
of its larger term, for float32 and float64, over the whole range: |x| up to 1e4, the edges where
the kernels change method (|x| = 80 for float32, 708 for float64), subnormal results, and soft
labels next to 0 and 1.
The exact values are of the inputs as stored (float32 inputs are exact float64s too).
"""

from __future__ import annotations

import fastbce
import mpmath
import numpy as np
import pytest

mp = mpmath.mp.clone()
mp.dps = 60

ULPS = 4
N = 1500


def logits_groups(dtype: type, rng: np.random.Generator) -> dict[str, tuple[np.ndarray, ...]]:
    """Logits by range of magnitude, each range a call of its own: the kernels compute a block of
    256 holding any |x| past 80 (float32) or 708 (float64) again by a general method, so a range
    mixed into others would hide the fast path."""
    ranges = {
        "|x| in [1e-8, 30]": 10.0 ** rng.uniform(-8, np.log10(30), N),
        "|x| in [30, 100]": rng.uniform(30, 100, N // 3),  # float32: log1p(e) = e; the edge at 80
        "|x| in [700, 750]": rng.uniform(700, 750, N // 3),  # float64: exp(-|x|) subnormal, the edge
        "|x| in [100, 1e4]": 10.0 ** rng.uniform(2, 4, N // 3),
    }
    groups = {}
    for name, magnitude in ranges.items():
        n = magnitude.size
        x = magnitude * rng.choice([-1.0, 1.0], n)
        tiny = 10.0 ** rng.uniform(-12, -3, n)
        # A fifth each: the label x's sign predicts (the loss is then about exp(-|x|), subnormal
        # past 708 in float64), a random hard label, a uniform one, one next to 0, one next to 1.
        kind = rng.integers(0, 5, n)
        y = np.choose(kind, [(x > 0).astype(float), rng.integers(0, 2, n), rng.random(n), tiny, 1.0 - tiny])
        # Weights far from 1 too: past 708 they multiply a subnormal exp(-|x|) and its rounding.
        w = 10.0 ** rng.uniform(-2, 2, n)
        pw = 10.0 ** rng.uniform(-2, 2, n)
        groups[name] = tuple(a.astype(dtype) for a in (x, y, w, pw))
    return groups


def probabilities_sample(dtype: type, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Probabilities uniform, next to 0 (down to where the log clamps at -100) and next to 1."""
    tiny = 10.0 ** rng.uniform(-40, -1, N)
    p = np.concatenate([rng.random(N), tiny, 1.0 - tiny])
    n = p.size
    y = np.where(rng.random(n) < 0.5, rng.integers(0, 2, n).astype(float), rng.random(n))
    w = rng.uniform(0.1, 3.0, n)
    return tuple(a.astype(dtype) for a in (p, y, w))


def softplus(z: mpmath.mpf) -> mpmath.mpf:
    """log(1 + exp(z))."""
    return mp.log1p(mp.exp(z))


def logits_exact(x: float, y: float, w: float, pw: float) -> tuple[mpmath.mpf, ...]:
    """(loss, the input gradient's two terms, the target gradient's two terms), each gradient
    being the first term minus the second."""
    x, y, w, pw = (mp.mpf(float(v)) for v in (x, y, w, pw))
    sp_neg, sp_pos = softplus(-x), softplus(x)  # -log sigmoid(x), -log sigmoid(-x)
    loss = w * (pw * y * sp_neg + (1 - y) * sp_pos)
    sig_pos, sig_neg = 1 / (1 + mp.exp(-x)), 1 / (1 + mp.exp(x))  # sigmoid(x), sigmoid(-x)
    return loss, w * (1 - y) * sig_pos, w * pw * y * sig_neg, w * pw * sp_neg, w * sp_pos


def probabilities_exact(p: float, y: float, w: float) -> tuple[mpmath.mpf, ...]:
    p, y, w = (mp.mpf(float(v)) for v in (p, y, w))
    log_p = mp.log(p) if p > 0 else mp.mpf("-inf")
    log_q = mp.log1p(-p) if p < 1 else mp.mpf("-inf")
    loss = w * ((y - 1) * max(log_q, -100) - y * max(log_p, -100))
    den = max(p * (1 - p), mp.mpf(float(np.float32(1e-12))))
    return loss, w * p / den, w * y / den, w * log_q, w * log_p


def ulps_off(got: np.ndarray, exact: list, scale: list, dtype: type) -> np.ndarray:
    """|got - exact| in ulps (of `dtype`) of `scale`, the exact value or a larger term."""
    err = np.array([float(abs(mp.mpf(float(g)) - e)) for g, e in zip(got, exact)])
    unit = np.spacing(np.array([abs(float(s)) for s in scale]).astype(dtype)).astype(np.float64)
    return err / unit


def assert_within(what: str, off: np.ndarray, inputs: tuple[np.ndarray, ...]) -> None:
    worst = int(np.argmax(off))
    at = ", ".join(f"{v[worst]!r}" for v in inputs)
    assert off[worst] <= ULPS, f"{what}: {off[worst]:.2f} ulp at ({at})"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logits_loss_and_gradients(dtype, simd_level):
    rng = np.random.default_rng([7, np.dtype(dtype).itemsize])
    for group, inputs in logits_groups(dtype, rng).items():
        x, y, w, pw = inputs
        exact = [logits_exact(*row) for row in zip(x, y, w, pw)]
        loss, g_input = fastbce.binary_cross_entropy_with_logits_value_and_grad(
            x, y, weight=w, pos_weight=pw, reduction="none"
        )
        g_target = fastbce.binary_cross_entropy_with_logits_grad(
            x, y, weight=w, pos_weight=pw, reduction="none", wrt="target"
        )
        assert loss.dtype == g_input.dtype == g_target.dtype == dtype
        losses = [e[0] for e in exact]
        assert_within(f"{group}: loss", ulps_off(loss, losses, losses, dtype), inputs)
        d_input = [e[1] - e[2] for e in exact]
        larger = [max(e[1], e[2]) for e in exact]
        assert_within(f"{group}: input gradient", ulps_off(g_input, d_input, larger, dtype), inputs)
        d_target = [e[3] - e[4] for e in exact]
        larger = [max(e[3], e[4]) for e in exact]
        assert_within(f"{group}: target gradient", ulps_off(g_target, d_target, larger, dtype), inputs)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_probabilities_loss_and_gradients(dtype, simd_level):
    rng = np.random.default_rng([8, np.dtype(dtype).itemsize])
    p, y, w = inputs = probabilities_sample(dtype, rng)
    exact = [probabilities_exact(*row) for row in zip(p, y, w)]
    loss, g_input = fastbce.binary_cross_entropy_value_and_grad(p, y, weight=w, reduction="none")
    g_target = fastbce.binary_cross_entropy_grad(p, y, weight=w, reduction="none", wrt="target")
    losses = [e[0] for e in exact]
    assert_within("loss", ulps_off(loss, losses, losses, dtype), inputs)
    d_input = [e[1] - e[2] for e in exact]
    larger = [max(e[1], e[2]) for e in exact]
    assert_within("input gradient", ulps_off(g_input, d_input, larger, dtype), inputs)
    # Past p = 1 - 2^-53 (or 0 rounded up) a log is infinite: compare where both are finite.
    finite = np.array([mpmath.isfinite(e[3]) and mpmath.isfinite(e[4]) for e in exact])
    d_target = [e[3] - e[4] for e, f in zip(exact, finite) if f]
    larger = [max(abs(e[3]), abs(e[4])) for e, f in zip(exact, finite) if f]
    off = ulps_off(g_target[finite], d_target, larger, dtype)
    assert_within("target gradient", off, tuple(v[finite] for v in inputs))
