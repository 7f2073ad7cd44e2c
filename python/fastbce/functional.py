"""The loss functions, their gradients and both in one pass, as ``torch.nn.functional`` names them.

Each function is its signature and its documentation: the arguments go to ``_plan``, which
settles their meaning and makes one call into the native kernels (which release the GIL while
they compute).

The ``@overload`` signatures before a loss function are for type checkers only (at run time the
function is the one after them, whose signature ``help()`` shows): a ``'mean'``, ``'sum'`` or
``'weighted_mean'`` reduction without ``axis`` gives a NumPy floating scalar, ``'none'`` or an
``axis`` an array; where the reduction is not known statically (the legacy ``size_average`` and
``reduce``, ``keepdims`` alone) the result is typed as either.
"""

from __future__ import annotations

from typing import Literal, Optional, Tuple, Union, overload

from numpy.typing import ArrayLike

from . import _plan
from ._docs import document
from ._plan import Axis, Float, FloatArray, NanPolicy, Real, Reduction, ScalarReduction, Wrt

__all__ = [
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits_grad",
    "binary_cross_entropy_grad",
    "binary_cross_entropy_with_logits_value_and_grad",
    "binary_cross_entropy_value_and_grad",
    "binary_cross_entropy_with_logits_grad_hess",
]

# Arrays that receive two results (either may be None).
Outs = Tuple[Optional[FloatArray], Optional[FloatArray]]


@overload
def binary_cross_entropy_with_logits(
    input: ArrayLike,
    target: ArrayLike,
    weight: Optional[ArrayLike] = ...,
    size_average: None = ...,
    reduce: None = ...,
    reduction: ScalarReduction = ...,
    pos_weight: Optional[ArrayLike] = ...,
    *,
    mask: Optional[ArrayLike] = ...,
    label_smoothing: Real = ...,
    axis: None = ...,
    keepdims: Literal[False] = ...,
    out: Optional[FloatArray] = ...,
    nan_policy: NanPolicy = ...,
) -> Float: ...


@overload
def binary_cross_entropy_with_logits(
    input: ArrayLike,
    target: ArrayLike,
    weight: Optional[ArrayLike],
    size_average: None,
    reduce: None,
    reduction: Literal["none"],
    pos_weight: Optional[ArrayLike] = ...,
    *,
    mask: Optional[ArrayLike] = ...,
    label_smoothing: Real = ...,
    axis: Optional[Axis] = ...,
    keepdims: bool = ...,
    out: Optional[FloatArray] = ...,
    nan_policy: NanPolicy = ...,
) -> FloatArray: ...


@overload
def binary_cross_entropy_with_logits(
    input: ArrayLike,
    target: ArrayLike,
    weight: Optional[ArrayLike] = ...,
    size_average: None = ...,
    reduce: None = ...,
    *,
    reduction: Literal["none"],
    pos_weight: Optional[ArrayLike] = ...,
    mask: Optional[ArrayLike] = ...,
    label_smoothing: Real = ...,
    axis: Optional[Axis] = ...,
    keepdims: bool = ...,
    out: Optional[FloatArray] = ...,
    nan_policy: NanPolicy = ...,
) -> FloatArray: ...


@overload
def binary_cross_entropy_with_logits(
    input: ArrayLike,
    target: ArrayLike,
    weight: Optional[ArrayLike] = ...,
    size_average: Optional[bool] = ...,
    reduce: Optional[bool] = ...,
    reduction: Reduction = ...,
    pos_weight: Optional[ArrayLike] = ...,
    *,
    mask: Optional[ArrayLike] = ...,
    label_smoothing: Real = ...,
    axis: Axis,
    keepdims: bool = ...,
    out: Optional[FloatArray] = ...,
    nan_policy: NanPolicy = ...,
) -> FloatArray: ...


@overload
def binary_cross_entropy_with_logits(
    input: ArrayLike,
    target: ArrayLike,
    weight: Optional[ArrayLike] = ...,
    size_average: Optional[bool] = ...,
    reduce: Optional[bool] = ...,
    reduction: Reduction = ...,
    pos_weight: Optional[ArrayLike] = ...,
    *,
    mask: Optional[ArrayLike] = ...,
    label_smoothing: Real = ...,
    axis: Optional[Axis] = ...,
    keepdims: bool = ...,
    out: Optional[FloatArray] = ...,
    nan_policy: NanPolicy = ...,
) -> Union[Float, FloatArray]: ...


