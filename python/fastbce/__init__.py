"""fastbce: binary cross-entropy (loss and gradient) for NumPy, computed in Rust.

The same names, arguments, reductions and results as ``torch.nn.functional.binary_cross_entropy``,
``binary_cross_entropy_with_logits``, ``torch.nn.BCELoss`` and ``torch.nn.BCEWithLogitsLoss``, plus
their gradients; and for pipelines: gradient and hessian for gradient boosting, weighted means,
masks, label smoothing, per-axis reductions, ``out=`` buffers and a streaming accumulator.
"""

from __future__ import annotations

import operator as _operator
import os as _os
import typing as _typing
import warnings as _warnings

import numpy as _np

from . import _core, functional, metrics
from .accumulator import BCEAccumulator
from .functional import (
    binary_cross_entropy,
    binary_cross_entropy_grad,
    binary_cross_entropy_value_and_grad,
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_grad,
    binary_cross_entropy_with_logits_grad_hess,
    binary_cross_entropy_with_logits_value_and_grad,
)
from .modules import BCELoss, BCEWithLogitsLoss

__version__ = "0.1.0"

__all__ = [
    "BCEAccumulator",
    "BCELoss",
    "BCEWithLogitsLoss",
    "binary_cross_entropy",
    "binary_cross_entropy_grad",
    "binary_cross_entropy_value_and_grad",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_grad",
    "binary_cross_entropy_with_logits_grad_hess",
    "binary_cross_entropy_with_logits_value_and_grad",
    "functional",
    "get_num_threads",
    "metrics",
    "set_num_threads",
    "simd_level",
]


def set_num_threads(n: _typing.SupportsIndex) -> None:
    """Sets how many threads fastbce's own pool uses for large inputs (calls already running keep
    theirs).

    Parameters
    ----------
    n : int
        An integer (a NumPy integer too), from 1 to ``4 * os.cpu_count()`` (the cap keeps a
        mistaken count from starting thousands of threads).

    Returns
    -------
    None

    Raises
    ------
    TypeError
        ``n`` is not an integer.
    ValueError
        ``n`` is outside that range.
    """
    if isinstance(n, (bool, _np.bool_)) or not hasattr(n, "__index__"):
        raise TypeError(f"num_threads must be an integer, got {type(n).__name__}")
    _core.set_num_threads(_operator.index(n))


def get_num_threads() -> int:
    """The number of threads fastbce uses for large inputs.

    Returns
    -------
    int
        The count ``set_num_threads`` (or ``FASTBCE_NUM_THREADS``) set, else the machine's CPUs.
    """
    return int(_core.get_num_threads())


def simd_level() -> str:
    """The instruction-set level the kernels run at, chosen once from what the CPU has:
    ``"avx512"``, ``"avx2"`` (with FMA), ``"neon"`` or ``"baseline"`` (portable code), or
    ``"scalar"`` (the reference path). The environment variable ``FASTBCE_SIMD``, read at the
    first call, caps it (``FASTBCE_SIMD=baseline``).

    Returns
    -------
    str
        The level's name. avx2 and avx512 give the same bits; each level gives one answer per
        element whatever a call asks for.
    """
    return str(_core.simd_level())


def _threads_from_environment() -> None:
    value = _os.environ.get("FASTBCE_NUM_THREADS", "").strip()
    if not value:
        return
    try:
        set_num_threads(int(value))
    except (TypeError, ValueError):
        _warnings.warn(
            f"FASTBCE_NUM_THREADS={value!r} is not an integer from 1 to {_core.MAX_THREADS}; "
            f"using {get_num_threads()} threads",
            RuntimeWarning,
            stacklevel=2,
        )


_threads_from_environment()
