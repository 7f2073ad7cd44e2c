"""The loss functions, their gradients and both in one pass, as ``torch.nn.functional`` names them.

Every function converts and checks its arguments (``_args``), then makes one call into the native
kernels, which release the GIL while they compute.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional, Tuple

import numpy as np

from . import _buffers, _core
from ._args import (
    Operands,
    as_kernel_array,
    as_real_array,
    broadcast_operand,
    check_axis,
    check_label_smoothing,
    check_mask,
    check_out,
    check_reduction,
    check_wrt,
    operands,
    resolve_reduction,
    scalar_grad_output,
)

__all__ = [
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits_grad",
    "binary_cross_entropy_grad",
    "binary_cross_entropy_with_logits_value_and_grad",
    "binary_cross_entropy_value_and_grad",
    "binary_cross_entropy_with_logits_grad_hess",
]

_MEANS = ("mean", "weighted_mean")


def _bare(input: Any, target: Any, mask: Any, label_smoothing: Any, out: Any) -> bool:
    """Whether a call has two NumPy arrays and no mask, label smoothing or ``out``."""
    return (
        mask is None
        and out is None
        # The type first: an array's == would not be a truth value.
        and label_smoothing.__class__ in (float, int)
        and label_smoothing == 0
        and type(input) is np.ndarray
        and type(target) is np.ndarray
    )


def _plain(
    input: Any,
    target: Any,
    size_average: Any,
    reduce: Any,
    reduction: Any,
    mask: Any,
    label_smoothing: Any,
    axis: Any,
    keepdims: Any,
    out: Any,
) -> bool:
    """Whether a loss call may try the lean native path: ``_bare``, no legacy arguments and no axis,
    a mean or a sum. The lean path still checks the arrays and weights (``_lean_operands``)."""
    return (
        size_average is None
        and reduce is None
        and axis is None
        and keepdims is False
        and reduction.__class__ is str
        and (reduction == "mean" or reduction == "sum")
        and _bare(input, target, mask, label_smoothing, out)
    )


_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _lean_arrays(input: np.ndarray, target: np.ndarray) -> bool:
    """Whether the kernel can take two NumPy arrays as they are: non-empty, aligned, C-contiguous, of
    one shape and one kernel dtype (native byte order)."""
    return bool(
        input.dtype in _KERNEL_DTYPES
        and target.dtype == input.dtype
        and input.shape == target.shape
        and input.size
        and input.flags.c_contiguous
        and target.flags.c_contiguous
        and input.flags.aligned
        and target.flags.aligned
    )


def _lean_weight(input: np.ndarray, weight: Any) -> bool:
    """Whether a weight is absent or a NumPy array the kernel takes as it is, in the broadcast
    patterns that need no check: the input's dtype, C-contiguous and aligned, of the input's shape or
    one value per last-dimension column."""
    return weight is None or (
        type(weight) is np.ndarray
        and weight.dtype == input.dtype
        and (weight.shape == input.shape or weight.shape == input.shape[-1:])
        and weight.flags.c_contiguous
        and weight.flags.aligned
    )


def _lean_operands(input: np.ndarray, target: np.ndarray, weight: Any, pos_weight: Any) -> bool:
    """Whether a call's arrays all go to the kernel as they are (``_lean_arrays``, ``_lean_weight``)."""
    return _lean_arrays(input, target) and _lean_weight(input, weight) and _lean_weight(input, pos_weight)


def _lean_loss(
    with_logits: bool, input: np.ndarray, target: np.ndarray, weight: Any, pos_weight: Any, mean: bool
) -> Optional[Any]:
    """A plain loss call (``_plain``) in one native call, or None for the general path. Without
    weights the binding checks the arrays itself; with them, ``_lean_operands`` does, and the call is
    the general path's, with its arithmetic (the float64 sum, divided by ``n`` for a mean, rounded
    once)."""
    if weight is None and pos_weight is None:
        total = _core.reduced_loss(with_logits, input, target, mean)
    elif _lean_operands(input, target, weight, pos_weight):
        total = _core.bce(with_logits, input, target, weight, pos_weight, None, 1.0, None, True, None, False)
        if mean:
            total = total / input.size
    else:
        return None
    return None if total is None else input.dtype.type(total)


