"""numpydoc docstrings for the public functions and classes, written once per parameter and put
together for each signature, so that ``help()`` says what the README says and every function
describes a parameter the same way."""

from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_INPUT = {
    True: "input : array_like\n    Logits, of any shape.",
    False: "input : array_like\n    Probabilities in [0, 1], of any shape.",
}

PARAMETERS: Dict[str, str] = {
    "target": (
        "target : array_like\n"
        "    Targets of the input's shape (bool and integer labels are fine). The result dtype is\n"
        "    NumPy's promotion of input and target, made floating; float16 computes in float32."
    ),
    "weight": (
        "weight : array_like, optional\n"
        "    A rescaling weight per element; it broadcasts to the input's shape (aligned from the\n"
        "    right) without enlarging it."
    ),
    "size_average": (
        "size_average : bool, optional\n"
        "    Deprecated, as in PyTorch: with ``reduce``, overrides ``reduction`` (None counts as\n"
        "    True) and warns with the ``reduction`` to use instead."
    ),
    "reduce": "reduce : bool, optional\n    Deprecated, as in PyTorch; see ``size_average``.",
    "reduction": (
        "reduction : {'mean', 'sum', 'none', 'weighted_mean'}, default 'mean'\n"
        "    ``'mean'`` divides the sum by the number of (kept) elements, ``'sum'`` does not,\n"
        "    ``'none'`` returns one loss per element, ``'weighted_mean'`` divides by the sum of the\n"
        "    kept elements' weights (Keras's and scikit-learn's sample weights)."
    ),
    "pos_weight": (
        "pos_weight : array_like, optional\n"
        "    The weight of positive examples (one per class, say); it broadcasts to the input's\n"
        "    shape without enlarging it. It is not a sample weight, and not in any divisor."
    ),
    "grad_output": (
        "grad_output : float or array_like, default 1.0\n"
        "    The upstream gradient: a scalar for ``'mean'``/``'sum'``, an array that broadcasts to\n"
        "    the input for ``'none'``, or to the reduced shape with ``axis``. The gradient is that of\n"
        "    ``sum(loss * grad_output)``."
    ),
    "wrt": "wrt : {'input', 'target'}, default 'input'\n    What the gradient is taken with respect to.",
    "mask": (
        "mask : array_like of bool, optional\n"
        "    Which elements count: True keeps an element (the opposite of ``np.ma``'s mask, whose True\n"
        "    marks an invalid value: pass ``~arr.mask``, or pass the ``np.ma.MaskedArray`` itself).\n"
        "    Left-out elements add nothing to the loss or a mean's divisor and have zero gradient,\n"
        "    whatever their values (NaN too). It broadcasts to the input. An all-masked mean is NaN,\n"
        "    like an empty one. A ``np.ma.MaskedArray`` input, target or weight is honoured the same\n"
        "    way (combined with ``mask``), and per-element results come back masked."
    ),
    "nan_policy": (
        "nan_policy : {'propagate', 'raise', 'omit'}, default 'propagate'\n"
        "    NaN in input, target or weight: ``'propagate'`` gives NaN results (PyTorch's behaviour),\n"
        "    ``'raise'`` a ValueError naming the argument and the index of the first NaN that counts,\n"
        "    ``'omit'`` leaves those elements out, as ``mask`` does. Nulls of pandas, polars and\n"
        "    pyarrow columns arrive as NaN."
    ),
    "label_smoothing": (
        "label_smoothing : float, default 0.0\n"
        "    ε in [0, 1): targets become ``y (1 - ε) + ε / 2`` (Keras's definition); target\n"
        "    gradients are with respect to the given ``y``."
    ),
    "axis": (
        "axis : int or tuple of ints, optional\n"
        "    Reduce over these axes only (NumPy's conventions), for per-row losses."
    ),
    "keepdims": "keepdims : bool, default False\n    Keep the reduced axes, with length 1.",
}

