"""Argument semantics, once: what the functions, the classes, the accumulator and ``fastbce.dask``
mean by their arguments, settled here and handed to the native kernels in one call
(``_core.losses``, ``loss_total``, ``gradient`` or ``grad_hess``, by job; the arguments are passed
positionally, each a variable named as the parameter, since keyword arguments cost a dictionary
per call).

What lives here is what needs NumPy or Python: converting array-likes (``np.asarray``), dtype
promotion (float16 computed in float32), PyTorch's argument semantics (reductions and the legacy
``size_average``/``reduce``, ``wrt``, the upstream gradient of a mean), and the pipeline keywords
(``mask``, ``label_smoothing``, ``axis``/``keepdims``, ``out``). Shapes, broadcasting, lengths,
memory overlap and the range of probabilities are the kernels' to check (``docs/DESIGN.md``,
"Checks"); their errors are ``ValueError``s that name the argument.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any, Dict, List, Literal, Optional, Tuple, Union, cast, get_args

import numpy as np
from numpy.typing import NDArray

from . import _core

# The types the signatures name. Each tuple of accepted values below is read from its type, so
# that the checks and the annotations cannot disagree. (The string types are unions of one-value
# Literals, which mypy reads as Literal["a", "b"]: a union at run time too, as stubtest checks.)
ScalarReduction = Union[Literal["mean"], Literal["sum"], Literal["weighted_mean"]]  # one number
Reduction = Union[Literal["none"], ScalarReduction]
Wrt = Union[Literal["input"], Literal["target"]]
NanPolicy = Union[Literal["propagate"], Literal["raise"], Literal["omit"]]
Float = np.floating  # a loss: a NumPy floating scalar of the result dtype
FloatArray = NDArray[np.floating]  # per-element losses, gradients, per-axis losses
Real = Union[float, np.floating, np.integer]  # label_smoothing: NumPy scalars as good as Python's
Axis = Union[int, np.integer, Tuple[Union[int, np.integer], ...], List[Union[int, np.integer]]]


def _values(strings: Any) -> Tuple[str, ...]:
    return tuple(value for literal in get_args(strings) for value in get_args(literal))


REDUCTIONS = _values(Reduction)
NAN_POLICIES = _values(NanPolicy)
_REDUCTION_SET = frozenset(REDUCTIONS)
MEANS = ("mean", "weighted_mean")
WRT = _values(Wrt)

# Dtype kinds fastbce computes with: bool, signed and unsigned integers, floating point.
_REAL_KINDS = "biuf"
_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_BOOL = np.dtype(np.bool_)
# NumPy's array class, read once: looking an attribute up on the numpy module costs more than a
# small call's arithmetic (a few hundred instructions). (np.ma is looked up where it is needed: it
# is imported on first use, which would add 10 ms to importing fastbce.)
_ARRAY = np.ndarray


# --------------------------------------------------------------------------------------------
# Scalar arguments


def _flag(name: str, value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)) or (
        isinstance(value, (numbers.Integral, np.integer)) and value in (0, 1)
    ):
        return bool(value)
    raise TypeError(f"{name} must be True, False or None, got {value!r}")


def legacy_reduction(size_average: Any, reduce: Any, stacklevel: int) -> Reduction:
    """PyTorch's ``_Reduction.legacy_get_string``: ``None`` counts as true, and a UserWarning names
    the ``reduction`` to use instead."""
    size_average = True if size_average is None else _flag("size_average", size_average)
    reduce = True if reduce is None else _flag("reduce", reduce)
    reduction: Reduction
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


def check_reduction(reduction: Any) -> Reduction:
    if reduction.__class__ is not str or reduction not in _REDUCTION_SET:
        raise ValueError(
            f"{reduction!r} is not a valid value for reduction; "
            "expected 'none', 'mean', 'sum' or 'weighted_mean'"
        )
    return cast(Reduction, reduction)


def resolve_reduction(size_average: Any, reduce: Any, reduction: Any, stacklevel: int) -> Reduction:
    """The effective reduction: the legacy arguments, when given, override ``reduction``."""
    if size_average is None and reduce is None:
        if reduction.__class__ is str and reduction in _REDUCTION_SET:
            return reduction  # type: ignore[return-value]  # one of Reduction's strings (no cast: hot)
        return check_reduction(reduction)
    return legacy_reduction(size_average, reduce, stacklevel + 1)


def check_wrt(wrt: Any) -> Wrt:
    if wrt.__class__ is not str or wrt not in WRT:
        raise ValueError(f"wrt must be 'input' or 'target', got {wrt!r}")
    return cast(Wrt, wrt)


def check_nan_policy(nan_policy: Any) -> NanPolicy:
    """What NaN in input, target or weight does (scipy's words): ``"propagate"`` (NaN results, as
    PyTorch), ``"raise"`` (ValueError naming the argument and the index), ``"omit"`` (as if masked)."""
    if nan_policy.__class__ is not str or nan_policy not in NAN_POLICIES:
        raise ValueError(f"nan_policy must be 'propagate', 'raise' or 'omit', got {nan_policy!r}")
    return cast(NanPolicy, nan_policy)


def check_label_smoothing(value: Any) -> float:
    """ε of label smoothing: a real number in [0, 1)."""
    if value.__class__ is float and 0.0 <= value < 1.0:
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"label_smoothing must be a real number in [0, 1), got {value!r}")
    eps = float(value)
    if not 0.0 <= eps < 1.0:
        raise ValueError(f"label_smoothing must lie in [0, 1), got {value!r}")
    return eps


def check_keepdims(keepdims: Any) -> bool:
    if not isinstance(keepdims, (bool, np.bool_)):
        raise TypeError(f"keepdims must be True or False, got {keepdims!r}")
    return bool(keepdims)


def check_axis(axis: Any, reduction: str, ndim: int, keepdims: bool) -> Optional[Tuple[int, ...]]:
    """The axes a mean or sum runs over, as non-negative ints (NumPy's conventions: negative axes
    count from the end, a tuple names several, none may repeat; ``keepdims`` alone means every
    axis), or ``None`` for a reduction over everything."""
    if axis is None and not keepdims:
        return None
    if reduction == "none":
        what = "axis" if axis is not None else "keepdims"
        raise ValueError(
            f"{what} is given but reduction='none' reduces nothing; use 'mean', 'sum' or 'weighted_mean'"
        )
    if axis is None:
        return tuple(range(ndim))
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


def scalar_grad_output(grad_output: Any, reduction: str) -> float:
    """The upstream gradient of a mean or sum: one real number."""
    if grad_output.__class__ is float or grad_output.__class__ is int:
        return float(grad_output)
    array = real_array("grad_output", grad_output)
    if array.ndim != 0:
        raise ValueError(f"grad_output must be a scalar for reduction={reduction!r}, got shape {array.shape}")
    return float(array)


# --------------------------------------------------------------------------------------------
# Arrays and dtypes


def column(value: Any) -> Any:
    """Data frame libraries' columns and frames as NumPy data, their nulls as NaN: pandas' nullable
    dtypes (``Float32``, ``Int64``, ``boolean``; floats keep their width, the rest become float64),
    pyarrow arrays and polars series and frames. Anything else is returned as it is."""
    library = type(value).__module__.partition(".")[0]
    if library == "pandas":
        dtypes = [value.dtype] if hasattr(value, "dtype") else list(getattr(value, "dtypes", []))
        nullable = [getattr(d, "numpy_dtype", None) for d in dtypes if not isinstance(d, np.dtype)]
        if not nullable:
            return value.to_numpy()
        floats = {d for d in nullable if d is not None and d.kind == "f"}
        as_float = floats.pop() if len(floats) == 1 and len(nullable) == len(dtypes) else _F64
        return value.to_numpy(dtype=as_float, na_value=np.nan)
    if library == "pyarrow":
        return value.to_numpy(zero_copy_only=False)
    if library == "polars":
        return value.to_numpy()
    return value


def real_array(name: str, value: Any) -> np.ndarray:
    """``np.asarray(value)``, refusing what is not real numbers with an error naming the argument.
    A ``np.ma.MaskedArray`` stays one (its mask is read by ``prepare``); data frame columns come
    with their nulls as NaN (``column``)."""
    if value is None:
        raise TypeError(f"{name} must be an array of real numbers, not None")
    try:
        if isinstance(value, _ARRAY):
            array = value
        else:
            value = column(value)
            array = value if isinstance(value, _ARRAY) else np.asarray(value)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{name} could not be converted to an array: {e}") from None
    if array.dtype.kind not in _REAL_KINDS:
        raise TypeError(
            f"{name} must hold real numbers (bool, integer or floating point), got dtype {array.dtype}"
        )
    return array


# (input dtype, target dtype) -> (result dtype, compute dtype)
_PROMOTIONS: Dict[Tuple[np.dtype, np.dtype], Tuple[np.dtype, np.dtype]] = {}


def dtypes(input: np.dtype, target: np.dtype) -> Tuple[np.dtype, np.dtype]:
    """(result dtype, compute dtype). The result is NumPy's promotion of input and target, made
    floating (bool/integer -> float64); float32 and float64 compute natively, narrower floats in
    float32 and wider ones in float64."""
    key = (input, target)
    known = _PROMOTIONS.get(key)
    if known is not None:
        return known
    for name, dtype in (("input", input), ("target", target)):
        if dtype.kind not in _REAL_KINDS:
            raise TypeError(
                f"{name} must hold real numbers (bool, integer or floating point), got dtype {dtype}"
            )
    result = np.result_type(input, target)
    if result.kind != "f":
        result = _F64
    compute = result if result in (_F32, _F64) else (_F32 if result.itemsize < 4 else _F64)
    _PROMOTIONS[key] = (result, compute)
    return result, compute


def _in(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The array in the compute dtype (native byte order): itself when it is already."""
    return array if array.dtype is dtype else np.asarray(array, dtype=dtype)