@document(
    "Binary cross-entropy between logits and targets, as "
    "``torch.nn.functional.binary_cross_entropy_with_logits`` (exact limits at infinite logits).",
    logits=True,
    returns="loss",
)
def binary_cross_entropy_with_logits(
    input: ArrayLike,
    target: ArrayLike,
    weight: Optional[ArrayLike] = None,
    size_average: Optional[bool] = None,
    reduce: Optional[bool] = None,
    reduction: Reduction = "mean",
    pos_weight: Optional[ArrayLike] = None,
    *,
    mask: Optional[ArrayLike] = None,
    label_smoothing: Real = 0.0,
    axis: Optional[Axis] = None,
    keepdims: bool = False,
    out: Optional[FloatArray] = None,
    nan_policy: NanPolicy = "propagate",
) -> Union[Float, FloatArray]:
    return _plan.loss(
        True,
        input,
        target,
        weight,
        pos_weight,
        size_average,
        reduce,
        reduction,
        mask,
        label_smoothing,
        axis,
        keepdims,
        out,
        nan_policy,
    )


@overload
def binary_cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    weight: Optional[ArrayLike] = ...,
    size_average: None = ...,
    reduce: None = ...,
    reduction: ScalarReduction = ...,
    *,
    mask: Optional[ArrayLike] = ...,
    label_smoothing: Real = ...,
    axis: None = ...,
    keepdims: Literal[False] = ...,
    out: Optional[FloatArray] = ...,
    nan_policy: NanPolicy = ...,
) -> Float: ...


@overload
def binary_cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    weight: Optional[ArrayLike],
    size_average: None,
    reduce: None,
    reduction: Literal["none"],
    *,
    mask: Optional[ArrayLike] = ...,
    label_smoothing: Real = ...,
    axis: Optional[Axis] = ...,
    keepdims: bool = ...,
    out: Optional[FloatArray] = ...,
    nan_policy: NanPolicy = ...,
) -> FloatArray: ...


@overload
def binary_cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    weight: Optional[ArrayLike] = ...,
    size_average: None = ...,
    reduce: None = ...,
    *,
    reduction: Literal["none"],
    mask: Optional[ArrayLike] = ...,
    label_smoothing: Real = ...,
    axis: Optional[Axis] = ...,
    keepdims: bool = ...,
    out: Optional[FloatArray] = ...,
    nan_policy: NanPolicy = ...,
) -> FloatArray: ...


@overload
def binary_cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    weight: Optional[ArrayLike] = ...,
    size_average: Optional[bool] = ...,
    reduce: Optional[bool] = ...,
    reduction: Reduction = ...,
    *,
    mask: Optional[ArrayLike] = ...,
    label_smoothing: Real = ...,
    axis: Axis,
    keepdims: bool = ...,
    out: Optional[FloatArray] = ...,
    nan_policy: NanPolicy = ...,
) -> FloatArray: ...


@overload
def binary_cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    weight: Optional[ArrayLike] = ...,
    size_average: Optional[bool] = ...,
    reduce: Optional[bool] = ...,
    reduction: Reduction = ...,
    *,
    mask: Optional[ArrayLike] = ...,
    label_smoothing: Real = ...,
    axis: Optional[Axis] = ...,
    keepdims: bool = ...,
    out: Optional[FloatArray] = ...,
    nan_policy: NanPolicy = ...,
) -> Union[Float, FloatArray]: ...


@document(
    "Binary cross-entropy between probabilities and targets, as "
    "``torch.nn.functional.binary_cross_entropy`` (each log clamped at -100).",
    logits=False,
    returns="loss",
)
def binary_cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    weight: Optional[ArrayLike] = None,
    size_average: Optional[bool] = None,
    reduce: Optional[bool] = None,
    reduction: Reduction = "mean",
    *,
    mask: Optional[ArrayLike] = None,
    label_smoothing: Real = 0.0,
    axis: Optional[Axis] = None,
    keepdims: bool = False,
    out: Optional[FloatArray] = None,
    nan_policy: NanPolicy = "propagate",
) -> Union[Float, FloatArray]:
    return _plan.loss(
        False,
        input,
        target,
        weight,
        None,
        size_average,
        reduce,
        reduction,
        mask,
        label_smoothing,
        axis,
        keepdims,
        out,
        nan_policy,
    )


@document(
    "Gradient of ``sum(binary_cross_entropy_with_logits(...) * grad_output)`` with respect to ``wrt``.",
    logits=True,
    returns="grad",
)
def binary_cross_entropy_with_logits_grad(
    input: ArrayLike,
    target: ArrayLike,
    weight: Optional[ArrayLike] = None,
    pos_weight: Optional[ArrayLike] = None,
    reduction: Reduction = "mean",
    grad_output: ArrayLike = 1.0,
    wrt: Wrt = "input",
    *,
    mask: Optional[ArrayLike] = None,
    label_smoothing: Real = 0.0,
    axis: Optional[Axis] = None,
    keepdims: bool = False,
    out: Optional[FloatArray] = None,
    nan_policy: NanPolicy = "propagate",
) -> FloatArray:
    return _plan.gradient(
        True,
        False,
        input,
        target,
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
    )[1]


