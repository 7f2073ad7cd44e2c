"""fastbce.metrics.log_loss against scikit-learn's own numbers and an mpmath reference.

- scikit-learn's ``test_log_loss*`` cases (sklearn/metrics/tests/test_classification.py, 1.9.1),
  binary ones as written there, multiclass ones in their binary form, with their literal expected
  numbers and messages;
- small cases recorded from ``sklearn.metrics.log_loss`` 1.9.1 (labels of every kind, weights,
  probabilities at and beyond the clipping bounds, predict_proba rows);
- random and extreme data against an mpmath reference written from scikit-learn's definition
  (probability of the true class, ``1 - p`` rounded in the dtype, clipped to ``[eps, 1 - eps]`` in
  the dtype, ``-log``, weighted mean), sharing no code with the package;
- scikit-learn's invariances (sample weights, label encodings, input types);
- the live ``sklearn.metrics.log_loss``, where scikit-learn is installed (not a test dependency:
  those tests skip without it).
"""

from __future__ import annotations

import doctest
import inspect
import math
import re
import tracemalloc
import warnings

import fastbce
import fastbce.metrics
import mpmath
import numpy as np
import pytest
from conftest import optional_import
from fastbce.metrics import log_loss

mpmath.mp.dps = 40

F16, F32, F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)
# Relative tolerance against the reference, by dtype: float64 and float32 per-element losses are
# within a few ulp; float16 computes in float32 (scikit-learn rounds each float16 step).
RTOL = {F64: 1e-12, F32: 1e-6, F16: 1e-6}
# float16's 1 - p, rounded as scikit-learn rounds it, moves a sample's loss by up to 4.9e-4.
NOT_ONE = "The y_prob values do not sum to one"


# --------------------------------------------------------------------------------------------
# The reference: scikit-learn's definition, in mpmath


def reference(y_true, y_pred, sample_weight=None, normalize=True, positive=None, exact_complement=False):
    """scikit-learn's binary log loss, from its definition: each sample's probability of its true
    class (1-D: ``p`` or ``1 - p`` rounded in the dtype; 2-D: its column), clipped to
    ``[eps, 1 - eps]`` in the dtype, ``-log`` of it in mpmath, and the (weighted) mean or sum.

    ``exact_complement``: a 1-D negative's ``1 - p`` exact where no clipping applies (as fastbce
    takes it: ``log1p(-p)``), not rounded to the dtype -- which matters in float16."""
    y = np.asarray(y_true)
    p = np.asarray(y_pred)
    if p.dtype not in (F16, F32, F64):
        p = p.astype(F64)
    if positive is None:
        positive = sorted(set(y.tolist()))[-1]
    is_positive = [v == positive for v in y.tolist()]
    dtype = p.dtype
    eps = np.finfo(dtype).eps
    one = dtype.type(1)
    if p.ndim == 2 and p.shape[1] == 1:
        p = p[:, 0]
    low, high = dtype.type(eps), one - dtype.type(eps)
    losses = []
    for i, pos in enumerate(is_positive):
        if p.ndim == 1:
            if exact_complement and not pos and low <= p[i] <= high:
                losses.append(-mpmath.log1p(-mpmath.mpf(float(p[i]))))
                continue
            q = p[i] if pos else one - p[i]
        else:
            q = p[i, 1] if pos else p[i, 0]
        q = min(max(q, low), high)
        losses.append(-mpmath.log(mpmath.mpf(float(q))))
    return weighted_total(losses, sample_weight, normalize)


def weighted_total(losses, sample_weight, normalize):
    """The mpmath losses' weighted mean (or sum), as log_loss reduces them."""
    weights = (
        [mpmath.mpf(1)] * len(losses)
        if sample_weight is None
        else [mpmath.mpf(float(w)) for w in sample_weight]
    )
    total = mpmath.fsum(w * v for w, v in zip(weights, losses))
    return float(total / mpmath.fsum(weights)) if normalize else float(total)


def logits_reference(y01, x, sample_weight=None, normalize=True):
    """The exact log loss of logits: ``-log(sigmoid(x))`` for a positive, ``-log(sigmoid(-x))``
    for a negative, in mpmath."""
    losses = []
    for t, v in zip(y01, np.asarray(x).tolist()):
        z = mpmath.mpf(v) if t else -mpmath.mpf(v)
        if mpmath.isinf(z):
            losses.append(mpmath.mpf(0) if z > 0 else mpmath.inf)
        else:
            losses.append(mpmath.log1p(mpmath.exp(-z)))
    return weighted_total(losses, sample_weight, normalize)