def operand(name: str, value: Any, compute: np.dtype) -> Any:
    """weight or pos_weight in the compute dtype; a flat list of numbers goes to the kernels as it
    is, which read it for less than NumPy's conversion costs (the same values)."""
    if type(value) is list and value and type(value[0]) is float:
        return value
    return _in(real_array(name, value), compute)


def mask_array(mask: Any) -> np.ndarray:
    try:
        array = mask if type(mask) is _ARRAY else np.asarray(mask)
    except (ValueError, TypeError) as e:
        raise ValueError(f"mask could not be converted to an array: {e}") from None
    if array.dtype != _BOOL:
        raise TypeError(f"mask must be a boolean array, got dtype {array.dtype}")
    return array


def _data(name: str, array: np.ndarray) -> Tuple[np.ndarray, Any]:
    """An array subclass as plain NumPy data, and for a ``np.ma.MaskedArray`` its mask (True where
    an element is invalid; ``np.ma.nomask`` when none is)."""
    if isinstance(array, np.ma.MaskedArray):
        return real_array(name, array.data), np.ma.getmask(array)
    return np.asarray(array), None


def _invalid(invalid: Any, more: Any, shape: Tuple[int, ...]) -> Any:
    """The union of two invalid masks at ``shape`` (None or nomask: nothing invalid)."""
    if more is None or more is np.ma.nomask:
        return invalid
    more = np.broadcast_to(more, shape)
    return more if invalid is None else invalid | more


