"""fastbce on Dask arrays: the functions of ``fastbce.functional`` for data that outgrows one machine.

Install with ``pip install fastbce[dask]``. Every function takes the NumPy API's arguments (minus
``out=``: a lazy result has no buffer to write into yet) and returns lazy Dask arrays; nothing is
read until ``.compute()``. The work is done by Dask itself, not by a scheduler of fastbce's own:

- each chunk is one call of the NumPy API (``fastbce.functional``) or of the streaming
  accumulator, so argument semantics, dtypes and per-element results are those of the NumPy API,
  bit for bit; the native kernels release the GIL, so Dask's threaded scheduler runs chunks in
  parallel, and workers of the distributed scheduler need nothing but the installed wheel;
- element-wise results (``reduction="none"`` losses, gradients, ``grad_hess``) keep the input's
  chunks;
- a mean or sum over everything is Dask's tree reduction (``da.reduction``) of
  ``BCEAccumulator`` states: each chunk contributes its float64 loss sum, count and weight total,
  which are added exactly (``merge``), so the result does not depend on how the tree groups the
  chunks, one chunk gives the NumPy API's value bit for bit, and any other chunking differs from
  it only by the rounding inside each chunk's float64 sum (a few float64 ulp);
- ``axis=`` reductions sum per-element losses in float64 with Dask's ``sum`` and divide by the
  per-output count or weight total, as the NumPy API does;
- the gradient of a mean needs the global divisor (the number of kept elements or their total
  weight): it is a lazy Dask scalar fed into every chunk's gradient call, so the gradient stays
  lazy too.

``weight``, ``pos_weight``, ``mask`` and ``grad_output`` may be NumPy or Dask arrays; they must
broadcast to the input's shape without enlarging it (as in the NumPy API) and are rechunked to
line up with the input's chunks (axes where they have length 1 stay one chunk, which Dask
broadcasts to every chunk of the input). ``target`` is rechunked to the input's chunks (a NumPy
input takes a Dask target's chunks). Values
that only the data can reveal (probabilities outside [0, 1], say) raise when the chunk holding
them is computed.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, List, NamedTuple, Optional, Tuple, Union

import numpy as np

try:
    import dask.array as da
except ImportError as _error:  # private: the name is gone after the except clause
    raise ImportError(
        "fastbce.dask needs Dask, which is not installed: pip install fastbce[dask]"
    ) from _error

from . import _core, _plan, functional
from ._docs import document
from ._plan import (
    NanPolicy,
    Real,
    Reduction,
    Wrt,
    check_reduction,
    check_wrt,
    resolve_reduction,
    scalar_grad_output,
)
from .accumulator import BCEAccumulator

__all__ = [
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits_grad",
    "binary_cross_entropy_grad",
    "binary_cross_entropy_with_logits_value_and_grad",
    "binary_cross_entropy_value_and_grad",
    "binary_cross_entropy_with_logits_grad_hess",
]


# What a divisor can be: none (a sum), a number known now (an element count), or a lazy array.
Divisor = Union[None, int, "da.Array"]


# --------------------------------------------------------------------------------------------
# Arguments: checked with the NumPy API's own checks, on stand-ins that hold no data.


def _stand_in(array: da.Array) -> np.ndarray:
    """A read-only NumPy array with ``array``'s shape and dtype and no memory of its own (one
    broadcast element), so that the NumPy API's checks run on a Dask array without reading it."""
    return np.broadcast_to(np.zeros((), dtype=array.dtype), array.shape)


def _known(name: str, array: da.Array) -> da.Array:
    if any(np.isnan(n) for n in array.shape):
        raise ValueError(
            f"{name} has unknown chunk sizes (shape {array.shape}); call {name}.compute_chunk_sizes() first"
        )
    return array


def _dask_array(name: str, value: Any) -> da.Array:
    """``value`` as a Dask array of real numbers (NumPy input becomes one chunk)."""
    if isinstance(value, da.Array):
        _plan.real_array(name, np.empty(0, dtype=value.dtype))  # refuses complex, object, strings
        return _known(name, value)
    return da.asarray(_plan.real_array(name, value))


