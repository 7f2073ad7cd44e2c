"""Argument semantics, once, for the functions and the classes alike.

Reductions (and PyTorch's legacy ``size_average``/``reduce``), ``wrt``, dtype promotion, array
conversion, shape checks and the broadcasting rules for ``weight``/``pos_weight``/``grad_output``
are settled here, before anything reaches the native kernels.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any, NamedTuple, Optional, Sequence, Tuple

import numpy as np

REDUCTIONS = ("none", "mean", "sum", "weighted_mean")
WRT = ("input", "target")

# Dtype kinds fastbce computes with: bool, signed and unsigned integers, floating point.
_REAL_KINDS = "biuf"
_NATIVE = (np.dtype(np.float32), np.dtype(np.float64))


def legacy_reduction(size_average: Optional[bool], reduce: Optional[bool], stacklevel: int) -> str:
    """PyTorch's ``_Reduction.legacy_get_string``: ``None`` counts as true, and a UserWarning names
    the ``reduction`` to use instead."""
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if size_average and reduce:
        reduction = "mean"
    elif reduce:
        reduction = "sum"
    else:
        reduction = "none"
    warnings.warn(
        f"size_average and reduce args will be deprecated, please use reduction='{reduction}' instead.",
        UserWarning,
        stacklevel=stacklevel + 1,
    )
    return reduction


def resolve_reduction(
    size_average: Optional[bool], reduce: Optional[bool], reduction: str, stacklevel: int
) -> str:
    """The effective reduction: the legacy arguments, when given, override ``reduction``."""
    if size_average is not None or reduce is not None:
        return legacy_reduction(size_average, reduce, stacklevel + 1)
    return check_reduction(reduction)


def check_reduction(reduction: Any) -> str:
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(
            f"{reduction!r} is not a valid value for reduction; "
            "expected 'none', 'mean', 'sum' or 'weighted_mean'"
        )
    return reduction


def check_label_smoothing(value: Any) -> float:
    """ε of label smoothing: a real number in [0, 1)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"label_smoothing must be a real number in [0, 1), got {value!r}")
    eps = float(value)
    if not 0.0 <= eps < 1.0:
        raise ValueError(f"label_smoothing must lie in [0, 1), got {value!r}")
    return eps


def check_axis(axis: Any, reduction: str, ndim: int) -> Optional[Tuple[int, ...]]:
    """The axes a mean or sum runs over, as non-negative ints (NumPy's conventions: negative axes
    count from the end, a tuple names several, none may repeat), or ``None`` for all of them."""
    if axis is None:
        return None
    if reduction == "none":
        raise ValueError(
            "axis is given but reduction='none' reduces nothing; use 'mean', 'sum' or 'weighted_mean'"
        )
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    if not all(
        isinstance(a, (numbers.Integral, np.integer)) and not isinstance(a, (bool, np.bool_)) for a in axes
    ):
        raise TypeError(f"axis must be an int or a tuple of ints, got {axis!r}")
    normalized = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of bounds for an input with {ndim} dimensions")
        normalized.append(int(a) % ndim)
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"axis {axis!r} names an axis more than once")
    return tuple(normalized)


def check_mask(mask: Any, shape: Tuple[int, ...]) -> np.ndarray:
    """A boolean array that broadcasts to the input's shape without enlarging it."""
    try:
        array = np.asarray(mask)
    except (ValueError, TypeError) as e:
        raise ValueError(f"mask could not be converted to an array: {e}") from None
    if array.dtype != np.bool_:
        raise TypeError(f"mask must be a boolean array, got dtype {array.dtype}")
    try:
        fits = np.broadcast_shapes(shape, array.shape) == shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"mask of shape {array.shape} does not broadcast to the input's shape {shape} "
            "without enlarging it"
        )
    return array