def _nans(
    nan_policy: str, arrays: Tuple[Tuple[str, Any], ...], shape: Tuple[int, ...], invalid: Any, mask: Any
) -> Any:
    """``nan_policy`` applied: ``"raise"`` refuses the first NaN an element that counts holds (the
    argument and the index in the message); ``"omit"`` adds the NaN to ``invalid``."""
    for name, array in arrays:
        if array is None:
            continue
        array = np.asarray(array)
        if array.dtype.kind != "f":
            continue
        nan = np.isnan(array)
        if not nan.any():
            continue
        nan = np.broadcast_to(nan, shape)
        if nan_policy == "omit":
            invalid = _invalid(invalid, nan, shape)
            continue
        counted = nan if invalid is None else nan & ~invalid
        if mask is not None:
            counted = counted & mask
        if counted.any():
            first = np.unravel_index(int(np.flatnonzero(counted)[0]), shape)
            index = tuple(int(i) for i in first)
            raise ValueError(f"{name} holds NaN at index {index} (nan_policy='raise')")
    return invalid


def prepare(
    logits: bool,
    input: Any,
    target: Any,
    weight: Any,
    pos_weight: Any,
    mask: Any,
    label_smoothing: Any,
    nan_policy: Any = "propagate",
) -> Tuple[np.ndarray, np.ndarray, Any, Any, Any, float, np.dtype, Any]:
    """A call's arrays and smoothing as the kernels take them: ``(input, target, weight,
    pos_weight, mask, label_smoothing, result dtype, masked)``.

    ``mask`` is what counts: the given mask, less the elements an operand's ``np.ma`` mask marks
    invalid and, with ``nan_policy="omit"``, those holding NaN. ``masked`` is None for plain
    inputs; where input or target is a ``np.ma.MaskedArray``, it is the invalid elements' mask that
    per-element results come back with."""
    x, y = input, target
    invalid = masked = None
    if type(x) is not _ARRAY or type(y) is not _ARRAY:
        x = x if type(x) is _ARRAY else real_array("input", x)
        y = y if type(y) is _ARRAY else real_array("target", y)
        if type(x) is not _ARRAY or type(y) is not _ARRAY:
            # Subclasses: np.ma's masks are read; others are taken as plain arrays.
            (x, x_invalid), (y, y_invalid) = _data("input", x), _data("target", y)
            if x.shape == y.shape:
                invalid = _invalid(_invalid(None, x_invalid, x.shape), y_invalid, x.shape)
            if x_invalid is not None or y_invalid is not None:
                masked = np.ma.nomask
    compute = x.dtype
    if compute is y.dtype and (compute is _F32 or compute is _F64):
        result = compute  # already what the kernels take (the common case, at no cost)
    else:
        result, compute = dtypes(x.dtype, y.dtype)
        x, y = _in(x, compute), _in(y, compute)
    if weight is not None:
        if type(weight) is not _ARRAY and isinstance(weight, np.ma.MaskedArray):
            weight, weight_invalid = _data("weight", weight)
            invalid = _invalid(invalid, weight_invalid, x.shape)
        weight = operand("weight", weight, compute)
    if pos_weight is not None:
        pos_weight = operand("pos_weight", pos_weight, compute)
    if mask is not None:
        mask = mask_array(mask)
    eps = label_smoothing
    if eps.__class__ is not float or not 0.0 <= eps < 1.0:
        eps = check_label_smoothing(eps)
    if nan_policy != "propagate":
        nan_policy = check_nan_policy(nan_policy)
        arrays = (("input", x), ("target", y), ("weight", weight))
        invalid = _nans(nan_policy, arrays, x.shape, invalid, mask)
    if invalid is not None:
        keep = ~invalid
        mask = keep if mask is None else keep & mask
        if masked is not None:
            masked = invalid
    return x, y, weight, pos_weight, mask, eps, result, masked


