"""fastbce.dask: the NumPy API on Dask arrays, on the threaded scheduler and on a real
``dask.distributed`` LocalCluster whose workers are separate processes.

What is asserted, against the NumPy API on the same data:

- element-wise results (``reduction="none"`` losses, gradients of ``none`` and ``sum``, gradients
  of ``mean`` with an exact element count, ``grad_hess``, ``value_and_grad``): equal bit for bit,
  with the input's chunks and the NumPy API's dtype (each chunk runs the same kernels);
- means and sums over everything: float64 within 1e-12 relative (the chunks' float64 sums are
  added exactly; only the rounding inside each chunk's sum differs), float32/float16 within one
  unit in the last place (the same float64 value, rounded once); one chunk: identical;
- ``axis=`` reductions and weighted means (whose divisor is a float64 sum of weights): float64
  within 1e-12 relative, float32 within one unit in the last place.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any, Callable

import numpy as np
import pytest
from conftest import assert_identical, optional_import

da = optional_import("dask.array")
dask = optional_import("dask")
distributed = optional_import("distributed")

import fastbce  # noqa: E402
import fastbce.dask as fbd  # noqa: E402

LOGITS = "binary_cross_entropy_with_logits"
PROBS = "binary_cross_entropy"
SHAPE = (13, 7)
# Uneven chunks, one of them empty, along both axes.
CHUNKS = ((5, 0, 8), (3, 4))


@pytest.fixture(scope="module")
def client() -> Any:
    """A real cluster: two worker processes, started for this module and closed after it. Not the
    default scheduler, so that the threaded runs stay threaded."""
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as c,
    ):
        yield c


def computer(request: pytest.FixtureRequest, scheduler: str) -> Callable[..., tuple]:
    """Computes lazy results together (one graph) on the threaded scheduler or on the cluster."""
    if scheduler == "threads":
        return lambda *lazy: dask.compute(*lazy, scheduler="threads")
    c = request.getfixturevalue("client")
    return lambda *lazy: tuple(c.gather(c.compute(list(lazy))))


@pytest.fixture(params=["threads", "cluster"])
def compute(request: pytest.FixtureRequest) -> Callable[..., tuple]:
    return computer(request, request.param)


# Every function and dtype on the threaded scheduler; on the cluster (whose task overhead on a
# shared 2-core machine is what a test pays for) each function once, in either dtype.
RUNS = [
    *[("threads", f, d) for f in (LOGITS, PROBS) for d in (np.float32, np.float64)],
    ("cluster", LOGITS, np.float32),
    ("cluster", PROBS, np.float64),
]


def data(rng: np.random.Generator, function: str, dtype: Any, shape: tuple = SHAPE) -> tuple:
    x = rng.standard_normal(shape) * 3 if function == LOGITS else rng.uniform(0.01, 0.99, shape)
    y = rng.uniform(0, 1, shape)
    return x.astype(dtype), y.astype(dtype)


def both(function: str, suffix: str = "") -> tuple[Callable[..., Any], Callable[..., Any]]:
    """(fastbce.dask's function, the NumPy API's)."""
    return getattr(fbd, function + suffix), getattr(fastbce, function + suffix)


def assert_reduced(got: Any, want: Any, dtype: Any, err_msg: str = "") -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, err_msg
    if np.dtype(dtype) == np.float64:
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0, equal_nan=True, err_msg=err_msg)
    else:
        finite = np.isfinite(want)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=err_msg)
        np.testing.assert_array_max_ulp(got[finite], want[finite], maxulp=1)


# --------------------------------------------------------------------------------------------
# Element-wise results: bit for bit, with the input's chunks


@pytest.mark.parametrize(("scheduler", "function", "dtype"), RUNS)
def test_elementwise_results_equal_the_numpy_api(
    request, rng, scheduler: str, function: str, dtype: Any
) -> None:
    compute = computer(request, scheduler)
    x, y = data(rng, function, dtype)
    dx, dy = da.from_array(x, chunks=CHUNKS), da.from_array(y, chunks=((13,), (2, 5)))  # target rechunked
    weight = rng.uniform(0.5, 2, SHAPE[1]).astype(dtype)  # per column, NumPy
    full_weight = rng.uniform(0.5, 2, SHAPE)  # one per element, Dask, chunked its own way
    mask = rng.uniform(size=SHAPE) < 0.7
    go = rng.standard_normal(SHAPE).astype(dtype)
    kw: dict[str, Any] = {"pos_weight": np.linspace(0.5, 3, SHAPE[1])} if function == LOGITS else {}
    cases = [
        ({}, {}),
        ({"weight": weight}, {"weight": weight}),
        ({"weight": da.from_array(full_weight, chunks=(4, 4))}, {"weight": full_weight}),
        (
            {"mask": da.from_array(mask, chunks=(6, 7)), "label_smoothing": 0.1},
            {"mask": mask, "label_smoothing": 0.1},
        ),
        ({"weight": 2.0, **kw}, {"weight": 2.0, **kw}),
    ]
    loss, np_loss = both(function)
    grad, np_grad = both(function, "_grad")
    vg, np_vg = both(function, "_value_and_grad")
    lazy, expected = [], []
    for dask_kw, np_kw in cases:
        lazy.append(loss(dx, dy, reduction="none", **dask_kw))
        expected.append(np_loss(x, y, reduction="none", **np_kw))
        for wrt in ("input", "target"):
            lazy.append(
                grad(dx, dy, reduction="none", grad_output=da.from_array(go, chunks=5), wrt=wrt, **dask_kw)
            )
            expected.append(np_grad(x, y, reduction="none", grad_output=go, wrt=wrt, **np_kw))
        for reduction in ("sum", "mean"):
            lazy.append(grad(dx, dy, reduction=reduction, grad_output=0.5, **dask_kw))
            expected.append(np_grad(x, y, reduction=reduction, grad_output=0.5, **np_kw))
        lazy.extend(vg(dx, dy, reduction="none", grad_output=0.25, **dask_kw))
        expected.extend(np_vg(x, y, reduction="none", grad_output=0.25, **np_kw))
        if function == LOGITS:
            lazy.extend(fbd.binary_cross_entropy_with_logits_grad_hess(dx, dy, **dask_kw))
            expected.extend(fastbce.binary_cross_entropy_with_logits_grad_hess(x, y, **np_kw))
    for result, want in zip(lazy, expected):
        assert result.chunks == CHUNKS and result.dtype == want.dtype
    for i, (got, want) in enumerate(zip(compute(*lazy), expected)):
        assert_identical(got, want, err_msg=f"result {i}")


# --------------------------------------------------------------------------------------------
# Reductions over everything: Dask's tree reduction of accumulators


@pytest.mark.parametrize(("scheduler", "function", "dtype"), RUNS)
def test_reductions_equal_the_numpy_api(request, rng, scheduler: str, function: str, dtype: Any) -> None:
    compute = computer(request, scheduler)
    x, y = data(rng, function, dtype, (40, 6))
    dx, dy = da.from_array(x, chunks=((7, 0, 13, 20), (4, 2))), da.from_array(y, chunks=11)
    row_weight = rng.uniform(0.1, 3, (40, 1))
    mask = rng.uniform(size=(40, 6)) < 0.6
    variants: list[tuple[dict, dict]] = [
        ({}, {}),
        ({"weight": 0.5}, {"weight": 0.5}),
        ({"weight": da.from_array(row_weight, chunks=(9, 1))}, {"weight": row_weight}),
        ({"mask": mask, "label_smoothing": 0.2}, {"mask": mask, "label_smoothing": 0.2}),
        (
            {"weight": da.from_array(row_weight, chunks=25), "mask": da.from_array(mask, chunks=(10, 3))},
            {"weight": row_weight, "mask": mask},
        ),
    ]
    if function == LOGITS:
        pos_weight = np.linspace(0.5, 4, 6)
        variants.append(
            ({"pos_weight": pos_weight, "weight": 2.0}, {"pos_weight": pos_weight, "weight": 2.0})
        )
    loss, np_loss = both(function)
    grad, np_grad = both(function, "_grad")
    vg, np_vg = both(function, "_value_and_grad")
    lazy, expected, names = [], [], []
    for dask_kw, np_kw in variants:
        for reduction in ("mean", "sum", "weighted_mean"):
            name = f"{reduction} {sorted(np_kw)}"
            lazy.append(loss(dx, dy, reduction=reduction, **dask_kw))
            expected.append(np_loss(x, y, reduction=reduction, **np_kw))
            lazy.extend(vg(dx, dy, reduction=reduction, grad_output=1.5, wrt="target", **dask_kw))
            expected.extend(np_vg(x, y, reduction=reduction, grad_output=1.5, wrt="target", **np_kw))
            lazy.append(grad(dx, dy, reduction=reduction, **dask_kw))
            expected.append(np_grad(x, y, reduction=reduction, **np_kw))
            names += [f"{name} loss", f"{name} value", f"{name} grad wrt target", f"{name} grad"]
    for result, want in zip(lazy, expected):
        assert result.dtype == want.dtype and result.shape == np.shape(want)
    for got, want, name in zip(compute(*lazy), expected, names):
        assert_reduced(got, want, dtype, err_msg=name)


@pytest.mark.parametrize("reduction", ["mean", "sum", "weighted_mean"])
def test_one_chunk_gives_the_numpy_api_bit_for_bit(rng, reduction: str) -> None:
    x, y = data(rng, LOGITS, np.float32, (300, 5))
    weight, mask = rng.uniform(0, 2, (300, 1)), rng.uniform(size=(300, 5)) < 0.5
    kw = {"weight": weight, "mask": mask, "pos_weight": np.arange(1.0, 6.0), "label_smoothing": 0.05}
    got = fbd.binary_cross_entropy_with_logits(da.from_array(x), da.from_array(y), reduction=reduction, **kw)
    assert_identical(
        got.compute(scheduler="threads"),
        fastbce.binary_cross_entropy_with_logits(x, y, reduction=reduction, **kw),
    )


def test_mean_over_many_chunkings_agrees(rng) -> None:
    x, y = data(rng, LOGITS, np.float64, (3000,))
    want = fastbce.binary_cross_entropy_with_logits(x, y)
    lazy = [
        fbd.binary_cross_entropy_with_logits(da.from_array(x, chunks=c), y) for c in (11, 999, 1500, 3000)
    ]
    for got in dask.compute(*lazy, scheduler="threads"):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


def test_other_dtypes_and_numpy_operands(rng) -> None:
    """float16 logits (computed in float32), integer and bool labels, a NumPy input with a Dask
    target: the NumPy API's result dtypes and values."""
    x = (rng.standard_normal((30, 4)) * 2).astype(np.float16)
    labels = rng.integers(0, 2, (30, 4))
    for target in (labels, labels.astype(bool)):
        dt = da.from_array(target, chunks=(7, 3))
        none = fbd.binary_cross_entropy_with_logits(x, dt, reduction="none")
        mean = fbd.binary_cross_entropy_with_logits(x, dt, axis=0)
        total = fbd.binary_cross_entropy_with_logits(x, dt, reduction="sum")
        got = dask.compute(none, mean, total, scheduler="threads")
        assert_identical(got[0], fastbce.binary_cross_entropy_with_logits(x, target, reduction="none"))
        for result, want in zip(
            got[1:],
            [
                fastbce.binary_cross_entropy_with_logits(x, target, axis=0),
                fastbce.binary_cross_entropy_with_logits(x, target, reduction="sum"),
            ],
        ):
            assert_reduced(result, want, want.dtype)
        assert none.chunks == dt.chunks


