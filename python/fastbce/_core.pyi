from typing import List, Literal, Optional, Tuple, Union, overload

import numpy as np

__all__ = [
    "CHUNK",
    "MAX_THREADS",
    "check_broadcast",
    "get_num_threads",
    "grad_hess",
    "gradient",
    "kept",
    "loss_total",
    "losses",
    "set_num_threads",
    "set_simd_level",
    "simd_level",
    "simd_levels",
]

CHUNK: int
MAX_THREADS: int

def losses(
    input: np.ndarray,
    target: np.ndarray,
    logits: bool,
    weight: Optional[np.ndarray] = None,
    pos_weight: Optional[np.ndarray] = None,
    mask: Optional[np.ndarray] = None,
    label_smoothing: float = 0.0,
    out: Optional[np.ndarray] = None,
) -> np.ndarray: ...

# The float64 sum as a Python float, or with a divisor the mean (or sum, divisor 1) rounded once to
# the compute dtype, as a NumPy scalar of it.
@overload
def loss_total(
    input: np.ndarray,
    target: np.ndarray,
    logits: bool,
    weight: Optional[np.ndarray] = None,
    pos_weight: Optional[np.ndarray] = None,
    mask: Optional[np.ndarray] = None,
    label_smoothing: float = 0.0,
    divisor: None = None,
) -> float: ...
@overload
def loss_total(
    input: np.ndarray,
    target: np.ndarray,
    logits: bool,
    weight: Optional[np.ndarray],
    pos_weight: Optional[np.ndarray],
    mask: Optional[np.ndarray],
    label_smoothing: float,
    divisor: float,
) -> np.floating: ...

# (loss, gradient): no loss, the total (as loss_total gives it) or the per-element losses, by `loss`.
def gradient(
    input: np.ndarray,
    target: np.ndarray,
    logits: bool,
    weight: Optional[np.ndarray] = None,
    pos_weight: Optional[np.ndarray] = None,
    mask: Optional[np.ndarray] = None,
    label_smoothing: float = 0.0,
    wrt: Optional[Literal["input", "target"]] = None,
    grad_output: Optional[np.ndarray] = None,
    grad_scale: float = 1.0,
    out: Optional[np.ndarray] = None,
    loss: Optional[Literal["sum", "each"]] = None,
    loss_out: Optional[np.ndarray] = None,
    divisor: Optional[float] = None,
) -> Tuple[Union[None, float, np.floating, np.ndarray], np.ndarray]: ...
def grad_hess(
    input: np.ndarray,
    target: np.ndarray,
    weight: Optional[np.ndarray] = None,
    pos_weight: Optional[np.ndarray] = None,
    mask: Optional[np.ndarray] = None,
    label_smoothing: float = 0.0,
    grad_out: Optional[np.ndarray] = None,
    hess_out: Optional[np.ndarray] = None,
) -> Tuple[np.ndarray, np.ndarray]: ...
def kept(
    input: np.ndarray, weight: Optional[np.ndarray] = None, mask: Optional[np.ndarray] = None
) -> Tuple[int, float]: ...
def check_broadcast(
    what: str, operand: List[int], shape: List[int], shape_name: str = "the input's shape"
) -> None: ...
def set_num_threads(threads: int) -> None: ...
def get_num_threads() -> int: ...
def simd_level() -> str: ...
def set_simd_level(name: str) -> str: ...
def simd_levels() -> List[str]: ...