# --------------------------------------------------------------------------------------------
# scikit-learn's test_log_loss* cases


def test_sklearn_symbolic_labels():
    # test_log_loss: binary case with symbolic labels ("no" < "yes"), against
    # -mean(bernoulli.logpmf(y == "yes", y_proba[:, 1])).
    y_true = ["no", "no", "no", "yes", "yes", "yes"]
    y_proba = np.array([[0.5, 0.5], [0.1, 0.9], [0.01, 0.99], [0.9, 0.1], [0.75, 0.25], [0.001, 0.999]])
    positive = np.array(y_true) == "yes"
    bernoulli = np.where(positive, np.log(y_proba[:, 1]), np.log1p(-y_proba[:, 1]))
    assert log_loss(y_true, y_proba) == pytest.approx(-np.mean(bernoulli), rel=1e-7)
    assert log_loss(y_true, y_proba) == pytest.approx(reference(y_true, y_proba), rel=1e-15)


def test_sklearn_string_labels():
    # test_log_loss: "case when y_true is a string array object".
    y_true = ["ham", "spam", "spam", "ham"]
    y_proba = [[0.3, 0.7], [0.6, 0.4], [0.4, 0.6], [0.7, 0.3]]
    assert log_loss(y_true, y_proba) == pytest.approx(0.7469410, rel=1e-7)


def test_sklearn_one_label_needs_labels():
    # test_log_loss: "test labels option".
    y_true = [2, 2]
    error_str = (
        "y_true contains only one label (2). Please provide the list of all "
        "expected class labels explicitly through the labels argument."
    )
    with pytest.raises(ValueError, match=re.escape(error_str)):
        log_loss(y_true, [[0.2, 0.8], [0.6, 0.4]])
    with pytest.raises(ValueError, match=re.escape("inconsistent numbers of samples")):
        log_loss(y_true, [[0.2, 0.8], [0.6, 0.4], [0.7, 0.3]])
    # works when the labels argument is used
    y_score = np.array([[0.1, 0.9], [0.1, 0.9]])
    assert log_loss(y_true, y_score, labels=[1, 2]) == pytest.approx(
        -np.mean(np.log(y_score[:, 1])), rel=1e-7
    )


def test_sklearn_labels_must_hold_every_label():
    # test_log_loss: "raise error if labels do not contain all values of y_true" (binary form).
    error_str = "y_true contains values {'b'} not belonging to the passed labels ['a', 'c']."
    with pytest.raises(ValueError, match=re.escape(error_str)):
        log_loss(["a", "b", "c"], [0.1, 0.9, 0.8], labels=["a", "c"])
    with pytest.raises(ValueError, match=re.escape("y_true contains values {2} not belonging")):
        log_loss([0, 2, 1], [0.1, 0.9, 0.8], labels=[0, 1])


def test_sklearn_classes_of_y_pred_must_match():
    # test_log_loss: "raise error if number of classes are not equal" -- here, any third column.
    with pytest.raises(ValueError, match="different number of classes: 2 vs 3"):
        log_loss([1, 0, 1], [[0.2, 0.7, 0.1], [0.6, 0.2, 0.2], [0.6, 0.1, 0.3]])


@pytest.mark.parametrize("dtype", [F64, F32, F16], ids=str)
def test_sklearn_eps_follows_the_dtype(dtype):
    # test_log_loss_eps: y_true [0, 1], y_proba [1, 0] is finite; both are clipped at eps, so
    # the loss is exactly -log(eps) of the dtype.
    y_true = np.array([0, 1], dtype=dtype)
    y_proba = np.array([1, 0], dtype=dtype)
    loss = log_loss(y_true, y_proba)
    assert np.isfinite(loss)
    assert loss == pytest.approx(-math.log(float(np.finfo(dtype).eps)), rel=RTOL[dtype])


@pytest.mark.parametrize("dtype", [F64, F32, F16], ids=str)
def test_sklearn_not_probabilities_warning(dtype):
    # test_log_loss_not_probabilities_warning; rows are not renormalised (scikit-learn >= 1.5).
    y_true = np.array([0, 1, 1, 0])
    y_proba = np.array([[0.2, 0.7], [0.6, 0.3], [0.4, 0.7], [0.8, 0.3]], dtype=dtype)
    with pytest.warns(UserWarning, match=NOT_ONE):
        loss = log_loss(y_true, y_proba)
    assert loss == pytest.approx(reference(y_true, y_proba), rel=RTOL[dtype])


