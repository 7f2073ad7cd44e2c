"""What a user would run instead of fastbce, computing the same things: NumPy's stable expressions,
numba ``@njit(parallel=True)`` loops, ``jax.jit`` of the same expressions (the gradient by
``jax.value_and_grad``, as an optax user would write it), ``torch.nn.functional`` on CPU tensors and
scikit-learn's ``HalfBinomialLoss``.

A peer is a :class:`Backend`: ``bind(kernel, a, b, threads)`` returns a call without arguments that
computes ``kernel`` on the operands ``a`` (logits, or probabilities for ``bce(p)``) and ``b``
(targets) with ``threads`` threads, or None where the peer has no such computation. The kernels:

- ``loss``: the mean loss with logits, ``max(x, 0) - x*y + log1p(exp(-|x|))``;
- ``loss+grad``: that mean and its gradient ``(sigmoid(x) - y) / n``;
- ``grad+hess``: per element, ``sigmoid(x) - y`` and ``sigmoid(x) (1 - sigmoid(x))``;
- ``bce(p)``: the mean BCE on probabilities, each log clamped at -100 as torch does;
- ``loss(pw)``: the mean loss with one ``pos_weight`` per class, operands of shape ``(n / 8, 8)``.

``bench.py`` checks every peer's result against a float64 reference before it times anything, so a
wrong expression here stops the benchmark instead of giving it a number. A peer's module is imported
only when the peer is made (:data:`PEERS`); :func:`installed` says which are there.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

Call = Callable[[], Any]
Binder = Callable[[str, np.ndarray, np.ndarray, int], Optional[Call]]

# ``loss(pw)``: one pos_weight per class, for 8 classes.
CLASS_POS_WEIGHT = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 1.5, 3.0)
PROBABILITY_LOG_FLOOR = -100.0


def class_pos_weight(dtype: Any) -> np.ndarray:
    return np.array(CLASS_POS_WEIGHT, dtype=dtype)


@dataclass(frozen=True)
class Backend:
    name: str
    bind: Binder
    threaded: bool = False  # timed once per thread count
    set_threads: Callable[[int], None] | None = None  # called outside the timed region
    get_threads: Callable[[], int] | None = None
    note: str = ""  # how it is called, for the printed legend


# --------------------------------------------------------------------------------------------
# NumPy


def numpy_logits_loss(x: np.ndarray, y: np.ndarray) -> Any:
    return (np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))).mean()


def numpy_logits_loss_and_grad(x: np.ndarray, y: np.ndarray) -> tuple[Any, np.ndarray]:
    e = np.exp(-np.abs(x))
    loss = (np.maximum(x, 0) - x * y + np.log1p(e)).mean()
    r = 1 / (1 + e)
    sigmoid = np.where(x >= 0, r, e * r)
    return loss, (sigmoid - y) / x.size


def numpy_grad_hess(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    e = np.exp(-np.abs(x))
    r = 1 / (1 + e)
    sigmoid = np.where(x >= 0, r, e * r)
    return sigmoid - y, e * r * r


def numpy_probability_loss(p: np.ndarray, y: np.ndarray) -> Any:
    with np.errstate(divide="ignore"):
        log_p = np.maximum(np.log(p), PROBABILITY_LOG_FLOOR)
        log_q = np.maximum(np.log1p(-p), PROBABILITY_LOG_FLOOR)
    return -(y * log_p + (1 - y) * log_q).mean()


def numpy_pos_weight_loss(x: np.ndarray, y: np.ndarray) -> Any:
    lw = 1 + (class_pos_weight(x.dtype) - 1) * y
    return ((1 - y) * x + lw * (np.log1p(np.exp(-np.abs(x))) + np.maximum(-x, 0))).mean()


NUMPY_EXPRESSIONS: dict[str, Callable[[np.ndarray, np.ndarray], Any]] = {
    "loss": numpy_logits_loss,
    "loss+grad": numpy_logits_loss_and_grad,
    "grad+hess": numpy_grad_hess,
    "bce(p)": numpy_probability_loss,
    "loss(pw)": numpy_pos_weight_loss,
}


def _bind_numpy(kernel: str, a: np.ndarray, b: np.ndarray, threads: int) -> Call | None:
    fn = NUMPY_EXPRESSIONS[kernel]
    return lambda: fn(a, b)


NUMPY = Backend(
    "numpy", _bind_numpy, note=f"NumPy {np.__version__}: the stable expressions of benchmarks/peers.py"
)


# --------------------------------------------------------------------------------------------
# numba: the loops a numba user writes, one per kernel and dtype, parallel over elements. The sums
# are float64; the element-wise arithmetic stays in the operands' dtype (its constants are of that
# dtype, so float32 is not promoted).


def _numba_kernels(dtype: np.dtype) -> dict[str, Callable[..., Any]]:
    numba = importlib.import_module("numba")
    njit, prange = numba.njit, numba.prange
    scalar = dtype.type
    zero, one, floor = scalar(0), scalar(1), scalar(PROBABILITY_LOG_FLOOR)

    @njit(parallel=True)
    def loss(x: Any, y: Any) -> Any:
        total = 0.0
        for i in prange(x.size):
            a = x[i]
            total += max(a, zero) - a * y[i] + np.log1p(np.exp(-abs(a)))
        return total / x.size

    @njit(parallel=True)
    def loss_grad(x: Any, y: Any, inv_n: Any) -> Any:
        grad = np.empty_like(x)
        total = 0.0
        for i in prange(x.size):
            a, b = x[i], y[i]
            e = np.exp(-abs(a))
            total += max(a, zero) - a * b + np.log1p(e)
            r = one / (one + e)
            sigmoid = r if a >= zero else e * r
            grad[i] = (sigmoid - b) * inv_n
        return total / x.size, grad

    @njit(parallel=True)
    def grad_hess(x: Any, y: Any) -> Any:
        grad = np.empty_like(x)
        hess = np.empty_like(x)
        for i in prange(x.size):
            a = x[i]
            e = np.exp(-abs(a))
            r = one / (one + e)
            sigmoid = r if a >= zero else e * r
            grad[i] = sigmoid - y[i]
            hess[i] = e * r * r
        return grad, hess

    @njit(parallel=True)
    def probability_loss(p: Any, y: Any) -> Any:
        total = 0.0
        for i in prange(p.size):
            q, b = p[i], y[i]
            total += b * max(np.log(q), floor) + (one - b) * max(np.log1p(-q), floor)
        return -total / p.size

    return {"loss": loss, "loss+grad": loss_grad, "grad+hess": grad_hess, "bce(p)": probability_loss}


def numba_peer() -> Backend:
    numba = importlib.import_module("numba")
    compiled: dict[np.dtype, dict[str, Callable[..., Any]]] = {}

    def bind(kernel: str, a: np.ndarray, b: np.ndarray, threads: int) -> Call | None:
        if a.ndim != 1:
            return None
        if a.dtype not in compiled:
            compiled[a.dtype] = _numba_kernels(a.dtype)
        fn = compiled[a.dtype].get(kernel)
        if fn is None:
            return None
        if kernel == "loss+grad":
            inv_n = a.dtype.type(1 / a.size)
            return lambda: fn(a, b, inv_n)
        return lambda: fn(a, b)

    return Backend(
        "numba",
        bind,
        threaded=True,
        set_threads=numba.set_num_threads,
        get_threads=numba.get_num_threads,
        note=f"numba {numba.__version__}: @njit(parallel=True) prange loops, numba.set_num_threads",
    )


# --------------------------------------------------------------------------------------------
# jax: the NumPy expressions in jax.numpy under jax.jit, on arrays already on the CPU device. XLA
# runs on its own thread pool (one thread per core); it has no thread count to set at run time.


def jax_peer() -> Backend:
    jax = importlib.import_module("jax")
    jax.config.update("jax_enable_x64", True)  # float64 operands stay float64
    jnp = jax.numpy

    def loss(x: Any, y: Any) -> Any:
        return jnp.mean(jnp.maximum(x, 0) - x * y + jnp.log1p(jnp.exp(-jnp.abs(x))))

    def grad_hess(x: Any, y: Any) -> Any:
        e = jnp.exp(-jnp.abs(x))
        r = 1 / (1 + e)
        return jnp.where(x >= 0, r, e * r) - y, e * r * r

    def probability_loss(p: Any, y: Any) -> Any:
        log_p = jnp.maximum(jnp.log(p), PROBABILITY_LOG_FLOOR)
        log_q = jnp.maximum(jnp.log1p(-p), PROBABILITY_LOG_FLOOR)
        return -jnp.mean(y * log_p + (1 - y) * log_q)

    def pos_weight_loss(x: Any, y: Any, pw: Any) -> Any:
        lw = 1 + (pw - 1) * y
        return jnp.mean((1 - y) * x + lw * (jnp.log1p(jnp.exp(-jnp.abs(x))) + jnp.maximum(-x, 0)))

    functions = {
        "loss": jax.jit(loss),
        "loss+grad": jax.jit(jax.value_and_grad(loss)),
        "grad+hess": jax.jit(grad_hess),
        "bce(p)": jax.jit(probability_loss),
        "loss(pw)": jax.jit(pos_weight_loss),
    }

    def bind(kernel: str, a: np.ndarray, b: np.ndarray, threads: int) -> Call | None:
        fn = functions[kernel]
        operands = [jax.device_put(a), jax.device_put(b)]
        if kernel == "loss(pw)":
            operands.append(jax.device_put(class_pos_weight(a.dtype)))
        return lambda: jax.block_until_ready(fn(*operands))

    return Backend("jax", bind, note=f"jax {jax.__version__}: jax.jit, gradient by jax.value_and_grad")


# --------------------------------------------------------------------------------------------
# torch: torch.nn.functional on CPU tensors sharing the NumPy arrays' memory; the gradient by autograd.


def torch_peer() -> Backend:
    torch = importlib.import_module("torch")
    functional = torch.nn.functional

    def bind(kernel: str, a: np.ndarray, b: np.ndarray, threads: int) -> Call | None:
        at, bt = torch.from_numpy(a), torch.from_numpy(b)
        if kernel == "loss":
            return lambda: functional.binary_cross_entropy_with_logits(at, bt)
        if kernel == "loss+grad":

            def loss_and_grad() -> tuple[Any, Any]:
                leaf = at.detach().requires_grad_(True)
                loss = functional.binary_cross_entropy_with_logits(leaf, bt)
                (grad,) = torch.autograd.grad(loss, leaf)
                return loss.detach(), grad

            return loss_and_grad
        if kernel == "bce(p)":
            return lambda: functional.binary_cross_entropy(at, bt)
        if kernel == "loss(pw)":
            pw = torch.from_numpy(class_pos_weight(a.dtype))
            return lambda: functional.binary_cross_entropy_with_logits(at, bt, pos_weight=pw)
        return None

    return Backend(
        "torch",
        bind,
        threaded=True,
        set_threads=torch.set_num_threads,
        get_threads=torch.get_num_threads,
        note=f"torch {torch.__version__} (CPU): torch.nn.functional, autograd, torch.set_num_threads",
    )


# --------------------------------------------------------------------------------------------
# scikit-learn: HalfBinomialLoss, the same loss (log(1 + exp(x)) - y x) and gradient per element,
# with n_threads OpenMP threads. It has no loss on probabilities.


def sklearn_peer() -> Backend:
    sklearn = importlib.import_module("sklearn")
    half_binomial = importlib.import_module("sklearn._loss.loss").HalfBinomialLoss()

    def bind(kernel: str, a: np.ndarray, b: np.ndarray, threads: int) -> Call | None:
        if a.ndim != 1:
            return None
        if kernel == "loss":
            return lambda: half_binomial.loss(b, a, n_threads=threads).mean()
        if kernel == "loss+grad":

            def loss_and_grad() -> tuple[Any, np.ndarray]:
                loss, grad = half_binomial.loss_gradient(b, a, n_threads=threads)
                return loss.mean(), np.divide(grad, a.size, out=grad)

            return loss_and_grad
        if kernel == "grad+hess":
            return lambda: half_binomial.gradient_hessian(b, a, n_threads=threads)
        return None

    return Backend(
        "sklearn",
        bind,
        threaded=True,
        note=f"scikit-learn {sklearn.__version__}: sklearn._loss.loss.HalfBinomialLoss, n_threads",
    )


# The peers, in the order of the table's columns, each with the module it needs.
PEERS: dict[str, tuple[str, Callable[[], Backend]]] = {
    "numba": ("numba", numba_peer),
    "jax": ("jax", jax_peer),
    "torch": ("torch", torch_peer),
    "sklearn": ("sklearn", sklearn_peer),
}


def installed() -> list[str]:
    """The peers whose module can be found."""
    return [name for name, (module, _) in PEERS.items() if importlib.util.find_spec(module) is not None]