def _as_masked(values: Any, masked: Any) -> Any:
    """Per-element results as a ``np.ma.MaskedArray`` with the inputs' invalid elements masked,
    where the inputs were masked arrays."""
    if masked is None:
        return values
    return np.ma.MaskedArray(values, mask=masked)


def check_out(name: str, out: Any, result: np.dtype) -> np.ndarray:
    """A caller's output array: a NumPy array of the result dtype (its shape, writeability and
    memory are the kernels' to check)."""
    if not isinstance(out, _ARRAY):
        raise TypeError(f"{name} must be a NumPy array, got {type(out).__name__}")
    if out.dtype != result:
        raise TypeError(f"{name} has dtype {out.dtype}, expected the result dtype {result}")
    return out


def outs(names: Tuple[str, ...], out: Any, result: np.dtype) -> Tuple[Optional[np.ndarray], ...]:
    """``out`` as one checked array (or None) per name: one array for one name, else a tuple."""
    if out is None:
        return (None,) * len(names)
    if len(names) == 1:
        given: Tuple[Any, ...] = (out,)
    elif isinstance(out, tuple) and len(out) == len(names):
        given = out
    else:
        raise TypeError(f"out must be a tuple of {len(names)} arrays (or None) for ({', '.join(names)})")
    return tuple(None if a is None else check_out("out", a, result) for a in given)


def _destination(out: Optional[np.ndarray], compute: np.dtype) -> Optional[np.ndarray]:
    """Where the kernels write an output: the caller's array, or one of its shape in the compute
    dtype when the result dtype is narrower (float16), copied into it afterwards."""
    if out is None or out.dtype == compute:
        return out
    return np.empty(out.shape, dtype=compute)


def _finish(written: np.ndarray, out: Optional[np.ndarray], result: np.dtype) -> np.ndarray:
    """An output as returned: the caller's array, or the kernels' in the result dtype (narrowing to
    float16 rounds what is too large to inf, as NumPy's float16 arithmetic would)."""
    if out is not None:
        if written is not out:
            with np.errstate(over="ignore"):
                np.copyto(out, written, casting="same_kind")
        return out
    if written.dtype == result:
        return written
    with np.errstate(over="ignore"):
        return written.astype(result)