def _align(name: str, array: da.Array, input: da.Array) -> da.Array:
    """``array`` rechunked so that Dask's block-wise broadcasting (right-aligned axes, as NumPy's)
    hands each input chunk the matching piece: the input's chunks along axes of the input's length,
    one chunk along axes of length 1. Refuses what does not broadcast to the input's shape without
    enlarging it, with the kernels' rule and message."""
    _core.check_broadcast(name, list(array.shape), list(input.shape))
    lead = input.ndim - array.ndim
    chunks = tuple(
        input.chunks[lead + d] if n == input.shape[lead + d] else (n,) for d, n in enumerate(array.shape)
    )
    return array.rechunk(chunks)


def _mask(value: Any, input: da.Array) -> da.Array:
    if isinstance(value, da.Array):
        _plan.mask_array(_stand_in(_known("mask", value)))
        array = value
    else:
        array = da.asarray(_plan.mask_array(value))
    return _align("mask", array, input)


class _Call(NamedTuple):
    """One call's arguments, checked, with every array lined up with the input's chunks."""

    input: da.Array
    target: da.Array
    weight: Optional[da.Array]
    pos_weight: Optional[da.Array]
    mask: Optional[da.Array]
    result: np.dtype
    compute: np.dtype
    label_smoothing: float
    axes: Optional[Tuple[int, ...]]
    keepdims: bool
    nan_policy: NanPolicy


def _prepare(
    input: Any,
    target: Any,
    weight: Any,
    pos_weight: Any,
    reduction: Reduction,
    mask: Any,
    label_smoothing: Any,
    axis: Any,
    keepdims: Any,
    nan_policy: Any = "propagate",
) -> _Call:
    x = _dask_array("input", input)
    y = _dask_array("target", target)
    if y.shape != x.shape:
        raise ValueError(f"target of shape {y.shape} must have the same shape as input of shape {x.shape}")
    if isinstance(target, da.Array) and not isinstance(input, da.Array):
        x = x.rechunk(y.chunks)  # a NumPy input takes the chunks of a Dask target
    else:
        y = y.rechunk(x.chunks)
    result, compute = _plan.dtypes(x.dtype, y.dtype)
    w = None if weight is None else _align("weight", _dask_array("weight", weight), x)
    pw = None if pos_weight is None else _align("pos_weight", _dask_array("pos_weight", pos_weight), x)
    smoothing = _plan.check_label_smoothing(label_smoothing)
    keep = _plan.check_keepdims(keepdims)
    axes = _plan.check_axis(axis, reduction, x.ndim, keep)
    m = None if mask is None else _mask(mask, x)
    nan = _plan.check_nan_policy(nan_policy)
    return _Call(x, y, w, pw, m, result, compute, smoothing, axes, keep, nan)


# --------------------------------------------------------------------------------------------
# What runs on each chunk (module-level functions, so that distributed workers import them).


def _keywords(with_logits: bool, pos_weight: Any) -> dict:
    return {"pos_weight": pos_weight} if with_logits else {}


def _loss_block(
    x: np.ndarray,
    y: np.ndarray,
    w: Optional[np.ndarray],
    pw: Optional[np.ndarray],
    m: Optional[np.ndarray],
    *,
    with_logits: bool,
    smoothing: float,
    nan_policy: NanPolicy = "propagate",
    compute: Optional[np.dtype] = None,
) -> np.ndarray:
    """Per-element losses of one chunk; in ``compute`` (the kernels' dtype) when an ``axis``
    reduction sums them, as the NumPy API sums its buffer before rounding to the result dtype."""
    if compute is not None:
        x, y = x.astype(compute, copy=False), y.astype(compute, copy=False)
    loss = functional.binary_cross_entropy_with_logits if with_logits else functional.binary_cross_entropy
    kw = _keywords(with_logits, pw)
    return loss(x, y, w, reduction="none", mask=m, label_smoothing=smoothing, nan_policy=nan_policy, **kw)


