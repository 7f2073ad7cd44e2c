"""Data as pipelines hold it: masked arrays, NaN policies, data frame columns with nulls, and
memory layouts read in place."""

from __future__ import annotations

import tracemalloc

import fastbce
import numpy as np
import pytest
from conftest import LOGITS, PROBS, assert_identical, optional_import, reference

FUNCTIONS = {LOGITS: fastbce.binary_cross_entropy_with_logits, PROBS: fastbce.binary_cross_entropy}


def data(rng, function, n=100_000, dtype=np.float32):
    x = rng.standard_normal(n) * 3 if function == LOGITS else rng.uniform(0.01, 0.99, n)
    return x.astype(dtype), (rng.uniform(size=n) < 0.5).astype(dtype)


# --------------------------------------------------------------------------------------------
# np.ma


@pytest.mark.parametrize("function", [LOGITS, PROBS])
def test_masked_input_counts_only_unmasked_elements(function, rng):
    """Half the elements masked over garbage: the mean is the unmasked elements' (what the issue
    measured: 7.917 where the answer is 0.8056, for 1e6 float32 logits)."""
    x, y = data(rng, function, 1_000_000)
    invalid = rng.uniform(size=x.size) < 0.5
    garbage = x.copy()
    garbage[invalid] = 1e4 if function == LOGITS else 7.0  # outside [0, 1] for probabilities
    xm = np.ma.MaskedArray(garbage, mask=invalid)
    want = reference(function, x[~invalid].astype(np.float64), y[~invalid])[0]
    f = FUNCTIONS[function]
    np.testing.assert_allclose(f(xm, y), want, rtol=1e-6)
    assert f(xm, y) == f(garbage, y, mask=~invalid)
    assert f(xm, y, reduction="sum") == f(garbage, y, mask=~invalid, reduction="sum")
    # masked target, masked weight: the same
    ym = np.ma.MaskedArray(y, mask=invalid)
    assert f(garbage, ym, mask=~invalid) == f(xm, y)
    w = np.ma.MaskedArray(rng.uniform(0.5, 2, x.size).astype(np.float32), mask=invalid)
    assert f(garbage, y, w, mask=~invalid, reduction="weighted_mean") == f(
        garbage, y, w.data, mask=~invalid, reduction="weighted_mean"
    )
    assert f(x, y, w, reduction="weighted_mean") == f(x, y, w.data, mask=~invalid, reduction="weighted_mean")


@pytest.mark.parametrize("function", [LOGITS, PROBS])
def test_masked_results_come_back_masked(function, rng):
    x, y = data(rng, function, 1000)
    invalid = rng.uniform(size=x.size) < 0.3
    xm = np.ma.MaskedArray(x, mask=invalid)
    keep = rng.uniform(size=x.size) < 0.8
    f = FUNCTIONS[function]
    grad = getattr(fastbce, f.__name__ + "_grad")
    vag = getattr(fastbce, f.__name__ + "_value_and_grad")
    results = [
        f(xm, y, reduction="none", mask=keep),
        grad(xm, y, mask=keep),
        grad(xm, y, reduction="none", wrt="target", mask=keep),
        *vag(xm, y, reduction="none", mask=keep),
    ]
    if function == LOGITS:
        results.extend(fastbce.binary_cross_entropy_with_logits_grad_hess(xm, y, mask=keep))
    plain = [
        f(x, y, reduction="none", mask=keep & ~invalid),
        grad(x, y, mask=keep & ~invalid),
        grad(x, y, reduction="none", wrt="target", mask=keep & ~invalid),
        *vag(x, y, reduction="none", mask=keep & ~invalid),
    ]
    if function == LOGITS:
        plain.extend(fastbce.binary_cross_entropy_with_logits_grad_hess(x, y, mask=keep & ~invalid))
    for got, want in zip(results, plain):
        assert isinstance(got, np.ma.MaskedArray)
        np.testing.assert_array_equal(got.mask, invalid)
        assert_identical(got.data, want)
    # A masked array without masked elements still comes back as one; plain arrays stay plain.
    unmasked = f(np.ma.MaskedArray(x), y, reduction="none")
    assert isinstance(unmasked, np.ma.MaskedArray) and not unmasked.mask.any()
    assert type(f(x, y, reduction="none")) is np.ndarray


