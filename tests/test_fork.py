"""Fork safety and bounded resources (docs/DESIGN.md, "Memory, threads and processes").

Forked children must compute, whatever other threads were doing at the fork: computing, changing
the thread count, or in the middle of a long call whose arrays the child then reads and writes.
Each scenario forks 300 children in a small process of its own (tests/forking.py); a child that
does not finish in time is killed and counted, so a hang fails the test instead of stalling it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import fastbce
import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
CHILDREN = 300

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")


def run_python(code: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=HERE,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize("scenario", ["computing", "changing-threads", "long-call"])
def test_forked_children_compute(scenario):
    done = subprocess.run(
        [sys.executable, str(HERE / "forking.py"), scenario, str(CHILDREN)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=HERE,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["children"] == CHILDREN
    assert (report["hung"], report["failed"]) == (0, 0), report


def test_outputs_own_their_memory():
    """No memory is kept behind the caller's back: a result owns its memory, and an array still
    viewing an earlier result is never overwritten by later calls (which a recycler of freed
    outputs did, when the owner at the end of the view's base chain was kept)."""
    rng = np.random.default_rng(1)
    n = 10_000_000  # 40 MB outputs, above the allocator's mmap threshold
    x = rng.standard_normal(n).astype(np.float32)
    y = rng.uniform(0, 1, n).astype(np.float32)
    first = fastbce.binary_cross_entropy_with_logits(x, y, reduction="none")
    assert first.flags.owndata and first.base is None
    view = first[::1000]
    snapshot = view.copy()
    del first
    for _ in range(4):
        later = fastbce.binary_cross_entropy_with_logits(-x, y, reduction="none")
        grad = fastbce.binary_cross_entropy_with_logits_grad(x, 1 - y)
        assert later.flags.owndata and grad.flags.owndata
        del later, grad
    np.testing.assert_array_equal(view, snapshot)


def test_no_threads_of_its_own_beside_the_pool():
    """Calls start no Python threads (nothing is purged or kept in the background)."""
    import threading

    before = {t.name for t in threading.enumerate()}
    x = np.zeros(10_000_000, np.float32)  # 40 MB outputs
    fastbce.binary_cross_entropy_with_logits_value_and_grad(x, x)
    assert {t.name for t in threading.enumerate()} == before


@pytest.mark.parametrize("n", [2**63, 2**64, 10**30, 0, -1])
def test_thread_counts_outside_the_cap_are_refused(n, restore_threads):
    before = fastbce.get_num_threads()
    with pytest.raises(ValueError, match=r"num_threads must be between 1 and \d+ \(4 per CPU\)"):
        fastbce.set_num_threads(n)
    assert fastbce.get_num_threads() == before


def test_thread_count_cap_is_four_per_cpu(restore_threads):
    cap = 4 * (os.cpu_count() or 1)
    assert fastbce._core.MAX_THREADS == cap
    fastbce.set_num_threads(cap)
    assert fastbce.get_num_threads() == cap
    fastbce.set_num_threads(np.int64(2))
    assert fastbce.get_num_threads() == 2


@pytest.mark.parametrize("n", [1.5, "2", None, True, np.float64(2.0)])
def test_thread_counts_that_are_not_integers_are_type_errors(n, restore_threads):
    with pytest.raises(TypeError, match="num_threads must be an integer"):
        fastbce.set_num_threads(n)


@pytest.mark.parametrize("value", ["99999999999999999999", "0", "-3", "two", "1e3", "100000"])
def test_bad_environment_thread_count_warns_and_imports(value):
    done = run_python(
        """
        import warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            import fastbce
        assert any("FASTBCE_NUM_THREADS" in str(w.message) for w in caught), caught
        import os, numpy as np
        assert 1 <= fastbce.get_num_threads() <= 4 * os.cpu_count()
        print(fastbce.binary_cross_entropy_with_logits(np.zeros(3), np.ones(3)))
        """,
        env={"FASTBCE_NUM_THREADS": value},
    )
    assert done.returncode == 0, done.stderr
    assert abs(float(done.stdout) - np.log(2)) < 1e-12


@pytest.mark.skipif(
    np.lib.NumpyVersion(np.__version__) < "2.0.0", reason="NumPy 1.x arrays have at most 32 dimensions"
)
def test_more_than_32_dimensions():
    """NumPy allows 64 dimensions; so do the kernels, with every operand (a weight of another
    dtype, a mask, an upstream gradient array)."""
    shape = (1,) * 30 + (3,) + (1,) * 20 + (2,) + (1,) * 11  # 63 dimensions
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape)
    y = rng.uniform(0, 1, shape)
    w = rng.uniform(0.5, 2, shape[-22:]).astype(np.float32)
    mask = rng.uniform(size=shape) < 0.7
    go = rng.standard_normal(shape)
    flat = {"weight": np.broadcast_to(w, shape).reshape(6), "mask": mask.reshape(6)}
    got = fastbce.binary_cross_entropy_with_logits(x, y, weight=w, mask=mask, reduction="none")
    want = fastbce.binary_cross_entropy_with_logits(x.reshape(6), y.reshape(6), reduction="none", **flat)
    np.testing.assert_array_equal(got.reshape(6), want)
    g = fastbce.binary_cross_entropy_with_logits_grad(
        x, y, weight=w, mask=mask, reduction="none", grad_output=go
    )
    g_flat = fastbce.binary_cross_entropy_with_logits_grad(
        x.reshape(6), y.reshape(6), reduction="none", grad_output=go.reshape(6), **flat
    )
    np.testing.assert_array_equal(g.reshape(6), g_flat)
    assert fastbce.binary_cross_entropy_with_logits(
        x, y, weight=w, mask=mask
    ) == fastbce.binary_cross_entropy_with_logits(x.reshape(6), y.reshape(6), **flat)


