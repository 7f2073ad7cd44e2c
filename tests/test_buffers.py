"""Recycled outputs (``fastbce._buffers``): a large output's memory is reused only once no array
views it any more, a reused buffer's old contents never show, and what is kept is bounded in number
and in time. The threshold is lowered here so that small arrays exercise it."""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
import warnings
from typing import Any, Iterator

import fastbce
import numpy as np
import pytest
from conftest import LOGITS, assert_close, assert_identical, reference
from fastbce import _buffers
from fastbce import functional as F

N = 1000  # float64: 8000 bytes, over the threshold below


@pytest.fixture(autouse=True)
def recycling(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(_buffers, "MIN_BYTES", 4096)
    _buffers._kept.clear()
    yield
    _buffers._kept.clear()


def data(seed: int, n: int = N, dtype: Any = np.float64) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(n) * 4).astype(dtype), rng.uniform(0, 1, n).astype(dtype)


def gradient(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return F.binary_cross_entropy_with_logits_value_and_grad(x, y)[1]


def test_a_freed_output_is_reused_without_its_old_values() -> None:
    x1, y1 = data(1)
    first = gradient(x1, y1)
    address = first.ctypes.data
    assert not first.flags.owndata
    del first
    assert _buffers.kept() == 1
    x2, y2 = data(2)
    second = gradient(x2, y2)
    assert second.ctypes.data == address and _buffers.kept() == 0
    assert_close(second, reference(LOGITS, x2, y2)[1], np.float64)
    fresh = np.empty_like(x2)
    F.binary_cross_entropy_with_logits_value_and_grad(x2, y2, out=(None, fresh))
    assert_identical(second, fresh)


def test_a_view_keeps_the_buffer_out_of_use() -> None:
    x1, y1 = data(1)
    first = gradient(x1, y1)
    view = first[::3]
    seen = view.copy()
    del first
    assert _buffers.kept() == 0
    second = gradient(*data(2))
    assert not np.shares_memory(second, view)
    assert_identical(view, seen)
    del view
    assert _buffers.kept() == 1


def test_a_recycled_output_is_an_ordinary_array() -> None:
    g = gradient(*data(1))
    assert type(g) is np.ndarray and g.flags.c_contiguous and g.flags.aligned
    g.flags.writeable = False
    g.flags.writeable = True  # as for np.empty's arrays: the base is a writeable array
    g[:] = 1.0
    # what is derived from the base views the lease, not the buffer, and gives nothing back
    derived = g.base[::2]
    del derived
    assert _buffers.kept() == 0
    del g
    assert _buffers.kept() == 1


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_every_output_kind(dtype: Any) -> None:
    x, y = data(3, 4000, dtype)
    w = np.linspace(0.5, 2, 4000).astype(dtype)
    expected_loss, expected_grad, _ = reference(LOGITS, x, y, reduction="none")
    outputs = {
        "loss none": F.binary_cross_entropy_with_logits(x, y, reduction="none"),
        "loss none weighted": F.binary_cross_entropy_with_logits(x, y, w, reduction="none") / w,
        "grad": F.binary_cross_entropy_with_logits_grad(x, y, reduction="sum"),
        "grad_hess": F.binary_cross_entropy_with_logits_grad_hess(x, y)[0],
        "value_and_grad none": F.binary_cross_entropy_with_logits_value_and_grad(x, y, reduction="none")[1],
        "module": fastbce.BCEWithLogitsLoss(reduction="none")(x, y),
    }
    for name, out in outputs.items():
        assert out.dtype == dtype and out.shape == x.shape, name
        assert out.flags.c_contiguous and out.flags.writeable, name
        expected = expected_loss if "loss" in name or name == "module" else expected_grad
        assert_close(out, expected, dtype, err_msg=name)


def test_small_outputs_are_plain_arrays() -> None:
    x, y = data(4, 100)
    g = gradient(x, y)
    assert g.flags.owndata
    del g
    assert _buffers.kept() == 0


def test_kept_buffers_are_bounded_in_number() -> None:
    outputs = [gradient(*data(seed)) for seed in range(_buffers.MAX_KEPT + 3)]
    del outputs
    assert _buffers.kept() == _buffers.MAX_KEPT


def test_kept_buffers_are_released_after_a_while(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_buffers, "KEEP_SECONDS", 0.05)
    outputs = [gradient(*data(seed)) for seed in range(3)]
    del outputs
    assert _buffers.kept() == 3
    deadline = time.monotonic() + 10
    while _buffers.kept() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _buffers.kept() == 0


def test_threads_never_share_a_live_output() -> None:
    inputs = [data(seed) for seed in range(8)]
    expected = [
        F.binary_cross_entropy_with_logits_value_and_grad(x, y, out=(None, np.empty_like(x)))[1]
        for x, y in inputs
    ]
    failures: list[str] = []

    def work(t: int) -> None:
        alive: list[tuple[int, np.ndarray]] = []
        for i in range(60):
            k = (t + i) % len(inputs)
            alive.append((k, gradient(*inputs[k])))
            alive = alive[-3:]
            for j, g in alive:
                if not np.array_equal(g, expected[j]):
                    failures.append(f"thread {t}, call {i}: an output changed under its owner")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures[:3]


def _child(queue: Any, x: np.ndarray, y: np.ndarray, expected: np.ndarray) -> None:
    seen = [_buffers.kept()]
    _buffers.KEEP_SECONDS = 0.05
    g = gradient(x, y)
    seen.append(bool(np.array_equal(g, expected)))
    del g
    seen.append(_buffers.kept())
    deadline = time.monotonic() + 10
    while _buffers.kept() and time.monotonic() < deadline:
        time.sleep(0.01)
    seen.append(_buffers.kept())
    queue.put(seen)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
def test_a_forked_child_starts_with_nothing_kept_and_recycles() -> None:
    x, y = data(2)
    expected = gradient(x, y)
    kept_output = gradient(*data(1))
    del kept_output
    assert _buffers.kept() == 1  # for a second; the child must not see it
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    with warnings.catch_warnings():
        # Python 3.12+ warns that forking a multi-threaded process may deadlock.
        warnings.simplefilter("ignore", DeprecationWarning)
        child = ctx.Process(target=_child, args=(queue, x, y, expected))
        child.start()
    seen = queue.get(timeout=60)
    child.join(timeout=60)
    assert child.exitcode == 0
    assert seen == [0, True, 1, 0]