@pytest.mark.parametrize(
    "y_true, y_proba",
    [([0, 1, 0], [0, 1, 0]), ([0, 1, 0], [[1, 0], [0, 1], [1, 0]])],
)
def test_sklearn_perfect_predictions(y_true, y_proba):
    # test_log_loss_perfect_predictions: "Because of the clipping, the result is not exactly 0":
    # each sample costs -log(1 - eps).
    loss = log_loss(y_true, y_proba)
    assert loss == pytest.approx(0, abs=1e-15)
    assert loss == pytest.approx(float(-mpmath.log1p(-(mpmath.mpf(2) ** -52))), rel=1e-12)


def test_sklearn_pandas_input():
    # test_log_loss_pandas_input: a Series of labels and a DataFrame of probabilities.
    pd = optional_import("pandas")
    y_tr = np.array(["ham", "spam", "spam", "ham"])
    y_pr = np.array([[0.3, 0.7], [0.6, 0.4], [0.4, 0.6], [0.7, 0.3]])
    assert log_loss(pd.Series(y_tr), pd.DataFrame(y_pr)) == pytest.approx(0.7469410, rel=1e-7)
    assert log_loss(pd.Series(y_tr, dtype="category"), pd.DataFrame(y_pr)) == pytest.approx(
        0.7469410, rel=1e-7
    )


def test_sklearn_unordered_labels_warn():
    # test_log_loss_warnings, with two labels.
    expected_message = re.escape(
        "Labels passed were ['spam', 'eggs']. But this function "
        "assumes labels are ordered lexicographically. "
        "Pass the ordered labels=['eggs', 'spam'] and ensure that "
        "the columns of y_prob correspond to this ordering."
    )
    with pytest.warns(UserWarning, match=expected_message):
        loss = log_loss(["eggs", "spam", "spam"], [[1, 0], [0, 1], [0, 1]], labels=["spam", "eggs"])
    assert loss == pytest.approx(float(-mpmath.log1p(-(mpmath.mpf(2) ** -52))), rel=1e-12)


def test_sklearn_docstring_example():
    # log_loss's docstring: 0.21616...
    loss = log_loss(["spam", "ham", "ham", "spam"], [[0.1, 0.9], [0.9, 0.1], [0.8, 0.2], [0.35, 0.65]])
    assert round(loss, 5) == 0.21616


def test_no_renormalisation():
    # scikit-learn < 1.5 divided each row by its sum (its test expected 1.0383217 for these rows);
    # >= 1.5, and this function, warn and take the columns as given.
    y_true = ["ham", "spam", "spam", "ham"]
    y_proba = [[0.2, 0.7], [0.6, 0.5], [0.4, 0.1], [0.7, 0.2]]
    with pytest.warns(UserWarning, match=NOT_ONE):
        loss = log_loss(y_true, y_proba)
    assert loss == pytest.approx(-np.mean(np.log([0.2, 0.5, 0.1, 0.7])), rel=1e-15)
    assert loss != pytest.approx(1.0383217, rel=1e-3)


# --------------------------------------------------------------------------------------------
# Recorded from sklearn.metrics.log_loss 1.9.1 (numpy 2.4)

