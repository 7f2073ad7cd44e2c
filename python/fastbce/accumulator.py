"""A streaming mean of binary cross-entropy, for data fed in batches (or spread over workers).

What is guaranteed: each ``update`` adds one batch's loss sum, computed by the kernels as a
deterministic float64 sum (the same number one call with ``reduction="sum"`` returns before it is
rounded to the result dtype). The accumulator adds these batch sums, and the batches' weight
totals, *exactly* (Shewchuk's expansion, as ``math.fsum``), and rounds once when read. So:

- the result does not depend on the order of ``update`` and ``merge`` calls, nor on how
  accumulators are grouped before merging: it is a function of the multiset of batches;
- one batch gives exactly the float64 sum of one call over that batch;
- any other split of a dataset differs from one call over the whole of it only by the rounding
  inside each batch's float64 sum: in practice within a few float64 ulp of the sum, far below a
  float32 result's last bit.
"""

from __future__ import annotations

import math
from typing import List, Optional

import numpy as np
from numpy.typing import ArrayLike

from . import _plan
from ._plan import NanPolicy, Real

__all__ = ["BCEAccumulator"]


def _grow(partials: List[float], x: float) -> None:
    """Adds ``x`` to the non-overlapping partial sums ``partials`` exactly (Shewchuk; the recipe
    ``math.fsum`` is built on). Non-finite values are kept in one partial, as ordinary float sums."""
    if not math.isfinite(x) or (partials and not math.isfinite(partials[-1])):
        total = (partials[-1] if partials else 0.0) + x
        partials[:] = [total]
        return
    i = 0
    for y in partials:
        if abs(x) < abs(y):
            x, y = y, x
        hi = x + y
        lo = y - (hi - x)
        if lo:
            partials[i] = lo
            i += 1
        x = hi
    partials[i:] = [x]