@document(
    "Gradient of ``sum(binary_cross_entropy(...) * grad_output)`` with respect to ``wrt``.",
    logits=False,
    returns="grad",
)
def binary_cross_entropy_grad(
    input: ArrayLike,
    target: ArrayLike,
    weight: Optional[ArrayLike] = None,
    reduction: Reduction = "mean",
    grad_output: ArrayLike = 1.0,
    wrt: Wrt = "input",
    *,
    mask: Optional[ArrayLike] = None,
    label_smoothing: Real = 0.0,
    axis: Optional[Axis] = None,
    keepdims: bool = False,
    out: Optional[FloatArray] = None,
    nan_policy: NanPolicy = "propagate",
) -> FloatArray:
    return _plan.gradient(
        False,
        False,
        input,
        target,
        weight,
        None,
        reduction,
        grad_output,
        wrt,
        mask,
        label_smoothing,
        axis,
        keepdims,
        out,
        nan_policy,
    )[1]


@overload
def binary_cross_entropy_with_logits_value_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    weight: Optional[ArrayLike] = ...,
    pos_weight: Optional[ArrayLike] = ...,
    reduction: ScalarReduction = ...,
    grad_output: ArrayLike = ...,
    wrt: Wrt = ...,
    *,
    mask: Optional[ArrayLike] = ...,
    label_smoothing: Real = ...,
    axis: None = ...,
    keepdims: Literal[False] = ...,
    out: Optional[Outs] = ...,
    nan_policy: NanPolicy = ...,
) -> Tuple[Float, FloatArray]: ...


@overload
def binary_cross_entropy_with_logits_value_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    weight: Optional[ArrayLike],
    pos_weight: Optional[ArrayLike],
    reduction: Literal["none"],
    grad_output: ArrayLike = ...,
    wrt: Wrt = ...,
    *,
    mask: Optional[ArrayLike] = ...,
    label_smoothing: Real = ...,
    axis: Optional[Axis] = ...,
    keepdims: bool = ...,
    out: Optional[Outs] = ...,
    nan_policy: NanPolicy = ...,
) -> Tuple[FloatArray, FloatArray]: ...


@overload
def binary_cross_entropy_with_logits_value_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    weight: Optional[ArrayLike] = ...,
    pos_weight: Optional[ArrayLike] = ...,
    *,
    reduction: Literal["none"],
    grad_output: ArrayLike = ...,
    wrt: Wrt = ...,
    mask: Optional[ArrayLike] = ...,
    label_smoothing: Real = ...,
    axis: Optional[Axis] = ...,
    keepdims: bool = ...,
    out: Optional[Outs] = ...,
    nan_policy: NanPolicy = ...,
) -> Tuple[FloatArray, FloatArray]: ...


@overload
def binary_cross_entropy_with_logits_value_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    weight: Optional[ArrayLike] = ...,
    pos_weight: Optional[ArrayLike] = ...,
    reduction: Reduction = ...,
    grad_output: ArrayLike = ...,
    wrt: Wrt = ...,
    *,
    mask: Optional[ArrayLike] = ...,
    label_smoothing: Real = ...,
    axis: Axis,
    keepdims: bool = ...,
    out: Optional[Outs] = ...,
    nan_policy: NanPolicy = ...,
) -> Tuple[FloatArray, FloatArray]: ...


@overload
def binary_cross_entropy_with_logits_value_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    weight: Optional[ArrayLike] = ...,
    pos_weight: Optional[ArrayLike] = ...,
    reduction: Reduction = ...,
    grad_output: ArrayLike = ...,
    wrt: Wrt = ...,
    *,
    mask: Optional[ArrayLike] = ...,
    label_smoothing: Real = ...,
    axis: Optional[Axis] = ...,
    keepdims: bool = ...,
    out: Optional[Outs] = ...,
    nan_policy: NanPolicy = ...,
) -> Tuple[Union[Float, FloatArray], FloatArray]: ...