def check_out(
    name: str,
    out: Any,
    shape: Tuple[int, ...],
    dtype: np.dtype,
    inputs: Sequence[Any],
) -> np.ndarray:
    """A caller-supplied output array: of the input's shape and the result dtype, writeable, and
    sharing no memory with any input (the kernels read inputs while they write outputs)."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array, got {type(out).__name__}")
    if out.shape != shape:
        raise ValueError(f"{name} has shape {out.shape}, expected the input's shape {shape}")
    if out.dtype != dtype:
        raise TypeError(f"{name} has dtype {out.dtype}, expected the result dtype {dtype}")
    if not out.flags.writeable:
        raise ValueError(f"{name} is read-only")
    for other in inputs:
        if isinstance(other, np.ndarray) and _overlap(out, other):
            raise ValueError(f"{name} shares memory with an input; pass a separate array")
    return out


def _overlap(a: np.ndarray, b: np.ndarray) -> bool:
    # The bounds test is cheap and settles almost every case; the exact test only runs on arrays
    # whose memory ranges intersect (views of one buffer).
    return bool(np.may_share_memory(a, b)) and bool(np.shares_memory(a, b))


def check_wrt(wrt: Any) -> bool:
    """Whether the gradient is taken with respect to the target."""
    if not isinstance(wrt, str) or wrt not in WRT:
        raise ValueError(f"wrt must be 'input' or 'target', got {wrt!r}")
    return wrt == "target"


def as_real_array(name: str, value: Any) -> np.ndarray:
    """``np.asarray(value)``, refusing what is not real numbers with an error naming the argument."""
    if value is None:
        raise TypeError(f"{name} must be an array of real numbers, not None")
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{name} could not be converted to an array: {e}") from None
    if array.dtype.kind not in _REAL_KINDS:
        raise TypeError(
            f"{name} must hold real numbers (bool, integer or floating point), got dtype {array.dtype}"
        )
    return array


def dtypes(input: np.ndarray, target: np.ndarray) -> Tuple[np.dtype, np.dtype]:
    """(result dtype, compute dtype). The result is NumPy's promotion of input and target, made
    floating (bool/integer -> float64); float32 and float64 compute natively, narrower floats in
    float32 and wider ones in float64."""
    result = np.result_type(input.dtype, target.dtype)
    if result.kind != "f":
        result = np.dtype(np.float64)
    if result in _NATIVE:
        return result, result
    return result, np.dtype(np.float32 if result.itemsize < 4 else np.float64)


def as_kernel_array(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The array as the kernels read it: native dtype, C order, aligned. Copies only if needed."""
    out = np.asarray(array, dtype=dtype, order="C")
    if not out.flags.aligned:
        out = out.copy()
    return out


def broadcast_operand(name: str, value: Any, shape: Tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """An operand that must broadcast to ``shape`` without enlarging it, in the compute dtype."""
    array = as_real_array(name, value)
    try:
        fits = np.broadcast_shapes(shape, array.shape) == shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"{name} of shape {array.shape} does not broadcast to the input's shape {shape} "
            "without enlarging it"
        )
    return as_kernel_array(array, dtype)


class Operands(NamedTuple):
    """A call's arrays, converted and checked."""

    input: np.ndarray
    target: np.ndarray
    weight: Optional[np.ndarray]
    pos_weight: Optional[np.ndarray]
    result_dtype: np.dtype


def operands(input: Any, target: Any, weight: Any = None, pos_weight: Any = None) -> Operands:
    x = as_real_array("input", input)
    y = as_real_array("target", target)
    if x.shape != y.shape:
        raise ValueError(f"target of shape {y.shape} must have the same shape as input of shape {x.shape}")
    result, compute = dtypes(x, y)
    shape = x.shape
    return Operands(
        as_kernel_array(x, compute),
        as_kernel_array(y, compute),
        None if weight is None else broadcast_operand("weight", weight, shape, compute),
        None if pos_weight is None else broadcast_operand("pos_weight", pos_weight, shape, compute),
        result,
    )


def scalar_grad_output(grad_output: Any, reduction: str) -> float:
    """The upstream gradient of a mean or sum: one real number."""
    array = as_real_array("grad_output", grad_output)
    if array.ndim != 0:
        raise ValueError(f"grad_output must be a scalar for reduction={reduction!r}, got shape {array.shape}")
    return float(array)
