from typing import Any, List, Optional, Tuple

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
def loss_total(
    input: np.ndarray,
    target: np.ndarray,
    logits: bool,
    weight: Optional[np.ndarray] = None,
    pos_weight: Optional[np.ndarray] = None,
    mask: Optional[np.ndarray] = None,
    label_smoothing: float = 0.0,
    divisor: Optional[float] = None,
) -> Any: ...
def gradient(
    input: np.ndarray,
    target: np.ndarray,
    logits: bool,
    weight: Optional[np.ndarray] = None,
    pos_weight: Optional[np.ndarray] = None,
    mask: Optional[np.ndarray] = None,
    label_smoothing: float = 0.0,
    wrt: Optional[str] = None,
    grad_output: Optional[np.ndarray] = None,
    grad_scale: float = 1.0,
    out: Optional[np.ndarray] = None,
    loss: Optional[str] = None,
    loss_out: Optional[np.ndarray] = None,
    divisor: Optional[float] = None,
) -> Tuple[Any, np.ndarray]: ...
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