def _grad_block(
    x: np.ndarray,
    y: np.ndarray,
    w: Optional[np.ndarray],
    pw: Optional[np.ndarray],
    m: Optional[np.ndarray],
    grad_output: Any,
    *,
    with_logits: bool,
    smoothing: float,
    nan_policy: NanPolicy = "propagate",
    wrt: Wrt,
    reduction: Reduction,
) -> np.ndarray:
    """One chunk's gradient. A mean's gradient arrives here as ``reduction="sum"`` with
    ``grad_output`` already divided by the global divisor: the same scale the NumPy API computes."""
    grad = (
        functional.binary_cross_entropy_with_logits_grad
        if with_logits
        else functional.binary_cross_entropy_grad
    )
    kw = _keywords(with_logits, pw)
    return grad(
        x,
        y,
        w,
        reduction=reduction,
        grad_output=grad_output,
        wrt=wrt,
        mask=m,
        label_smoothing=smoothing,
        nan_policy=nan_policy,
        **kw,
    )


def _value_and_grad_block(
    x: np.ndarray,
    y: np.ndarray,
    w: Optional[np.ndarray],
    pw: Optional[np.ndarray],
    m: Optional[np.ndarray],
    grad_output: Any,
    *,
    with_logits: bool,
    smoothing: float,
    nan_policy: NanPolicy = "propagate",
    wrt: Wrt,
    result: np.dtype,
) -> np.ndarray:
    """Per-element losses and gradient of one chunk in one kernel pass, stacked along a new first
    axis (written in place through ``out=``) so that one Dask task returns both. ``result`` is the
    NumPy API's result dtype, or the compute dtype when the losses are summed afterwards."""
    if result != np.result_type(x.dtype, y.dtype):
        x, y = x.astype(result, copy=False), y.astype(result, copy=False)
    both = np.empty((2,) + x.shape, dtype=result)
    f = (
        functional.binary_cross_entropy_with_logits_value_and_grad
        if with_logits
        else functional.binary_cross_entropy_value_and_grad
    )
    kw = _keywords(with_logits, pw)
    f(
        x,
        y,
        w,
        reduction="none",
        grad_output=grad_output,
        wrt=wrt,
        mask=m,
        label_smoothing=smoothing,
        nan_policy=nan_policy,
        out=(both[0], both[1]),
        **kw,
    )
    return both


def _grad_hess_block(
    x: np.ndarray,
    y: np.ndarray,
    w: Optional[np.ndarray],
    pw: Optional[np.ndarray],
    m: Optional[np.ndarray],
    *,
    smoothing: float,
    nan_policy: NanPolicy = "propagate",
    result: np.dtype,
) -> np.ndarray:
    """Gradient and hessian of one chunk, stacked along a new first axis like ``_value_and_grad_block``."""
    both = np.empty((2,) + x.shape, dtype=result)
    functional.binary_cross_entropy_with_logits_grad_hess(
        x, y, w, pw, mask=m, label_smoothing=smoothing, nan_policy=nan_policy, out=(both[0], both[1])
    )
    return both


def _state_block(
    x: np.ndarray,
    y: np.ndarray,
    w: Optional[np.ndarray],
    pw: Optional[np.ndarray],
    m: Optional[np.ndarray],
    *,
    with_logits: bool,
    smoothing: float,
    nan_policy: NanPolicy = "propagate",
) -> np.ndarray:
    """One chunk's accumulator (float64 loss sum, count, weight total) in a one-element object
    array, the block Dask's tree reduction then combines. The chunk's slices of weight and
    pos_weight are in its totals; the accumulators merged hold none of their own."""
    acc = BCEAccumulator(with_logits, label_smoothing=smoothing, nan_policy=nan_policy)
    acc.add_totals(*_plan.totals(with_logits, x, y, w, pw, m, smoothing, nan_policy))
    block = np.empty((1,) * x.ndim, dtype=object)
    block[(0,) * x.ndim] = acc
    return block