# --------------------------------------------------------------------------------------------
# axis=


@pytest.mark.parametrize(
    ("scheduler", "dtype"), [("threads", np.float32), ("threads", np.float64), ("cluster", np.float32)]
)
def test_axis_reductions_and_their_gradients(request, rng, scheduler: str, dtype: Any) -> None:
    compute = computer(request, scheduler)
    shape = (12, 5, 6)
    x, y = data(rng, LOGITS, dtype, shape)
    dx = da.from_array(x, chunks=((5, 0, 7), (2, 3), 6))
    weight = rng.uniform(0, 2, (1, 5, 1))
    mask = rng.uniform(size=shape) < 0.6
    mask[:, 0, :] = False  # outputs with nothing kept: NaN means, zero gradients
    cases = [
        (0, False, "mean", {}),
        (-1, True, "sum", {"mask": mask}),
        ((0, 2), False, "mean", {"mask": mask, "label_smoothing": 0.1}),
        ((0, 2), True, "weighted_mean", {"weight": weight, "mask": mask}),
        (1, False, "weighted_mean", {"weight": weight, "pos_weight": np.full(6, 2.0)}),
        ((0, 1, 2), False, "mean", {"mask": mask}),
    ]
    lazy, expected = [], []
    for axis, keepdims, reduction, kw in cases:
        dkw = dict(kw)
        if "mask" in kw:
            dkw["mask"] = da.from_array(mask, chunks=(4, 5, 3))
        if "weight" in kw:
            dkw["weight"] = da.from_array(weight, chunks=(1, 2, 1))
        args = {"reduction": reduction, "axis": axis, "keepdims": keepdims}
        want = fastbce.binary_cross_entropy_with_logits(x, y, **args, **kw)
        go = rng.standard_normal(np.shape(want))
        lazy.append(fbd.binary_cross_entropy_with_logits(dx, y, **args, **dkw))
        expected.append(want)
        dgo = da.from_array(go, chunks=2) if np.ndim(go) else go
        lazy.extend(
            fbd.binary_cross_entropy_with_logits_value_and_grad(dx, y, **args, grad_output=dgo, **dkw)
        )
        expected.extend(
            fastbce.binary_cross_entropy_with_logits_value_and_grad(x, y, **args, grad_output=go, **kw)
        )
    for result, want in zip(lazy, expected):
        assert result.shape == np.shape(want) and result.dtype == np.asarray(want).dtype
    for got, want in zip(compute(*lazy), expected):
        assert_reduced(got, want, dtype)


