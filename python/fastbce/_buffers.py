"""Output arrays, with large ones recycled for a moment after they are freed.

An allocator reuses a freed block for the next allocation of its size, but only below its mmap
threshold (32 MiB at most in glibc): a larger output is fresh pages every time, which the kernel
must zero on first touch. For float32 loss and gradient at n = 1e7 that is a quarter of the call.
So an output of ``MIN_BYTES`` or more is handed out as a view of a buffer that fastbce keeps when
the last view of it dies; the next output of the same byte size reuses it. Kept buffers are bounded
in number (``MAX_KEPT``) and in time (``KEEP_SECONDS``), after which a timer releases them: memory
comes back to the system as it would without recycling, a moment later.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from typing import Any, List, Optional, Tuple

import numpy as np

MIN_BYTES = 32 << 20
MAX_KEPT = 4
KEEP_SECONDS = 1.0

# (when it was freed, buffer): uint8 arrays that own their memory, oldest first.
_kept: List[Tuple[float, np.ndarray]] = []
# Re-entrant: a lease can die, and give its buffer back, while this thread holds the lock.
_lock = threading.RLock()
_timer: Optional[threading.Timer] = None


class _Lease:
    """The base object of a recycled output: holds its buffer, and gives it back on death, which
    comes after the death of every array that views its memory."""

    __slots__ = ("_buffer", "__array_interface__")

    def __init__(self, buffer: np.ndarray, shape: Tuple[int, ...], dtype: np.dtype) -> None:
        self._buffer = buffer
        self.__array_interface__ = {
            "data": (buffer.ctypes.data, False),
            "shape": shape,
            "typestr": dtype.str,
            "version": 3,
        }

    def __del__(self) -> None:
        _give_back(self._buffer)


def empty(shape: Tuple[int, ...], dtype: Any) -> np.ndarray:
    """An uninitialised, writeable, C-contiguous array, as ``np.empty(shape, dtype)``."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes < MIN_BYTES:
        return np.empty(shape, dtype)
    buffer = _take(nbytes)
    if buffer is None:
        buffer = np.empty(nbytes, np.uint8)
    return np.asarray(_Lease(buffer, tuple(shape), dtype))


def kept() -> int:
    """How many freed buffers are kept now."""
    return len(_kept)


def _take(nbytes: int) -> Optional[np.ndarray]:
    with _lock:
        for i in range(len(_kept) - 1, -1, -1):
            if _kept[i][1].nbytes == nbytes:
                return _kept.pop(i)[1]
    return None


def _give_back(buffer: np.ndarray) -> None:
    if sys.is_finalizing():
        return
    with _lock:
        _kept.append((time.monotonic(), buffer))
        del _kept[:-MAX_KEPT]
        _schedule()


def _schedule() -> None:
    """Starts the timer that releases the oldest kept buffer when it expires, unless one runs."""
    global _timer
    if not _kept or (_timer is not None and _timer.is_alive()):
        return
    delay = max(_kept[0][0] + KEEP_SECONDS - time.monotonic(), 0.0)
    _timer = threading.Timer(delay, _expire)
    _timer.daemon = True
    try:
        _timer.start()
    except RuntimeError:  # no new threads at interpreter shutdown: keep nothing
        _timer = None
        _kept.clear()


def _expire() -> None:
    global _timer
    with _lock:
        _timer = None
        cutoff = time.monotonic() - KEEP_SECONDS
        while _kept and _kept[0][0] <= cutoff:
            del _kept[0]
        _schedule()


def _forget_after_fork() -> None:
    """In a forked child: another thread of the parent may have held the lock, and no timer runs."""
    global _lock, _timer
    _lock = threading.RLock()
    _timer = None
    _kept.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
