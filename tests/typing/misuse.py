"""Calls a type checker must refuse. tests/typing/check.py runs mypy on this file and requires an
error on each line marked ``# E: <error code>`` with that code, and on no other line."""

from __future__ import annotations

import fastbce
import fastbce.functional as F
import numpy as np

x = np.array([0.5, -1.0], dtype=np.float32)
y = np.array([1.0, 0.0], dtype=np.float32)

fastbce.binary_cross_entropy_with_logits(x, y, reduction="meen")  # E: call-overload
fastbce.binary_cross_entropy(x, y, reduction="Mean")  # E: call-overload
fastbce.binary_cross_entropy_with_logits_value_and_grad(x, y, reduction="avg")  # E: call-overload
F.binary_cross_entropy_grad(x, y, reduction="total")  # E: arg-type
F.binary_cross_entropy_with_logits_grad(x, y, wrt="weight")  # E: arg-type
fastbce.binary_cross_entropy(x, y, nan_policy="ignore")  # E: call-overload
fastbce.binary_cross_entropy_with_logits_grad_hess(x, y, nan_policy="drop")  # E: arg-type
fastbce.BCELoss(reduction="meen")  # E: call-overload
fastbce.BCEWithLogitsLoss().grad(x, y, wrt="labels")  # E: arg-type
fastbce.BCEAccumulator(nan_policy="skip")  # E: arg-type

# A plain str is not a reduction: the type checker cannot know its value.
chosen: str = "mean"
fastbce.binary_cross_entropy(x, y, reduction=chosen)  # E: call-overload

# A mean is a scalar and 'none' an array, not the other way round.
per_element: float = fastbce.binary_cross_entropy(x, y, reduction="none")  # E: assignment
scalar: np.ndarray = fastbce.binary_cross_entropy(x, y)  # E: assignment

fastbce.binary_cross_entropy(x, y, label_smoothing="0.1")  # E: call-overload
fastbce.set_num_threads(2.0)  # E: arg-type
