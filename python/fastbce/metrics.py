"""scikit-learn's binary ``log_loss``, computed by fastbce's kernels.

``fastbce.metrics.log_loss(y_true, y_pred)`` takes what ``sklearn.metrics.log_loss`` takes for two
classes (sklearn ≥ 1.5: probabilities clipped to ``[eps, 1 - eps]``, rows not renormalised) and
returns the same number; the loss itself is summed by the kernels, in float64 over fixed chunks
(``docs/DESIGN.md``, "Reductions"). What lives here is what is scikit-learn's own: its argument
order, its labels, its checks and messages, and its clipping.

How a call goes, in passes over the data (n samples):

- **labels**, for numeric ``y_true``: its minimum and maximum (two passes, no sort) give the two
  classes; integer labels ``k`` and ``k + 1`` (``{0, 1}`` above all) need no further check, others
  one comparison per class and a count. The target is the labels as 0/1 in the probabilities'
  dtype (one conversion, none when ``y_true`` already is that). Strings and other objects: the
  first label and the first other one are the classes, each sample is compared with both (no
  sort either), and Python's ``<`` orders the two.
- **probabilities**: their minimum and maximum (two passes) check the range, catch NaN and tell
  whether clipping can change anything; for ``(n, 2)`` input, one more sum and its extremes check
  that rows add up to 1, and one ``np.where`` picks each sample's column.
- **the loss**: one kernel call, ``binary_cross_entropy`` with ``reduction="sum"`` in float64.

**Clipping without a copy.** The kernel takes each log clamped at -100 (PyTorch's rule), scikit-learn
clips ``p`` to ``[eps, 1 - eps]``. The two agree wherever ``eps <= p <= 1 - eps``: there both take
``-log(p)`` for a positive and ``-log(1 - p)`` for a negative. Only the samples outside that range
(where ``p < eps`` or ``p > 1 - eps``, found only when the minimum or maximum says there are any) are
left out of the kernel's sum by its mask and added as scikit-learn takes them: the probability of
the true class (``1 - p`` rounded in the dtype, as scikit-learn computes it), clipped, through the
kernel again. Nothing of size n is copied when no probability is that close to 0 or 1.

One difference remains: the kernel computes ``log(1 - p)`` of a negative sample as ``log1p(-p)``,
exactly; scikit-learn rounds ``1 - p`` to the dtype first. That moves a sample's loss by at most
half an ulp of 1 (1.1e-16 in float64, 6e-8 in float32), far below a mean's last float32 digit.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Optional, Tuple

import numpy as np
import numpy.typing as npt

from . import _core, _plan

__all__ = ["log_loss"]

_F16 = np.dtype(np.float16)
_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_FLOATS = (_F16, _F32, _F64)


def log_loss(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    *,
    normalize: bool = True,
    sample_weight: Optional[npt.ArrayLike] = None,
    labels: Optional[npt.ArrayLike] = None,
    from_logits: bool = False,
) -> float:
    """Binary log loss (logistic loss, cross-entropy), as ``sklearn.metrics.log_loss`` computes it
    for two classes: the same arguments in the same order, the same labels, clipping, checks and
    result.

    For a sample with true class ``y`` (1 for the positive class) and probability ``p`` of the
    positive class, the loss is ``-(y log(p) + (1 - y) log(1 - p))`` with ``p`` clipped to
    ``[eps, 1 - eps]``, ``eps = np.finfo(y_pred.dtype).eps``. The result is their mean, weighted by
    ``sample_weight``, or their sum.

    Parameters
    ----------
    y_true : array_like of shape (n_samples,)
        The true labels: any two classes (integers, bools, integral floats, strings), as a list,
        an array or a pandas Series. The positive class is the larger of the two (the later in
        sorted order), as scikit-learn's ``LabelBinarizer`` orders them. Numeric labels are found
        from their minimum and maximum, strings and other objects by comparing each with the
        first two classes found (no sort in either case).
    y_pred : array_like of shape (n_samples,) or (n_samples, 2)
        Probabilities of the positive class, or ``predict_proba``'s two columns (column 0 for the
        smaller class, column 1 for the larger; a sample's loss uses its true class's column, and
        rows that do not sum to 1 warn, as scikit-learn does, and are not renormalised). float16,
        float32 and float64 keep their dtype (float16 computes in float32); any other real dtype
        becomes float64. With ``from_logits=True``: one logit (raw score) per sample.
    normalize : bool, default True
        The mean loss per sample (weighted by ``sample_weight``); False gives the sum.
    sample_weight : array_like of shape (n_samples,), optional
        A weight per sample; the mean divides by their sum.
    labels : array_like, optional
        The two classes, when ``y_true`` may hold only one of them. Every label of ``y_true`` must
        be one of them; as in scikit-learn, they are taken in sorted order (a UserWarning says so
        when they are given in another).
    from_logits : bool, default False
        ``y_pred`` holds logits (a model's raw scores, ``decision_function``): the loss is
        ``binary_cross_entropy_with_logits``, exact for any logit, and nothing is clipped, so a
        confidently wrong score costs its full loss (``-log(sigmoid(-50)) = 50`` where the clipped
        probability would cost at most ``-log(eps)`` = 36.04 in float64, 15.94 in float32).

    Returns
    -------
    float
        The mean (or, with ``normalize=False``, the sum) of the per-sample losses, summed in
        float64 by the kernels.

    Raises
    ------
    ValueError
        Naming the argument: ``y_true`` with one class and no ``labels`` (scikit-learn's message),
        more than two classes (this function is binary only: use scikit-learn for multiclass),
        non-integral float labels, labels outside ``labels``, or NaN; ``y_pred`` with NaN, values
        outside [0, 1], a number of columns other than 1 or 2 (``from_logits``: 1), no samples,
        or more than 2 dimensions; inconsistent numbers of samples; ``sample_weight`` that is not
        one finite number per sample, or sums to zero (for the mean; all zero in any case).
    TypeError
        ``y_pred`` or ``sample_weight`` not real numbers, a ``np.ma.MaskedArray`` (pass the
        elements that count: ``arr.compressed()``), or ``normalize`` / ``from_logits`` not bool.

    Warns
    -----
    UserWarning
        ``(n, 2)`` probabilities whose rows do not sum to 1 (within ``sqrt(eps)``), or ``labels``
        not in sorted order, with scikit-learn's messages.

    Notes
    -----
    Against ``fastbce.binary_cross_entropy(input, target)``, which is PyTorch's loss: the
    arguments come the other way round (``y_true`` first), labels are any two classes (not targets
    in [0, 1]; no soft labels), the result is a Python float, and probabilities are *clipped* to
    ``[eps, 1 - eps]`` where PyTorch clamps each log at -100: a probability of exactly 0 for a
    positive costs ``-log(eps)`` (36.04 in float64) here and 100 there, and a perfect prediction
    costs ``-log(1 - eps)`` (``eps``, about 2.2e-16 in float64) here and 0 there. Between ``eps``
    and ``1 - eps`` the two agree.

    scikit-learn 1.9 renamed its second parameter ``y_proba``; called positionally, as it usually
    is, this function is a drop-in for either name. It follows scikit-learn ≥ 1.5 (rows of
    ``y_pred`` are not renormalised; earlier versions divided by their sum).

    Examples
    --------
    >>> from fastbce.metrics import log_loss
    >>> round(log_loss(["spam", "ham", "ham", "spam"], [[.1, .9], [.9, .1], [.8, .2], [.35, .65]]), 5)
    0.21616
    """
    normalize = _bool("normalize", normalize)
    from_logits = _bool("from_logits", from_logits)
    scores, low, high = _scores(y_pred, from_logits)
    y = _labels_of(y_true)
    weight = None if sample_weight is None else _sample_weight(sample_weight, len(scores))
    lengths = [("y_true", len(y)), ("y_pred", len(scores))]
    if weight is not None:
        lengths.append(("sample_weight", len(weight)))
    if len({n for _, n in lengths}) > 1:
        raise ValueError(
            "Found input variables with inconsistent numbers of samples: "
            + ", ".join(f"{name} has {n}" for name, n in lengths)
        )
    positive = _positives(y, labels)
    n = len(scores)
    dtype = scores.dtype  # its eps clips; float16 computes in float32
    compute = _F32 if dtype == _F16 else dtype
    weight_sum = float(n)
    if weight is not None:
        weight_sum = _weight_total(weight, normalize)
        weight = _plan.operand("sample_weight", weight, compute)
    if from_logits:
        total = _core.loss_total(_as(scores, compute), _as(positive, compute), True, weight, None, None, 0.0)
    else:
        total = _probability_total(scores, low, high, positive, weight, dtype, compute)
    if not normalize:
        return float(total)
    return float(total / weight_sum)


# --------------------------------------------------------------------------------------------
# Arguments


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _as(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    return array if array.dtype == dtype else array.astype(dtype)


def _no_mask(name: str, value: Any) -> None:
    if isinstance(value, np.ma.MaskedArray):
        raise TypeError(
            f"{name} is a np.ma.MaskedArray; log_loss has no mask (scikit-learn's would ignore it): "
            "pass the elements that count (arr.compressed())"
        )


def _scores(y_pred: Any, from_logits: bool) -> Tuple[np.ndarray, float, float]:
    """y_pred as scikit-learn's ``check_array`` makes it: float16, float32 or float64 (others
    become float64, native byte order), one or two dimensions, at least one sample; checked for
    NaN and, for probabilities, for the range [0, 1]. With its minimum and maximum (probabilities
    only; NaN for logits)."""
    _no_mask("y_pred", y_pred)
    array = _plan.real_array("y_pred", y_pred)
    _no_mask("y_pred", array)
    native = np.dtype(array.dtype.type)  # native byte order
    dtype = native if native in _FLOATS else _F64
    array = np.asarray(array, dtype=dtype)
    if array.ndim not in (1, 2):
        raise ValueError(
            f"y_pred must have 1 or 2 dimensions (n_samples,) or (n_samples, 2), got shape {array.shape}"
        )
    if array.shape[0] == 0:
        raise ValueError(
            f"Found array with 0 sample(s) (shape={array.shape}) while a minimum of 1 is required: y_pred"
        )
    columns = 1 if array.ndim == 1 else array.shape[1]
    if from_logits and columns != 1:
        raise ValueError(
            "with from_logits=True, y_pred holds one logit per sample (shape (n_samples,)), "
            f"got shape {array.shape}"
        )
    if columns not in (1, 2):
        raise ValueError(
            f"y_true and y_pred contain different number of classes: 2 vs {columns}. "
            "fastbce.metrics.log_loss is binary only: y_pred takes 1 or 2 columns"
        )
    if array.ndim == 2 and columns == 1:
        array = array[:, 0]
    if from_logits:
        if np.isnan(array.max()):
            raise ValueError("Input y_pred contains NaN.")
        return array, math.nan, math.nan
    low, high = float(array.min()), float(array.max())
    if math.isnan(low) or math.isnan(high):
        raise ValueError("Input y_pred contains NaN.")
    if high > 1:
        raise ValueError(f"y_pred contains values greater than 1: {high}")
    if low < 0:
        raise ValueError(f"y_pred contains values lower than 0: {low}")
    return array, low, high


def _labels_of(y_true: Any) -> np.ndarray:
    """y_true as a 1-D array (a column vector is one)."""
    _no_mask("y_true", y_true)
    try:
        y = y_true if isinstance(y_true, np.ndarray) else np.asarray(y_true)
    except (ValueError, TypeError) as e:
        raise ValueError(f"y_true could not be converted to an array: {e}") from None
    _no_mask("y_true", y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"y_true must hold one label per sample (shape (n_samples,)), got shape {y.shape}")
    if y.dtype.kind == "c":
        raise ValueError("y_true holds complex numbers; labels are integers, bools, floats or strings")
    return y


def _sample_weight(sample_weight: Any, n: int) -> np.ndarray:
    """sample_weight as a 1-D array of real numbers (a scalar: the same weight for every sample)."""
    _no_mask("sample_weight", sample_weight)
    weight = _plan.real_array("sample_weight", sample_weight)
    _no_mask("sample_weight", weight)
    weight = np.asarray(weight)
    if weight.ndim == 0:
        weight = np.full(n, weight)
    if weight.ndim != 1:
        raise ValueError(f"sample_weight must be 1D (one weight per sample), got shape {weight.shape}")
    return weight


def _weight_total(weight: np.ndarray, normalize: bool) -> float:
    """The float64 sum of the weights (a mean's divisor), checked as scikit-learn checks them."""
    total = float(np.sum(weight, dtype=np.float64))
    if not math.isfinite(total):
        raise ValueError("Input sample_weight contains NaN or infinity.")
    if total == 0:
        if not np.any(weight):
            raise ValueError("Sample weights must contain at least one non-zero number.")
        if normalize:
            raise ValueError("Weights sum to zero, can't be normalized: sample_weight")
    return total


# --------------------------------------------------------------------------------------------
# Labels


def _classes(labels: Any, stacklevel: int) -> Tuple[Any, Any]:
    """The two classes ``labels`` gives, in sorted order (warning, as scikit-learn does, where they
    were given in another; ``stacklevel`` is the caller's distance from the user's call)."""
    given = np.asarray(labels)
    classes = np.unique(given)
    if len(classes) < 2:
        raise ValueError(
            f"The labels array needs to contain at least two labels for log_loss, got {classes}."
        )
    if len(classes) > 2:
        raise ValueError(
            f"labels gives {len(classes)} classes; fastbce.metrics.log_loss is binary only "
            "(sklearn.metrics.log_loss takes more)"
        )
    if given.shape != classes.shape or np.any(given != classes):
        warnings.warn(
            f"Labels passed were {_shown(labels)}. But this function "
            "assumes labels are ordered lexicographically. "
            f"Pass the ordered labels={classes.tolist()} and ensure that "
            "the columns of y_prob correspond to this ordering.",
            UserWarning,
            stacklevel=stacklevel + 1,
        )
    return classes[0], classes[1]


def _shown(labels: Any) -> Any:
    return labels.tolist() if isinstance(labels, np.ndarray) else labels


def _numeric(value: Any) -> bool:
    return isinstance(value, (bool, int, float, np.bool_, np.integer, np.floating))


def _one_label(value: Any) -> ValueError:
    return ValueError(
        f"y_true contains only one label ({value}). Please provide the list of all expected class "
        "labels explicitly through the labels argument."
    )


def _stray(y: np.ndarray, classes: Tuple[Any, Any], labels: Any) -> ValueError:
    """The error for labels of ``y`` other than the two ``classes``: values outside ``labels``, a
    third class, or (floats) values that are no class labels at all."""
    if y.dtype.kind in "biuf" and _numeric(classes[0]) and _numeric(classes[1]):
        others = y[(y != classes[0]) & (y != classes[1])][:1000].tolist()
    else:
        others = [v for v in y[:100_000].tolist() if v not in classes][:1000]
    if y.dtype.kind == "f":
        fractional = [v for v in others if not float(v).is_integer()]
        if fractional:
            return ValueError(
                f"Unknown label type: y_true holds non-integral floats (such as {fractional[0]}); "
                "log_loss takes class labels"
            )
    if labels is not None:
        return ValueError(
            f"y_true contains values {set(others)} not belonging to the passed labels {_shown(labels)}."
        )
    a, b = (v.item() if isinstance(v, np.generic) else v for v in classes)
    third = f" and {others[0]!r}" if others else ""
    return ValueError(
        f"y_true holds more than two classes ({a!r}, {b!r}{third} at least); "
        "fastbce.metrics.log_loss is binary only (sklearn.metrics.log_loss takes more)"
    )


def _positives(y: np.ndarray, labels: Any) -> np.ndarray:
    """Each sample's class as 0 or 1 (1 for the larger class): ``y`` itself where it already is
    0/1 numbers, else ``y == positive`` (bool)."""
    if y.dtype.kind not in "biuf":
        return _positives_by_comparing(y, labels)
    low, high = y.min().item(), y.max().item()
    if y.dtype.kind == "f":
        if math.isnan(low) or math.isnan(high):
            raise ValueError("Input y_true contains NaN.")
        for value in (low, high):
            if not float(value).is_integer():
                raise ValueError(
                    f"Unknown label type: y_true holds non-integral floats (such as {value}); "
                    "log_loss takes class labels"
                )
    if labels is None:
        if low == high:
            raise _one_label(low)
        negative, positive = low, high
    else:
        classes = _classes(labels, 3)
        if not (_numeric(classes[0]) and _numeric(classes[1])):
            raise _stray(y, classes, labels)
        negative, positive = classes[0].item(), classes[1].item()
        if low < negative or high > positive:
            raise _stray(y, (negative, positive), labels)
    # Integer labels between two consecutive integers are each one or the other: nothing to check.
    if y.dtype.kind in "biu" and positive - negative == 1:
        return y if (negative == 0 and positive == 1) else y == positive
    if negative == 0 and positive == 1:
        # Floats in [0, 1]: each must be 0 or 1, and is then its own target.
        if np.count_nonzero(y) != np.count_nonzero(y == 1):
            raise _stray(y, (negative, positive), labels)
        return y
    target = y == positive
    if np.count_nonzero(target) + np.count_nonzero(y == negative) != len(y):
        raise _stray(y, (negative, positive), labels)
    return target


def _equal(y: np.ndarray, value: Any) -> np.ndarray:
    """``y == value`` element by element, as a boolean array. Short fixed-width strings (up to 32
    bytes, contiguous) are compared as the integers their bytes make, a few times faster than
    NumPy's string comparison."""
    if y.dtype.kind in "US" and y.flags.c_contiguous and y.dtype.itemsize <= 32:
        word = np.uint64 if y.dtype.itemsize % 8 == 0 else np.uint32 if y.dtype.itemsize % 4 == 0 else None
        if word is not None and isinstance(value, (str, bytes)):
            stored = np.array([value], dtype=y.dtype)
            if stored[0] == value:  # the value fits the width: it is compared whole
                codes = stored.view(word)
                words = y.view(word).reshape(len(y), len(codes))
                equal = words[:, 0] == codes[0]
                for i in range(1, len(codes)):
                    equal &= words[:, i] == codes[i]
                return equal
    equal = np.asarray(y == value)
    if equal.shape != y.shape:
        raise TypeError(f"y_true's labels cannot be compared with {value!r}")
    return equal.astype(bool, copy=False)


def _positives_by_comparing(y: np.ndarray, labels: Any) -> np.ndarray:
    """Strings and other objects: the first label and the first other one are the classes (each
    sample compared with both, no sort), ordered as Python orders them."""
    if labels is not None:
        negative, positive = _classes(labels, 4)
        is_positive, is_negative = _equal(y, positive), _equal(y, negative)
        if np.count_nonzero(is_positive) + np.count_nonzero(is_negative) != len(y):
            raise _stray(y, (negative, positive), labels)
        return is_positive
    first = y[0]
    is_first = _equal(y, first)
    if is_first.all():
        raise _one_label(first)
    second = y[int(np.argmin(is_first))]
    is_second = _equal(y, second)
    try:
        second_is_larger = bool(first < second)
    except TypeError as e:
        raise TypeError(f"y_true's labels cannot be ordered: {e}") from None
    if np.count_nonzero(is_first) + np.count_nonzero(is_second) != len(y):
        raise _stray(y, (first, second) if second_is_larger else (second, first), None)
    return is_second if second_is_larger else is_first


# --------------------------------------------------------------------------------------------
# The loss


def _probability_total(
    scores: np.ndarray,
    low: float,
    high: float,
    positive: np.ndarray,
    weight: Any,
    dtype: np.dtype,
    compute: np.dtype,
) -> float:
    """The float64 sum of the clipped per-sample losses (weighted), through the kernel; ``low``
    and ``high`` are the probabilities' extremes."""
    n = len(scores)
    eps = np.finfo(dtype).eps
    one = dtype.type(1)
    top = one - dtype.type(eps)  # 1 - eps in the dtype, as scikit-learn's np.clip takes it
    if scores.ndim == 2:
        pairs = scores
        if not _rows_sum_to_one(pairs, eps):
            warnings.warn(
                "The y_prob values do not sum to one. Make sure to pass probabilities: the rows of "
                "y_pred (its two columns) should add up to 1.",
                UserWarning,
                stacklevel=3,
            )
        # Each sample's probability of its true class, taken with target 1.
        p = np.where(positive, pairs[:, 1], pairs[:, 0])
        target = np.broadcast_to(np.ones((), dtype=compute), (n,))
    else:
        p = scores
        target = _as(positive, compute)
    keep = None
    extra = 0.0
    if low < eps or high > top:
        # Where clipping changes the loss: leave those samples out of the kernel's sum and add
        # them as scikit-learn takes them (docs in the module's documentation).
        outside = (p < eps) | (p > top)
        where = np.flatnonzero(outside)
        if len(where):
            keep = np.logical_not(outside, out=outside)
            near = p[where]
            if scores.ndim == 1:
                near = np.where(positive[where], near, one - near)  # 1 - p rounded, as sklearn
            near = np.clip(near, dtype.type(eps), top)
            ones = np.ones(len(where), dtype=compute)
            w = None if weight is None else weight[where]
            extra = _core.loss_total(_as(near, compute), ones, False, w, None, None, 0.0)
    total = _core.loss_total(_as(p, compute), target, False, weight, None, keep, 0.0)
    return float(total) + float(extra)


def _rows_sum_to_one(pairs: np.ndarray, eps: float) -> bool:
    """scikit-learn's check: every row's sum within ``sqrt(eps)`` (relative, plus 1e-8) of 1."""
    sums = pairs[:, 0] + pairs[:, 1]
    tolerance = 1e-8 + math.sqrt(eps)
    return bool(1 - tolerance <= float(sums.min()) and float(sums.max()) <= 1 + tolerance)
