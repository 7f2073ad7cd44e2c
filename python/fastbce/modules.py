"""``torch.nn``-style loss classes over ``fastbce.functional``."""

from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from . import functional as F
from ._args import as_real_array, resolve_reduction

__all__ = ["BCEWithLogitsLoss", "BCELoss"]


class _Loss:
    """Holds weight and reduction; legacy ``size_average``/``reduce`` are converted once, here."""

    def __init__(
        self,
        weight: Any = None,
        size_average: Optional[bool] = None,
        reduce: Optional[bool] = None,
        reduction: str = "mean",
    ) -> None:
        # stacklevel 4: resolve_reduction <- _Loss.__init__ <- subclass __init__ <- the caller.
        self.reduction: str = resolve_reduction(size_average, reduce, reduction, stacklevel=4)
        self.weight: Optional[np.ndarray] = None if weight is None else as_real_array("weight", weight)

    def __call__(self, input: Any, target: Any) -> Any:
        return self.forward(input, target)

    def forward(self, input: Any, target: Any) -> Any:
        raise NotImplementedError

    def _extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._extra_repr()})"


class BCEWithLogitsLoss(_Loss):
    """``torch.nn.BCEWithLogitsLoss``: ``criterion(input, target)`` with logits ``input``."""

    def __init__(
        self,
        weight: Any = None,
        size_average: Optional[bool] = None,
        reduce: Optional[bool] = None,
        reduction: str = "mean",
        pos_weight: Any = None,
    ) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.pos_weight: Optional[np.ndarray] = (
            None if pos_weight is None else as_real_array("pos_weight", pos_weight)
        )

    def forward(self, input: Any, target: Any) -> Any:
        return F.binary_cross_entropy_with_logits(
            input, target, self.weight, reduction=self.reduction, pos_weight=self.pos_weight
        )

    def grad(self, input: Any, target: Any, grad_output: Any = 1.0, wrt: str = "input") -> np.ndarray:
        return F.binary_cross_entropy_with_logits_grad(
            input, target, self.weight, self.pos_weight, self.reduction, grad_output, wrt
        )

    def value_and_grad(
        self, input: Any, target: Any, grad_output: Any = 1.0, wrt: str = "input"
    ) -> Tuple[Any, np.ndarray]:
        return F.binary_cross_entropy_with_logits_value_and_grad(
            input, target, self.weight, self.pos_weight, self.reduction, grad_output, wrt
        )


class BCELoss(_Loss):
    """``torch.nn.BCELoss``: ``criterion(input, target)`` with probabilities ``input``."""

    def forward(self, input: Any, target: Any) -> Any:
        return F.binary_cross_entropy(input, target, self.weight, reduction=self.reduction)

    def grad(self, input: Any, target: Any, grad_output: Any = 1.0, wrt: str = "input") -> np.ndarray:
        return F.binary_cross_entropy_grad(input, target, self.weight, self.reduction, grad_output, wrt)

    def value_and_grad(
        self, input: Any, target: Any, grad_output: Any = 1.0, wrt: str = "input"
    ) -> Tuple[Any, np.ndarray]:
        return F.binary_cross_entropy_value_and_grad(
            input, target, self.weight, self.reduction, grad_output, wrt
        )
