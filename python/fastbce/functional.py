"""The loss functions, their gradients and both in one pass, as ``torch.nn.functional`` names them.

Every function converts and checks its arguments (``_args``), then makes one call into the native
kernels, which release the GIL while they compute.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from . import _core
from ._args import (
    Operands,
    as_real_array,
    broadcast_operand,
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
]


def _plain(
    input: Any,
    target: Any,
    weight: Any,
    pos_weight: Any,
    size_average: Any,
    reduce: Any,
    reduction: Any,
) -> bool:
    """Whether a loss call may try the lean native path: two NumPy arrays, no weights, no legacy
    arguments, a mean or a sum. The native side still checks dtypes, shapes and layout."""
    return (
        weight is None
        and pos_weight is None
        and size_average is None
        and reduce is None
        and (reduction == "mean" or reduction == "sum")
        and type(input) is np.ndarray
        and type(target) is np.ndarray
    )


def _evaluate(
    with_logits: bool,
    ops: Operands,
    reduction: str,
    want_loss: bool,
    grad_output: Any = None,
    wrt_target: Optional[bool] = None,
) -> Tuple[Any, Optional[np.ndarray]]:
    """One kernel call: the loss (reduced as asked) if ``want_loss``, and the gradient of
    ``sum(loss * grad_output)`` if ``wrt_target`` is not None."""
    x = ops.input
    n = x.size
    loss_out = np.empty(x.shape, x.dtype) if want_loss and reduction == "none" else None
    grad_out = None
    grad_array = None
    scale = 1.0
    if wrt_target is not None:
        grad_out = np.empty(x.shape, x.dtype)
        if reduction == "none":
            go = as_real_array("grad_output", grad_output)
            if go.ndim == 0:
                scale = float(go)
            else:
                grad_array = broadcast_operand("grad_output", go, x.shape, x.dtype)
        else:
            scale = scalar_grad_output(grad_output, reduction)
            if reduction == "mean":
                scale = scale / n if n else 0.0
    total = _core.bce(
        with_logits,
        x,
        ops.target,
        ops.weight,
        ops.pos_weight,
        grad_array,
        scale,
        loss_out,
        want_loss and reduction != "none",
        grad_out,
        bool(wrt_target),
    )
    result = ops.result_dtype
    loss: Any = None
    # Narrowing to float16 rounds what is too large to inf, as NumPy's float16 arithmetic would.
    with np.errstate(over="ignore"):
        if want_loss:
            if reduction == "none":
                loss = loss_out.astype(result, copy=False)  # type: ignore[union-attr]
            elif reduction == "sum":
                loss = result.type(total)
            else:
                loss = result.type(total / n if n else np.nan)
        grad = None if grad_out is None else grad_out.astype(result, copy=False)
    return loss, grad


def binary_cross_entropy_with_logits(
    input: Any,
    target: Any,
    weight: Any = None,
    size_average: Optional[bool] = None,
    reduce: Optional[bool] = None,
    reduction: str = "mean",
    pos_weight: Any = None,
) -> Any:
    """Binary cross-entropy between logits ``input`` and ``target``, as
    ``torch.nn.functional.binary_cross_entropy_with_logits`` (exact limits at infinite logits)."""
    if _plain(input, target, weight, pos_weight, size_average, reduce, reduction):
        total = _core.reduced_loss(True, input, target, reduction == "mean")
        if total is not None:
            return input.dtype.type(total)
    reduction = resolve_reduction(size_average, reduce, reduction, stacklevel=2)
    ops = operands(input, target, weight, pos_weight)
    return _evaluate(True, ops, reduction, want_loss=True)[0]


def binary_cross_entropy(
    input: Any,
    target: Any,
    weight: Any = None,
    size_average: Optional[bool] = None,
    reduce: Optional[bool] = None,
    reduction: str = "mean",
) -> Any:
    """Binary cross-entropy between probabilities ``input`` and ``target``, as
    ``torch.nn.functional.binary_cross_entropy`` (each log clamped at -100)."""
    if _plain(input, target, weight, None, size_average, reduce, reduction):
        total = _core.reduced_loss(False, input, target, reduction == "mean")
        if total is not None:
            return input.dtype.type(total)
    reduction = resolve_reduction(size_average, reduce, reduction, stacklevel=2)
    ops = operands(input, target, weight)
    return _evaluate(False, ops, reduction, want_loss=True)[0]


def binary_cross_entropy_with_logits_grad(
    input: Any,
    target: Any,
    weight: Any = None,
    pos_weight: Any = None,
    reduction: str = "mean",
    grad_output: Any = 1.0,
    wrt: str = "input",
) -> np.ndarray:
    """Gradient of ``sum(binary_cross_entropy_with_logits(...) * grad_output)`` with respect to
    ``wrt`` (``"input"`` or ``"target"``); it has the input's shape."""
    reduction = check_reduction(reduction)
    wrt_target = check_wrt(wrt)
    ops = operands(input, target, weight, pos_weight)
    return _evaluate(True, ops, reduction, False, grad_output, wrt_target)[1]  # type: ignore[return-value]


def binary_cross_entropy_grad(
    input: Any,
    target: Any,
    weight: Any = None,
    reduction: str = "mean",
    grad_output: Any = 1.0,
    wrt: str = "input",
) -> np.ndarray:
    """Gradient of ``sum(binary_cross_entropy(...) * grad_output)`` with respect to ``wrt``."""
    reduction = check_reduction(reduction)
    wrt_target = check_wrt(wrt)
    ops = operands(input, target, weight)
    return _evaluate(False, ops, reduction, False, grad_output, wrt_target)[1]  # type: ignore[return-value]


def binary_cross_entropy_with_logits_value_and_grad(
    input: Any,
    target: Any,
    weight: Any = None,
    pos_weight: Any = None,
    reduction: str = "mean",
    grad_output: Any = 1.0,
    wrt: str = "input",
) -> Tuple[Any, np.ndarray]:
    """``(loss, gradient)`` of ``binary_cross_entropy_with_logits`` in one pass over the data."""
    reduction = check_reduction(reduction)
    wrt_target = check_wrt(wrt)
    ops = operands(input, target, weight, pos_weight)
    return _evaluate(True, ops, reduction, True, grad_output, wrt_target)  # type: ignore[return-value]


def binary_cross_entropy_value_and_grad(
    input: Any,
    target: Any,
    weight: Any = None,
    reduction: str = "mean",
    grad_output: Any = 1.0,
    wrt: str = "input",
) -> Tuple[Any, np.ndarray]:
    """``(loss, gradient)`` of ``binary_cross_entropy`` in one pass over the data."""
    reduction = check_reduction(reduction)
    wrt_target = check_wrt(wrt)
    ops = operands(input, target, weight)
    return _evaluate(False, ops, reduction, True, grad_output, wrt_target)  # type: ignore[return-value]