def _lean_gradient(
    with_logits: bool,
    want_loss: bool,
    input: np.ndarray,
    target: np.ndarray,
    weight: Any,
    pos_weight: Any,
    mean: bool,
    grad_output: float,
) -> Optional[Tuple[Any, np.ndarray]]:
    """A plain gradient call (``_plain``, with a number for ``grad_output`` and ``wrt="input"``) in one
    native call, ``(loss or None, gradient)``, when ``_lean_operands``; else None, and the general
    path takes the call. The same arithmetic as the general path: the scale is ``grad_output / n``
    for a mean, the loss the float64 sum (divided by ``n``) rounded once."""
    if not _lean_operands(input, target, weight, pos_weight):
        return None
    n = input.size
    scale = float(grad_output)
    if mean:
        scale = scale / n
    grad = _buffers.empty_like(input)
    total = _core.bce(
        with_logits, input, target, weight, pos_weight, None, scale, None, want_loss, grad, False
    )
    if not want_loss:
        return None, grad
    return input.dtype.type(total / n if mean else total), grad


def _lean_grad_hess(
    input: np.ndarray, target: np.ndarray, weight: Any, pos_weight: Any
) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """A ``grad_hess`` call of two NumPy arrays (``_bare``) in one native call when
    ``_lean_operands``; else None."""
    if not _lean_operands(input, target, weight, pos_weight):
        return None
    grad, hess = _buffers.empty_like(input), _buffers.empty_like(input)
    _core.bce(True, input, target, weight, pos_weight, None, 1.0, None, False, grad, False, None, 0.0, hess)
    return grad, hess


class _Options(NamedTuple):
    """The pipeline arguments of a call, checked."""

    mask: Optional[np.ndarray]
    label_smoothing: float
    axes: Optional[Tuple[int, ...]]
    keepdims: bool


def _options(
    shape: Tuple[int, ...], reduction: str, mask: Any, label_smoothing: Any, axis: Any, keepdims: Any
) -> _Options:
    if not isinstance(keepdims, (bool, np.bool_)):
        raise TypeError(f"keepdims must be True or False, got {keepdims!r}")
    axes = check_axis(axis, reduction, len(shape))
    if keepdims and axes is None:
        if reduction == "none":
            raise ValueError("keepdims is given but reduction='none' reduces nothing")
        # NumPy's keepdims without an axis: every axis reduced, each kept with length 1.
        axes = tuple(range(len(shape)))
    return _Options(
        None if mask is None else check_mask(mask, shape),
        check_label_smoothing(label_smoothing),
        axes,
        bool(keepdims),
    )


def _denominator(reduction: str, ops: Operands, opts: _Options) -> Any:
    """What a mean divides by: the number of elements the mask keeps, or for ``weighted_mean`` the
    sum of their weights; one number, or per output element (``keepdims`` shape) with ``axis``.
    ``None`` for a sum."""
    if reduction not in _MEANS:
        return None
    shape, axes, mask = ops.input.shape, opts.axes, opts.mask
    if reduction == "mean" or ops.weight is None:
        if mask is None:
            return ops.input.size if axes is None else int(np.prod([shape[a] for a in axes], dtype=np.int64))
        kept = np.broadcast_to(mask, shape)
        return np.count_nonzero(kept) if axes is None else np.count_nonzero(kept, axis=axes, keepdims=True)
    weight = np.broadcast_to(ops.weight, shape)
    if mask is not None:
        weight = np.where(mask, weight, 0.0)
    if axes is None:
        return float(np.sum(weight, dtype=np.float64))
    return np.sum(weight, axis=axes, keepdims=True, dtype=np.float64)


def _axis_grad_output(
    grad_output: Any, shape: Tuple[int, ...], axes: Tuple[int, ...], keepdims: bool
) -> np.ndarray:
    """The upstream gradient of a reduction over ``axes``: broadcastable to the reduced shape, and
    returned with the reduced axes kept (length 1), so that it broadcasts over the input."""
    kept = tuple(1 if d in axes else n for d, n in enumerate(shape))
    reduced = kept if keepdims else tuple(n for d, n in enumerate(shape) if d not in axes)
    go = as_real_array("grad_output", grad_output)
    try:
        fits = np.broadcast_shapes(reduced, go.shape) == reduced
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"grad_output of shape {go.shape} does not broadcast to the reduced shape {reduced} "
            "without enlarging it"
        )
    go = np.broadcast_to(go.astype(np.float64, copy=False), reduced)
    return go if keepdims else np.expand_dims(go, axes)