EPS, EPS32 = float(np.finfo(np.float64).eps), float(np.finfo(np.float32).eps)
RECORDED = {
    "ints": (([0, 1, 1, 0, 1], [0.1, 0.8, 0.6, 0.4, 0.99]), {}, 0.27204113007150377),
    "minus one/one": (([-1, 1, 1], [0.2, 0.3, 0.9]), {}, 0.5108256237659907),
    "one/two": (([1, 2, 2], [0.2, 0.3, 0.9]), {}, 0.5108256237659907),
    "three/seven uint8": ((np.array([3, 7, 7, 3], np.uint8), [0.2, 0.3, 0.9, 0.5]), {}, 0.5564060129644793),
    "bools": (([False, True, True], [0.2, 0.3, 0.9]), {}, 0.5108256237659907),
    "bool labels given": (([True, False], [0.2, 0.3]), {"labels": [False, True]}, 0.9830564281864164),
    "float labels": (([0.0, 1.0, 1.0], [0.2, 0.3, 0.9]), {}, 0.5108256237659907),
    "strings": ((["a", "b", "a"], [0.2, 0.3, 0.4]), {}, 0.6459806598020456),
    "one class with labels": (([0, 0], [0.2, 0.3]), {"labels": [0, 1]}, 0.2899092476264711),
    "positive only with labels": (([2, 2], [0.9, 0.6]), {"labels": [1, 2]}, 0.30809306971190853),
    "sum": (([0, 1], [0.2, 0.3]), {"normalize": False}, 1.4271163556401458),
    "weights": (([0, 1, 1], [0.2, 0.3, 0.7]), {"sample_weight": [1, 3, 0.5]}, 0.8918665413914186),
    "negative weight": (([0, 1], [0.2, 0.3]), {"sample_weight": [-1, 2]}, 2.1848020573376625),
    "weighted sum": (
        ([0, 1, 1], [0.2, 0.3, 0.7]),
        {"sample_weight": [1, 3, 0.5], "normalize": False},
        4.013399436261384,
    ),
    "zero probabilities": (([0, 1], [0.0, 0.0]), {}, 18.021826694558577),
    "one probabilities": (([0, 1], [1.0, 1.0]), {}, 18.021826694558577),
    "float32 zero": (([0, 1], np.array([0.0, 0.0], np.float32)), {}, 7.971192359924316),
    "float32 one": (([0, 1], np.array([1.0, 1.0], np.float32)), {}, 7.971192359924316),
    "float32 perfect": (([0, 1, 1], np.array([0.0, 1.0, 1.0], np.float32)), {}, 1.1920930376163597e-07),
    "near eps": (
        ([1, 1, 0, 0, 1, 0], [EPS / 2, 2 * EPS, 1 - EPS / 2, 1 - 2 * EPS, 1e-300, 5e-324]),
        {},
        29.805328764077643,
    ),
    "float32 near eps": (
        (
            [1, 1, 0, 0, 1, 0],
            np.array([EPS32 / 2, 2 * EPS32, 1 - EPS32 / 2, 1 - 2 * EPS32, 1e-30, 1e-45], np.float32),
        ),
        {},
        13.054271697998047,
    ),
    "predict_proba": (([0, 1, 1], [[0.8, 0.2], [0.3, 0.7], [0.1, 0.9]]), {}, 0.22839300363692283),
    "predict_proba clipped": (
        ([0, 1, 1, 0], [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]),
        {},
        18.021826694558577,
    ),
    "column": (([0, 1, 1], [[0.2], [0.3], [0.9]]), {}, 0.5108256237659907),
}


@pytest.mark.parametrize("name", list(RECORDED))
def test_recorded_sklearn_values(name):
    args, kwargs, expected = RECORDED[name]
    # float32 results: scikit-learn's mean is a float32 sum, fastbce's a float64 one.
    assert log_loss(*args, **kwargs) == pytest.approx(expected, rel=1e-7)


def test_recorded_rows_off_warn():
    with pytest.warns(UserWarning, match=NOT_ONE):
        assert log_loss([0, 1], [[0.5, 0.6], [0.3, 0.3]]) == pytest.approx(0.9485599924429406, rel=1e-15)


# --------------------------------------------------------------------------------------------
# Against the reference: random data and the clipping bounds


def probabilities(rng, n, dtype):
    """Probabilities spread over (0, 1) in log space, with the values that meet the clipping
    bounds: 0, 1, subnormals, eps/2, eps, 2 eps and their mirror images below 1."""
    dtype = np.dtype(dtype)
    eps = float(np.finfo(dtype).eps)
    tiny = float(np.finfo(dtype).smallest_subnormal)
    p = np.exp(-rng.exponential(3.0, size=n))
    p = np.where(rng.uniform(size=n) < 0.5, p, 1 - p)
    special = [0.0, 1.0, tiny, eps / 4, eps / 2, eps, 2 * eps, 1 - eps, 1 - eps / 2, 1 - eps / 4, 1e-40, 0.5]
    p[: len(special)] = special
    p = p.astype(dtype)
    rng.shuffle(p)
    return np.clip(p, 0, 1)


@pytest.mark.parametrize("dtype", [F64, F32, F16], ids=str)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("normalize", [True, False], ids=["mean", "sum"])
def test_matches_the_reference(dtype, weighted, normalize):
    rng = np.random.default_rng(7)
    n = 1500
    p = probabilities(rng, n, dtype)
    y = rng.integers(0, 2, size=n)
    w = rng.uniform(0, 3, size=n) if weighted else None
    got = log_loss(y, p, sample_weight=w, normalize=normalize)
    assert got == pytest.approx(reference(y, p, w, normalize, exact_complement=True), rel=RTOL[dtype])
    if dtype != F16:  # scikit-learn's own rounding of 1 - p: far below the tolerance
        assert got == pytest.approx(reference(y, p, w, normalize), rel=RTOL[dtype])


