"""``torch.nn``-style loss classes over ``fastbce.functional``.

For type checkers a class is generic in what its loss is (``BCELoss[np.floating]`` for a
``'mean'``, ``'sum'`` or ``'weighted_mean'`` reduction, ``BCELoss[NDArray[np.floating]]`` for
``'none'``, either when the legacy ``size_average``/``reduce`` decide), which the ``@overload``
signatures of ``__init__`` choose; at run time they are ordinary classes.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, Optional, Tuple, TypeVar, Union, overload

import numpy as np
from numpy.typing import ArrayLike

from . import functional as F
from ._docs import PARAMETERS, RAISES
from ._plan import (
    Float,
    FloatArray,
    NanPolicy,
    Real,
    Reduction,
    ScalarReduction,
    Wrt,
    check_label_smoothing,
    check_nan_policy,
    real_array,
    resolve_reduction,
)

__all__ = ["BCEWithLogitsLoss", "BCELoss"]

_CLASS_DOC = """{summary}

Parameters
----------
{weight}
{size_average}
{reduce}
{reduction}
{extra}label_smoothing : float, default 0.0
    Keyword-only. ε in [0, 1): targets become ``y (1 - ε) + ε / 2``.
{nan_policy}

Methods
-------
forward(input, target, *, mask=None), or calling the object
    The loss.
grad(input, target, grad_output=1.0, wrt="input", *, mask=None)
    Its gradient.
