"""The loss functions, their gradients and both in one pass, as ``torch.nn.functional`` names them.

Each function is its signature and its documentation: the arguments go to ``_plan``, which
settles their meaning and makes one call into the native kernels (which release the GIL while
they compute).
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from . import _plan
from ._docs import document

__all__ = [
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits_grad",
    "binary_cross_entropy_grad",
    "binary_cross_entropy_with_logits_value_and_grad",
    "binary_cross_entropy_value_and_grad",
    "binary_cross_entropy_with_logits_grad_hess",
]


@document(
    "Binary cross-entropy between logits and targets, as "
    "``torch.nn.functional.binary_cross_entropy_with_logits`` (exact limits at infinite logits).",
    logits=True,
    returns="loss",
)
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
    nan_policy: str = "propagate",
) -> Any:
    reduction = _plan.resolve_reduction(size_average, reduce, reduction, stacklevel=2)
    args = (weight, pos_weight, reduction, mask, label_smoothing, axis, keepdims, out, nan_policy)
    return _plan.loss(True, input, target, *args)


@document(
    "Binary cross-entropy between probabilities and targets, as "
    "``torch.nn.functional.binary_cross_entropy`` (each log clamped at -100).",
    logits=False,
    returns="loss",
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
    nan_policy: str = "propagate",
) -> Any:
    reduction = _plan.resolve_reduction(size_average, reduce, reduction, stacklevel=2)
    args = (weight, None, reduction, mask, label_smoothing, axis, keepdims, out, nan_policy)
    return _plan.loss(False, input, target, *args)


@document(
    "Gradient of ``sum(binary_cross_entropy_with_logits(...) * grad_output)`` with respect to ``wrt``.",
    logits=True,
    returns="grad",
)
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
    nan_policy: str = "propagate",
) -> np.ndarray:
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
        out,
        nan_policy,
    )
    return _plan.gradient(True, False, input, target, *args)[1]


@document(
    "Gradient of ``sum(binary_cross_entropy(...) * grad_output)`` with respect to ``wrt``.",
    logits=False,
    returns="grad",
)
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
    nan_policy: str = "propagate",
) -> np.ndarray:
    args = (weight, None, reduction, grad_output, wrt, mask, label_smoothing, axis, keepdims, out, nan_policy)
    return _plan.gradient(False, False, input, target, *args)[1]


@document(
    "``(loss, gradient)`` of ``binary_cross_entropy_with_logits`` in one pass over the data.",
    logits=True,
    returns="value_and_grad",
)
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
    nan_policy: str = "propagate",
) -> Tuple[Any, np.ndarray]:
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
        out,
        nan_policy,
    )
    return _plan.gradient(True, True, input, target, *args)


@document(
    "``(loss, gradient)`` of ``binary_cross_entropy`` in one pass over the data.",
    logits=False,
    returns="value_and_grad",
)
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
    nan_policy: str = "propagate",
) -> Tuple[Any, np.ndarray]:
    args = (weight, None, reduction, grad_output, wrt, mask, label_smoothing, axis, keepdims, out, nan_policy)
    return _plan.gradient(False, True, input, target, *args)


@document(
    "Per-element first and second derivatives of the with-logits loss with respect to the logits, "
    "in one pass: ``grad = w [(1 - y) σ(x) - pw y σ(-x)]`` and "
    "``hess = w ((1 - y) + pw y) σ(x) σ(-x)`` (a product: nothing cancels). What a "
    "gradient-boosting library asks of a custom objective.",
    logits=True,
    returns="grad_hess",
)
def binary_cross_entropy_with_logits_grad_hess(
    input: Any,
    target: Any,
    weight: Any = None,
    pos_weight: Any = None,
    *,
    mask: Any = None,
    label_smoothing: float = 0.0,
    out: Optional[Tuple[Optional[np.ndarray], Optional[np.ndarray]]] = None,
    nan_policy: str = "propagate",
) -> Tuple[np.ndarray, np.ndarray]:
    return _plan.grad_hess(input, target, weight, pos_weight, mask, label_smoothing, out, nan_policy)