@pytest.mark.parametrize("dtype", [F64, F32], ids=str)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_predict_proba_matches_the_reference(dtype, weighted):
    rng = np.random.default_rng(8)
    n = 1500
    p1 = probabilities(rng, n, dtype)
    pairs = np.stack([(1 - p1).astype(dtype), p1], axis=1)
    y = np.where(rng.integers(0, 2, size=n) == 1, "pos", "neg")
    w = rng.uniform(0, 3, size=n) if weighted else None
    got = log_loss(y, pairs, sample_weight=w)
    assert got == pytest.approx(reference(y, pairs, w), rel=RTOL[dtype])


@pytest.mark.parametrize("dtype", [F64, F32], ids=str)
def test_every_sample_clipped(dtype):
    """Every probability beyond the clipping bounds: each loss is -log(eps) or -log(1 - eps)."""
    eps = float(np.finfo(dtype).eps)
    p = np.array([0.0, 1.0, 0.0, 1.0, eps / 4, 1 - eps / 4], dtype=dtype)
    y = np.array([1, 0, 0, 1, 1, 1])
    expected = reference(y, p)
    assert log_loss(y, p) == pytest.approx(expected, rel=RTOL[dtype])
    wrong, right = -math.log(eps), -math.log1p(-eps)
    assert expected == pytest.approx((3 * wrong + 3 * right) / 6, rel=1e-6)


def test_soft_labels_are_not_labels():
    with pytest.raises(ValueError, match="Unknown label type: y_true holds non-integral floats"):
        log_loss([0.0, 0.5, 1.0], [0.1, 0.5, 0.9])
    with pytest.raises(ValueError, match="Unknown label type"):
        log_loss([0.2, 0.7], [0.1, 0.5])


def test_float32_negatives_take_log1p():
    """The one documented difference: a negative's log(1 - p) is log1p(-p), exact, where
    scikit-learn rounds 1 - p to float32 first. Against the exact value, within float32's
    accuracy; against scikit-learn's rounding, within half an ulp of 1 per sample."""
    p = np.array([1e-3, 3e-3, 7e-4, 0.011], dtype=np.float32)
    y = [0, 0, 0, 1]
    exact = float(
        mpmath.fsum(
            [-mpmath.log1p(-mpmath.mpf(float(v))) for v in p[:3]] + [-mpmath.log(mpmath.mpf(float(p[3])))]
        )
        / 4
    )
    assert log_loss(y, p) == pytest.approx(exact, rel=1e-6)
    assert abs(log_loss(y, p) - reference(y, p)) <= EPS32 / 2


# --------------------------------------------------------------------------------------------
# scikit-learn's invariances (sklearn/metrics/tests/test_common.py)


def test_label_encodings_agree():
    rng = np.random.default_rng(3)
    p = rng.uniform(size=200)
    y = rng.integers(0, 2, size=200)
    expected = log_loss(y, p)
    assert expected == pytest.approx(reference(y, p), rel=1e-12)
    encodings = {
        "list": y.tolist(),
        "bool": y.astype(bool),
        "float": y.astype(np.float32),
        "minus one": 2 * y - 1,
        "uint8 offsets": (y * 40 + 3).astype(np.uint8),
        "large ints": y * 2**62,
        "strings": np.where(y == 1, "yes", "no"),
        "object strings": np.where(y == 1, "yes", "no").astype(object),
        "column": y[:, None],
        "big-endian": y.astype(">i4"),
    }
    frames = optional_import("pandas")
    encodings["nullable Int64"] = frames.Series(y, dtype="Int64")
    encodings["categorical"] = frames.Series(np.where(y == 1, "b", "a"), dtype="category")
    for name, labels in encodings.items():
        assert log_loss(labels, p) == expected, name
    assert log_loss(y, p.tolist()) == expected
    assert log_loss(y, p[:, None]) == expected
    assert log_loss(y, p.astype(">f8")) == expected
    assert log_loss(y, p.astype(np.float32).astype(">f4")) == log_loss(y, p.astype(np.float32))