def _accumulators(blocks: Any) -> List[BCEAccumulator]:
    """The accumulators in what ``da.reduction`` hands over with ``concatenate=False``: blocks, or
    lists of them nested one level per reduced axis."""
    if isinstance(blocks, (list, tuple)):
        return [acc for b in blocks for acc in _accumulators(b)]
    return list(np.asarray(blocks, dtype=object).ravel())


def _merged(blocks: Any) -> BCEAccumulator:
    """A fresh accumulator holding every one in ``blocks`` (theirs are left as they were, in case
    Dask hands a result to a task twice)."""
    accs = _accumulators(blocks)
    first = accs[0]
    total = BCEAccumulator(
        first.with_logits, label_smoothing=first.label_smoothing, nan_policy=first.nan_policy
    )
    for acc in accs:
        total.merge(acc)
    return total


def _divisor_terms_block(
    x: np.ndarray,
    y: np.ndarray,
    w: Optional[np.ndarray],
    m: Optional[np.ndarray],
    *,
    reduction: Reduction,
    compute: np.dtype,
    nan_policy: NanPolicy,
) -> np.ndarray:
    """What each element of one chunk adds to a mean's divisor (``_plan.divisor_terms``), with the
    elements the NumPy API leaves out (masks, omitted NaN) left out."""
    _, _, w, _, m, _, _, _ = _plan.prepare(True, x, y, w, None, m, 0.0, nan_policy)
    terms = _plan.divisor_terms(reduction, x.shape, w, m, compute)
    return np.ones(x.shape, dtype=bool) if terms is None else terms