class BCEAccumulator:
    """Accumulates the loss sum, the number of elements counted and their total weight over any
    number of batches, in float64 and exactly (see the module documentation for what that
    guarantees).

    Parameters
    ----------
    with_logits : bool, default True
        The loss on logits (``binary_cross_entropy_with_logits``), or on probabilities.
    weight : array_like, optional
        Keyword-only. A weight that applies to every batch (one per column, say); each
        ``update(..., weight=...)`` multiplies a batch's own sample weights in.
    pos_weight : array_like, optional
        Keyword-only, with logits only: the weight of positive examples, for every batch.
    label_smoothing : float, default 0.0
        Keyword-only. ε in [0, 1): targets become ``y (1 - ε) + ε / 2``.
    nan_policy : {'propagate', 'raise', 'omit'}, default 'propagate'
        Keyword-only. What NaN in a batch's input, target or weight does (see ``fastbce.functional``).

    Attributes
    ----------
    sum, count, weight_sum : float, int, float
        The loss summed over the elements counted, how many were counted (a mask leaves elements
        out of all three), and their total weight.
    mean, weighted_mean : float
        ``sum / count`` and ``sum / weight_sum``, as ``reduction="mean"`` and
        ``"weighted_mean"`` over all batches at once (NaN when nothing counted).

    Raises
    ------
    TypeError
        ``with_logits`` is not a bool, or an argument is not of its type.
    ValueError
        ``pos_weight`` without logits; an invalid ``label_smoothing`` or ``nan_policy``; in
        ``update``, what the loss functions refuse; in ``merge``, accumulators of other settings.

    Examples
    --------
    >>> import numpy as np, fastbce
    >>> acc = fastbce.BCEAccumulator()
    >>> for logits, labels in [(np.array([0.5, -1.0]), np.array([1.0, 0.0]))] * 3:
    ...     _ = acc.update(logits, labels)
    >>> acc.count
    6
    >>> round(acc.mean, 6)
    0.393669
    """

    def __init__(
        self,
        with_logits: bool = True,
        *,
        weight: Optional[ArrayLike] = None,
        pos_weight: Optional[ArrayLike] = None,
        label_smoothing: Real = 0.0,
        nan_policy: NanPolicy = "propagate",
    ) -> None:
        if not isinstance(with_logits, (bool, np.bool_)):
            raise TypeError(f"with_logits must be True or False, got {with_logits!r}")
        if pos_weight is not None and not with_logits:
            raise ValueError("pos_weight is an argument of the with-logits loss only (with_logits=True)")
        self.with_logits = bool(with_logits)
        self.weight: Optional[np.ndarray] = None if weight is None else _plan.real_array("weight", weight)
        self.pos_weight: Optional[np.ndarray] = (
            None if pos_weight is None else _plan.real_array("pos_weight", pos_weight)
        )
        self.label_smoothing = _plan.check_label_smoothing(label_smoothing)
        self.nan_policy = _plan.check_nan_policy(nan_policy)
        self._sum: List[float] = []
        self._weight_sum: List[float] = []
        self._count = 0

    def update(
        self,
        input: ArrayLike,
        target: ArrayLike,
        weight: Optional[ArrayLike] = None,
        mask: Optional[ArrayLike] = None,
    ) -> BCEAccumulator:
        """Adds one batch; returns the accumulator, so that calls chain.

        Parameters
        ----------
        input, target : array_like
            The batch's logits (or probabilities) and targets, of one shape.
        weight : array_like, optional
            The batch's sample weights, multiplied into the accumulator's ``weight``; it
            broadcasts to the input's shape.
        mask : array_like of bool, optional
            Which elements count (True keeps one).
        """
        if weight is not None:
            sample = _plan.real_array("weight", weight)
            weight = sample if self.weight is None else np.multiply(self.weight, sample)
        else:
            weight = self.weight
        return self.add_totals(
            *_plan.totals(
                self.with_logits,
                input,
                target,
                weight,
                self.pos_weight,
                mask,
                self.label_smoothing,
                self.nan_policy,
            )
        )

    def add_totals(self, loss_sum: float, count: int, weight_sum: float) -> BCEAccumulator:
        """Adds one batch's float64 loss sum, element count and weight total, computed elsewhere
        with this accumulator's settings (``fastbce.dask`` does, per chunk); returns the
        accumulator."""
        _grow(self._sum, float(loss_sum))
        _grow(self._weight_sum, float(weight_sum))
        self._count += int(count)
        return self

    def merge(self, other: BCEAccumulator) -> BCEAccumulator:
        """Adds what ``other`` accumulated; returns this accumulator.

        Raises
        ------
        TypeError
            ``other`` is not a BCEAccumulator.
        ValueError
            ``other`` has other settings (loss, weights, smoothing, NaN policy).
        """
        if not isinstance(other, BCEAccumulator):
            raise TypeError(f"other must be a BCEAccumulator, got {type(other).__name__}")
        if not self._same_settings(other):
            raise ValueError("cannot merge accumulators with different loss settings")
        for x in other._sum:
            _grow(self._sum, x)
        for x in other._weight_sum:
            _grow(self._weight_sum, x)
        self._count += other._count
        return self

    def _same_settings(self, other: BCEAccumulator) -> bool:
        def same(a: Optional[np.ndarray], b: Optional[np.ndarray]) -> bool:
            return (a is None and b is None) or (
                a is not None and b is not None and a.shape == b.shape and bool(np.array_equal(a, b))
            )

        return (
            self.with_logits == other.with_logits
            and self.label_smoothing == other.label_smoothing
            and self.nan_policy == other.nan_policy
            and same(self.weight, other.weight)
            and same(self.pos_weight, other.pos_weight)
        )

    @property
    def sum(self) -> float:
        """The loss summed over every element counted so far (0.0 before any)."""
        return math.fsum(self._sum)

    @property
    def count(self) -> int:
        """How many elements were counted (masked-out ones are not)."""
        return self._count

    @property
    def weight_sum(self) -> float:
        """The total weight of the elements counted (their count when there are no weights)."""
        return math.fsum(self._weight_sum)

    @property
    def mean(self) -> float:
        """``sum / count``, as ``reduction="mean"`` over all batches at once; NaN when nothing
        was counted."""
        return self.sum / self._count if self._count else math.nan

    @property
    def weighted_mean(self) -> float:
        """``sum / weight_sum``, as ``reduction="weighted_mean"``; NaN when the total weight is 0."""
        total = self.weight_sum
        return self.sum / total if total else math.nan

    def reset(self) -> None:
        self._sum, self._weight_sum, self._count = [], [], 0

    def __repr__(self) -> str:
        return f"BCEAccumulator(with_logits={self.with_logits}, count={self._count}, sum={self.sum!r})"
