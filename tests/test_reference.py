"""fastbce beyond the recorded PyTorch cases, against the float64 reference of conftest.py (the
formulas of docs/DESIGN.md), central finite differences, and its own results on contiguous copies."""

from __future__ import annotations

import math
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any, Callable

import fastbce
import numpy as np
import pytest
from conftest import (
    FUNCTIONS,
    LOGITS,
    PROBS,
    REDUCTIONS,
    assert_close,
    assert_identical,
    elementwise,
    random_input,
    random_target,
    reference,
    reference_loss,
)


def api(function: str) -> SimpleNamespace:
    return SimpleNamespace(
        loss=getattr(fastbce, function),
        grad=getattr(fastbce, function + "_grad"),
        value_and_grad=getattr(fastbce, function + "_value_and_grad"),
        cls=fastbce.BCEWithLogitsLoss if function == LOGITS else fastbce.BCELoss,
    )


def everything(
    function: str,
    x: Any,
    y: Any,
    weight: Any = None,
    pos_weight: Any = None,
    reduction: str = "mean",
    grad_output: Any = 1.0,
) -> dict[str, Any]:
    """Every result fastbce gives for one call: loss, both gradients, both value_and_grad."""
    f = api(function)
    kw: dict[str, Any] = {"reduction": reduction}
    if weight is not None:
        kw["weight"] = weight
    if pos_weight is not None:
        kw["pos_weight"] = pos_weight
    out = {"loss": f.loss(x, y, **kw)}
    for wrt in ("input", "target"):
        out[f"grad_{wrt}"] = f.grad(x, y, grad_output=grad_output, wrt=wrt, **kw)
        loss, g = f.value_and_grad(x, y, grad_output=grad_output, wrt=wrt, **kw)
        out[f"vag_loss_{wrt}"] = loss
        out[f"vag_grad_{wrt}"] = g
    return out


def check_against_reference(
    results: dict[str, Any],
    function: str,
    x: Any,
    y: Any,
    weight: Any = None,
    pos_weight: Any = None,
    reduction: str = "mean",
    grad_output: Any = 1.0,
    dtype: Any = None,
    what: str = "",
) -> None:
    x_arr = np.asarray(x)
    dtype = np.dtype(dtype) if dtype is not None else np.asarray(results["loss"]).dtype
    ref_loss, ref_gx, ref_gy = reference(function, x, y, weight, pos_weight, reduction, grad_output)
    expected = {
        "loss": ref_loss,
        "vag_loss_input": ref_loss,
        "vag_loss_target": ref_loss,
        "grad_input": ref_gx,
        "vag_grad_input": ref_gx,
        "grad_target": ref_gy,
        "vag_grad_target": ref_gy,
    }
    for key, value in results.items():
        arr = np.asarray(value)
        assert arr.dtype == dtype, f"{what} {key}: dtype {arr.dtype} != {dtype}"
        if key.startswith("grad") or key.startswith("vag_grad"):
            assert arr.shape == x_arr.shape, f"{what} {key}: shape {arr.shape} != input {x_arr.shape}"
        elif reduction == "none":
            assert isinstance(value, np.ndarray), f"{what} {key}: {type(value)}"
            assert arr.shape == x_arr.shape, f"{what} {key}: shape {arr.shape}"
        else:
            assert isinstance(value, np.generic), f"{what} {key}: a NumPy scalar, got {type(value)}"
        assert_close(arr, expected[key], dtype, err_msg=f"{what} {key}")


def check_identical(results: dict[str, Any], expected: dict[str, Any], what: str = "") -> None:
    for key in expected:
        assert type(results[key]) is type(expected[key]), f"{what} {key}"
        assert_identical(results[key], expected[key], err_msg=f"{what} {key}")


# --------------------------------------------------------------------------------------------
# Random shapes, 0-d to 4-d, empty included
# --------------------------------------------------------------------------------------------