def _keep_block(block: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    return block


def _combine_blocks(blocks: Any, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    ndim = np.ndim(_first(blocks))
    block = np.empty((1,) * ndim, dtype=object)
    block[(0,) * ndim] = _merged(blocks)
    return block


def _first(blocks: Any) -> Any:
    while isinstance(blocks, (list, tuple)):
        blocks = blocks[0]
    return blocks


def _aggregate_blocks(
    blocks: Any, axis: Any = None, keepdims: bool = False, *, reduction: Reduction, result: np.dtype
) -> Any:
    """The reduction's value from the merged accumulator, rounded once to the result dtype (NaN for
    an empty mean, as the NumPy API)."""
    acc = _merged(blocks)
    value = acc.sum if reduction == "sum" else acc.mean if reduction == "mean" else acc.weighted_mean
    with np.errstate(over="ignore"):  # float16 rounds what is too large to inf, as the NumPy API
        return result.type(value)


def _divide_block(total: np.ndarray, divisor: Any, *, result: np.dtype) -> np.ndarray:
    return _plan.divide(total, divisor, result)


def _scale_block(grad_output: Any, divisor: Any) -> np.ndarray:
    """What every element's gradient of a mean is scaled by (``_plan.scale_of``)."""
    divisor = divisor.item() if isinstance(divisor, np.ndarray) else divisor
    return np.asarray(_plan.scale_of(float(grad_output), divisor), dtype=np.float64)


# --------------------------------------------------------------------------------------------
# Graphs


def _blocks(function: Callable[..., np.ndarray], call: _Call, *extra: Any, dtype: Any, **kw: Any) -> da.Array:
    """``function`` mapped over the chunks of the call's arrays (and ``extra`` ones), which
    ``_prepare`` lined up so that Dask needs no rechunking of its own."""
    ndim = call.input.ndim + (1 if "new_axis" in kw else 0)
    args = (call.input, call.target, call.weight, call.pos_weight, call.mask, *extra)
    return da.map_blocks(function, *args, dtype=dtype, meta=np.empty((0,) * ndim, dtype=dtype), **kw)


def _divisor(call: _Call, reduction: Reduction, axes: Optional[Tuple[int, ...]]) -> Divisor:
    """What a mean divides by, as the NumPy API defines it (``_plan.divisor_terms``), summed over
    every element (a 0-d array) or per output element (``keepdims`` shape). A count known without
    reading data is a plain int. ``None`` for a sum."""
    if reduction not in _plan.MEANS:
        return None
    x = call.input
    counts_all = call.mask is None and call.nan_policy != "omit"
    if counts_all and (reduction == "mean" or call.weight is None):
        return x.size if axes is None else int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    weighted = reduction == "weighted_mean" and call.weight is not None
    dtype = call.compute if weighted else np.dtype(bool)
    terms = da.map_blocks(
        _divisor_terms_block,
        x,
        call.target,
        call.weight,
        call.mask,
        reduction=reduction,
        compute=call.compute,
        nan_policy=call.nan_policy,
        dtype=dtype,
        meta=np.empty((0,) * x.ndim, dtype=dtype),
    )
    return da.sum(terms, axis=axes, keepdims=axes is not None, dtype=np.float64 if weighted else np.int64)


def _total(with_logits: bool, call: _Call, reduction: Reduction) -> da.Array:
    """A mean or sum over every element: a tree reduction of per-chunk accumulators."""
    ndim = call.input.ndim
    states = _blocks(
        _state_block,
        call,
        dtype=object,
        chunks=tuple((1,) * n for n in call.input.numblocks),
        with_logits=with_logits,
        smoothing=call.label_smoothing,
        nan_policy=call.nan_policy,
    )
    return da.reduction(
        states,
        _keep_block,
        functools.partial(_aggregate_blocks, reduction=reduction, result=call.result),
        combine=_combine_blocks,
        axis=tuple(range(ndim)),
        keepdims=False,
        concatenate=False,
        dtype=call.result,
        meta=np.empty((), dtype=call.result),
    )


def _along_axes(with_logits: bool, call: _Call, reduction: Reduction) -> da.Array:
    """A mean or sum over ``axis``: per-element losses (compute dtype) summed in float64, divided
    by the per-output divisor, then rounded to the result dtype."""
    axes = call.axes
    assert axes is not None
    losses = _blocks(
        _loss_block,
        call,
        dtype=call.compute,
        with_logits=with_logits,
        smoothing=call.label_smoothing,
        nan_policy=call.nan_policy,
        compute=call.compute,
    )
    return _reduce_losses(losses, call, reduction)


def _reduce_losses(losses: da.Array, call: _Call, reduction: Reduction) -> da.Array:
    """Per-element losses (compute dtype) summed over ``axis`` in float64, divided by the
    per-output divisor, rounded to the result dtype; shaped as NumPy's ``keepdims`` says."""
    axes = call.axes
    assert axes is not None
    total = da.sum(losses, axis=axes, keepdims=True, dtype=np.float64)
    reduced = da.map_blocks(
        _divide_block,
        total,
        _divisor(call, reduction, axes),
        result=call.result,
        dtype=call.result,
        meta=np.empty((0,) * call.input.ndim, dtype=call.result),
    )
    return reduced if call.keepdims else da.squeeze(reduced, axis=axes)


def _losses(with_logits: bool, call: _Call, reduction: Reduction) -> da.Array:
    if reduction == "none":
        return _blocks(
            _loss_block,
            call,
            dtype=call.result,
            with_logits=with_logits,
            smoothing=call.label_smoothing,
            nan_policy=call.nan_policy,
        )
    if call.axes is not None:
        return _along_axes(with_logits, call, reduction)
    return _total(with_logits, call, reduction)


def _elementwise_grad_output(grad_output: Any, call: _Call) -> Any:
    """``grad_output`` of ``reduction="none"``: a scalar stays one (the NumPy API scales by it),
    an array is lined up with the input's chunks."""
    go = _dask_array("grad_output", grad_output)
    if go.ndim == 0:
        return go if isinstance(grad_output, da.Array) else _plan.real_array("grad_output", grad_output)
    return _align("grad_output", go, call.input)


def _upstream_scalar(grad_output: Any, reduction: Reduction) -> Any:
    """The upstream gradient of a mean or sum over everything: one number, or a 0-d Dask array."""
    if isinstance(grad_output, da.Array):
        scalar_grad_output(_stand_in(_known("grad_output", grad_output)), reduction)
        return grad_output
    return scalar_grad_output(grad_output, reduction)


def _axis_factor(grad_output: Any, call: _Call, reduction: Reduction) -> da.Array:
    """The per-output upstream gradient of an ``axis`` reduction, divided by the per-output divisor
    and shaped with the reduced axes kept, lined up with the input's chunks (as the NumPy API)."""
    axes, shape = call.axes, call.input.shape
    assert axes is not None
    go = _dask_array("grad_output", grad_output)
    _plan.check_axis_grad_output(_stand_in(go), shape, axes, call.keepdims)  # the NumPy API's checks
    go = da.broadcast_to(go.astype(np.float64), _plan.reduced_shape(shape, axes, call.keepdims))
    if not call.keepdims:
        go = da.expand_dims(go, axes)
    go = _align("grad_output", go, call.input)
    divisor = _divisor(call, reduction, axes)
    return da.map_blocks(_plan.factor, go, divisor, dtype=np.float64, meta=np.empty((0,) * len(shape)))


def _gradient(with_logits: bool, call: _Call, reduction: Reduction, grad_output: Any, wrt: Wrt) -> da.Array:
    kw = {
        "with_logits": with_logits,
        "smoothing": call.label_smoothing,
        "nan_policy": call.nan_policy,
        "wrt": wrt,
    }
    if reduction == "none":
        go = _elementwise_grad_output(grad_output, call)
        return _blocks(_grad_block, call, go, dtype=call.result, reduction="none", **kw)
    if call.axes is not None:
        factor = _axis_factor(grad_output, call, reduction)
        return _blocks(_grad_block, call, factor, dtype=call.result, reduction="none", **kw)
    go = _upstream_scalar(grad_output, reduction)
    divisor = _divisor(call, reduction, None)
    if isinstance(go, da.Array) or isinstance(divisor, da.Array):
        scale: Any = da.map_blocks(_scale_block, go, divisor, dtype=np.float64, meta=np.empty(()))
    else:
        scale = _plan.scale_of(go, divisor)
    return _blocks(_grad_block, call, scale, dtype=call.result, reduction="sum", **kw)


# --------------------------------------------------------------------------------------------
# The public functions: the NumPy API's names and arguments (without out=), lazy results.


@document(
    "``fastbce.binary_cross_entropy_with_logits`` on Dask arrays (any of the arrays may be NumPy).",
    logits=True,
    returns="dask_loss",
)
def binary_cross_entropy_with_logits(
    input: Any,
    target: Any,
    weight: Any = None,
    size_average: Optional[bool] = None,
    reduce: Optional[bool] = None,
    reduction: Reduction = "mean",
    pos_weight: Any = None,
    *,
    mask: Any = None,
    label_smoothing: Real = 0.0,
    axis: Any = None,
    keepdims: bool = False,
    nan_policy: NanPolicy = "propagate",
) -> da.Array:
    """``fastbce.binary_cross_entropy_with_logits`` on Dask arrays: a lazy array of the input's
    chunks for ``reduction="none"``, else a lazy 0-d array (or, with ``axis``, the reduced shape)."""
    reduction = resolve_reduction(size_average, reduce, reduction, stacklevel=2)
    call = _prepare(
        input, target, weight, pos_weight, reduction, mask, label_smoothing, axis, keepdims, nan_policy
    )
    return _losses(True, call, reduction)


@document(
    "``fastbce.binary_cross_entropy`` (on probabilities) on Dask arrays.",
    logits=False,
    returns="dask_loss",
)
def binary_cross_entropy(
    input: Any,
    target: Any,
    weight: Any = None,
    size_average: Optional[bool] = None,
    reduce: Optional[bool] = None,
    reduction: Reduction = "mean",
    *,
    mask: Any = None,
    label_smoothing: Real = 0.0,
    axis: Any = None,
    keepdims: bool = False,
    nan_policy: NanPolicy = "propagate",
) -> da.Array:
    """``fastbce.binary_cross_entropy`` (on probabilities) on Dask arrays; see
    ``binary_cross_entropy_with_logits``."""
    reduction = resolve_reduction(size_average, reduce, reduction, stacklevel=2)
    call = _prepare(input, target, weight, None, reduction, mask, label_smoothing, axis, keepdims, nan_policy)
    return _losses(False, call, reduction)


def _grad_call(
    with_logits: bool,
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
    nan_policy: Any = "propagate",
) -> Tuple[Optional[da.Array], da.Array]:
    """The gradient functions and the value-and-gradient ones: ``(loss or None, gradient)``.

    With ``reduction="none"`` one kernel pass per chunk gives both; a reduced loss comes from the
    accumulators' tree reduction and the gradient from a second pass, so that the loss keeps its
    exact float64 partial sums."""
    reduction = check_reduction(reduction)
    wrt = check_wrt(wrt)
    call = _prepare(
        input, target, weight, pos_weight, reduction, mask, label_smoothing, axis, keepdims, nan_policy
    )
    if want_loss and (reduction == "none" or call.axes is not None):
        # One kernel pass gives per-element losses and gradient (the fused kernel's float32
        # losses can differ from the loss-only kernel's in the last bit; this is what the NumPy
        # API's value_and_grad sums). For an axis reduction they come in the compute dtype, to
        # be summed in float64 before they are rounded, as the NumPy API does.
        along_axes = reduction != "none"
        go = (
            _axis_factor(grad_output, call, reduction)
            if along_axes
            else _elementwise_grad_output(grad_output, call)
        )
        dtype = call.compute if along_axes else call.result
        both = _blocks(
            _value_and_grad_block,
            call,
            go,
            dtype=dtype,
            new_axis=0,
            chunks=((2,), *call.input.chunks),
            with_logits=with_logits,
            smoothing=call.label_smoothing,
            nan_policy=call.nan_policy,
            wrt=wrt,
            result=dtype,
        )
        if not along_axes:
            return both[0], both[1]
        return _reduce_losses(both[0], call, reduction), both[1].astype(call.result)
    grad = _gradient(with_logits, call, reduction, grad_output, wrt)
    return (_losses(with_logits, call, reduction) if want_loss else None), grad


@document(
    "``fastbce.binary_cross_entropy_with_logits_grad`` on Dask arrays: the divisor of a mean is "
    "computed lazily, and ``grad_output`` may be a Dask array.",
    logits=True,
    returns="dask_grad",
)
def binary_cross_entropy_with_logits_grad(
    input: Any,
    target: Any,
    weight: Any = None,
    pos_weight: Any = None,
    reduction: Reduction = "mean",
    grad_output: Any = 1.0,
    wrt: Wrt = "input",
    *,
    mask: Any = None,
    label_smoothing: Real = 0.0,
    axis: Any = None,
    keepdims: bool = False,
    nan_policy: NanPolicy = "propagate",
) -> da.Array:
    """Gradient of ``sum(binary_cross_entropy_with_logits(...) * grad_output)`` with respect to
    ``wrt``: a lazy array with the input's shape and chunks. ``grad_output`` may be a Dask array
    (a 0-d one for a mean or sum); the divisor of a mean is computed lazily."""
    args = (
        weight,
        pos_weight,
        reduction,
        grad_output,
        wrt,
        mask,
        label_smoothing,
        axis,
        keepdims,
        nan_policy,
    )
    return _grad_call(True, False, input, target, *args)[1]


@document(
    "``fastbce.binary_cross_entropy_grad`` on Dask arrays.",
    logits=False,
    returns="dask_grad",
)
def binary_cross_entropy_grad(
    input: Any,
    target: Any,
    weight: Any = None,
    reduction: Reduction = "mean",
    grad_output: Any = 1.0,
    wrt: Wrt = "input",
    *,
    mask: Any = None,
    label_smoothing: Real = 0.0,
    axis: Any = None,
    keepdims: bool = False,
    nan_policy: NanPolicy = "propagate",
) -> da.Array:
    """Gradient of ``sum(binary_cross_entropy(...) * grad_output)``; see
    ``binary_cross_entropy_with_logits_grad``."""
    args = (weight, None, reduction, grad_output, wrt, mask, label_smoothing, axis, keepdims, nan_policy)
    return _grad_call(False, False, input, target, *args)[1]


@document(
    "``(loss, gradient)`` of ``binary_cross_entropy_with_logits`` on Dask arrays.",
    logits=True,
    returns="dask_value_and_grad",
)
def binary_cross_entropy_with_logits_value_and_grad(
    input: Any,
    target: Any,
    weight: Any = None,
    pos_weight: Any = None,
    reduction: Reduction = "mean",
    grad_output: Any = 1.0,
    wrt: Wrt = "input",
    *,
    mask: Any = None,
    label_smoothing: Real = 0.0,
    axis: Any = None,
    keepdims: bool = False,
    nan_policy: NanPolicy = "propagate",
) -> Tuple[da.Array, da.Array]:
    """``(loss, gradient)`` of ``binary_cross_entropy_with_logits``, both lazy; compute them
    together (``dask.compute(loss, grad)``) so that each chunk is read once."""
    args = (
        weight,
        pos_weight,
        reduction,
        grad_output,
        wrt,
        mask,
        label_smoothing,
        axis,
        keepdims,
        nan_policy,
    )
    loss, grad = _grad_call(True, True, input, target, *args)
    assert loss is not None
    return loss, grad


@document(
    "``(loss, gradient)`` of ``binary_cross_entropy`` on Dask arrays.",
    logits=False,
    returns="dask_value_and_grad",
)
def binary_cross_entropy_value_and_grad(
    input: Any,
    target: Any,
    weight: Any = None,
    reduction: Reduction = "mean",
    grad_output: Any = 1.0,
    wrt: Wrt = "input",
    *,
    mask: Any = None,
    label_smoothing: Real = 0.0,
    axis: Any = None,
    keepdims: bool = False,
    nan_policy: NanPolicy = "propagate",
) -> Tuple[da.Array, da.Array]:
    """``(loss, gradient)`` of ``binary_cross_entropy``, both lazy."""
    args = (weight, None, reduction, grad_output, wrt, mask, label_smoothing, axis, keepdims, nan_policy)
    loss, grad = _grad_call(False, True, input, target, *args)
    assert loss is not None
    return loss, grad


@document(
    "Per-element gradient and hessian of the with-logits loss with respect to the logits, on Dask arrays.",
    logits=True,
    returns="dask_grad_hess",
)
def binary_cross_entropy_with_logits_grad_hess(
    input: Any,
    target: Any,
    weight: Any = None,
    pos_weight: Any = None,
    *,
    mask: Any = None,
    label_smoothing: Real = 0.0,
    nan_policy: NanPolicy = "propagate",
) -> Tuple[da.Array, da.Array]:
    """Per-element gradient and hessian of the with-logits loss with respect to the logits, as
    ``fastbce.binary_cross_entropy_with_logits_grad_hess``: two lazy arrays with the input's chunks,
    from one kernel pass per chunk."""
    call = _prepare(input, target, weight, pos_weight, "none", mask, label_smoothing, None, False, nan_policy)
    both = _blocks(
        _grad_hess_block,
        call,
        dtype=call.result,
        new_axis=0,
        chunks=((2,), *call.input.chunks),
        smoothing=call.label_smoothing,
        nan_policy=call.nan_policy,
        result=call.result,
    )
    return both[0], both[1]