@document(
    "``(loss, gradient)`` of ``binary_cross_entropy_with_logits`` in one pass over the data.",
    logits=True,
    returns="value_and_grad",
)
def binary_cross_entropy_with_logits_value_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    weight: Optional[ArrayLike] = None,
    pos_weight: Optional[ArrayLike] = None,
    reduction: Reduction = "mean",
    grad_output: ArrayLike = 1.0,
    wrt: Wrt = "input",
    *,
    mask: Optional[ArrayLike] = None,
    label_smoothing: Real = 0.0,
    axis: Optional[Axis] = None,
    keepdims: bool = False,
    out: Optional[Outs] = None,
    nan_policy: NanPolicy = "propagate",
) -> Tuple[Union[Float, FloatArray], FloatArray]:
    return _plan.gradient(
        True,
        True,
        input,
        target,
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


@overload
def binary_cross_entropy_value_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    weight: Optional[ArrayLike] = ...,
    reduction: ScalarReduction = ...,
    grad_output: ArrayLike = ...,
    wrt: Wrt = ...,
    *,
    mask: Optional[ArrayLike] = ...,
    label_smoothing: Real = ...,
    axis: None = ...,
    keepdims: Literal[False] = ...,
    out: Optional[Outs] = ...,
    nan_policy: NanPolicy = ...,
) -> Tuple[Float, FloatArray]: ...


@overload
def binary_cross_entropy_value_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    weight: Optional[ArrayLike],
    reduction: Literal["none"],
    grad_output: ArrayLike = ...,
    wrt: Wrt = ...,
    *,
    mask: Optional[ArrayLike] = ...,
    label_smoothing: Real = ...,
    axis: Optional[Axis] = ...,
    keepdims: bool = ...,
    out: Optional[Outs] = ...,
    nan_policy: NanPolicy = ...,
) -> Tuple[FloatArray, FloatArray]: ...


@overload
def binary_cross_entropy_value_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    weight: Optional[ArrayLike] = ...,
    *,
    reduction: Literal["none"],
    grad_output: ArrayLike = ...,
    wrt: Wrt = ...,
    mask: Optional[ArrayLike] = ...,
    label_smoothing: Real = ...,
    axis: Optional[Axis] = ...,
    keepdims: bool = ...,
    out: Optional[Outs] = ...,
    nan_policy: NanPolicy = ...,
) -> Tuple[FloatArray, FloatArray]: ...


@overload
def binary_cross_entropy_value_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    weight: Optional[ArrayLike] = ...,
    reduction: Reduction = ...,
    grad_output: ArrayLike = ...,
    wrt: Wrt = ...,
    *,
    mask: Optional[ArrayLike] = ...,
    label_smoothing: Real = ...,
    axis: Axis,
    keepdims: bool = ...,
    out: Optional[Outs] = ...,
    nan_policy: NanPolicy = ...,
) -> Tuple[FloatArray, FloatArray]: ...


@overload
def binary_cross_entropy_value_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    weight: Optional[ArrayLike] = ...,
    reduction: Reduction = ...,
    grad_output: ArrayLike = ...,
    wrt: Wrt = ...,
    *,
    mask: Optional[ArrayLike] = ...,
    label_smoothing: Real = ...,
    axis: Optional[Axis] = ...,
    keepdims: bool = ...,
    out: Optional[Outs] = ...,
    nan_policy: NanPolicy = ...,
) -> Tuple[Union[Float, FloatArray], FloatArray]: ...


@document(
    "``(loss, gradient)`` of ``binary_cross_entropy`` in one pass over the data.",
    logits=False,
    returns="value_and_grad",
)
def binary_cross_entropy_value_and_grad(
    input: ArrayLike,
    target: ArrayLike,
    weight: Optional[ArrayLike] = None,
    reduction: Reduction = "mean",
    grad_output: ArrayLike = 1.0,
    wrt: Wrt = "input",
    *,
    mask: Optional[ArrayLike] = None,
    label_smoothing: Real = 0.0,
    axis: Optional[Axis] = None,
    keepdims: bool = False,
    out: Optional[Outs] = None,
    nan_policy: NanPolicy = "propagate",
) -> Tuple[Union[Float, FloatArray], FloatArray]:
    return _plan.gradient(
        False,
        True,
        input,
        target,
        weight,
        None,
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


@document(
    "Per-element first and second derivatives of the with-logits loss with respect to the logits, "
    "in one pass: ``grad = w [(1 - y) σ(x) - pw y σ(-x)]`` and "
    "``hess = w ((1 - y) + pw y) σ(x) σ(-x)`` (a product: nothing cancels). What a "
    "gradient-boosting library asks of a custom objective.",
    logits=True,
    returns="grad_hess",
)
def binary_cross_entropy_with_logits_grad_hess(
    input: ArrayLike,
    target: ArrayLike,
    weight: Optional[ArrayLike] = None,
    pos_weight: Optional[ArrayLike] = None,
    *,
    mask: Optional[ArrayLike] = None,
    label_smoothing: Real = 0.0,
    out: Optional[Outs] = None,
    nan_policy: NanPolicy = "propagate",
) -> Tuple[FloatArray, FloatArray]:
    return _plan.grad_hess(input, target, weight, pos_weight, mask, label_smoothing, out, nan_policy)