def test_overlap_check_is_bounded():
    """`out` and `grad_output` as views of one buffer in NumPy's hard stride pattern (where
    np.shares_memory searched for over a minute): refused at once, as sharing memory."""
    done = run_python(
        """
        import time
        import numpy as np
        from numpy.lib.stride_tricks import as_strided
        import fastbce
        buffer = np.zeros(192163377 // 4 + 100000, np.float32)  # 0.8 GB, never touched
        shape = (1049, 1049, 1049)
        out = as_strided(buffer, strides=(36672, 61116, 85568), shape=shape)
        grad_output = as_strided(buffer[64023025 // 4:], strides=(12224, 12224, 4), shape=shape)
        x = np.broadcast_to(np.float32(0.5), shape)
        start = time.monotonic()
        try:
            fastbce.binary_cross_entropy_with_logits_grad(
                x, x, reduction="none", grad_output=grad_output, out=out
            )
        except ValueError as error:
            assert "shares memory" in str(error), error
        else:
            raise AssertionError("overlapping out accepted")
        print(time.monotonic() - start)
        """,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert float(done.stdout) < 1.0


@pytest.mark.parametrize("x", [0.5, -2.0, 30.0, -30.0])
def test_float32_input_gradient_of_huge_targets_is_the_float64_one(x):
    """Targets beyond float32's usual range (the with-logits loss accepts any real target): the
    float32 gradient is the float64 one rounded, not NaN."""
    y = np.array([3e38, -3e38, 3.4e38, np.inf, -np.inf, 1e30, -1e30, 2.0, -1.0], np.float32)
    x32 = np.full(y.shape, x, np.float32)
    for wrt in ("input", "target"):
        got = fastbce.binary_cross_entropy_with_logits_grad(x32, y, reduction="none", wrt=wrt)
        want = fastbce.binary_cross_entropy_with_logits_grad(
            x32.astype(np.float64), y.astype(np.float64), reduction="none", wrt=wrt
        )
        with np.errstate(over="ignore"):
            np.testing.assert_array_equal(got, want.astype(np.float32), err_msg=wrt)
    assert not np.isnan(fastbce.binary_cross_entropy_with_logits_grad(x32, y, reduction="none")).any()


@pytest.mark.parametrize("bad", [np.array([True, False]), [True], "yes", 0.5])
@pytest.mark.parametrize("argument", ["size_average", "reduce"])
def test_legacy_arguments_must_be_flags(argument, bad):
    with pytest.raises(TypeError, match=f"{argument} must be True, False or None"):
        fastbce.binary_cross_entropy_with_logits(np.zeros(2), np.zeros(2), **{argument: bad})
    with pytest.raises(TypeError, match=f"{argument} must be True, False or None"):
        fastbce.BCELoss(**{argument: bad})
