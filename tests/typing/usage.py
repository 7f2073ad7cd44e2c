"""fastbce as a typed program uses it. ``mypy --strict`` checks it (tests/typing/check.py, in CI):
each ``assert_type`` is what a type checker must infer. tests/test_typing.py runs it: each
``isinstance`` is what the call returns, so the types are checked against the run-time results."""

from __future__ import annotations

import sys
import warnings
from typing import Any, Literal, Tuple, Union

import fastbce
import fastbce.functional as F
import numpy as np
from fastbce.metrics import log_loss
from numpy.typing import NDArray

if sys.version_info >= (3, 11):
    from typing import assert_type
else:
    from typing_extensions import assert_type

Float = np.floating[Any]
FloatArray = NDArray[np.floating[Any]]

x = np.array([[0.5, -1.0], [2.0, 0.0]], dtype=np.float32)  # logits
p = np.array([[0.6, 0.3], [0.9, 0.5]], dtype=np.float32)  # probabilities
y = np.array([[1.0, 0.0], [1.0, 1.0]], dtype=np.float32)
w = np.array([0.5, 2.0], dtype=np.float32)

# A mean, a sum or a weighted mean is a NumPy floating scalar ...
mean = fastbce.binary_cross_entropy_with_logits(x, y)
assert_type(mean, Float)
assert isinstance(mean, np.floating)
total = fastbce.binary_cross_entropy(p, y, reduction="sum")
assert_type(total, Float)
assert isinstance(total, np.floating)
weighted = fastbce.binary_cross_entropy_with_logits(x, y, w, reduction="weighted_mean", pos_weight=w)
assert_type(weighted, Float)
assert isinstance(weighted, np.floating)
# ... of any array-like: lists, NumPy scalars for label_smoothing, masked arrays.
from_lists = fastbce.binary_cross_entropy_with_logits([0.5, -1.0], [1, 0], label_smoothing=np.float32(0.1))
assert_type(from_lists, Float)
assert isinstance(from_lists, np.floating)
p_masked = np.ma.masked_array(p, [[False, True], [False, False]])
masked = fastbce.binary_cross_entropy(p_masked, y, nan_policy="omit")
assert_type(masked, Float)
assert isinstance(masked, np.floating)

# 'none' is an array, the reduction given by keyword or in its place.
each = fastbce.binary_cross_entropy_with_logits(x, y, reduction="none")
assert_type(each, FloatArray)
assert isinstance(each, np.ndarray) and each.shape == x.shape
each_positional = fastbce.binary_cross_entropy(p, y, None, None, None, "none")
assert_type(each_positional, FloatArray)
assert isinstance(each_positional, np.ndarray) and each_positional.shape == x.shape
into = np.empty_like(x)
assert_type(fastbce.binary_cross_entropy(p, y, reduction="none", out=into), FloatArray)

# axis: an array whatever the reduction.
rows = fastbce.binary_cross_entropy_with_logits(x, y, axis=1)
assert_type(rows, FloatArray)
assert isinstance(rows, np.ndarray) and rows.shape == (2,)
rows_sum = fastbce.binary_cross_entropy(p, y, reduction="sum", axis=(0,), keepdims=True)
assert_type(rows_sum, FloatArray)
assert isinstance(rows_sum, np.ndarray) and rows_sum.shape == (1, 2)

# Where the result is not known statically, it is typed as either, and narrowed by the caller.
kept = fastbce.binary_cross_entropy_with_logits(x, y, keepdims=True)
assert_type(kept, Union[Float, FloatArray])
assert isinstance(kept, np.ndarray) and kept.shape == (1, 1)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # the legacy arguments warn, as in PyTorch
    legacy = fastbce.binary_cross_entropy(p, y, size_average=False)
assert_type(legacy, Union[Float, FloatArray])
assert isinstance(legacy, np.floating)


def loss_of(reduction: Literal["mean", "sum"]) -> Float:
    """A caller's own Literal is a reduction."""
    return fastbce.binary_cross_entropy(p, y, reduction=reduction)


assert isinstance(loss_of("sum"), np.floating)

# Gradients are arrays; value-and-gradient pairs the loss's type with one.
grad = F.binary_cross_entropy_with_logits_grad(x, y, wrt="target", nan_policy="raise")
assert_type(grad, FloatArray)
assert isinstance(grad, np.ndarray)
assert_type(fastbce.binary_cross_entropy_grad(p, y, reduction="none", grad_output=each), FloatArray)
loss, g = fastbce.binary_cross_entropy_with_logits_value_and_grad(x, y)
assert_type(loss, Float)
assert_type(g, FloatArray)
assert isinstance(loss, np.floating) and isinstance(g, np.ndarray)
losses, g = fastbce.binary_cross_entropy_value_and_grad(p, y, reduction="none", wrt="input")
assert_type(losses, FloatArray)
assert isinstance(losses, np.ndarray)
per_row, g = fastbce.binary_cross_entropy_with_logits_value_and_grad(x, y, axis=-1)
assert_type(per_row, FloatArray)
assert isinstance(per_row, np.ndarray)
gh = fastbce.binary_cross_entropy_with_logits_grad_hess(x, y, w, out=(None, np.empty_like(x)))
assert_type(gh, Tuple[FloatArray, FloatArray])

# The classes: the reduction given to the constructor decides what a call returns.
criterion = fastbce.BCEWithLogitsLoss(pos_weight=w, label_smoothing=np.float64(0.05))
assert_type(criterion, fastbce.BCEWithLogitsLoss[Float])
assert_type(criterion(x, y), Float)
assert isinstance(criterion(x, y), np.floating)
assert_type(criterion.value_and_grad(x, y), Tuple[Float, FloatArray])
assert_type(criterion.grad(x, y, wrt="target"), FloatArray)
assert_type(criterion.grad_hess(x, y), Tuple[FloatArray, FloatArray])
per_element = fastbce.BCELoss(reduction="none")
assert_type(per_element, fastbce.BCELoss[FloatArray])
assert_type(per_element.forward(p, y, mask=y > 0), FloatArray)
assert isinstance(per_element(p, y), np.ndarray)
assert_type(fastbce.BCELoss(w, None, None, "none")(p, y), FloatArray)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    unknown = fastbce.BCELoss(reduce=False)
assert_type(unknown(p, y), Union[Float, FloatArray])
assert isinstance(unknown(p, y), np.ndarray)

# The accumulator and the thread controls.
accumulator = fastbce.BCEAccumulator(nan_policy="omit", label_smoothing=np.float32(0.0))
assert_type(accumulator.update(x, y, mask=y > 0).mean, float)
threads = fastbce.get_num_threads()
fastbce.set_num_threads(np.int64(threads))  # any integer with __index__
assert_type(fastbce.simd_level(), str)

# scikit-learn's log loss: labels of any kind, a Python float.
assert_type(log_loss(["ham", "spam"], [0.2, 0.7]), float)
assert isinstance(log_loss([0, 1], p[0], sample_weight=w, labels=[0, 1]), float)
assert_type(log_loss(y[0], x[0], from_logits=True, normalize=False), float)