_OUT = {
    "loss": (
        "out : ndarray, optional\n"
        "    Receives the per-element losses (``reduction='none'``) and is returned; of the input's\n"
        "    shape and the result dtype, any memory layout, sharing no memory with an input. The\n"
        "    way to reuse a buffer across calls."
    ),
    "grad": (
        "out : ndarray, optional\n"
        "    Receives the gradient and is returned; of the input's shape and the result dtype,\n"
        "    sharing no memory with an input."
    ),
    "value_and_grad": (
        "out : tuple of (ndarray or None, ndarray or None), optional\n"
        "    Arrays that receive the per-element losses (``reduction='none'``) and the gradient."
    ),
    "grad_hess": (
        "out : tuple of (ndarray or None, ndarray or None), optional\n"
        "    Arrays that receive the gradient and the hessian."
    ),
}

_RETURNS = {
    "loss": (
        "loss : numpy floating scalar or ndarray\n"
        "    A scalar of the result dtype for ``'mean'``, ``'sum'`` and ``'weighted_mean'`` (NaN for\n"
        "    an empty mean), an array of the input's shape for ``'none'``, of the reduced shape with\n"
        "    ``axis``."
    ),
    "grad": "grad : ndarray\n    The gradient, of the input's shape and the result dtype.",
    "value_and_grad": (
        "loss : numpy floating scalar or ndarray\n"
        "    As the loss function returns it.\n"
        "grad : ndarray\n"
        "    The gradient, of the input's shape, from the same pass over the data."
    ),
    "grad_hess": (
        "grad : ndarray\n"
        "    The first derivative with respect to the logits, per element.\n"
        "hess : ndarray\n"
        "    The second derivative, per element."
    ),
}

_RETURNS.update(
    {
        "dask_loss": (
            "loss : dask.array.Array\n"
            "    Lazy: a 0-d array for ``'mean'``, ``'sum'`` and ``'weighted_mean'`` (a tree\n"
            "    reduction of per-chunk accumulators), the input's chunks for ``'none'``, the reduced\n"
            "    shape with ``axis``."
        ),
        "dask_grad": "grad : dask.array.Array\n    Lazy, with the input's shape and chunks.",
        "dask_value_and_grad": (
            "loss : dask.array.Array\n"
            "    Lazy, as the loss function returns it.\n"
            "grad : dask.array.Array\n"
            "    Lazy, with the input's chunks; compute both together (``dask.compute(loss, grad)``)."
        ),
        "dask_grad_hess": (
            "grad, hess : dask.array.Array\n    Lazy, with the input's chunks, from one pass per chunk."
        ),
    }
)

RAISES = (
    "ValueError\n"
    "    A target whose shape is not the input's, an operand that does not broadcast to it without\n"
    "    enlarging it, probabilities outside [0, 1] (NaN included; PyTorch's words), an unknown\n"
    "    reduction or ``wrt``, ``out`` of the wrong shape or sharing memory with an input. The\n"
    "    message names the argument (and the shapes).\n"
    "TypeError\n"
    "    Arrays that do not hold real numbers (complex, object, strings), ``out`` that is not an\n"
    "    array of the result dtype, arguments of the wrong type."
)


def _section(title: str, body: str) -> str:
    return f"{title}\n{'-' * len(title)}\n{body}\n"


def parameters(names: Any, logits: bool, out: str = "loss") -> str:
    """The Parameters section for ``names``, in order."""
    entries = []
    for name in names:
        if name == "input":
            entries.append(_INPUT[logits])
        elif name == "out":
            entries.append(_OUT[out])
        elif name in PARAMETERS:
            entries.append(PARAMETERS[name])
    return _section("Parameters", "\n".join(entries))


def document(summary: str, *, logits: bool, returns: str) -> Callable[[F], F]:
    """Gives a function its numpydoc docstring: the summary, then Parameters (from its signature),
    Returns and Raises."""

    def apply(function: F) -> F:
        names = list(inspect.signature(function).parameters)
        function.__doc__ = "\n".join(
            [
                summary + "\n",
                parameters(names, logits, returns),
                _section("Returns", _RETURNS[returns]),
                _section("Raises", RAISES),
            ]
        )
        return function

    return apply
