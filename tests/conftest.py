"""Shared helpers for the fastbce test suite.

- the recorded PyTorch 2.13 conformance cases (``fixtures/torch-2.13``),
- the tolerances those cases are checked at,
- an independent float64 NumPy reference of both losses and their gradients, written straight from
  the formulas of docs/DESIGN.md, with no code shared with the package.
"""

from __future__ import annotations

import functools
import importlib
import json
import math
import os
import re
import zlib
from pathlib import Path
from typing import Any, Iterator, NamedTuple

import numpy as np
import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "torch-2.13"
CASE_FILES = sorted(FIXTURES.glob("case_*.npz"))
CASE_NAMES = [p.name for p in CASE_FILES]
EXPECTED_CASE_COUNT = 603

LOGITS = "binary_cross_entropy_with_logits"
PROBS = "binary_cross_entropy"
FUNCTIONS = (LOGITS, PROBS)
REDUCTIONS = ("none", "mean", "sum")

# What an accurate implementation meets on every recorded case (fixtures README).
TOLERANCES = {
    np.dtype(np.float32): {"rtol": 2e-5, "atol": 1e-6},
    np.dtype(np.float64): {"rtol": 1e-10, "atol": 1e-12},
}
# float16 results are computed in float32 and rounded once more to float16.
FLOAT16_TOLERANCE = {"rtol": 2e-3, "atol": 1e-4}

# torch's clamp of the denominator of the BCE input gradient: 1e-12 rounded to float32.
BCE_EPS = float(np.float32(1e-12))


def tolerance(dtype: Any) -> dict[str, float]:
    dtype = np.dtype(dtype)
    if dtype == np.float16:
        return dict(FLOAT16_TOLERANCE)
    return dict(TOLERANCES[dtype])


def assert_close(actual: Any, expected: Any, dtype: Any, err_msg: str = "") -> None:
    """Values at the tolerance of ``dtype``, NaN equal to NaN, shapes equal."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{err_msg}: shape {actual.shape} != {expected.shape}"
    if np.dtype(dtype) == np.float16:
        # the correctly rounded float16 value (beyond 65504 that is inf)
        with np.errstate(over="ignore"):
            expected = expected.astype(np.float16)
    np.testing.assert_allclose(
        actual.astype(np.float64),
        expected.astype(np.float64),
        equal_nan=True,
        err_msg=err_msg,
        **tolerance(dtype),
    )


def assert_identical(actual: Any, expected: Any, err_msg: str = "") -> None:
    """Same dtype, same shape, same bits (NaN payloads aside)."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.dtype == expected.dtype, f"{err_msg}: dtype {actual.dtype} != {expected.dtype}"
    assert actual.shape == expected.shape, f"{err_msg}: shape {actual.shape} != {expected.shape}"
    # dtype and shape are checked above, so this needs no strict=True (NumPy >= 1.24 only)
    np.testing.assert_array_equal(actual, expected, err_msg=err_msg)


def shape_pattern(shape: tuple[int, ...]) -> str:
    """A regex matching a shape written as a tuple ``(2, 3)``/``(3,)`` or a list ``[2, 3]``."""
    inner = r"\s*,\s*".join(str(d) for d in shape)
    return r"[\(\[]\s*" + inner + r"\s*,?\s*[\)\]]"


def message_names_shape(message: str, shape: tuple[int, ...]) -> bool:
    return re.search(shape_pattern(shape), message) is not None


# --------------------------------------------------------------------------------------------
# Recorded PyTorch cases
# --------------------------------------------------------------------------------------------


class Case(NamedTuple):
    name: str
    meta: dict[str, Any]
    arrays: dict[str, np.ndarray]

    @property
    def function(self) -> str:
        return self.meta["function"]

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.meta["dtype"])

    @property
    def reduction(self) -> str:
        return self.meta["reduction"]

    def get(self, key: str) -> np.ndarray | None:
        return self.arrays.get(key)

    def weight_kwargs(self) -> dict[str, np.ndarray]:
        return {k: self.arrays[k] for k in ("weight", "pos_weight") if k in self.arrays}


