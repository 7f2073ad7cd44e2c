from typing import Optional

import numpy as np

CHUNK: int

def bce(
    with_logits: bool,
    input: np.ndarray,
    target: np.ndarray,
    weight: Optional[np.ndarray],
    pos_weight: Optional[np.ndarray],
    grad_output: Optional[np.ndarray],
    grad_scale: float,
    loss_out: Optional[np.ndarray],
    loss_sum: bool,
    grad_out: Optional[np.ndarray],
    wrt_target: bool,
    mask: Optional[np.ndarray] = None,
    label_smoothing: float = 0.0,
    hess_out: Optional[np.ndarray] = None,
) -> float: ...
def set_num_threads(threads: int) -> None: ...
def get_num_threads() -> int: ...
def reduced_loss(with_logits: bool, input: np.ndarray, target: np.ndarray, mean: bool) -> Optional[float]: ...
def simd_level() -> str: ...
def set_simd_level(name: str) -> str: ...
def simd_levels() -> list[str]: ...