# The largest finite value of each result dtype: a float beyond it becomes inf, as NumPy's own
# float16 and float32 arithmetic would make it, without the overflow warning of a cast.
_LARGEST: Dict[np.dtype, float] = {}


def _scalar(value: float, result: np.dtype) -> Any:
    largest = _LARGEST.get(result)
    if largest is None:
        largest = _LARGEST[result] = float(np.finfo(result).max)
    if -largest <= value <= largest:
        return result.type(value)
    with np.errstate(over="ignore"):
        return result.type(value)


# --------------------------------------------------------------------------------------------
# Reductions


def divisor(reduction: str, x: np.ndarray, weight: Any, mask: Any) -> Any:
    """What a mean divides by: the number of elements the mask keeps, or for ``weighted_mean`` the
    float64 sum of their weights (the mean when there is no weight). ``None`` for a sum."""
    if mask is None and (reduction == "mean" or (weight is None and reduction == "weighted_mean")):
        return x.size
    if reduction == "sum" or reduction == "none":
        return None
    if reduction == "mean" or weight is None:
        return _core.kept(x, None, mask)[0]
    return _core.kept(x, weight, mask)[1]


def mean_of(total: float, divisor: Any) -> float:
    """A sum divided by its divisor; NaN for an empty mean, all masked out, or zero total weight,
    like ``np.mean([])``."""
    return total / divisor if divisor else float("nan")


def scale_of(grad_output: float, divisor: Any) -> float:
    """What each element's gradient of a mean is scaled by: ``grad_output / divisor``, or 0 where
    no element counts."""
    if divisor is None:
        return grad_output
    return grad_output / divisor if divisor else 0.0


def totals(
    logits: bool,
    input: Any,
    target: Any,
    weight: Any,
    pos_weight: Any,
    mask: Any,
    label_smoothing: Any,
    nan_policy: Any = "propagate",
) -> Tuple[float, int, float]:
    """One batch's float64 loss sum, the number of elements it counts and their total weight: what
    the streaming accumulator adds up."""
    x, y, w, pw, m, eps, _, _ = prepare(
        logits, input, target, weight, pos_weight, mask, label_smoothing, nan_policy
    )
    total = _core.loss_total(x, y, logits, w, pw, m, eps)
    count, weight_sum = _core.kept(x, w, m) if (w is not None or m is not None) else (x.size, x.size)
    return total, int(count), float(weight_sum)


def reduced_shape(shape: Tuple[int, ...], axes: Tuple[int, ...], keepdims: bool) -> Tuple[int, ...]:
    """The shape of a reduction over ``axes``, as NumPy's ``sum(axis=..., keepdims=...)`` gives it."""
    if keepdims:
        return tuple(1 if d in axes else n for d, n in enumerate(shape))
    return tuple(n for d, n in enumerate(shape) if d not in axes)


def divisor_terms(reduction: str, shape: Tuple[int, ...], weight: Any, mask: Any, compute: Any) -> Any:
    """What each element adds to a mean's divisor, at the input's shape: 1 where the mask keeps it
    (``True``), for ``weighted_mean`` its weight in the compute dtype (0 where left out); ``None``
    when every element adds 1 (no mask, no weighted mean)."""
    if reduction == "mean" or weight is None:
        return None if mask is None else np.broadcast_to(mask, shape)
    weights = np.broadcast_to(np.asarray(weight, dtype=compute), shape)
    return weights if mask is None else np.where(mask, weights, compute.type(0))


def axis_divisor(
    reduction: str, shape: Tuple[int, ...], axes: Tuple[int, ...], weight: Any, mask: Any, compute: Any
) -> Any:
    """A mean's divisor per output element of a reduction over ``axes`` (``keepdims`` shape)."""
    if reduction == "sum":
        return None
    terms = divisor_terms(reduction, shape, weight, mask, compute)
    if terms is None:
        return int(np.prod([shape[a] for a in axes], dtype=np.int64))
    dtype = np.int64 if terms.dtype == _BOOL else np.float64
    return np.sum(terms, axis=axes, keepdims=True, dtype=dtype)


def factor(grad_output: np.ndarray, divisor: Any) -> np.ndarray:
    """``grad_output / divisor`` per output element, 0 where the divisor is 0 (nothing counted)."""
    if divisor is None:
        return grad_output
    return np.divide(
        grad_output,
        divisor,
        out=np.zeros(np.broadcast_shapes(np.shape(grad_output), np.shape(divisor))),
        where=np.asarray(divisor) != 0,
    )