SHAPES = [
    (),
    (1,),
    (0,),
    (7,),
    (3, 0),
    (4, 7),
    (2, 3, 4),
    (2, 0, 3),
    (2, 3, 4, 5),
    (1, 1, 1, 1),
    (3000,),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_random_shapes(shape, function, dtype, reduction, rng):
    x = random_input(rng, function, shape).astype(dtype)
    y = random_target(rng, shape, soft=bool(rng.integers(2))).astype(dtype)
    go = rng.uniform(-1, 1, shape).astype(dtype) if reduction == "none" else dtype(1.3)
    results = everything(function, x, y, reduction=reduction, grad_output=go)
    check_against_reference(results, function, x, y, reduction=reduction, grad_output=go, dtype=dtype)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("function", FUNCTIONS)
def test_weighted_random(function, dtype, reduction, rng):
    shape = (5, 6, 7)
    x = random_input(rng, function, shape).astype(dtype)
    y = random_target(rng, shape).astype(dtype)
    w = rng.uniform(0, 2, shape).astype(dtype)
    pw = rng.uniform(0.2, 5, (7,)).astype(dtype) if function == LOGITS else None
    go = rng.uniform(-1, 1, shape).astype(dtype) if reduction == "none" else dtype(0.7)
    results = everything(function, x, y, w, pw, reduction=reduction, grad_output=go)
    check_against_reference(results, function, x, y, w, pw, reduction=reduction, grad_output=go, dtype=dtype)


# --------------------------------------------------------------------------------------------
# Memory layouts: the same answer as on contiguous copies, bit for bit
# --------------------------------------------------------------------------------------------


def full_reverse(a: np.ndarray) -> np.ndarray:
    return a[(slice(None, None, -1),) * a.ndim]


def lay_out(v: np.ndarray, layout: str) -> np.ndarray:
    """An array equal to ``v`` in another memory layout."""
    v = np.ascontiguousarray(v)
    if layout == "transposed":  # swap first and last axes in memory: neither C nor F order for 3-d
        return np.ascontiguousarray(np.swapaxes(v, 0, -1)).swapaxes(0, -1)
    if layout == "fortran":
        return np.asfortranarray(v)
    if layout == "stepped":
        base = np.full(tuple(2 * d + 1 for d in v.shape), np.nan, dtype=v.dtype)
        view = base[(slice(1, None, 2),) * v.ndim]
        view[...] = v
        return view
    if layout == "negative":
        return full_reverse(np.ascontiguousarray(full_reverse(v)))
    if layout == "negative_stepped":
        base = np.full(tuple(2 * d + 1 for d in v.shape), np.nan, dtype=v.dtype)
        view = base[(slice(-2, None, -2),) * v.ndim]
        view[...] = v
        return view
    if layout == "unaligned":
        buf = np.zeros(v.nbytes + 1, dtype=np.uint8)
        out = buf[1:].view(v.dtype).reshape(v.shape)
        out[...] = v
        return out
    raise AssertionError(layout)


LAYOUT_SHAPES = {
    "transposed": [(6, 5), (3, 4, 5)],
    "fortran": [(6, 5), (3, 4, 5)],
    "stepped": [(17,), (6, 5), (3, 4, 5), (257, 300)],
    "negative": [(17,), (6, 5), (3, 4, 5), (257, 300)],
    "negative_stepped": [(17,), (3, 4, 5)],
    "unaligned": [(17,), (6, 5)],
}
LAYOUT_PARAMS = [(layout, shape) for layout, shapes in LAYOUT_SHAPES.items() for shape in shapes]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("layout,shape", LAYOUT_PARAMS, ids=[f"{la}-{s}" for la, s in LAYOUT_PARAMS])
def test_layouts(layout, shape, function, dtype, reduction, rng):
    x = random_input(rng, function, shape).astype(dtype)
    y = random_target(rng, shape).astype(dtype)
    w = rng.uniform(0, 2, shape).astype(dtype)
    pw = rng.uniform(0.2, 5, shape).astype(dtype) if function == LOGITS else None
    go = rng.uniform(-1, 1, shape).astype(dtype) if reduction == "none" else 1.0

    expected = everything(function, x, y, w, pw, reduction, go)
    check_against_reference(expected, function, x, y, w, pw, reduction, go, dtype=dtype)

    xs, ys, ws = (lay_out(a, layout) for a in (x, y, w))
    pws = None if pw is None else lay_out(pw, layout)
    gos = lay_out(go, layout) if reduction == "none" else go
    if layout == "unaligned":
        assert not xs.flags.aligned
    else:
        assert not xs.flags.c_contiguous
    np.testing.assert_array_equal(xs, x)
    results = everything(function, xs, ys, ws, pws, reduction, gos)
    if reduction == "none":
        check_identical(results, expected, f"{layout}")
        return
    # Arrays are read in their memory order: per element the same bits, and a mean or sum adds
    # the same float64 losses in that order (docs/DESIGN.md, "Reductions").
    for key in expected:
        if key.startswith("grad") or key.startswith("vag_grad"):
            assert_identical(results[key], expected[key], err_msg=f"{layout} {key}")
        else:
            assert type(results[key]) is type(expected[key]), f"{layout} {key}"
            np.testing.assert_allclose(results[key], expected[key], rtol=4 * np.finfo(dtype).eps)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_zero_stride_views(function, rng):
    """np.broadcast_to views (zero strides, read-only) as weight, target and grad_output."""
    shape = (40, 9)
    x = random_input(rng, function, shape)
    y_row = random_target(rng, (9,))
    w_row = rng.uniform(0, 2, (9,))
    go_row = rng.uniform(-1, 1, (9,))
    y = np.broadcast_to(y_row, shape)
    w = np.broadcast_to(w_row, shape)
    go = np.broadcast_to(go_row, shape)
    for reduction in REDUCTIONS:
        g = go if reduction == "none" else 1.0
        results = everything(function, x, y, w, None, reduction, g)
        expected = everything(
            function,
            x,
            y.copy(),
            w.copy(),
            None,
            reduction,
            g if reduction != "none" else go.copy(),
        )
        check_identical(results, expected, f"broadcast views {reduction}")
        check_against_reference(results, function, x, y, w, None, reduction, g)


def test_big_endian(rng):
    x = random_input(rng, LOGITS, (33,))
    y = random_target(rng, (33,))
    expected = everything(LOGITS, x, y, reduction="none")
    results = everything(LOGITS, x.astype(">f8"), y.astype(">f8"), reduction="none")
    for key, value in expected.items():
        np.testing.assert_array_equal(np.asarray(results[key], dtype=np.float64), value, err_msg=key)


# --------------------------------------------------------------------------------------------
# weight / pos_weight broadcasting
# --------------------------------------------------------------------------------------------


def weight_patterns(shape: tuple[int, ...]) -> dict[str, Callable[[np.random.Generator], Any]]:
    C = shape[-1]
    pats: dict[str, Callable[[np.random.Generator], Any]] = {
        "same": lambda r: r.uniform(0, 2, shape),
        "last_dim": lambda r: r.uniform(0, 2, (C,)),
        "row": lambda r: r.uniform(0, 2, (1, C)),
        "column": lambda r: r.uniform(0, 2, shape[:-1] + (1,)),
        "python_scalar": lambda r: float(r.uniform(0, 2)),
        "zero_d": lambda r: np.array(r.uniform(0, 2)),
        "one": lambda r: r.uniform(0, 2, (1,)),
        "ones_2d": lambda r: r.uniform(0, 2, (1, 1)),
        "list": lambda r: r.uniform(0, 2, (C,)).tolist(),
    }
    if len(shape) == 3:
        pats["inner_2d"] = lambda r: r.uniform(0, 2, shape[1:])
        pats["leading"] = lambda r: r.uniform(0, 2, (shape[0], 1, 1))
        pats["mixed"] = lambda r: r.uniform(0, 2, (shape[0], 1, C))
    return pats


BROADCAST_SHAPES = [(7, 5), (2, 7, 5)]
BROADCAST_PARAMS = [(s, p) for s in BROADCAST_SHAPES for p in weight_patterns(s)]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("shape,pattern", BROADCAST_PARAMS, ids=[f"{s}-{p}" for s, p in BROADCAST_PARAMS])
def test_weight_broadcast(shape, pattern, function, dtype, reduction, rng):
    x = random_input(rng, function, shape).astype(dtype)
    y = random_target(rng, shape).astype(dtype)
    w = weight_patterns(shape)[pattern](rng)
    if isinstance(w, np.ndarray):
        w = w.astype(dtype)
    go = rng.uniform(-1, 1, shape).astype(dtype) if reduction == "none" else 2.0
    results = everything(function, x, y, weight=w, reduction=reduction, grad_output=go)
    w_ref = np.asarray(w, dtype=dtype)  # the reference sees the weight at the case's precision
    check_against_reference(results, function, x, y, w_ref, None, reduction, go, dtype=dtype)
    crit = api(function).cls(weight=w, reduction=reduction)
    assert_identical(crit(x, y), results["loss"], "module with broadcast weight")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,pattern", BROADCAST_PARAMS, ids=[f"{s}-{p}" for s, p in BROADCAST_PARAMS])
def test_pos_weight_broadcast(shape, pattern, dtype, reduction, rng):
    x = random_input(rng, LOGITS, shape).astype(dtype)
    y = random_target(rng, shape).astype(dtype)
    pw = weight_patterns(shape)[pattern](rng)
    if isinstance(pw, np.ndarray):
        pw = (pw * 2.0).astype(dtype)
    elif isinstance(pw, list):
        pw = [2.0 * v for v in pw]
    else:
        pw = 2.0 * pw
    w = rng.uniform(0, 2, (shape[-1],)).astype(dtype)
    go = rng.uniform(-1, 1, shape).astype(dtype) if reduction == "none" else 0.5
    results = everything(LOGITS, x, y, weight=w, pos_weight=pw, reduction=reduction, grad_output=go)
    pw_ref = np.asarray(pw, dtype=dtype)
    check_against_reference(results, LOGITS, x, y, w, pw_ref, reduction, go, dtype=dtype)
    crit = fastbce.BCEWithLogitsLoss(weight=w, pos_weight=pw, reduction=reduction)
    assert_identical(crit(x, y), results["loss"], "module with broadcast pos_weight")


def test_weight_dtype_does_not_change_result_dtype(rng):
    """The result dtype is that of input and target; a float64 weight does not promote it."""
    x = rng.standard_normal((4, 3)).astype(np.float32)
    y = rng.uniform(0, 1, (4, 3)).astype(np.float32)
    w = rng.uniform(0, 2, (3,))
    for reduction in REDUCTIONS:
        res = everything(LOGITS, x, y, w, w, reduction)
        for key, value in res.items():
            assert np.asarray(value).dtype == np.float32, key
        check_against_reference(res, LOGITS, x, y, w.astype(np.float32), w.astype(np.float32), reduction)


# --------------------------------------------------------------------------------------------
# dtypes: float16, integer and bool, Python lists, np.result_type
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("function", FUNCTIONS)
def test_float16(function, reduction, rng):
    shape = (6, 7)
    x = random_input(rng, function, shape).astype(np.float16)
    y = random_target(rng, shape).astype(np.float16)
    w = rng.uniform(0, 2, (7,)).astype(np.float16)
    go = rng.uniform(-1, 1, shape).astype(np.float16) if reduction == "none" else np.float16(1.5)
    results = everything(function, x, y, w, None, reduction, go)
    for key, value in results.items():
        assert np.asarray(value).dtype == np.float16, key
        if reduction != "none" and "loss" in key:
            assert type(value) is np.float16, key
    check_against_reference(results, function, x, y, w, None, reduction, go, dtype=np.float16)
    # computed in float32, returned as float16
    f32 = everything(
        function,
        x.astype(np.float32),
        y.astype(np.float32),
        w.astype(np.float32),
        None,
        reduction,
        np.asarray(go).astype(np.float32),
    )
    for key, value in results.items():
        if reduction != "none" and "loss" in key:
            # a float64 accumulation may round once or twice: checked against the reference
            continue
        assert_identical(value, np.asarray(f32[key]).astype(np.float16), key)


def test_float16_overflow_is_inf_without_warning():
    """A float16 result too large for float16 is inf (the correctly rounded value), quietly."""
    p = np.array([0.0, 1.0, 0.5], np.float16)
    y = np.array([1.0, 0.0, 0.5], np.float16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = fastbce.binary_cross_entropy_grad(p, y, reduction="none")
    assert g.dtype == np.float16
    np.testing.assert_array_equal(g, np.array([-np.inf, np.inf, 0.0], np.float16))


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("target_dtype", [np.bool_, np.int8, np.uint8, np.int16, np.int32, np.int64])
@pytest.mark.parametrize("input_dtype", [np.float16, np.float32, np.float64])
def test_integer_and_bool_targets(input_dtype, target_dtype, function, rng):
    shape = (5, 4)
    x = random_input(rng, function, shape).astype(input_dtype)
    y = rng.integers(0, 2, shape).astype(target_dtype)
    expected_dtype = np.result_type(input_dtype, target_dtype)
    assert expected_dtype.kind == "f"
    for reduction in REDUCTIONS:
        results = everything(function, x, y, reduction=reduction)
        check_against_reference(results, function, x, y, reduction=reduction, dtype=expected_dtype)
        # the same as with the labels given in the result dtype
        as_float = everything(
            function, x.astype(expected_dtype), y.astype(expected_dtype), reduction=reduction
        )
        check_identical(results, as_float, f"labels {np.dtype(target_dtype)}")


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("dtype", [np.bool_, np.int8, np.int32, np.int64, np.uint16])
def test_integer_inputs_compute_in_float64(dtype, function, rng):
    shape = (3, 5)
    if function == LOGITS and dtype != np.bool_:
        x = (
            rng.integers(-20, 20, shape).astype(dtype)
            if np.dtype(dtype).kind == "i"
            else rng.integers(0, 40, shape).astype(dtype)
        )
    else:
        x = rng.integers(0, 2, shape).astype(dtype)
    y = rng.integers(0, 2, shape).astype(dtype)
    for reduction in REDUCTIONS:
        results = everything(function, x, y, reduction=reduction)
        check_against_reference(results, function, x, y, reduction=reduction, dtype=np.float64)
        as_float = everything(function, x.astype(np.float64), y.astype(np.float64), reduction=reduction)
        check_identical(results, as_float, f"input {np.dtype(dtype)}")


@pytest.mark.parametrize("function", FUNCTIONS)
def test_python_lists_and_scalars(function):
    x = [[0.2, 0.9, 0.5], [0.01, 0.7, 1.0]]
    y = [[0, 1, 1], [0, 0.5, 1]]
    w = [1.0, 2.0, 0.5]
    pw = [3.0, 1.0, 0.2] if function == LOGITS else None
    for reduction in REDUCTIONS:
        results = everything(function, x, y, w, pw, reduction)
        check_against_reference(results, function, x, y, w, pw, reduction, dtype=np.float64)
        arrays = everything(
            function,
            np.array(x),
            np.array(y, dtype=float),
            np.array(w),
            None if pw is None else np.array(pw),
            reduction,
        )
        check_identical(results, arrays, "lists")
    # Python scalars: a 0-d problem
    loss = api(function).loss(0.3, 1.0, reduction="none")
    assert isinstance(loss, np.ndarray) and loss.shape == () and loss.dtype == np.float64
    assert_close(loss, reference_loss(function, 0.3, 1.0, reduction="none"), np.float64)
    mean = api(function).loss(0.3, 1, reduction="mean")
    assert type(mean) is np.float64
    assert_close(mean, reference_loss(function, 0.3, 1.0), np.float64)


DTYPE_PAIRS = [
    (a, b)
    for a in (np.float16, np.float32, np.float64, np.int8, np.int64, np.bool_)
    for b in (np.float16, np.float32, np.float64, np.bool_, np.int8, np.uint8, np.int32, np.int64)
]


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize(
    "input_dtype,target_dtype",
    DTYPE_PAIRS,
    ids=[f"{np.dtype(a)}-{np.dtype(b)}" for a, b in DTYPE_PAIRS],
)
def test_result_dtype_follows_numpy(input_dtype, target_dtype, function, rng):
    expected = np.result_type(input_dtype, target_dtype)
    if expected.kind != "f":
        expected = np.dtype(np.float64)
    shape = (4, 3)
    if np.dtype(input_dtype).kind == "f":
        x = rng.uniform(0.05, 0.95, shape).astype(input_dtype)
    else:
        x = rng.integers(0, 2, shape).astype(input_dtype)
    y = rng.integers(0, 2, shape).astype(target_dtype)
    if function == PROBS and np.dtype(input_dtype).kind != "f":
        y = x.astype(target_dtype)  # 0/1 probabilities: p == y keeps the gradient finite in float16
    for reduction in ("none", "mean"):
        results = everything(function, x, y, reduction=reduction)
        for key, value in results.items():
            assert np.asarray(value).dtype == expected, f"{key}: {np.asarray(value).dtype} != {expected}"
        check_against_reference(results, function, x, y, reduction=reduction, dtype=expected)


def test_result_dtype_examples():
    """A few pinned by hand (NumPy's promotion rules)."""
    f = fastbce.binary_cross_entropy_with_logits
    x32 = np.zeros(3, np.float32)
    cases = [
        (x32, np.zeros(3, np.float32), np.float32),
        (x32, np.zeros(3, np.float64), np.float64),
        (x32, np.zeros(3, np.bool_), np.float32),
        (x32, np.zeros(3, np.int8), np.float32),
        (x32, np.zeros(3, np.int64), np.float64),
        (np.zeros(3, np.float16), np.zeros(3, np.bool_), np.float16),
        (np.zeros(3, np.float16), np.zeros(3, np.float32), np.float32),
        (np.zeros(3, np.int32), np.zeros(3, np.int32), np.float64),
        (np.zeros(3, np.bool_), np.zeros(3, np.bool_), np.float64),
    ]
    for x, y, want in cases:
        assert type(f(x, y)) is want, (x.dtype, y.dtype)
        assert f(x, y, reduction="none").dtype == want
        assert fastbce.binary_cross_entropy_with_logits_grad(x, y).dtype == want


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_mean_and_sum_are_numpy_scalars(dtype, function, rng):
    x = random_input(rng, function, (10,)).astype(dtype)
    y = random_target(rng, (10,)).astype(dtype)
    f = api(function)
    for reduction in ("mean", "sum"):
        loss = f.loss(x, y, reduction=reduction)
        assert type(loss) is np.dtype(dtype).type, f"{reduction}: {type(loss)}"
        assert not isinstance(loss, np.ndarray)
        vloss, _ = f.value_and_grad(x, y, reduction=reduction)
        assert type(vloss) is np.dtype(dtype).type
        crit = f.cls(reduction=reduction)
        assert type(crit(x, y)) is np.dtype(dtype).type


# --------------------------------------------------------------------------------------------
# Empty input
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("shape", [(0,), (0, 3), (2, 0, 4)], ids=str)
def test_empty(shape, function, dtype):
    x = np.zeros(shape, dtype)
    y = np.zeros(shape, dtype)
    w = np.ones(shape[-1:], dtype) if shape[-1] else None
    f = api(function)
    kw = {} if w is None else {"weight": w}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning for the mean of nothing
        none = f.loss(x, y, reduction="none", **kw)
        total = f.loss(x, y, reduction="sum", **kw)
        mean = f.loss(x, y, reduction="mean", **kw)
        grads = [f.grad(x, y, reduction=r, wrt=wrt, **kw) for r in REDUCTIONS for wrt in ("input", "target")]
        vag = {r: f.value_and_grad(x, y, reduction=r, **kw) for r in REDUCTIONS}
        crit_mean = f.cls(reduction="mean")(x, y)
    assert isinstance(none, np.ndarray) and none.shape == shape and none.dtype == dtype
    assert type(total) is np.dtype(dtype).type and total == 0
    assert type(mean) is np.dtype(dtype).type and np.isnan(mean)
    assert np.isnan(crit_mean)
    for g in grads:
        assert isinstance(g, np.ndarray) and g.shape == shape and g.dtype == dtype
    assert vag["none"][0].shape == shape
    assert vag["sum"][0] == 0 and np.isnan(vag["mean"][0])
    for _, g in vag.values():
        assert g.shape == shape and g.dtype == dtype


# --------------------------------------------------------------------------------------------
# Thread-count independence
# --------------------------------------------------------------------------------------------

N_BIG = 1_000_003


def big_problem(function: str, dtype: Any) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(1234 + (function == LOGITS) + 2 * (dtype == np.float32))
    x = random_input(rng, function, (N_BIG,)).astype(dtype)
    y = rng.uniform(0, 1, N_BIG).astype(dtype)
    w = rng.uniform(0, 2, N_BIG).astype(dtype)
    return x, y, w


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("function", FUNCTIONS)
def test_thread_count_independence(function, dtype, restore_threads):
    x, y, w = big_problem(function, dtype)
    pw = np.float64(2.5).astype(dtype) if function == LOGITS else None
    f = api(function)
    kw: dict[str, Any] = {"weight": w}
    if pw is not None:
        kw["pos_weight"] = pw

    def run() -> list[Any]:
        return [
            f.loss(x, y, reduction="mean", **kw),
            f.loss(x, y, reduction="sum", **kw),
            f.loss(x, y, reduction="none", **kw),
            f.grad(x, y, reduction="mean", grad_output=1.5, **kw),
            f.grad(x, y, reduction="sum", wrt="target", **kw),
            *f.value_and_grad(x, y, reduction="sum", **kw),
        ]

    outcomes = {}
    for n in (1, 2, 3, 8):
        fastbce.set_num_threads(n)
        assert fastbce.get_num_threads() == n
        outcomes[n] = run()
    for n in (2, 3, 8):
        for i, (a, b) in enumerate(zip(outcomes[1], outcomes[n])):
            assert np.asarray(a).tobytes() == np.asarray(b).tobytes(), (
                f"result {i}: {n} threads vs 1: {a!r} vs {b!r}"
            )
    loss_mean, loss_sum = outcomes[1][0], outcomes[1][1]
    ref = reference(function, x, y, w, pw, "sum")[0]
    assert_close(loss_sum, ref, dtype)
    assert_close(loss_mean, ref / N_BIG, dtype)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_float32_reductions_round_correctly(function):
    """Reductions accumulate in float64: a float32 mean/sum of 1e6 elements lies within one float32
    ulp of the exact value (correctly rounded in practice)."""
    x, y, w = big_problem(function, np.float32)
    f = api(function)
    for reduction in ("sum", "mean"):
        got = f.loss(x, y, weight=w, reduction=reduction)
        exact = float(reference(function, x, y, w, None, reduction)[0])
        ulp = float(np.spacing(np.float32(exact)))
        assert abs(float(got) - exact) <= ulp, f"{reduction}: {got!r} vs exact {exact!r} (ulp {ulp})"


def test_concurrent_calls_from_python_threads():
    """Calls from many Python threads at once give the results of serial calls."""
    rng = np.random.default_rng(7)
    problems = []
    for i in range(8):
        function = FUNCTIONS[i % 2]
        x = random_input(rng, function, (50_000 + i,))
        y = rng.uniform(0, 1, x.shape)
        problems.append((function, x, y))

    def work(p):
        function, x, y = p
        f = api(function)
        return [
            f.loss(x, y),
            f.loss(x, y, reduction="sum"),
            f.grad(x, y),
            f.loss(x, y, reduction="none"),
        ]

    serial = [work(p) for p in problems]
    barrier = threading.Barrier(4)

    def threaded(i):
        barrier.wait()
        return [work(problems[(i + k) % len(problems)]) for k in range(len(problems))]

    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(threaded, range(4)))
    for i, out in enumerate(outs):
        for k, res in enumerate(out):
            want = serial[(i + k) % len(problems)]
            for a, b in zip(res, want):
                assert_identical(a, b)


# --------------------------------------------------------------------------------------------
# Inputs are never modified; results never alias them
# --------------------------------------------------------------------------------------------


def all_entry_points(function: str, x, y, w, pw, go, reduction) -> list[Any]:
    f = api(function)
    kw: dict[str, Any] = {"weight": w, "reduction": reduction}
    ckw: dict[str, Any] = {"weight": w, "reduction": reduction}
    if pw is not None:
        kw["pos_weight"] = pw
        ckw["pos_weight"] = pw
    out = [f.loss(x, y, **kw)]
    for wrt in ("input", "target"):
        out.append(f.grad(x, y, grad_output=go, wrt=wrt, **kw))
        out.extend(f.value_and_grad(x, y, grad_output=go, wrt=wrt, **kw))
    crit = f.cls(**ckw)
    out.append(crit(x, y))
    out.append(crit.forward(x, y))
    for wrt in ("input", "target"):
        out.append(crit.grad(x, y, grad_output=go, wrt=wrt))
        out.extend(crit.value_and_grad(x, y, grad_output=go, wrt=wrt))
    return out


@pytest.mark.parametrize("readonly", [False, True], ids=["writeable", "readonly"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("function", FUNCTIONS)
def test_inputs_never_modified(function, dtype, reduction, readonly, rng):
    shape = (9, 4)
    x = random_input(rng, function, shape).astype(dtype)
    y = random_target(rng, shape).astype(dtype)
    w = rng.uniform(0, 2, shape).astype(dtype)
    pw = rng.uniform(0.2, 5, shape).astype(dtype) if function == LOGITS else None
    go = rng.uniform(-1, 1, shape).astype(dtype) if reduction == "none" else np.array(1.5, dtype)
    arrays = [a for a in (x, y, w, pw, go) if a is not None]
    before = [a.tobytes() for a in arrays]
    copies = [a.copy() for a in arrays]
    if readonly:
        for a in arrays:
            a.flags.writeable = False
    out = all_entry_points(function, x, y, w, pw, go, reduction)
    for i, (a, b) in enumerate(zip(arrays, before)):
        assert a.tobytes() == b, f"argument {i} was modified"
        assert a.flags.writeable == (not readonly)
    # results own their memory: writing into them leaves the arguments alone
    for r in out:
        if isinstance(r, np.ndarray):
            for a in arrays:
                assert not np.shares_memory(r, a)
            if r.flags.writeable:
                r[...] = 0
    for i, (a, b) in enumerate(zip(arrays, before)):
        assert a.tobytes() == b, f"argument {i} changed through a result"
    # read-only arguments give the same results as writeable copies
    x2, y2, w2 = copies[0], copies[1], copies[2]
    pw2 = copies[3] if pw is not None else None
    go2 = copies[-1]
    again = all_entry_points(function, x2, y2, w2, pw2, go2, reduction)
    fresh = all_entry_points(function, x, y, w, pw, go, reduction)
    for a, b in zip(fresh, again):
        assert_identical(a, b)


def test_contiguous_float64_input_not_modified_large():
    """A large contiguous native array is read in place; it must come back unchanged."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal(300_001)
    y = rng.uniform(0, 1, x.shape)
    bx, by = x.tobytes(), y.tobytes()
    fastbce.binary_cross_entropy_with_logits_value_and_grad(x, y, reduction="none")
    fastbce.binary_cross_entropy_with_logits_grad(x, y, wrt="target")
    assert x.tobytes() == bx and y.tobytes() == by


# --------------------------------------------------------------------------------------------
# grad_output for reduction='none' broadcasts
# --------------------------------------------------------------------------------------------

GO_PATTERNS = {
    "same": lambda r, s: r.uniform(-1, 1, s),
    "last_dim": lambda r, s: r.uniform(-1, 1, s[-1:]),
    "row": lambda r, s: r.uniform(-1, 1, (1, s[-1])),
    "column": lambda r, s: r.uniform(-1, 1, s[:-1] + (1,)),
    "zero_d": lambda r, s: np.array(r.uniform(-1, 1)),
    "python_scalar": lambda r, s: float(r.uniform(-1, 1)),
    "one": lambda r, s: r.uniform(-1, 1, (1,)),
    "list": lambda r, s: r.uniform(-1, 1, s[-1:]).tolist(),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("pattern", list(GO_PATTERNS))
def test_grad_output_broadcast_for_none(pattern, function, dtype, rng):
    shape = (4, 5)
    x = random_input(rng, function, shape).astype(dtype)
    y = random_target(rng, shape).astype(dtype)
    w = rng.uniform(0, 2, (5,)).astype(dtype)
    go = GO_PATTERNS[pattern](rng, shape)
    if isinstance(go, np.ndarray):
        go = go.astype(dtype)
    results = everything(function, x, y, w, None, "none", go)
    go_ref = np.asarray(go, dtype=dtype)
    check_against_reference(results, function, x, y, w, None, "none", go_ref, dtype=dtype)
    crit = api(function).cls(weight=w, reduction="none")
    assert_identical(crit.grad(x, y, grad_output=go), results["grad_input"])
    # default grad_output=1.0 for 'none': the element-wise derivative
    g1 = api(function).grad(x, y, weight=w, reduction="none")
    _, ref_gx, _ = reference(function, x, y, w, None, "none", 1.0)
    assert_close(g1, ref_gx, dtype)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_grad_output_scales_mean_and_sum(function, rng):
    x = random_input(rng, function, (3, 4))
    y = random_target(rng, (3, 4))
    f = api(function)
    for reduction in ("mean", "sum"):
        for go in (0.0, -2.5, np.float64(3.0), np.array(0.25), np.float32(4.0)):
            g = f.grad(x, y, reduction=reduction, grad_output=go)
            _, ref_gx, _ = reference(function, x, y, reduction=reduction, grad_output=float(go))
            assert_close(g, ref_gx, np.float64, err_msg=f"{reduction} go={go!r}")


# --------------------------------------------------------------------------------------------
# Gradients against central finite differences
# --------------------------------------------------------------------------------------------


def finite_difference(loss_of: Callable[[np.ndarray], float], a: np.ndarray) -> np.ndarray:
    grad = np.empty_like(a)
    flat = grad.reshape(-1)
    for i in range(a.size):
        h = 1e-6 * max(1.0, abs(float(a.flat[i])))
        up = a.copy()
        dn = a.copy()
        up.flat[i] += h
        dn.flat[i] -= h
        flat[i] = (loss_of(up) - loss_of(dn)) / (up.flat[i] - dn.flat[i])
    return grad


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("wrt", ["input", "target"])
@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("seed", range(3))
def test_finite_differences(seed, function, wrt, reduction):
    rng = np.random.default_rng(100 + seed)
    shape = [(5,), (2, 3), (2, 2, 2)][seed]
    if function == LOGITS:
        x = rng.uniform(-5, 5, shape)
        pw = rng.uniform(0.2, 5, shape[-1:])
    else:
        x = rng.uniform(0.05, 0.95, shape)
        pw = None
    y = rng.uniform(0.05, 0.95, shape)
    w = rng.uniform(0.1, 2, shape)
    go = 1.0 if reduction == "sum" else 1.7
    f = api(function)
    kw: dict[str, Any] = {"weight": w, "reduction": reduction}
    if pw is not None:
        kw["pos_weight"] = pw
    got = f.grad(x, y, grad_output=go, wrt=wrt, **kw)

    def ref_loss(a: np.ndarray) -> float:
        xx, yy = (a, y) if wrt == "input" else (x, a)
        return go * float(reference_loss(function, xx, yy, w, pw, reduction))

    def impl_loss(a: np.ndarray) -> float:
        xx, yy = (a, y) if wrt == "input" else (x, a)
        return go * float(f.loss(xx, yy, **kw))

    point = x if wrt == "input" else y
    for name, loss_of in (("reference loss", ref_loss), ("fastbce loss", impl_loss)):
        fd = finite_difference(loss_of, point)
        np.testing.assert_allclose(
            got, fd, rtol=1e-6, atol=1e-8, err_msg=f"vs finite differences of the {name}"
        )


# --------------------------------------------------------------------------------------------
# Extreme values
# --------------------------------------------------------------------------------------------

EXTREME_LOGITS = [
    0.0,
    -0.0,
    1e-8,
    -1e-8,
    1.0,
    -1.0,
    88.0,
    -88.0,
    700.0,
    -700.0,
    1e4,
    -1e4,
    np.inf,
    -np.inf,
    np.nan,
]
EXTREME_LOGIT_TARGETS = [0.0, 1.0, 0.5, 1e-7, 1 - 1e-7, 0.25]


@pytest.mark.parametrize("pos_weight", [None, 3.0, 0.25])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_logits(dtype, pos_weight):
    xs, ys = np.meshgrid(np.array(EXTREME_LOGITS), np.array(EXTREME_LOGIT_TARGETS), indexing="ij")
    x = xs.astype(dtype)
    y = ys.astype(dtype)
    kw = {} if pos_weight is None else {"pos_weight": np.array(pos_weight, dtype)}
    loss = fastbce.binary_cross_entropy_with_logits(x, y, reduction="none", **kw)
    gx = fastbce.binary_cross_entropy_with_logits_grad(x, y, reduction="none", **kw)
    gy = fastbce.binary_cross_entropy_with_logits_grad(x, y, reduction="none", wrt="target", **kw)
    vloss, vgx = fastbce.binary_cross_entropy_with_logits_value_and_grad(x, y, reduction="none", **kw)
    ref_loss, ref_gx, ref_gy = reference(LOGITS, x, y, None, pos_weight, "none")
    nan_in = np.isnan(x)
    assert np.isnan(loss[nan_in]).all() and np.isnan(gx[nan_in]).all(), "NaN in -> NaN out"
    assert not np.isnan(loss[~nan_in]).any(), f"NaN loss at {x[np.isnan(loss) & ~nan_in]}"
    assert not np.isnan(gx[~nan_in]).any(), f"NaN gradient at {x[np.isnan(gx) & ~nan_in]}"
    assert (loss[~nan_in] >= 0).all(), "the loss is never negative"
    assert_close(loss, ref_loss, dtype, "loss")
    assert_close(vloss, ref_loss, dtype, "value_and_grad loss")
    assert_close(gx, ref_gx, dtype, "grad input")
    assert_close(vgx, ref_gx, dtype, "value_and_grad grad")
    finite = np.isfinite(x)
    assert_close(gy[finite], ref_gy[finite], dtype, "grad target")
    assert np.isnan(gy[nan_in]).all()
    # exact limits at +-inf
    pw = 1.0 if pos_weight is None else pos_weight
    for i, xv in enumerate(EXTREME_LOGITS):
        if not np.isinf(xv):
            continue
        for j, yv in enumerate(y[i]):
            yv = float(yv)
            if xv > 0:
                want_loss = 0.0 if yv == 1.0 else np.inf
                want_grad = 1.0 - yv
            else:
                want_loss = 0.0 if yv == 0.0 else np.inf
                want_grad = -pw * yv
            assert loss[i, j] == want_loss, (xv, yv, loss[i, j])
            assert_close(gx[i, j], np.array(want_grad), dtype, f"grad at ({xv}, {yv})")
    # the reductions see the same values: mean over the finite rows equals the reference
    rows = np.isfinite(x).all(axis=1)
    m = fastbce.binary_cross_entropy_with_logits(x[rows], y[rows], **kw)
    assert_close(m, reference_loss(LOGITS, x[rows], y[rows], None, pos_weight), dtype, "mean")


EXTREME_PROBS = [0.0, 1.0, 1e-45, 1e-40, 1e-12, 1e-7, 0.5, 1 - 1e-7, 1 - 1e-12]
EXTREME_PROB_TARGETS = [0.0, 1.0, 0.25, 1e-7, 1 - 1e-7]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_probabilities(dtype, weighted):
    ps, ys = np.meshgrid(np.array(EXTREME_PROBS), np.array(EXTREME_PROB_TARGETS), indexing="ij")
    p = ps.astype(dtype)
    y = ys.astype(dtype)
    assert ((p >= 0) & (p <= 1)).all()
    w = np.linspace(0.5, 2.0, y.shape[1]).astype(dtype) if weighted else None
    kw = {} if w is None else {"weight": w}
    loss = fastbce.binary_cross_entropy(p, y, reduction="none", **kw)
    gx = fastbce.binary_cross_entropy_grad(p, y, reduction="none", **kw)
    gy = fastbce.binary_cross_entropy_grad(p, y, reduction="none", wrt="target", **kw)
    ref_loss, ref_gx, ref_gy = reference(PROBS, p, y, w, None, "none")
    assert np.isfinite(loss).all(), "each log is clamped at -100"
    assert (loss <= 100 * (1 if w is None else 2) + 1e-3).all()
    assert_close(loss, ref_loss, dtype, "loss")
    assert_close(gx, ref_gx, dtype, "grad input")
    assert_close(gy, ref_gy, dtype, "grad target")
    for reduction in ("mean", "sum"):
        got = fastbce.binary_cross_entropy(p, y, reduction=reduction, **kw)
        assert_close(got, reference_loss(PROBS, p, y, w, None, reduction), dtype, reduction)


def test_bce_clamp_and_epsilon_exactly():
    """log is clamped at -100 and the gradient divides by max(p(1-p), float32(1e-12))."""
    p = np.array([0.0, 1.0, 0.0, 1.0, 1e-300, 1e-20])
    y = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    loss = fastbce.binary_cross_entropy(p, y, reduction="none")
    np.testing.assert_allclose(loss, [100.0, 100.0, 0.0, 0.0, 100.0, -math.log(1e-20)], rtol=1e-15)
    g = fastbce.binary_cross_entropy_grad(p, y, reduction="none")
    eps = float(np.float32(1e-12))
    np.testing.assert_allclose(
        g, [-1 / eps, 1 / eps, 0.0, 0.0, (1e-300 - 1) / eps, (1e-20 - 1) / eps], rtol=1e-14
    )


# --------------------------------------------------------------------------------------------
# Accuracy: per-element loss within 4 ulp, gradient within 4 ulp of its larger term
# (docs/DESIGN.md, "Accuracy")
# --------------------------------------------------------------------------------------------


def accuracy_sample(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    sign = rng.choice([-1.0, 1.0], n)
    x = sign * 10.0 ** rng.uniform(-10, 4, n)
    kind = rng.integers(0, 5, n)
    y = np.select(
        [kind == 0, kind == 1, kind == 2, kind == 3],
        [
            np.zeros(n),
            np.ones(n),
            10.0 ** rng.uniform(-10, -1, n),
            1 - 10.0 ** rng.uniform(-7, -1, n),
        ],
        rng.uniform(0, 1, n),
    )
    return x, y


def logits_longdouble(
    x: np.ndarray, y: np.ndarray, pw: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Loss and the larger term of the input gradient in extended precision."""
    ld = np.longdouble
    x, y, pw = x.astype(ld), y.astype(ld), pw.astype(ld)
    e = np.exp(-np.abs(x))
    sp = np.log1p(e)
    loss = np.where(x >= 0, x * (1 - y), -x * pw * y) + (1 + (pw - 1) * y) * sp
    sig = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
    sig_neg = np.where(x >= 0, e / (1 + e), 1 / (1 + e))
    grad = (1 - y) * sig - pw * y * sig_neg
    larger = np.maximum(np.abs((1 - y) * sig), np.abs(pw * y * sig_neg))
    return loss, grad, larger


HAS_EXTENDED = np.finfo(np.longdouble).nmant >= 63


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logits_accuracy_ulp(dtype):
    if dtype == np.float64 and not HAS_EXTENDED:
        pytest.skip("needs an extended-precision long double to judge float64 to the ulp")
    rng = np.random.default_rng(2026)
    n = 40_000
    x, y = accuracy_sample(rng, n)
    pw = np.where(rng.uniform(size=n) < 0.5, 1.0, rng.uniform(0.2, 5, n))
    x, y, pw = x.astype(dtype), y.astype(dtype), pw.astype(dtype)
    loss = fastbce.binary_cross_entropy_with_logits(x, y, reduction="none", pos_weight=pw)
    grad = fastbce.binary_cross_entropy_with_logits_grad(x, y, reduction="none", pos_weight=pw)
    ref_loss, ref_grad, larger = logits_longdouble(x, y, pw)
    ulp_loss = np.spacing(ref_loss.astype(dtype)).astype(np.longdouble)
    err = np.abs(loss.astype(np.longdouble) - ref_loss) / ulp_loss
    worst = int(np.argmax(err))
    assert err[worst] <= 4.0, (
        f"loss off by {float(err[worst]):.2f} ulp at x={x[worst]!r}, y={y[worst]!r}, "
        f"pw={pw[worst]!r}: {loss[worst]!r} vs {float(ref_loss[worst])!r}"
    )
    ulp_grad = np.spacing(larger.astype(dtype)).astype(np.longdouble)
    gerr = np.abs(grad.astype(np.longdouble) - ref_grad) / ulp_grad
    worst = int(np.argmax(gerr))
    assert gerr[worst] <= 4.0, (
        f"gradient off by {float(gerr[worst]):.2f} ulp of its larger term at x={x[worst]!r}, "
        f"y={y[worst]!r}, pw={pw[worst]!r}: {grad[worst]!r} vs {float(ref_grad[worst])!r}"
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_probabilities_loss_accuracy_ulp(dtype):
    if dtype == np.float64 and not HAS_EXTENDED:
        pytest.skip("needs an extended-precision long double to judge float64 to the ulp")
    rng = np.random.default_rng(2027)
    n = 40_000
    kind = rng.integers(0, 3, n)
    p = np.select(
        [kind == 0, kind == 1],
        [10.0 ** rng.uniform(-30, -1, n), 1 - 10.0 ** rng.uniform(-7, -1, n)],
        rng.uniform(0, 1, n),
    )
    _, y = accuracy_sample(rng, n)
    p, y = p.astype(dtype), y.astype(dtype)
    loss = fastbce.binary_cross_entropy(p, y, reduction="none")
    ld = np.longdouble
    pl, yl = p.astype(ld), y.astype(ld)
    ref = (yl - 1) * np.maximum(np.log1p(-pl), ld(-100)) - yl * np.maximum(np.log(pl), ld(-100))
    ulp = np.spacing(ref.astype(dtype)).astype(ld)
    err = np.abs(loss.astype(ld) - ref) / ulp
    worst = int(np.argmax(err))
    assert err[worst] <= 4.0, (
        f"loss off by {float(err[worst]):.2f} ulp at p={p[worst]!r}, y={y[worst]!r}: "
        f"{loss[worst]!r} vs {float(ref[worst])!r}"
    )


def test_elementwise_reference_is_consistent_with_itself():
    """Guards the reference: d loss/d x of the closed form matches its own finite differences."""
    x = np.array([-3.0, -0.5, 0.0, 0.7, 4.0])
    y = np.array([0.2, 0.9, 0.5, 0.0, 1.0])
    pw = np.array([2.0, 0.5, 1.0, 3.0, 1.0])
    _, dx, dy = elementwise(LOGITS, x, y, None, pw)
    h = 1e-6
    fdx = (elementwise(LOGITS, x + h, y, None, pw)[0] - elementwise(LOGITS, x - h, y, None, pw)[0]) / (2 * h)
    fdy = (elementwise(LOGITS, x, y + h, None, pw)[0] - elementwise(LOGITS, x, y - h, None, pw)[0]) / (2 * h)
    np.testing.assert_allclose(dx, fdx, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(dy, fdy, rtol=1e-7, atol=1e-9)
    p = np.array([0.1, 0.5, 0.8])
    yp = np.array([0.0, 0.3, 1.0])
    _, dp, dyp = elementwise(PROBS, p, yp)
    fdp = (elementwise(PROBS, p + h, yp)[0] - elementwise(PROBS, p - h, yp)[0]) / (2 * h)
    fdyp = (elementwise(PROBS, p, yp + h)[0] - elementwise(PROBS, p, yp - h)[0]) / (2 * h)
    np.testing.assert_allclose(dp, fdp, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(dyp, fdyp, rtol=1e-7, atol=1e-9)