def test_strings_and_objects():
    """Labels that are not numbers: classes found by comparison, ordered as Python orders them."""
    p = [0.9, 0.2, 0.7, 0.4]
    expected = reference(["b", "a", "b", "a"], p)
    assert expected == pytest.approx(-np.mean(np.log([0.9, 0.8, 0.7, 0.6])), rel=1e-15)
    assert log_loss(["b", "a", "b", "a"], p) == pytest.approx(expected, rel=1e-15)
    assert log_loss(np.array(["b", "a", "b", "a"], dtype="S1"), p) == pytest.approx(expected, rel=1e-15)
    assert log_loss(np.array([1, 0, 1, 0], dtype=object), p) == pytest.approx(expected, rel=1e-15)
    assert log_loss(np.array(["b", "a", "b", "a"], dtype=object), p) == pytest.approx(expected, rel=1e-15)
    # every width and layout of fixed-width strings (short ones are compared as integers)
    rng = np.random.default_rng(12)
    y = rng.integers(0, 2, size=999)
    q = rng.uniform(size=999)
    expected = log_loss(y, q)
    for negative, positive in [
        ("a", "b"),
        ("no", "yes"),
        ("ab", "abcd"),
        ("x" * 7, "x" * 8),
        ("n" * 40, "p"),
    ]:
        labels = np.where(y == 1, positive, negative)
        for given in (labels, labels.astype("S"), labels.astype(object), np.repeat(labels, 2)[::2]):
            assert log_loss(given, q) == expected, (negative, positive, given.dtype)
            names = (
                [negative, positive] if given.dtype.kind != "S" else [negative.encode(), positive.encode()]
            )
            assert log_loss(given, q, labels=names) == expected
    assert log_loss(["b", "b"], [0.9, 0.8], labels=["a", "b"]) == pytest.approx(
        -np.mean(np.log([0.9, 0.8])), rel=1e-15
    )
    with pytest.raises(ValueError, match=re.escape("y_true contains only one label (a).")):
        log_loss(["a", "a"], [0.1, 0.2])
    with pytest.raises(ValueError, match=r"more than two classes \('a', 'b' and 'c' at least\)"):
        log_loss(["b", "a"] * 10 + ["c"], [0.5] * 21)
    with pytest.raises(ValueError, match=re.escape("y_true contains values {'c'} not belonging")):
        log_loss(["b", "a", "c"], [0.5] * 3, labels=["a", "b"])


def test_one_column_and_two_columns_agree():
    rng = np.random.default_rng(4)
    p = rng.uniform(size=300)
    y = rng.integers(0, 2, size=300)
    pairs = np.stack([1 - p, p], axis=1)
    # 1-D takes log1p(-p) for a negative, 2-D log of its column 1 - p: the same to rounding.
    assert log_loss(y, pairs) == pytest.approx(log_loss(y, p), rel=1e-14)
    assert log_loss(y, np.asfortranarray(pairs)) == log_loss(y, pairs)


def test_sample_weight_invariances():
    rng = np.random.default_rng(5)
    n = 100
    p = rng.uniform(size=n)
    y = rng.integers(0, 2, size=n)
    assert log_loss(y, p, sample_weight=np.ones(n)) == pytest.approx(log_loss(y, p), rel=1e-15)
    assert log_loss(y, p, sample_weight=2.0) == pytest.approx(log_loss(y, p), rel=1e-15)
    # integer weights repeat samples
    repeats = rng.integers(1, 4, size=n)
    repeated = log_loss(np.repeat(y, repeats), np.repeat(p, repeats))
    assert log_loss(y, p, sample_weight=repeats) == pytest.approx(repeated, rel=1e-13)
    # zero weights remove samples
    keep = rng.uniform(size=n) < 0.6
    assert log_loss(y, p, sample_weight=keep.astype(float)) == pytest.approx(
        log_loss(y[keep], p[keep]), rel=1e-13
    )
    # scaling the weights changes a mean not at all, a sum in proportion
    w = rng.uniform(size=n)
    assert log_loss(y, p, sample_weight=3 * w) == pytest.approx(log_loss(y, p, sample_weight=w), rel=1e-14)
    total = log_loss(y, p, sample_weight=w, normalize=False)
    assert total == pytest.approx(log_loss(y, p, sample_weight=w) * w.sum(), rel=1e-14)
    assert log_loss(y, p, normalize=False) == pytest.approx(log_loss(y, p) * n, rel=1e-14)


def test_weights_with_clipped_samples():
    p = np.array([0.0, 0.3, 1.0, 0.9])
    y = np.array([1, 0, 0, 1])
    w = np.array([2.0, 0.5, 3.0, 1.5])
    assert log_loss(y, p, sample_weight=w) == pytest.approx(reference(y, p, w), rel=1e-14)
    assert log_loss(y, p, sample_weight=w, normalize=False) == pytest.approx(
        reference(y, p, w, normalize=False), rel=1e-14
    )


# --------------------------------------------------------------------------------------------
# Logits


