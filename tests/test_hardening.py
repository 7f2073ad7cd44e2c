"""Safety under threads, fork, odd memory and repeated calls (issue: hardening).

Results are compared with the same calls made serially, or with contiguous copies: fastbce must
give identical bits however it is called.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import warnings

import fastbce as fb
import numpy as np
import pytest


def _mixed_calls(seed: int = 7):
    """A few dozen different calls: both losses, gradients, reductions, dtypes, sizes 0..1e6."""
    rng = np.random.default_rng(seed)
    calls = []
    sizes = [0, 1, 7, 64, 1000, 16385, 100_003, 1_000_000]
    for i, n in enumerate(sizes * 4):
        dtype = (np.float32, np.float64)[i % 2]
        reduction = ("mean", "sum", "none")[i % 3]
        x = (rng.standard_normal(n) * 4).astype(dtype)
        y = rng.uniform(0, 1, n).astype(dtype)
        p = rng.uniform(0, 1, n).astype(dtype)
        kind = i % 4
        if kind == 0:
            calls.append((fb.binary_cross_entropy_with_logits, (x, y), {"reduction": reduction}))
        elif kind == 1:
            calls.append((fb.binary_cross_entropy, (p, y), {"reduction": reduction}))
        elif kind == 2:
            calls.append(
                (
                    fb.binary_cross_entropy_with_logits_value_and_grad,
                    (x, y),
                    {"reduction": reduction, "pos_weight": np.float32(2.5)},
                )
            )
        else:
            calls.append((fb.binary_cross_entropy_grad, (p, y), {"reduction": reduction, "wrt": "target"}))
    return calls


def _as_bytes(result):
    if isinstance(result, tuple):
        return tuple(_as_bytes(r) for r in result)
    return np.asarray(result).tobytes()


def test_threads_give_the_serial_results():
    calls = _mixed_calls()
    expected = [_as_bytes(f(*a, **k)) for f, a, k in calls]
    errors: list = []
    order_rng = np.random.default_rng(1)
    orders = [order_rng.permutation(len(calls)) for _ in range(8)]

    def worker(order):
        try:
            for _ in range(3):
                for i in order:
                    f, a, k = calls[i]
                    if _as_bytes(f(*a, **k)) != expected[i]:
                        errors.append(f"call {i} differs from its serial result")
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(o,)) for o in orders]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert errors == []


def test_set_num_threads_while_others_compute():
    rng = np.random.default_rng(3)
    x = rng.standard_normal(300_000)
    y = rng.uniform(0, 1, 300_000)
    expected = fb.binary_cross_entropy_with_logits(x, y, reduction="sum")
    before = fb.get_num_threads()
    stop = threading.Event()
    results: list = []

    def compute():
        while not stop.is_set():
            results.append(fb.binary_cross_entropy_with_logits(x, y, reduction="sum"))

    workers = [threading.Thread(target=compute) for _ in range(3)]
    for t in workers:
        t.start()
    try:
        for n in [1, 3, 2, 8, 1, 4] * 5:
            fb.set_num_threads(n)
    finally:
        stop.set()
        for t in workers:
            t.join(timeout=60)
        fb.set_num_threads(before)
    assert results, "no call completed"
    assert all(r == expected for r in results)


def _child_loss(queue, x, y):
    queue.put(float(fb.binary_cross_entropy_with_logits(x, y, reduction="sum")))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
def test_fork_after_the_pool_has_run():
    rng = np.random.default_rng(5)
    x = rng.standard_normal(500_000)
    y = rng.uniform(0, 1, 500_000)
    before = fb.get_num_threads()
    fb.set_num_threads(2)
    try:
        expected = float(fb.binary_cross_entropy_with_logits(x, y, reduction="sum"))  # pool now running
        ctx = mp.get_context("fork")
        queue = ctx.Queue()
        with warnings.catch_warnings():
            # Python 3.12+ warns that forking a multi-threaded process may deadlock: that is what
            # this test checks does not happen.
            warnings.simplefilter("ignore", DeprecationWarning)
            child = ctx.Process(target=_child_loss, args=(queue, x, y))
            child.start()
        got = queue.get(timeout=120)
        child.join(timeout=60)
    finally:
        fb.set_num_threads(before)
    assert child.exitcode == 0
    assert got == expected


def _layouts(base: np.ndarray):
    """The same 2-d values in different memory layouts."""
    yield "C", np.ascontiguousarray(base)
    yield "Fortran", np.asfortranarray(base)
    yield "transposed", np.ascontiguousarray(base.T).T
    yield "negative strides", np.ascontiguousarray(base[::-1, ::-1])[::-1, ::-1]
    big = np.zeros((base.shape[0] * 2, base.shape[1] * 3), base.dtype)
    big[::2, ::3] = base
    yield "stepped slice", big[::2, ::3]
    raw = np.zeros(base.size * base.itemsize + 1, np.uint8)
    unaligned = raw[1:].view(base.dtype).reshape(base.shape)
    unaligned[...] = base
    yield "unaligned", unaligned
    readonly = base.copy()
    readonly.flags.writeable = False
    yield "read-only", readonly


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_memory_layouts_give_identical_results(dtype, reduction):
    rng = np.random.default_rng(11)
    x0 = (rng.standard_normal((37, 29)) * 5).astype(dtype)
    y0 = rng.uniform(0, 1, (37, 29)).astype(dtype)
    w = rng.uniform(0, 2, (29,)).astype(dtype)
    ref_loss, ref_grad = fb.binary_cross_entropy_with_logits_value_and_grad(
        x0, y0, weight=w, reduction=reduction
    )
    for (name_x, x), (_, y) in zip(_layouts(x0), _layouts(y0)):
        x_before, y_before = x.tobytes(), y.tobytes()
        loss, grad = fb.binary_cross_entropy_with_logits_value_and_grad(x, y, weight=w, reduction=reduction)
        # Per element the same bits; a sum over another memory order adds the same float64
        # losses in another order (docs/DESIGN.md, "Reductions"): within a float64 ulp or two.
        if reduction == "none":
            assert np.asarray(loss).tobytes() == np.asarray(ref_loss).tobytes(), name_x
        else:
            np.testing.assert_allclose(loss, ref_loss, rtol=4 * np.finfo(np.float64).eps, err_msg=name_x)
        assert grad.tobytes() == ref_grad.tobytes(), name_x
        assert x.tobytes() == x_before and y.tobytes() == y_before, f"{name_x} input modified"


def test_memory_mapped_inputs(tmp_path):
    rng = np.random.default_rng(13)
    x0 = rng.uniform(0, 1, 5000)
    y0 = rng.uniform(0, 1, 5000)
    path_x, path_y = tmp_path / "x.npy", tmp_path / "y.npy"
    np.save(path_x, x0)
    np.save(path_y, y0)
    for mode in ["r", "r+", "c"]:
        x = np.load(path_x, mmap_mode=mode)
        y = np.load(path_y, mmap_mode=mode)
        loss, grad = fb.binary_cross_entropy_value_and_grad(x, y, reduction="sum")
        ref_loss, ref_grad = fb.binary_cross_entropy_value_and_grad(x0, y0, reduction="sum")
        assert loss == ref_loss and grad.tobytes() == ref_grad.tobytes()
        del x, y
    assert np.load(path_x).tobytes() == x0.tobytes()


def test_zero_d_and_empty():
    assert fb.binary_cross_entropy_with_logits(np.float32(0.0), np.float32(1.0)).dtype == np.float32
    assert np.isclose(fb.binary_cross_entropy_with_logits(0.0, 1.0), np.log(2.0), rtol=1e-15)
    empty = np.zeros((0, 4), np.float32)
    assert fb.binary_cross_entropy_with_logits(empty, empty, reduction="none").shape == (0, 4)
    assert fb.binary_cross_entropy_with_logits(empty, empty, reduction="sum") == 0.0
    assert np.isnan(fb.binary_cross_entropy_with_logits(empty, empty, reduction="mean"))
    assert fb.binary_cross_entropy_with_logits_grad(empty, empty).shape == (0, 4)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
def test_repeated_calls_do_not_leak():
    rng = np.random.default_rng(17)
    x = rng.standard_normal(256).astype(np.float32)
    y = rng.uniform(0, 1, 256).astype(np.float32)
    w = rng.uniform(0, 1, 256).astype(np.float32)

    def batch(k):
        for _ in range(k):
            fb.binary_cross_entropy_with_logits(x, y)
            fb.binary_cross_entropy_with_logits_value_and_grad(x, y, weight=w, reduction="none")
            try:
                fb.binary_cross_entropy(x, y)  # x has values outside [0, 1]: an error each time
            except ValueError:
                pass

    batch(2000)  # warm up allocators and caches
    start = _rss_bytes()
    batch(34_000)  # ~100,000 calls
    grown = _rss_bytes() - start
    assert grown < 16 * 2**20, f"resident memory grew by {grown / 2**20:.1f} MiB over 100,000 calls"


@pytest.mark.parametrize(
    "bad, exception, name",
    [
        ([[1.0, 2.0], [3.0]], ValueError, "input"),  # ragged list
        (np.array([1.0, "a"], dtype=object), TypeError, "input"),
        ([1 + 2j, 3 + 0j], TypeError, "input"),
    ],
)
def test_ragged_object_and_complex_inputs_are_refused_by_name(bad, exception, name):
    for call in (
        lambda: fb.binary_cross_entropy_with_logits(bad, [1.0, 0.0]),
        lambda: fb.binary_cross_entropy_with_logits_value_and_grad(bad, [1.0, 0.0]),
        lambda: fb.BCELoss()(bad, [1.0, 0.0]),
    ):
        with pytest.raises(exception, match=name):
            call()