# --------------------------------------------------------------------------------------------
# Empty data, lazy scalars, laziness


def test_empty_inputs_and_chunks(compute) -> None:
    x = da.zeros((0, 4), chunks=((0,), (2, 2)), dtype=np.float32)
    y = da.zeros((0, 4), chunks=((0,), (1, 3)), dtype=np.float32)
    mask = np.ones((8, 1), dtype=bool)
    mask[:] = False
    x8 = da.from_array(np.arange(8.0).reshape(8, 1), chunks=((3, 0, 0, 5), 1))
    lazy = [
        fbd.binary_cross_entropy_with_logits(x, y, reduction="none"),
        fbd.binary_cross_entropy_with_logits(x, y),
        fbd.binary_cross_entropy_with_logits(x, y, reduction="sum"),
        fbd.binary_cross_entropy_with_logits(x, y, axis=0),
        fbd.binary_cross_entropy_with_logits_grad(x, y),
        fbd.binary_cross_entropy_with_logits(x8, np.ones((8, 1)), mask=mask),  # all masked out
        fbd.binary_cross_entropy_with_logits_grad(x8, np.ones((8, 1)), mask=mask),
        fbd.binary_cross_entropy_with_logits(x8, np.ones((8, 1))),
    ]
    got = compute(*lazy)
    assert got[0].shape == (0, 4) and got[0].dtype == np.float32
    assert np.isnan(got[1]) and got[2] == 0 and got[1].dtype == np.float32
    assert np.isnan(got[3]).all() and got[3].shape == (4,)
    assert got[4].shape == (0, 4)
    assert np.isnan(got[5])
    assert_identical(got[6], np.zeros((8, 1)))
    ref = fastbce.binary_cross_entropy_with_logits(np.arange(8.0).reshape(8, 1), np.ones((8, 1)))
    np.testing.assert_allclose(got[7], ref, rtol=1e-12)