def check_axis_grad_output(
    grad_output: Any, shape: Tuple[int, ...], axes: Tuple[int, ...], keepdims: bool
) -> Any:
    """The upstream gradient of a reduction over ``axes``, an array broadcastable to the reduced
    shape (checked with the kernels' rule)."""
    go = real_array("grad_output", grad_output) if type(grad_output) is not _ARRAY else grad_output
    reduced = list(reduced_shape(shape, axes, keepdims))
    _core.check_broadcast("grad_output", list(go.shape), reduced, "the reduced shape")
    return go


def axis_factor(
    grad_output: Any, shape: Tuple[int, ...], axes: Tuple[int, ...], keepdims: bool, divisor: Any
) -> np.ndarray:
    """Each element's upstream gradient for a reduction over ``axes``: ``grad_output`` over the
    reduced shape, divided by the per-output divisor (0 where it is 0), with the reduced axes kept
    (length 1) so that it broadcasts over the input."""
    go = check_axis_grad_output(grad_output, shape, axes, keepdims)
    go = np.broadcast_to(go.astype(np.float64, copy=False), reduced_shape(shape, axes, keepdims))
    if not keepdims:
        go = np.expand_dims(go, axes)
    return factor(go, divisor)


def reduce_axes(
    losses: np.ndarray, axes: Tuple[int, ...], keepdims: bool, divisor: Any, result: np.dtype
) -> Any:
    """Sums (in float64) or means of per-element losses over ``axes``, shaped as NumPy's
    ``sum(axis=..., keepdims=...)`` would shape them."""
    total = divide(np.sum(losses, axis=axes, keepdims=True, dtype=np.float64), divisor, result)
    if not keepdims:
        total = np.squeeze(total, axis=axes)
    return total[()] if total.ndim == 0 else total


def divide(total: Any, divisor: Any, result: np.dtype) -> np.ndarray:
    """Sums divided by their divisors (none for a sum), in the result dtype; 0 / 0 is NaN, like an
    empty mean."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        values = total if divisor is None else total / divisor
        return np.asarray(values).astype(result)


# --------------------------------------------------------------------------------------------
# The calls


def loss(
    logits: bool,
    input: Any,
    target: Any,
    weight: Any,
    pos_weight: Any,
    size_average: Any,
    reduce: Any,
    reduction: Any,
    mask: Any,
    label_smoothing: Any,
    axis: Any,
    keepdims: Any,
    out: Any,
    nan_policy: Any,
) -> Any:
    """A loss call, its arguments in the order of ``torch.nn.functional``'s (the legacy
    ``size_average`` and ``reduce`` override ``reduction``, warning from the caller's caller)."""
    if (
        size_average is not None
        or reduce is not None
        or reduction.__class__ is not str
        or reduction not in _REDUCTION_SET
    ):
        reduction = resolve_reduction(size_average, reduce, reduction, stacklevel=3)
    x, y, w, pw, m, eps, result, masked = prepare(
        logits, input, target, weight, pos_weight, mask, label_smoothing, nan_policy
    )
    axes = (
        None
        if axis is None and keepdims is False
        else check_axis(axis, reduction, x.ndim, check_keepdims(keepdims))
    )
    if reduction != "none" or axes is not None:
        if out is not None:
            raise ValueError(f"out receives per-element losses; it needs reduction='none', not {reduction!r}")
        if axes is None:
            div = 1 if reduction == "sum" else divisor(reduction, x, w, m)
            # The kernels round `sum / div` once to the compute dtype; a narrower result dtype
            # takes the float64 value, so that it too is rounded once.
            if result is x.dtype or result == x.dtype:
                return _core.loss_total(x, y, logits, w, pw, m, eps, div)
            return _scalar(mean_of(_core.loss_total(x, y, logits, w, pw, m, eps), div), result)
    given = outs(("out",), out, result)[0]
    losses = _core.losses(x, y, logits, w, pw, m, eps, _destination(given, x.dtype))
    if axes is None:
        return _as_masked(_finish(losses, given, result), masked)
    div = axis_divisor(reduction, x.shape, axes, w, m, x.dtype)
    return reduce_axes(losses, axes, bool(keepdims), div, result)