def test_masked_array_mask_is_the_opposite_of_mask_argument(rng):
    """mask= keeps where True; np.ma's mask marks invalid where True: passing arr.mask as mask=
    keeps exactly the invalid elements (documented), ~arr.mask the valid ones."""
    x, y = data(rng, LOGITS, 1000)
    xm = np.ma.MaskedArray(x, mask=rng.uniform(size=x.size) < 0.5)
    f = fastbce.binary_cross_entropy_with_logits
    assert f(x, y, mask=~xm.mask) == f(xm, y)
    assert f(x, y, mask=xm.mask) == f(x[xm.mask], y[xm.mask])
    assert "~arr.mask" in f.__doc__ and "True keeps an element" in f.__doc__


# --------------------------------------------------------------------------------------------
# nan_policy


@pytest.mark.parametrize("function", [LOGITS, PROBS])
def test_nan_policy_omit_is_masking(function, rng):
    x, y = data(rng, function, 200_000)
    invalid = rng.uniform(size=x.size) < 0.5
    f = FUNCTIONS[function]
    for array in ("input", "target", "weight"):
        xs, ys, w = x.copy(), y.copy(), rng.uniform(0.5, 2, x.size).astype(np.float32)
        {"input": xs, "target": ys, "weight": w}[array][invalid] = np.nan
        for reduction in ("mean", "sum", "weighted_mean", "none"):
            got = f(xs, ys, w, reduction=reduction, nan_policy="omit")
            want = f(xs, ys, w, reduction=reduction, mask=~invalid)
            assert_identical(got, want)
            assert not np.isnan(got).any()
        g = getattr(fastbce, f.__name__ + "_grad")(xs, ys, w, nan_policy="omit")
        assert_identical(g, getattr(fastbce, f.__name__ + "_grad")(xs, ys, w, mask=~invalid))
    # the case: the masked slots of the np.ma example holding NaN
    xs = x.copy()
    xs[invalid] = np.nan
    assert f(xs, y, nan_policy="omit") == f(np.ma.MaskedArray(x, mask=invalid), y)


def test_nan_policy_raise_names_the_argument_and_index(rng):
    x, y = data(rng, LOGITS, 1000)
    f = fastbce.binary_cross_entropy_with_logits
    for name in ("input", "target", "weight"):
        xs, ys, w = x.copy().reshape(20, 50), y.copy().reshape(20, 50), np.ones((20, 50), np.float32)
        {"input": xs, "target": ys, "weight": w}[name][3, 7] = np.nan
        {"input": xs, "target": ys, "weight": w}[name][5, 1] = np.nan
        with pytest.raises(ValueError, match=rf"^{name} holds NaN at index \(3, 7\) \(nan_policy='raise'\)"):
            f(xs, ys, w, nan_policy="raise")
        # a NaN where the mask leaves the element out does not count
        keep = np.ones((20, 50), bool)
        keep[3, 7] = False
        with pytest.raises(ValueError, match=rf"{name} holds NaN at index \(5, 1\)"):
            f(xs, ys, w, nan_policy="raise", mask=keep)
        keep[5, 1] = False
        assert np.isfinite(f(xs, ys, w, nan_policy="raise", mask=keep))
    assert np.isnan(f(np.array([np.nan, 1.0]), np.array([0.0, 1.0])))  # "propagate" is torch's
    with pytest.raises(ValueError, match="nan_policy must be 'propagate', 'raise' or 'omit'"):
        f(x, y, nan_policy="ignore")