def _buffer(out: Optional[np.ndarray], shape: Tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Where the kernels write an output: the caller's array when they can write it in place (an
    empty one is not handed over: two empty views of one buffer look overlapping to the borrow
    checks of the binding layer, and there is nothing to write anyway)."""
    if out is not None and out.size and out.dtype == dtype and out.flags.c_contiguous and out.flags.aligned:
        return out
    return _buffers.empty(shape, dtype)


def _finish(buffer: np.ndarray, out: Optional[np.ndarray], result: np.dtype) -> np.ndarray:
    if out is None:
        return buffer.astype(result, copy=False)
    if buffer is not out:
        np.copyto(out, buffer, casting="same_kind")
    return out


def _evaluate(
    with_logits: bool,
    ops: Operands,
    reduction: str,
    opts: _Options,
    want_loss: bool,
    grad_output: Any = None,
    wrt_target: Optional[bool] = None,
    outs: Tuple[Optional[np.ndarray], ...] = (None, None, None),
    want_hess: bool = False,
) -> Tuple[Any, Optional[np.ndarray], Optional[np.ndarray]]:
    """One kernel call: the loss (reduced as asked) if ``want_loss``, the gradient of
    ``sum(loss * grad_output)`` if ``wrt_target`` is not None, and the hessian beside an input
    gradient if ``want_hess``. ``outs`` are checked caller arrays for (losses, gradient, hessian)."""
    x = ops.input
    shape, compute, result = x.shape, x.dtype, ops.result_dtype
    axes = opts.axes
    each_loss = want_loss and (reduction == "none" or axes is not None)
    denominator = _denominator(reduction, ops, opts)
    grad_array = None
    scale = 1.0
    if wrt_target is not None:
        if reduction == "none":
            go = as_real_array("grad_output", grad_output)
            if go.ndim == 0:
                scale = float(go)
            else:
                grad_array = broadcast_operand("grad_output", go, shape, compute)
        elif axes is None:
            scale = scalar_grad_output(grad_output, reduction)
            if denominator is not None:
                # Everything masked out (or zero total weight): no element has a gradient.
                scale = scale / denominator if denominator else 0.0
        else:
            factor = _axis_grad_output(grad_output, shape, axes, opts.keepdims)
            if denominator is not None:
                factor = np.divide(
                    factor,
                    denominator,
                    out=np.zeros(np.broadcast_shapes(factor.shape, np.shape(denominator))),
                    where=np.asarray(denominator) != 0,
                )
            grad_array = as_kernel_array(factor, compute)
    loss_out, grad_out, hess_out = outs
    loss_buffer = _buffer(loss_out, shape, compute) if each_loss else None
    grad_buffer = _buffer(grad_out, shape, compute) if wrt_target is not None else None
    hess_buffer = _buffer(hess_out, shape, compute) if want_hess else None
    mask = None if opts.mask is None else as_kernel_array(opts.mask, compute)
    total = _core.bce(
        with_logits,
        x,
        ops.target,
        ops.weight,
        ops.pos_weight,
        grad_array,
        scale,
        loss_buffer,
        want_loss and not each_loss,
        grad_buffer,
        bool(wrt_target),
        mask,
        opts.label_smoothing,
        hess_buffer,
    )
    loss: Any = None
    # Narrowing to float16 rounds what is too large to inf, as NumPy's float16 arithmetic would.
    with np.errstate(over="ignore"):
        if want_loss:
            if reduction == "none":
                loss = _finish(loss_buffer, loss_out, result)  # type: ignore[arg-type]
            elif axes is not None:
                loss = _reduce_axes(loss_buffer, denominator, opts, result)  # type: ignore[arg-type]
            elif denominator is None:
                loss = result.type(total)
            else:
                # An empty mean, all masked out, or zero total weight: NaN, like np.mean([]).
                loss = result.type(total / denominator if denominator else np.nan)
        grad = None if grad_buffer is None else _finish(grad_buffer, grad_out, result)
        hess = None if hess_buffer is None else _finish(hess_buffer, hess_out, result)
    return loss, grad, hess


def _loss_sum(with_logits: bool, ops: Operands, opts: _Options) -> float:
    """The float64 sum of the losses of one call (mask and label smoothing from ``opts``), before
    it is rounded to the result dtype: what the streaming accumulator adds up."""
    mask = None if opts.mask is None else as_kernel_array(opts.mask, ops.input.dtype)
    args = (ops.input, ops.target, ops.weight, ops.pos_weight, None, 1.0, None, True, None, False)
    return _core.bce(with_logits, *args, mask, opts.label_smoothing, None)


def _reduce_axes(losses: np.ndarray, denominator: Any, opts: _Options, result: np.dtype) -> Any:
    """Sums (in float64) or means of per-element losses over ``opts.axes``, shaped as NumPy's
    ``sum(axis=..., keepdims=...)`` would shape them."""
    total = np.sum(losses, axis=opts.axes, keepdims=True, dtype=np.float64)
    if denominator is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            total = total / denominator
    if not opts.keepdims:
        total = np.squeeze(total, axis=opts.axes)
    reduced = total.astype(result)
    return reduced[()] if reduced.ndim == 0 else reduced


def _outs(
    names: Tuple[str, ...], out: Any, ops: Operands, others: Tuple[Any, ...]
) -> Tuple[Optional[np.ndarray], ...]:
    """Checks caller-supplied output arrays: ``out`` is one array for one name, else a tuple with
    one array (or None) per name."""
    if out is None:
        return (None,) * len(names)
    if len(names) == 1:
        given: Tuple[Any, ...] = (out,)
    elif isinstance(out, tuple) and len(out) == len(names):
        given = out
    else:
        raise TypeError(f"out must be a tuple of {len(names)} arrays (or None) for ({', '.join(names)})")
    inputs = [a for a in (*ops[:4], *others) if a is not None]
    checked: list = []
    for name, array in zip(names, given):
        if array is not None:
            others_so_far = inputs + [c for c in checked if c is not None]
            array = check_out(name, array, ops.input.shape, ops.result_dtype, others_so_far)
        checked.append(array)
    return tuple(checked)


_PIPELINE_DOC = """
    Pipeline arguments (keyword-only; their defaults leave the call exactly as PyTorch's):

    - ``reduction="weighted_mean"``: ``sum(w * loss) / sum(w)`` over the kept elements (the mean
      when there is no weight). ``pos_weight`` is not a sample weight and is not in the divisor.
    - ``mask``: a boolean array broadcastable to the input; masked-out elements add nothing to the
      loss or the mean's divisor and have zero gradient, whatever their values (NaN included).
      An all-masked mean is NaN, like an empty one.
    - ``label_smoothing=ε`` in [0, 1): targets become ``y (1 - ε) + ε / 2`` (Keras's definition),
      formed in the compute dtype; target gradients are with respect to the given ``y``.
    - ``axis`` (int or tuple, NumPy's conventions) and ``keepdims``: reduce over those axes only.
    - ``out``: an array of the input's shape and the result dtype that receives the result and is
      returned (reduction ``"none"`` losses, gradients); it must not share memory with an input.
"""


def binary_cross_entropy_with_logits(
    input: Any,
    target: Any,
    weight: Any = None,
    size_average: Optional[bool] = None,
    reduce: Optional[bool] = None,
    reduction: str = "mean",
    pos_weight: Any = None,
    *,
    mask: Any = None,
    label_smoothing: float = 0.0,
    axis: Any = None,
    keepdims: bool = False,
    out: Optional[np.ndarray] = None,
) -> Any:
    """Binary cross-entropy between logits ``input`` and ``target``, as
    ``torch.nn.functional.binary_cross_entropy_with_logits`` (exact limits at infinite logits)."""
    if _plain(
        input,
        target,
        size_average,
        reduce,
        reduction,
        mask,
        label_smoothing,
        axis,
        keepdims,
        out,
    ):
        lean = _lean_loss(True, input, target, weight, pos_weight, reduction == "mean")
        if lean is not None:
            return lean
    reduction = resolve_reduction(size_average, reduce, reduction, stacklevel=2)
    return _loss(
        True, input, target, weight, pos_weight, reduction, mask, label_smoothing, axis, keepdims, out
    )


def binary_cross_entropy(
    input: Any,
    target: Any,
    weight: Any = None,
    size_average: Optional[bool] = None,
    reduce: Optional[bool] = None,
    reduction: str = "mean",
    *,
    mask: Any = None,
    label_smoothing: float = 0.0,
    axis: Any = None,
    keepdims: bool = False,
    out: Optional[np.ndarray] = None,
) -> Any:
    """Binary cross-entropy between probabilities ``input`` and ``target``, as
    ``torch.nn.functional.binary_cross_entropy`` (each log clamped at -100)."""
    if _plain(
        input,
        target,
        size_average,
        reduce,
        reduction,
        mask,
        label_smoothing,
        axis,
        keepdims,
        out,
    ):
        lean = _lean_loss(False, input, target, weight, None, reduction == "mean")
        if lean is not None:
            return lean
    reduction = resolve_reduction(size_average, reduce, reduction, stacklevel=2)
    return _loss(False, input, target, weight, None, reduction, mask, label_smoothing, axis, keepdims, out)


def _loss(
    with_logits: bool,
    input: Any,
    target: Any,
    weight: Any,
    pos_weight: Any,
    reduction: str,
    mask: Any,
    label_smoothing: Any,
    axis: Any,
    keepdims: Any,
    out: Any,
) -> Any:
    ops = operands(input, target, weight, pos_weight)
    opts = _options(ops.input.shape, reduction, mask, label_smoothing, axis, keepdims)
    if out is not None and reduction != "none":
        raise ValueError(f"out receives per-element losses; it needs reduction='none', not {reduction!r}")
    outs = _outs(("out",), out, ops, (input, target, weight, pos_weight, mask))
    return _evaluate(with_logits, ops, reduction, opts, True, outs=(outs[0], None, None))[0]


def _gradient(
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
    out: Any,
) -> Tuple[Any, Any]:
    """The gradient functions and the value-and-gradient ones: ``(loss or None, gradient)``."""
    pipeline = (mask, label_smoothing, axis, keepdims, out)
    if (
        grad_output.__class__ in (float, int)
        and wrt.__class__ is str
        and wrt == "input"
        and _plain(input, target, None, None, reduction, *pipeline)
    ):
        lean = _lean_gradient(
            with_logits, want_loss, input, target, weight, pos_weight, reduction == "mean", grad_output
        )
        if lean is not None:
            return lean
    reduction = check_reduction(reduction)
    wrt_target = check_wrt(wrt)
    ops = operands(input, target, weight, pos_weight)
    opts = _options(ops.input.shape, reduction, mask, label_smoothing, axis, keepdims)
    others = (input, target, weight, pos_weight, mask, grad_output)
    if want_loss:
        loss_out, grad_out = _outs(("loss out", "gradient out"), out, ops, others)
        if loss_out is not None and reduction != "none":
            raise ValueError(
                f"out[0] receives per-element losses; it needs reduction='none', not {reduction!r}"
            )
    else:
        loss_out, grad_out = None, _outs(("out",), out, ops, others)[0]
    loss, grad, _ = _evaluate(
        with_logits, ops, reduction, opts, want_loss, grad_output, wrt_target, (loss_out, grad_out, None)
    )
    return loss, grad


def binary_cross_entropy_with_logits_grad(
    input: Any,
    target: Any,
    weight: Any = None,
    pos_weight: Any = None,
    reduction: str = "mean",
    grad_output: Any = 1.0,
    wrt: str = "input",
    *,
    mask: Any = None,
    label_smoothing: float = 0.0,
    axis: Any = None,
    keepdims: bool = False,
    out: Optional[np.ndarray] = None,
) -> np.ndarray:
    """Gradient of ``sum(binary_cross_entropy_with_logits(...) * grad_output)`` with respect to
    ``wrt`` (``"input"`` or ``"target"``); it has the input's shape."""
    args = (weight, pos_weight, reduction, grad_output, wrt, mask, label_smoothing, axis, keepdims, out)
    return _gradient(True, False, input, target, *args)[1]


def binary_cross_entropy_grad(
    input: Any,
    target: Any,
    weight: Any = None,
    reduction: str = "mean",
    grad_output: Any = 1.0,
    wrt: str = "input",
    *,
    mask: Any = None,
    label_smoothing: float = 0.0,
    axis: Any = None,
    keepdims: bool = False,
    out: Optional[np.ndarray] = None,
) -> np.ndarray:
    """Gradient of ``sum(binary_cross_entropy(...) * grad_output)`` with respect to ``wrt``."""
    args = (weight, None, reduction, grad_output, wrt, mask, label_smoothing, axis, keepdims, out)
    return _gradient(False, False, input, target, *args)[1]


def binary_cross_entropy_with_logits_value_and_grad(
    input: Any,
    target: Any,
    weight: Any = None,
    pos_weight: Any = None,
    reduction: str = "mean",
    grad_output: Any = 1.0,
    wrt: str = "input",
    *,
    mask: Any = None,
    label_smoothing: float = 0.0,
    axis: Any = None,
    keepdims: bool = False,
    out: Optional[Tuple[Optional[np.ndarray], Optional[np.ndarray]]] = None,
) -> Tuple[Any, np.ndarray]:
    """``(loss, gradient)`` of ``binary_cross_entropy_with_logits`` in one pass over the data;
    ``out=(losses, gradient)``, either may be None."""
    args = (weight, pos_weight, reduction, grad_output, wrt, mask, label_smoothing, axis, keepdims, out)
    return _gradient(True, True, input, target, *args)


def binary_cross_entropy_value_and_grad(
    input: Any,
    target: Any,
    weight: Any = None,
    reduction: str = "mean",
    grad_output: Any = 1.0,
    wrt: str = "input",
    *,
    mask: Any = None,
    label_smoothing: float = 0.0,
    axis: Any = None,
    keepdims: bool = False,
    out: Optional[Tuple[Optional[np.ndarray], Optional[np.ndarray]]] = None,
) -> Tuple[Any, np.ndarray]:
    """``(loss, gradient)`` of ``binary_cross_entropy`` in one pass over the data."""
    args = (weight, None, reduction, grad_output, wrt, mask, label_smoothing, axis, keepdims, out)
    return _gradient(False, True, input, target, *args)


def binary_cross_entropy_with_logits_grad_hess(
    input: Any,
    target: Any,
    weight: Any = None,
    pos_weight: Any = None,
    *,
    mask: Any = None,
    label_smoothing: float = 0.0,
    out: Optional[Tuple[Optional[np.ndarray], Optional[np.ndarray]]] = None,
) -> Tuple[np.ndarray, np.ndarray]:
    """Per-element first and second derivatives of the with-logits loss with respect to the
    logits, in one pass: ``grad = w [(1 - y) σ(x) - pw y σ(-x)]`` and
    ``hess = w ((1 - y) + pw y) σ(x) σ(-x)`` (a product: nothing cancels). What a gradient-boosting
    library asks of a custom objective. ``out=(grad, hess)``, either may be None."""
    if _bare(input, target, mask, label_smoothing, out):
        lean = _lean_grad_hess(input, target, weight, pos_weight)
        if lean is not None:
            return lean
    ops = operands(input, target, weight, pos_weight)
    opts = _options(ops.input.shape, "none", mask, label_smoothing, None, False)
    grad_out, hess_out = _outs(("grad out", "hess out"), out, ops, (input, target, weight, pos_weight, mask))
    _, grad, hess = _evaluate(
        True, ops, "none", opts, False, 1.0, False, (None, grad_out, hess_out), want_hess=True
    )
    return grad, hess  # type: ignore[return-value]


for _function in (
    binary_cross_entropy_with_logits,
    binary_cross_entropy,
    binary_cross_entropy_with_logits_grad,
    binary_cross_entropy_grad,
    binary_cross_entropy_with_logits_value_and_grad,
    binary_cross_entropy_value_and_grad,
):
    _function.__doc__ = (_function.__doc__ or "") + "\n" + _PIPELINE_DOC