@pytest.mark.parametrize("dtype", [F64, F32], ids=str)
def test_logits_are_exact(dtype):
    rng = np.random.default_rng(6)
    x = (rng.standard_normal(500) * 8).astype(dtype)
    x[:6] = [50, -50, 1e4, -1e4, 0, 700 if dtype == F64 else 80]
    y = rng.integers(0, 2, size=500)
    w = rng.uniform(size=500)
    assert log_loss(y, x, from_logits=True) == pytest.approx(logits_reference(y, x), rel=RTOL[dtype])
    got = log_loss(y, x, sample_weight=w, normalize=False, from_logits=True)
    assert got == pytest.approx(logits_reference(y, x, w, normalize=False), rel=RTOL[dtype])


def test_logits_are_not_clipped():
    # A positive scored -50 costs 50 as a logit (the negative beside it 2e-22); as a probability,
    # sigmoid(-50) = 2e-22 is clipped to eps, so it costs -log(eps) and the negative -log(1 - eps).
    assert log_loss([1, 0], [-50.0, -50.0], from_logits=True) == pytest.approx(50 / 2, rel=1e-15)
    p = 1 / (1 + math.exp(50))
    clipped = (-math.log(EPS) - math.log1p(-EPS)) / 2
    assert log_loss([1, 0], [p, p]) == pytest.approx(clipped, rel=1e-12)
    assert log_loss([0, 1], [-np.inf, np.inf], from_logits=True) == 0.0
    assert log_loss([1, 0], [-np.inf, np.inf], from_logits=True) == np.inf


def test_logits_agree_with_probabilities_inside_the_bounds():
    rng = np.random.default_rng(9)
    x = rng.standard_normal(400) * 4
    y = np.where(rng.integers(0, 2, size=400) == 1, "b", "a")
    p = 1 / (1 + np.exp(-x))
    assert log_loss(y, x, from_logits=True) == pytest.approx(log_loss(y, p), rel=1e-12)


# --------------------------------------------------------------------------------------------
# Errors and warnings