def test_lazy_grad_output_and_nothing_computed_before_asked(rng) -> None:
    x, y = data(rng, LOGITS, np.float64, (50, 3))
    calls = []

    def forbidden(block: np.ndarray) -> np.ndarray:
        if block.size:  # (Dask calls it on empty stand-ins to learn its output type)
            calls.append(1)
        return block

    dx = da.from_array(x, chunks=(20, 2)).map_blocks(forbidden, dtype=x.dtype)
    dmask = da.from_array(x > -1, chunks=25).map_blocks(forbidden, dtype=bool)
    upstream = (da.from_array(x, chunks=10) ** 2).sum() / 100  # a lazy 0-d grad_output
    grad = fbd.binary_cross_entropy_with_logits_grad(dx, y, grad_output=upstream, mask=dmask)
    loss = fbd.binary_cross_entropy_with_logits(dx, y, reduction="weighted_mean", weight=dx, mask=dmask)
    per_row = fbd.binary_cross_entropy_with_logits_grad(dx, y, axis=1, grad_output=upstream)
    assert not calls  # building graphs reads nothing
    g, lo, pr = dask.compute(grad, loss, per_row, scheduler="threads")
    go = float((x**2).sum() / 100)
    assert_reduced(
        g, fastbce.binary_cross_entropy_with_logits_grad(x, y, grad_output=go, mask=x > -1), np.float64
    )
    want = fastbce.binary_cross_entropy_with_logits(x, y, reduction="weighted_mean", weight=x, mask=x > -1)
    assert_reduced(lo, want, np.float64)
    assert_reduced(
        pr, fastbce.binary_cross_entropy_with_logits_grad(x, y, axis=1, grad_output=go), np.float64
    )