def test_nan_policy_on_classes_and_the_accumulator(rng):
    x, y = data(rng, LOGITS, 1000)
    x[::7] = np.nan
    keep = ~np.isnan(x)
    criterion = fastbce.BCEWithLogitsLoss(nan_policy="omit")
    assert criterion(x, y) == fastbce.binary_cross_entropy_with_logits(x, y, mask=keep)
    assert "nan_policy='omit'" in repr(criterion)
    with pytest.raises(ValueError, match="input holds NaN"):
        fastbce.BCELoss(nan_policy="raise")(np.where(keep, 0.5, np.nan), y)
    acc = fastbce.BCEAccumulator(nan_policy="omit")
    acc.update(x[:500], y[:500]).update(x[500:], y[500:])
    assert acc.count == keep.sum()
    np.testing.assert_allclose(acc.mean, fastbce.binary_cross_entropy_with_logits(x, y, mask=keep), rtol=1e-6)
    with pytest.raises(ValueError, match="different loss settings"):
        acc.merge(fastbce.BCEAccumulator())


# --------------------------------------------------------------------------------------------
# data frame columns with nulls


def test_pandas_nullable_columns_become_nan(rng):
    pd = optional_import("pandas")
    x, y = data(rng, LOGITS, 1000)
    invalid = rng.uniform(size=x.size) < 0.2
    xs = pd.array(np.where(invalid, 0, x), dtype="Float32")
    xs[invalid] = pd.NA
    labels = pd.Series(y.astype(int), dtype="Int64")
    f = fastbce.binary_cross_entropy_with_logits
    assert np.isnan(f(xs, labels))  # propagated, as NaN
    got = f(xs, labels, nan_policy="omit")
    assert got.dtype == np.float64  # Float32 logits with Int64 labels: NumPy's promotion
    np.testing.assert_allclose(got, f(x[~invalid].astype(np.float64), y[~invalid]), rtol=1e-12)
    with pytest.raises(ValueError, match=r"input holds NaN at index"):
        f(xs, labels, nan_policy="raise")
    frame = pd.DataFrame({"a": x[:500], "b": x[500:]})
    assert f(frame, np.zeros((500, 2))) == f(np.stack([x[:500], x[500:]], axis=1), np.zeros((500, 2)))


def test_pyarrow_and_polars_nulls_become_nan(rng):
    pa = optional_import("pyarrow")
    pl = optional_import("polars")
    x, y = data(rng, LOGITS, 100)
    nulls = [None if i % 9 == 0 else float(v) for i, v in enumerate(x)]
    keep = np.array([i % 9 != 0 for i in range(x.size)])
    want = fastbce.binary_cross_entropy_with_logits(x.astype(np.float64), y, mask=keep)
    for column in (pa.array(nulls, type=pa.float64()), pl.Series(nulls, dtype=pl.Float64)):
        got = fastbce.binary_cross_entropy_with_logits(column, y, nan_policy="omit")
        np.testing.assert_allclose(got, want, rtol=1e-12)


# --------------------------------------------------------------------------------------------
# Layouts read in place


def test_fortran_ordered_frames_are_read_in_place(rng):
    """A homogeneous frame's to_numpy() is Fortran-ordered: read as it lies, without a copy (traced
    memory under 1 MiB for 250,000 x 8 float32, where the copy was 15 MiB), with the same
    per-element results as the same data in C order. (Its speed is the benchmark's to measure.)"""
    x = (rng.standard_normal((250_000, 8)) * 3).astype(np.float32)
    y = (rng.uniform(size=(250_000, 8)) < 0.5).astype(np.float32)
    xf, yf = np.asfortranarray(x), np.asfortranarray(y)
    f = fastbce.binary_cross_entropy_with_logits
    f(xf, yf)  # warm up
    out = np.empty_like(xf)
    tracemalloc.start()
    f(xf, yf)
    fastbce.binary_cross_entropy_with_logits_grad(xf, yf, out=out)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1 << 20, f"{peak} bytes traced"
    np.testing.assert_allclose(f(xf, yf), f(x, y), rtol=1e-6)
    assert_identical(f(xf, yf, reduction="none"), np.asfortranarray(f(x, y, reduction="none")))
    grad = fastbce.binary_cross_entropy_with_logits_grad(xf, yf, reduction="none")
    assert grad.flags.f_contiguous, "outputs take the input's memory order"
    assert_identical(
        grad, np.asfortranarray(fastbce.binary_cross_entropy_with_logits_grad(x, y, reduction="none"))
    )