def gradient(
    logits: bool,
    want_loss: bool,
    input: Any,
    target: Any,
    weight: Any,
    pos_weight: Any,
    reduction: Any,
    grad_output: Any,
    wrt: Any,
    mask: Any,
    label_smoothing: Any,
    axis: Any,
    keepdims: Any,
    out: Any,
    nan_policy: Any = "propagate",
) -> Tuple[Any, Any]:
    """The gradient functions and the value-and-gradient ones: ``(loss or None, gradient)``."""
    if reduction.__class__ is not str or reduction not in _REDUCTION_SET:
        check_reduction(reduction)
    if wrt.__class__ is not str or (wrt != "input" and wrt != "target"):
        check_wrt(wrt)
    x, y, w, pw, m, eps, result, masked = prepare(
        logits, input, target, weight, pos_weight, mask, label_smoothing, nan_policy
    )
    axes = (
        None
        if axis is None and keepdims is False
        else check_axis(axis, reduction, x.ndim, check_keepdims(keepdims))
    )
    if out is None:
        loss_out = grad_out = None
    elif want_loss:
        loss_out, grad_out = outs(("loss", "gradient"), out, result)
        if loss_out is not None and (reduction != "none" or axes is not None):
            raise ValueError(
                f"out[0] receives per-element losses; it needs reduction='none', not {reduction!r}"
            )
    else:
        loss_out, grad_out = None, outs(("out",), out, result)[0]
    go_array = None
    scale = 1.0
    div = None
    if axes is not None:
        div = axis_divisor(reduction, x.shape, axes, w, m, x.dtype)
        go_array = axis_factor(grad_output, x.shape, axes, bool(keepdims), div)
    elif reduction == "none":
        if grad_output.__class__ is float or grad_output.__class__ is int:
            scale = float(grad_output)
        else:
            go = real_array("grad_output", grad_output)
            if go.ndim == 0:
                scale = float(go)
            else:
                go_array = go
    else:
        div = divisor(reduction, x, w, m)
        if grad_output.__class__ is not float:
            grad_output = scalar_grad_output(grad_output, reduction)
        scale = scale_of(grad_output, div)
    if go_array is not None:
        go_array = _in(go_array, x.dtype)
    each = want_loss and (reduction == "none" or axes is not None)
    exact = result is x.dtype or result == x.dtype
    # The native call's last arguments, named as its parameters.
    out = None if grad_out is None else _destination(grad_out, x.dtype)
    loss: Optional[Literal["sum", "each"]] = ("each" if each else "sum") if want_loss else None
    loss_into = _destination(loss_out, x.dtype) if each else None
    total_divisor = (1 if div is None else div) if want_loss and exact and not each else None
    values: Any  # None, the total as loss_total gives it, or per-element losses: the branches below know
    values, grad = _core.gradient(
        x, y, logits, w, pw, m, eps, wrt, go_array, scale, out, loss, loss_into, total_divisor
    )
    if grad_out is not None or not exact or masked is not None:
        grad = _as_masked(_finish(grad, grad_out, result), masked)
    if not want_loss:
        return None, grad
    if axes is not None:
        return reduce_axes(values, axes, bool(keepdims), div, result), grad
    if each:
        return _as_masked(_finish(values, loss_out, result), masked), grad
    if exact:
        return values, grad
    return _scalar(values if div is None else mean_of(values, div), result), grad


def grad_hess(
    input: Any,
    target: Any,
    weight: Any,
    pos_weight: Any,
    mask: Any,
    label_smoothing: Any,
    out: Any,
    nan_policy: Any = "propagate",
) -> Tuple[np.ndarray, np.ndarray]:
    """Per-element gradient and hessian of the with-logits loss with respect to the logits."""
    x, y, w, pw, m, eps, result, masked = prepare(
        True, input, target, weight, pos_weight, mask, label_smoothing, nan_policy
    )
    if out is None and masked is None and (result is x.dtype or result == x.dtype):
        return _core.grad_hess(x, y, w, pw, m, eps)  # what the kernels return, as it is
    grad_out, hess_out = outs(("grad", "hess"), out, result)
    grad, hess = _core.grad_hess(
        x, y, w, pw, m, eps, _destination(grad_out, x.dtype), _destination(hess_out, x.dtype)
    )
    grad, hess = _finish(grad, grad_out, result), _finish(hess, hess_out, result)
    return _as_masked(grad, masked), _as_masked(hess, masked)
