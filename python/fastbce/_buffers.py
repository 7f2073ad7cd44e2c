"""Output arrays, with large ones recycled for a moment after they are freed.

An allocator reuses a freed block for the next allocation of its size, but only below its mmap
threshold (32 MiB at most in glibc): a larger output is fresh pages every time, which the kernel
must zero on first touch. For float32 loss and gradient at n = 1e7 that is a quarter of the call.
So an output of ``MIN_BYTES`` or more is handed out as a view of a buffer that fastbce keeps when
the last view of it dies; the next output of the same byte size reuses it. Kept buffers are bounded
in number (``MAX_KEPT``) and in time (``KEEP_SECONDS``), after which a daemon thread releases them:
memory comes back to the system as it would without recycling, a moment later.
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

# (when it was freed, buffer), oldest first.
_kept: List[Tuple[float, np.ndarray]] = []
# Guards _kept and wakes the purger. Re-entrant: a lease can die, and give its buffer back, while
# its thread holds the lock. A lease's death runs no more than this: it may come from the garbage
# collector anywhere, even inside threading's own locks, so it never starts a thread.
_changed = threading.Condition(threading.RLock())
# The daemon thread that releases kept buffers when they expire, started by the first large output.
_purger: Optional[threading.Thread] = None
_purger_start = threading.Lock()


class _Memory(np.ndarray):
    """A kept buffer: bytes that own their memory. Its own type, so that NumPy does not collapse an
    output's chain of bases past the lease to it."""


class _Lease(np.ndarray):
    """The base of a recycled output, a view of its buffer (an array, so that the output's
    WRITEABLE flag can be set again once cleared). It dies after every array that views its
    memory, and gives the buffer back then. Arrays derived from it (a slice of an output's
    ``base``) are of its type too, but view the lease, not the buffer, and give nothing back."""

    def __del__(self) -> None:
        if isinstance(self.base, _Memory):
            _give_back(self.base)


def empty(shape: Tuple[int, ...], dtype: Any) -> np.ndarray:
    """An uninitialised, writeable, C-contiguous array, as ``np.empty(shape, dtype)``."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes < MIN_BYTES:
        return np.empty(shape, dtype)
    _start_purger()
    buffer = _take(nbytes)
    if buffer is None:
        buffer = np.ndarray.__new__(_Memory, (nbytes,), np.uint8)
    return np.ndarray(shape, dtype, buffer=buffer.view(_Lease))


def empty_like(array: np.ndarray) -> np.ndarray:
    """``empty(array.shape, array.dtype)`` for a C-contiguous ``array``, with a small one's cost that
    of ``np.empty_like`` (a small call's gradient: no dtype or size to work out)."""
    if array.nbytes < MIN_BYTES:
        return np.empty_like(array)
    return empty(array.shape, array.dtype)


def kept() -> int:
    """How many freed buffers are kept now."""
    return len(_kept)


def _take(nbytes: int) -> Optional[np.ndarray]:
    with _changed:
        for i in range(len(_kept) - 1, -1, -1):
            if _kept[i][1].nbytes == nbytes:
                return _kept.pop(i)[1]
    return None


def _give_back(buffer: np.ndarray) -> None:
    if sys.is_finalizing():
        return
    with _changed:
        _kept.append((time.monotonic(), buffer))
        del _kept[:-MAX_KEPT]
        _changed.notify()


def _start_purger() -> None:
    global _purger
    with _purger_start:
        if _purger is None or not _purger.is_alive():
            _purger = threading.Thread(
                target=_purge, args=(_changed, _kept), name="fastbce-buffers", daemon=True
            )
            _purger.start()


def _purge(changed: threading.Condition, kept: List[Tuple[float, np.ndarray]]) -> None:
    """Releases each kept buffer ``KEEP_SECONDS`` after it was freed; sleeps while none is kept."""
    with changed:
        while True:
            if not kept:
                changed.wait()
                continue
            left = kept[0][0] + KEEP_SECONDS - time.monotonic()
            if left > 0:
                changed.wait(left)
            else:
                del kept[0]


def _forget_after_fork() -> None:
    """In a forked child: no purger runs, and another thread of the parent may have held a lock."""
    global _changed, _purger, _purger_start, _kept
    _changed = threading.Condition(threading.RLock())
    _purger, _purger_start, _kept = None, threading.Lock(), []


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