@functools.cache
def load_case(name: str) -> Case:
    with np.load(FIXTURES / name) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays.pop("meta")))
    for a in arrays.values():
        a.flags.writeable = False  # shared between tests through the cache
    return Case(name, meta, arrays)


@functools.cache
def load_json(name: str) -> Any:
    with open(FIXTURES / name) as f:
        return json.load(f)


def legacy_warning_pattern(reduction: str) -> str:
    """The legacy UserWarning names the replacement, as torch's does
    ("... please use reduction='mean' instead.")."""
    return r"reduction\s*=\s*['\"]?" + reduction


# --------------------------------------------------------------------------------------------
# float64 reference (docs/DESIGN.md, "Formulas")
# --------------------------------------------------------------------------------------------


def _f64(a: Any) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def logits_elementwise(
    x: Any, y: Any, weight: Any = None, pos_weight: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-element (loss, d loss/d x, d loss/d y) of BCE with logits, in float64.

    e = exp(-|x|), sp = log1p(e), lw = 1 + (pw - 1) y
    loss = w [ (x >= 0 ? x (1 - y) : -x pw y) + lw sp ]
    dx   = w [ (1 - y) sigma(x) - pw y sigma(-x) ]
    dy   = w [ -x - (pw - 1) logsigma(x) ],  logsigma(x) = min(x, 0) - sp
    At x = +-inf the products inf * 0 are taken as their limit 0.
    """
    x = _f64(x)
    y = _f64(y)
    shape = x.shape
    w = np.ones(shape) if weight is None else np.broadcast_to(_f64(weight), shape)
    pw = np.ones(shape) if pos_weight is None else np.broadcast_to(_f64(pos_weight), shape)
    with np.errstate(all="ignore"):
        e = np.exp(-np.abs(x))
        sp = np.log1p(e)
        lw = (1.0 - y) + pw * y  # = 1 + (pw - 1) y, without its cancellation for small pw
        pos = x >= 0
        one_minus_y = 1.0 - y
        neg_coef = pw * y
        linear = np.where(
            pos,
            np.where(one_minus_y == 0, 0.0, x * one_minus_y),
            np.where(neg_coef == 0, 0.0, -x * neg_coef),
        )
        # NaN inputs stay NaN (the zero shortcut above must not hide them)
        linear = np.where(np.isnan(x), np.nan, linear)
        loss = w * (linear + lw * sp)
        sig_pos = np.where(pos, 1.0 / (1.0 + e), e / (1.0 + e))  # sigma(x)
        sig_neg = np.where(pos, e / (1.0 + e), 1.0 / (1.0 + e))  # sigma(-x)
        dx = w * (one_minus_y * sig_pos - pw * y * sig_neg)
        # -x - (pw - 1)(min(x, 0) - sp), arranged so that x = -inf gives +inf rather than NaN
        dy = w * np.where(pos, -x + (pw - 1.0) * sp, -pw * x + (pw - 1.0) * sp)
    return loss, dx, dy


def probs_elementwise(p: Any, y: Any, weight: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-element (loss, d loss/d p, d loss/d y) of BCE on probabilities, in float64.

    loss = w [ (y - 1) max(log1p(-p), -100) - y max(log p, -100) ]
    dp   = w (p - y) / max(p (1 - p), eps),  eps = float32(1e-12)
    dy   = w (log1p(-p) - log p)           (no clamp)
    """
    p = _f64(p)
    y = _f64(y)
    shape = p.shape
    w = np.ones(shape) if weight is None else np.broadcast_to(_f64(weight), shape)
    with np.errstate(all="ignore"):
        log_p = np.log(p)
        log_1mp = np.log1p(-p)
        loss = w * ((y - 1.0) * np.maximum(log_1mp, -100.0) - y * np.maximum(log_p, -100.0))
        dp = w * (p - y) / np.maximum(p * (1.0 - p), BCE_EPS)
        dy = w * (log_1mp - log_p)
    return loss, dp, dy


def elementwise(
    function: str, x: Any, y: Any, weight: Any = None, pos_weight: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if function == LOGITS:
        return logits_elementwise(x, y, weight, pos_weight)
    assert pos_weight is None
    return probs_elementwise(x, y, weight)


def exact_sum(values: np.ndarray) -> float:
    return math.fsum(np.asarray(values, dtype=np.float64).ravel().tolist())


def reference(
    function: str,
    x: Any,
    y: Any,
    weight: Any = None,
    pos_weight: Any = None,
    reduction: str = "mean",
    grad_output: Any = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(loss, grad_input, grad_target) in float64; the gradients are those of
    ``sum(loss * grad_output)``. mean/sum losses are 0-d arrays."""
    x = _f64(x)
    loss, dx, dy = elementwise(function, x, y, weight, pos_weight)
    go = _f64(grad_output)
    with np.errstate(all="ignore"):
        if reduction == "none":
            go = np.broadcast_to(go, x.shape)
            return loss, dx * go, dy * go
        assert go.ndim == 0
        n = x.size
        if reduction == "sum":
            return np.array(exact_sum(loss)), dx * go, dy * go
        assert reduction == "mean"
        mean = exact_sum(loss) / n if n else math.nan
        scale = go / n if n else go
        return np.array(mean), dx * scale, dy * scale


def reference_loss(function: str, *args: Any, **kwargs: Any) -> np.ndarray:
    return reference(function, *args, **kwargs)[0]


# --------------------------------------------------------------------------------------------
# Random data
# --------------------------------------------------------------------------------------------


def random_logits(rng: np.random.Generator, shape: tuple[int, ...], scale: float = 4.0) -> np.ndarray:
    return rng.standard_normal(shape) * scale


def random_probs(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.uniform(0.0, 1.0, shape)


def random_input(rng: np.random.Generator, function: str, shape: tuple[int, ...]) -> np.ndarray:
    return random_logits(rng, shape) if function == LOGITS else random_probs(rng, shape)


def random_target(rng: np.random.Generator, shape: tuple[int, ...], soft: bool = True) -> np.ndarray:
    if soft:
        return rng.uniform(0.0, 1.0, shape)
    return rng.integers(0, 2, shape).astype(np.float64)


# --------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------


@pytest.fixture
def restore_threads():
    """Restores fastbce's thread count after a test that changes it."""
    import fastbce

    old = fastbce.get_num_threads()
    yield old
    fastbce.set_num_threads(old)


def _simd_levels() -> list[str]:
    import fastbce

    return list(fastbce._core.simd_levels())


def each_simd_level() -> Iterator[str]:
    """Sets each instruction-set level this CPU has in turn, yielding its name, and restores the
    level in use: for a test that checks many values at every level in one item (pytest's cost
    per item is larger than a small call's)."""
    import fastbce

    previous = fastbce.simd_level()
    try:
        for level in _simd_levels():
            assert fastbce._core.set_simd_level(level) == level
            yield level
    finally:
        fastbce._core.set_simd_level(previous)


@pytest.fixture(params=_simd_levels())
def simd_level(request):
    """Runs a test at each instruction-set level this CPU has: the reference path ("scalar"), the
    portable kernels ("baseline") and the vectorised ones ("avx2", "avx512"); restores the level."""
    import fastbce

    previous = fastbce.simd_level()
    assert fastbce._core.set_simd_level(request.param) == request.param
    yield request.param
    fastbce._core.set_simd_level(previous)


@pytest.fixture
def rng(request) -> np.random.Generator:
    """A generator seeded from the test's id, so that every test is reproducible on its own."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


def optional_import(name: str) -> Any:
    """Imports an optional test dependency: skips the module's tests where it is missing, unless
    FASTBCE_REQUIRE_OPTIONAL=1 (the README's test command and CI), where a missing one fails."""
    if os.environ.get("FASTBCE_REQUIRE_OPTIONAL") == "1":
        return importlib.import_module(name)
    return pytest.importorskip(name)
