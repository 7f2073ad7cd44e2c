"""One answer per element (docs/DESIGN.md, "One answer per element"): the loss call, the gradient
calls and value_and_grad give the same bits for an element, whatever else the call asks for, with
every dtype, label kind, weight, pos_weight and mask, at every instruction-set level; and the
float32 loss on probabilities is within the accuracy bound on every path."""

from __future__ import annotations

import itertools
from typing import Any

import fastbce
import numpy as np
import pytest
from conftest import LOGITS, PROBS, assert_identical, elementwise

DTYPES = [np.float16, np.float32, np.float64]
LABELS = ["hard", "soft", "smoothed", "outside"]


def problem(rng: np.random.Generator, function: str, dtype: Any, labels: str, n: int = 3000):
    x = rng.standard_normal(n) * 6 if function == LOGITS else rng.uniform(0, 1, n)
    # extremes, which the kernels recompute element by element
    x[::97] = rng.choice([90.0, -90.0, 800.0, -800.0], size=x[::97].shape) if function == LOGITS else x[::97]
    if labels == "hard":
        y = (rng.uniform(size=n) < 0.5).astype(np.float64)
    elif labels == "outside" and function == LOGITS:
        y = rng.uniform(-1.5, 2.5, n)  # targets outside [0, 1] are accepted with logits
    else:
        y = rng.uniform(0, 1, n)
    y[::13] = rng.choice([0.0, 1.0], size=y[::13].shape)  # hard and soft labels in every block
    return x.astype(dtype), y.astype(dtype)


def options(rng: np.random.Generator, function: str, labels: str, n: int, case: str) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    if labels == "smoothed":
        kw["label_smoothing"] = 0.1
    if case in ("weight", "all"):
        kw["weight"] = rng.uniform(0.1, 3, n)
    if case in ("pos_weight", "all") and function == LOGITS:
        kw["pos_weight"] = rng.uniform(0.1, 4, n)
    if case in ("mask", "all"):
        kw["mask"] = rng.uniform(size=n) < 0.8
    return kw


CASES = ["plain", "weight", "pos_weight", "mask", "all"]


# Targets outside [0, 1] are accepted with logits only.
KINDS = [(f, labels) for f in (LOGITS, PROBS) for labels in LABELS if (f, labels) != (PROBS, "outside")]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("function,labels", KINDS)
def test_every_path_gives_the_same_bits(function, labels, dtype, case, simd_level, rng):
    x, y = problem(rng, function, dtype, labels)
    kw = options(rng, function, labels, x.size, case)
    f = getattr(fastbce, function)
    grad = getattr(fastbce, function + "_grad")
    vag = getattr(fastbce, function + "_value_and_grad")
    losses = f(x, y, reduction="none", **kw)
    go = rng.uniform(-2, 2, x.size).astype(dtype)
    for wrt in ("input", "target"):
        loss_beside, g = vag(x, y, reduction="none", wrt=wrt, grad_output=go, **kw)
        assert_identical(loss_beside, losses, f"loss beside the {wrt} gradient")
        assert_identical(grad(x, y, reduction="none", wrt=wrt, grad_output=go, **kw), g, f"{wrt} gradient")
        for reduction in ("mean", "sum"):
            total = f(x, y, reduction=reduction, **kw)
            total_beside, g_reduced = vag(x, y, reduction=reduction, wrt=wrt, **kw)
            assert_identical(total_beside, total, f"{reduction} beside the {wrt} gradient")
            assert_identical(grad(x, y, reduction=reduction, wrt=wrt, **kw), g_reduced, f"{reduction} {wrt}")
    if function == LOGITS and labels != "outside":
        g, h = fastbce.binary_cross_entropy_with_logits_grad_hess(x, y, **kw)
        _, g_alone = vag(x, y, reduction="none", **kw)
        assert_identical(g, g_alone, "grad_hess's gradient")
    # An element's results do not depend on its neighbours: the same elements in another order,
    # and one at a time, give the same bits.
    order = rng.permutation(x.size)
    shuffled = {k: (v[order] if isinstance(v, np.ndarray) else v) for k, v in kw.items()}
    assert_identical(f(x[order], y[order], reduction="none", **shuffled), losses[order], "reordered")
    for i in range(0, x.size, 311):
        one = {k: (v[i : i + 1] if isinstance(v, np.ndarray) else v) for k, v in kw.items()}
        assert_identical(
            f(x[i : i + 1], y[i : i + 1], reduction="none", **one), losses[i : i + 1], f"element {i}"
        )


def ulps32(got: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """Distance in float32 ulps of the exact value (float64), at its float32 magnitude."""
    exact32 = exact.astype(np.float32)
    spacing = np.spacing(np.abs(exact32)).astype(np.float64)
    return np.abs(got.astype(np.float64) - exact) / spacing


@pytest.mark.parametrize("labels", ["hard", "soft", "smoothed"])
def test_float32_probability_loss_within_its_bound_on_every_path(labels, simd_level, rng):
    """≤ 4 ulp (docs/DESIGN.md, "Accuracy") from the float64 value on the same float32 data, from
    the loss call, value_and_grad beside either gradient, and a masked or weighted call."""
    n = 20000
    p = np.concatenate(
        [rng.uniform(0, 1, n), 10.0 ** rng.uniform(-30, -1, n), 1 - 10.0 ** rng.uniform(-7, -1, n)]
    )
    p = p.astype(np.float32)
    y = (
        (rng.uniform(size=p.size) < 0.5).astype(np.float32)
        if labels == "hard"
        else rng.uniform(0, 1, p.size).astype(np.float32)
    )
    eps = 0.1 if labels == "smoothed" else 0.0
    w = rng.uniform(0.5, 2, p.size).astype(np.float32)
    smoothed = (y.astype(np.float64) * float(np.float32(1 - eps)) + float(np.float32(eps / 2))).astype(
        np.float32
    )
    exact, _, _ = elementwise(PROBS, p.astype(np.float64), smoothed.astype(np.float64), w.astype(np.float64))
    paths = {
        "loss": fastbce.binary_cross_entropy(p, y, w, reduction="none", label_smoothing=eps),
        "beside input gradient": fastbce.binary_cross_entropy_value_and_grad(
            p, y, w, reduction="none", label_smoothing=eps
        )[0],
        "beside target gradient": fastbce.binary_cross_entropy_value_and_grad(
            p, y, w, reduction="none", wrt="target", label_smoothing=eps
        )[0],
    }
    for name, got in paths.items():
        worst = ulps32(got, exact).max()
        assert worst <= 4, f"{name}: {worst:.2f} ulp"


def test_thread_counts_and_layouts_keep_per_element_bits(restore_threads, rng):
    """Per element, the same bits for any thread count and memory layout (many chunks)."""
    x = (rng.standard_normal((400, 300)) * 5).astype(np.float32)
    y = rng.uniform(0, 1, (400, 300)).astype(np.float32)
    w = rng.uniform(0.5, 2, 300).astype(np.float32)
    want = fastbce.binary_cross_entropy_with_logits_value_and_grad(x, y, w, reduction="none")
    for threads, layout in itertools.product([1, 2, 3], ["C", "F", "strided"]):
        fastbce.set_num_threads(threads)
        xs, ys = {
            "C": (x, y),
            "F": (np.asfortranarray(x), np.asfortranarray(y)),
            "strided": (np.repeat(x, 2, axis=1)[:, ::2], np.repeat(y, 2, axis=1)[:, ::2]),
        }[layout]
        got = fastbce.binary_cross_entropy_with_logits_value_and_grad(xs, ys, w, reduction="none")
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b, err_msg=f"{threads} threads, {layout}")