@pytest.mark.parametrize(
    "args, kwargs, error, pattern",
    [
        (([0, 1, 2], [0.1, 0.2, 0.3]), {}, ValueError, r"y_true holds more than two classes \(0, 2 and 1"),
        ((["a", "b", "c"], [0.1, 0.2, 0.3]), {}, ValueError, "more than two classes.*binary only"),
        (([3, 7, 5], [0.1, 0.2, 0.3]), {}, ValueError, "more than two classes"),
        (([0, 1], [0.1, 0.2]), {"labels": [0, 1, 2]}, ValueError, "labels gives 3 classes.*binary only"),
        (([0, 0], [0.1, 0.2]), {"labels": [0]}, ValueError, "at least two labels"),
        (([0, 1], [0.1, 0.2]), {"labels": ["a", "b"]}, ValueError, r"values \{0, 1\} not belonging"),
        (([0, np.nan], [0.1, 0.2]), {}, ValueError, "y_true contains NaN"),
        (([[0, 1], [1, 0]], [0.1, 0.2]), {}, ValueError, "y_true must hold one label per sample"),
        (([0, 1j], [0.1, 0.2]), {}, ValueError, "y_true holds complex numbers"),
        ((np.array([0, "a"], dtype=object), [0.1, 0.2]), {}, TypeError, "y_true's labels cannot be ordered"),
        (([0, 1], [np.nan, 0.2]), {}, ValueError, "y_pred contains NaN"),
        (([0, 1], [1.5, 0.2]), {}, ValueError, "y_pred contains values greater than 1: 1.5"),
        (([0, 1], [-0.5, 0.2]), {}, ValueError, "y_pred contains values lower than 0: -0.5"),
        (([0, 1], [np.inf, 0.2]), {}, ValueError, "greater than 1: inf"),
        (([0, 1], ["0.1", "0.2"]), {}, TypeError, "y_pred must hold real numbers"),
        (([0, 1], 0.3), {}, ValueError, "y_pred must have 1 or 2 dimensions"),
        (([0, 1], np.ones((2, 2, 1)) / 2), {}, ValueError, "y_pred must have 1 or 2 dimensions"),
        (([], []), {}, ValueError, r"0 sample\(s\).*y_pred"),
        (
            ([0, 1, 1], [0.1, 0.2]),
            {},
            ValueError,
            "inconsistent numbers of samples: y_true has 3, y_pred has 2",
        ),
        (([0, 1], [0.1, 0.2]), {"sample_weight": [1, 2, 3]}, ValueError, "sample_weight has 3"),
        (([0, 1], [0.1, 0.2]), {"sample_weight": [[1], [2]]}, ValueError, "sample_weight must be 1D"),
        (([0, 1], [0.1, 0.2]), {"sample_weight": [np.nan, 1]}, ValueError, "sample_weight contains NaN"),
        (([0, 1], [0.1, 0.2]), {"sample_weight": [0, 0]}, ValueError, "at least one non-zero"),
        (
            ([0, 1], [0.1, 0.2]),
            {"sample_weight": [0, 0], "normalize": False},
            ValueError,
            "at least one non-zero",
        ),
        (([0, 1], [0.1, 0.2]), {"sample_weight": [-1, 1]}, ValueError, "sum to zero.*sample_weight"),
        (([0, 1], [0.1, 0.2]), {"sample_weight": ["a", "b"]}, TypeError, "sample_weight must hold real"),
        (([0, 1], [0.1, 0.2]), {"normalize": 1}, TypeError, "normalize must be True or False"),
        (([0, 1], [0.1, 0.2]), {"from_logits": "yes"}, TypeError, "from_logits must be True or False"),
        (([0, 1], [[0.1, 0.9], [0.2, 0.8]]), {"from_logits": True}, ValueError, "one logit per sample"),
        (([0, 1], [np.nan, 0.2]), {"from_logits": True}, ValueError, "y_pred contains NaN"),
        (([0, 1], np.ma.MaskedArray([0.1, 0.2])), {}, TypeError, "y_pred is a np.ma.MaskedArray"),
        ((np.ma.MaskedArray([0, 1]), [0.1, 0.2]), {}, TypeError, "y_true is a np.ma.MaskedArray"),
    ],
)
def test_bad_input_is_refused_naming_the_argument(args, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        log_loss(*args, **kwargs)


def test_warnings_point_at_the_call():
    for args, kwargs in (
        (([0, 1], [0.2, 0.3]), {"labels": [1, 0]}),
        ((["a", "b"], [0.2, 0.3]), {"labels": ["b", "a"]}),
        (([0, 1], [[0.2, 0.3], [0.1, 0.2]]), {}),
    ):
        with pytest.warns(UserWarning) as record:
            log_loss(*args, **kwargs)
        assert [w.filename for w in record] == [__file__]


def test_warnings_only_where_due():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        log_loss([0, 1], np.array([[0.3, 0.7], [0.6, 0.4]], dtype=np.float32))
        log_loss([0, 1], [0.0, 1.0])
        log_loss([0, 1], [0.1, 0.2], labels=[0, 1])


# --------------------------------------------------------------------------------------------
# The way it computes


def test_clipping_makes_no_copy_of_the_data():
    """Probabilities beyond the clipping bounds cost a boolean mask (n bytes) and the few samples,
    not a float copy of the data (8n bytes)."""
    n = 1_000_000
    rng = np.random.default_rng(10)
    p = rng.uniform(size=n)
    y = (rng.uniform(size=n) < p).astype(np.float64)  # already the kernel's target: no conversion
    p[::1000] = 0.0
    p[1::1000] = 1.0
    inside = np.clip(p, 1e-3, 1 - 1e-3)
    log_loss(y, p)
    tracemalloc.start()
    try:
        log_loss(y, p)
        clipped = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        log_loss(y, inside)
        unclipped = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert clipped < 3 * n, clipped
    assert unclipped < 1.5 * n, unclipped  # float labels: one comparison with 1 (n bytes)


def test_module_is_exported_and_documented():
    assert fastbce.metrics is fastbce.metrics
    assert "metrics" in fastbce.__all__
    assert fastbce.metrics.__all__ == ["log_loss"]
    doc = inspect.getdoc(log_loss) or ""
    for section in ("Parameters\n----------\n", "Returns\n-------\n", "Raises\n------\n", "Notes\n-----\n"):
        assert section in doc
    assert list(inspect.signature(log_loss).parameters) == [
        "y_true",
        "y_pred",
        "normalize",
        "sample_weight",
        "labels",
        "from_logits",
    ]
    assert doctest.testmod(fastbce.metrics).failed == 0


# --------------------------------------------------------------------------------------------
# The live scikit-learn (the `sklearn` extra, which the README's test command installs)


def test_against_installed_sklearn():
    sklearn_metrics = optional_import("sklearn.metrics")
    rng = np.random.default_rng(11)
    for dtype in (F64, F32):
        for two_columns in (False, True):
            for weighted in (False, True):
                n = 20_000
                p = probabilities(rng, n, dtype)
                y = rng.integers(0, 2, size=n) * 5 - 2
                y_pred = np.stack([(1 - p).astype(dtype), p], axis=1) if two_columns else p
                w = rng.uniform(size=n) if weighted else None
                expected = sklearn_metrics.log_loss(y, y_pred, sample_weight=w)
                assert log_loss(y, y_pred, sample_weight=w) == pytest.approx(expected, rel=1e-6)