value_and_grad(input, target, grad_output=1.0, wrt="input", *, mask=None)
    Both, in one pass.
{methods}
Raises
------
{raises}
"""


# What ``forward`` returns: a scalar, an array, or (reduction unknown statically) either.
_R = TypeVar("_R", bound=Union[Float, FloatArray])


class _Loss(Generic[_R]):
    """Holds weight, reduction and label smoothing; legacy ``size_average``/``reduce`` are
    converted once, here. A call takes an optional ``mask``."""

    def __init__(
        self,
        weight: Optional[ArrayLike] = None,
        size_average: Optional[bool] = None,
        reduce: Optional[bool] = None,
        reduction: Reduction = "mean",
        label_smoothing: Real = 0.0,
        nan_policy: NanPolicy = "propagate",
    ) -> None:
        # stacklevel 4: resolve_reduction <- _Loss.__init__ <- subclass __init__ <- the caller.
        self.reduction: Reduction = resolve_reduction(size_average, reduce, reduction, stacklevel=4)
        self.weight: Optional[np.ndarray] = None if weight is None else real_array("weight", weight)
        self.label_smoothing: float = check_label_smoothing(label_smoothing)
        self.nan_policy: NanPolicy = check_nan_policy(nan_policy)

    def __call__(self, input: ArrayLike, target: ArrayLike, *, mask: Optional[ArrayLike] = None) -> _R:
        """The loss, as ``forward``."""
        return self.forward(input, target, mask=mask)

    def forward(self, input: ArrayLike, target: ArrayLike, *, mask: Optional[ArrayLike] = None) -> _R:
        raise NotImplementedError

    def _extra_repr(self) -> str:
        smoothing = f", label_smoothing={self.label_smoothing}" if self.label_smoothing else ""
        nan = f", nan_policy={self.nan_policy!r}" if self.nan_policy != "propagate" else ""
        return f"reduction={self.reduction!r}{smoothing}{nan}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._extra_repr()})"


class BCEWithLogitsLoss(_Loss[_R]):
    __doc__ = _CLASS_DOC.format(
        summary="``torch.nn.BCEWithLogitsLoss``: ``criterion(input, target)`` with logits ``input``.",
        extra=PARAMETERS["pos_weight"] + "\n",
        methods="grad_hess(input, target, *, mask=None)\n    Per-element gradient and hessian.\n",
        raises=RAISES,
        **PARAMETERS,
    )

    @overload
    def __init__(
        self: BCEWithLogitsLoss[Float],
        weight: Optional[ArrayLike] = ...,
        size_average: None = ...,
        reduce: None = ...,
        reduction: ScalarReduction = ...,
        pos_weight: Optional[ArrayLike] = ...,
        *,
        label_smoothing: Real = ...,
        nan_policy: NanPolicy = ...,
    ) -> None: ...

    @overload
    def __init__(
        self: BCEWithLogitsLoss[FloatArray],
        weight: Optional[ArrayLike],
        size_average: None,
        reduce: None,
        reduction: Literal["none"],
        pos_weight: Optional[ArrayLike] = ...,
        *,
        label_smoothing: Real = ...,
        nan_policy: NanPolicy = ...,
    ) -> None: ...

    @overload
    def __init__(
        self: BCEWithLogitsLoss[FloatArray],
        weight: Optional[ArrayLike] = ...,
        size_average: None = ...,
        reduce: None = ...,
        *,
        reduction: Literal["none"],
        pos_weight: Optional[ArrayLike] = ...,
        label_smoothing: Real = ...,
        nan_policy: NanPolicy = ...,
    ) -> None: ...

    @overload
    def __init__(
        self: BCEWithLogitsLoss[Union[Float, FloatArray]],
        weight: Optional[ArrayLike] = ...,
        size_average: Optional[bool] = ...,
        reduce: Optional[bool] = ...,
        reduction: Reduction = ...,
        pos_weight: Optional[ArrayLike] = ...,
        *,
        label_smoothing: Real = ...,
        nan_policy: NanPolicy = ...,
    ) -> None: ...

    def __init__(
        self,
        weight: Optional[ArrayLike] = None,
        size_average: Optional[bool] = None,
        reduce: Optional[bool] = None,
        reduction: Reduction = "mean",
        pos_weight: Optional[ArrayLike] = None,
        *,
        label_smoothing: Real = 0.0,
        nan_policy: NanPolicy = "propagate",
    ) -> None:
        super().__init__(weight, size_average, reduce, reduction, label_smoothing, nan_policy)
        self.pos_weight: Optional[np.ndarray] = (
            None if pos_weight is None else real_array("pos_weight", pos_weight)
        )

    def forward(self, input: ArrayLike, target: ArrayLike, *, mask: Optional[ArrayLike] = None) -> _R:
        """The loss: ``fastbce.binary_cross_entropy_with_logits`` with these settings."""
        loss: Any = F.binary_cross_entropy_with_logits(  # this class's _R, by its reduction
            input,
            target,
            self.weight,
            reduction=self.reduction,
            pos_weight=self.pos_weight,
            mask=mask,
            label_smoothing=self.label_smoothing,
            nan_policy=self.nan_policy,
        )
        return loss

    def grad(
        self,
        input: ArrayLike,
        target: ArrayLike,
        grad_output: ArrayLike = 1.0,
        wrt: Wrt = "input",
        *,
        mask: Optional[ArrayLike] = None,
    ) -> FloatArray:
        """The gradient: ``fastbce.binary_cross_entropy_with_logits_grad`` with these settings."""
        return F.binary_cross_entropy_with_logits_grad(
            input,
            target,
            self.weight,
            self.pos_weight,
            self.reduction,
            grad_output,
            wrt,
            mask=mask,
            label_smoothing=self.label_smoothing,
            nan_policy=self.nan_policy,
        )

    def value_and_grad(
        self,
        input: ArrayLike,
        target: ArrayLike,
        grad_output: ArrayLike = 1.0,
        wrt: Wrt = "input",
        *,
        mask: Optional[ArrayLike] = None,
    ) -> Tuple[_R, FloatArray]:
        """``(loss, gradient)`` in one pass, with these settings."""
        both: Any = F.binary_cross_entropy_with_logits_value_and_grad(
            input,
            target,
            self.weight,
            self.pos_weight,
            self.reduction,
            grad_output,
            wrt,
            mask=mask,
            label_smoothing=self.label_smoothing,
            nan_policy=self.nan_policy,
        )
        return both

    def grad_hess(
        self, input: ArrayLike, target: ArrayLike, *, mask: Optional[ArrayLike] = None
    ) -> Tuple[FloatArray, FloatArray]:
        """Per-element gradient and hessian with respect to the logits (the reduction does not
        apply): what a gradient-boosting library asks of a custom objective."""
        return F.binary_cross_entropy_with_logits_grad_hess(
            input,
            target,
            self.weight,
            self.pos_weight,
            mask=mask,
            label_smoothing=self.label_smoothing,
            nan_policy=self.nan_policy,
        )


class BCELoss(_Loss[_R]):
    __doc__ = _CLASS_DOC.format(
        summary="``torch.nn.BCELoss``: ``criterion(input, target)`` with probabilities ``input``.",
        extra="",
        methods="",
        raises=RAISES,
        **PARAMETERS,
    )

    @overload
    def __init__(
        self: BCELoss[Float],
        weight: Optional[ArrayLike] = ...,
        size_average: None = ...,
        reduce: None = ...,
        reduction: ScalarReduction = ...,
        *,
        label_smoothing: Real = ...,
        nan_policy: NanPolicy = ...,
    ) -> None: ...

    @overload
    def __init__(
        self: BCELoss[FloatArray],
        weight: Optional[ArrayLike],
        size_average: None,
        reduce: None,
        reduction: Literal["none"],
        *,
        label_smoothing: Real = ...,
        nan_policy: NanPolicy = ...,
    ) -> None: ...

    @overload
    def __init__(
        self: BCELoss[FloatArray],
        weight: Optional[ArrayLike] = ...,
        size_average: None = ...,
        reduce: None = ...,
        *,
        reduction: Literal["none"],
        label_smoothing: Real = ...,
        nan_policy: NanPolicy = ...,
    ) -> None: ...

    @overload
    def __init__(
        self: BCELoss[Union[Float, FloatArray]],
        weight: Optional[ArrayLike] = ...,
        size_average: Optional[bool] = ...,
        reduce: Optional[bool] = ...,
        reduction: Reduction = ...,
        *,
        label_smoothing: Real = ...,
        nan_policy: NanPolicy = ...,
    ) -> None: ...

    def __init__(
        self,
        weight: Optional[ArrayLike] = None,
        size_average: Optional[bool] = None,
        reduce: Optional[bool] = None,
        reduction: Reduction = "mean",
        *,
        label_smoothing: Real = 0.0,
        nan_policy: NanPolicy = "propagate",
    ) -> None:
        super().__init__(weight, size_average, reduce, reduction, label_smoothing, nan_policy)

    def forward(self, input: ArrayLike, target: ArrayLike, *, mask: Optional[ArrayLike] = None) -> _R:
        """The loss: ``fastbce.binary_cross_entropy`` with these settings."""
        loss: Any = F.binary_cross_entropy(  # this class's _R, by its reduction
            input,
            target,
            self.weight,
            reduction=self.reduction,
            mask=mask,
            label_smoothing=self.label_smoothing,
            nan_policy=self.nan_policy,
        )
        return loss

    def grad(
        self,
        input: ArrayLike,
        target: ArrayLike,
        grad_output: ArrayLike = 1.0,
        wrt: Wrt = "input",
        *,
        mask: Optional[ArrayLike] = None,
    ) -> FloatArray:
        """The gradient: ``fastbce.binary_cross_entropy_grad`` with these settings."""
        return F.binary_cross_entropy_grad(
            input,
            target,
            self.weight,
            self.reduction,
            grad_output,
            wrt,
            mask=mask,
            label_smoothing=self.label_smoothing,
            nan_policy=self.nan_policy,
        )

    def value_and_grad(
        self,
        input: ArrayLike,
        target: ArrayLike,
        grad_output: ArrayLike = 1.0,
        wrt: Wrt = "input",
        *,
        mask: Optional[ArrayLike] = None,
    ) -> Tuple[_R, FloatArray]:
        """``(loss, gradient)`` in one pass, with these settings."""
        both: Any = F.binary_cross_entropy_value_and_grad(
            input,
            target,
            self.weight,
            self.reduction,
            grad_output,
            wrt,
            mask=mask,
            label_smoothing=self.label_smoothing,
            nan_policy=self.nan_policy,
        )
        return both