def test_bad_probabilities_raise_when_computed() -> None:
    lazy = fbd.binary_cross_entropy(da.from_array(np.array([0.5, 1.5]), chunks=1), np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="between 0 and 1"):
        lazy.compute(scheduler="threads")


def test_legacy_arguments_warn_like_the_numpy_api() -> None:
    x = da.zeros(4, chunks=2)
    with pytest.warns(UserWarning, match="reduction='sum'"):
        lazy = fbd.binary_cross_entropy_with_logits(x, x, size_average=False)
    assert lazy.compute(scheduler="threads") == fastbce.binary_cross_entropy_with_logits(
        np.zeros(4), np.zeros(4), reduction="sum"
    )


# --------------------------------------------------------------------------------------------
# Errors: at call time, naming the argument


X = np.zeros((6, 4))


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [
        (
            lambda: fbd.binary_cross_entropy_with_logits(da.zeros((6, 4)), da.zeros((6, 3))),
            ValueError,
            r"target of shape \(6, 3\) must have the same shape as input of shape \(6, 4\)",
        ),
        (
            lambda: fbd.binary_cross_entropy_with_logits(da.zeros((6, 4)), X, weight=da.ones(6)),
            ValueError,
            r"weight of shape \(6,\) does not broadcast to the input's shape \(6, 4\)",
        ),
        (
            lambda: fbd.binary_cross_entropy_with_logits(X, X, pos_weight=np.ones((2, 6, 4))),
            ValueError,
            "pos_weight of shape",
        ),
        (lambda: fbd.binary_cross_entropy(X, X, mask=da.ones((6, 4))), TypeError, "mask must be a boolean"),
        (lambda: fbd.binary_cross_entropy(X, X, mask=np.ones((3, 4), bool)), ValueError, "mask of shape"),
        (
            lambda: fbd.binary_cross_entropy(X, X, reduction="avg"),
            ValueError,
            "'avg' is not a valid value for reduction",
        ),
        (
            lambda: fbd.binary_cross_entropy_grad(X, X, wrt="weight"),
            ValueError,
            "wrt must be 'input' or 'target'",
        ),
        (lambda: fbd.binary_cross_entropy(X, X, label_smoothing=1.0), ValueError, "label_smoothing"),
        (lambda: fbd.binary_cross_entropy(X, X, reduction="none", axis=0), ValueError, "axis"),
        (lambda: fbd.binary_cross_entropy(X, X, axis=2), ValueError, "axis 2 is out of bounds"),
        (lambda: fbd.binary_cross_entropy(X, X, axis=0, keepdims=1), TypeError, "keepdims"),
        (
            lambda: fbd.binary_cross_entropy(da.zeros(3, dtype=complex), np.zeros(3)),
            TypeError,
            "input must hold real",
        ),
        (lambda: fbd.binary_cross_entropy(X, np.array([["a"] * 4] * 6)), TypeError, "target must hold real"),
        (
            lambda: fbd.binary_cross_entropy_grad(X, X, grad_output=da.ones(4)),
            ValueError,
            r"grad_output must be a scalar for reduction='mean', got shape \(4,\)",
        ),
        (
            lambda: fbd.binary_cross_entropy_grad(X, X, axis=1, grad_output=np.ones(4)),
            ValueError,
            r"grad_output of shape \(4,\) does not broadcast to the reduced shape \(6,\)",
        ),
        (
            lambda: fbd.binary_cross_entropy_grad(X, X, reduction="none", grad_output=da.ones(5)),
            ValueError,
            "grad_output of shape",
        ),
    ],
)
def test_errors_name_the_argument(call: Callable[[], Any], error: type, pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        call()


def test_unknown_chunk_sizes_are_refused() -> None:
    x = da.from_array(np.arange(10.0), chunks=3)
    unknown = x[x > 2]
    with pytest.raises(ValueError, match="unknown chunk sizes.*compute_chunk_sizes"):
        fbd.binary_cross_entropy_with_logits(unknown, unknown)


def test_fastbce_imports_without_dask_and_says_how_to_get_it() -> None:
    script = (
        "import sys; sys.modules['dask'] = None\n"
        "import fastbce\n"
        "try:\n    import fastbce.dask\nexcept ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert "pip install fastbce[dask]" in out
