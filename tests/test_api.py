"""The public API: names, signatures, the functional module, thread control (and
FASTBCE_NUM_THREADS at import), the legacy size_average/reduce arguments, the classes."""

from __future__ import annotations

import importlib
import inspect
import itertools
import os
import platform
import subprocess
import sys
import types
from pathlib import Path

import fastbce
import numpy as np
import pytest
from conftest import (
    CASE_NAMES,
    FUNCTIONS,
    LOGITS,
    PROBS,
    assert_close,
    assert_identical,
    legacy_warning_pattern,
    load_case,
    optional_import,
    reference,
)

FUNCTION_NAMES = [
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits_grad",
    "binary_cross_entropy_grad",
    "binary_cross_entropy_with_logits_value_and_grad",
    "binary_cross_entropy_value_and_grad",
]
CLASS_NAMES = ["BCEWithLogitsLoss", "BCELoss"]
CLASSES = {LOGITS: fastbce.BCEWithLogitsLoss, PROBS: fastbce.BCELoss}

# Parameter names and defaults, as the functions' docstrings give them (torch's order first).
SIGNATURES = {
    "binary_cross_entropy_with_logits": [
        ("input", inspect.Parameter.empty),
        ("target", inspect.Parameter.empty),
        ("weight", None),
        ("size_average", None),
        ("reduce", None),
        ("reduction", "mean"),
        ("pos_weight", None),
    ],
    "binary_cross_entropy": [
        ("input", inspect.Parameter.empty),
        ("target", inspect.Parameter.empty),
        ("weight", None),
        ("size_average", None),
        ("reduce", None),
        ("reduction", "mean"),
    ],
    "binary_cross_entropy_with_logits_grad": [
        ("input", inspect.Parameter.empty),
        ("target", inspect.Parameter.empty),
        ("weight", None),
        ("pos_weight", None),
        ("reduction", "mean"),
        ("grad_output", 1.0),
        ("wrt", "input"),
    ],
    "binary_cross_entropy_grad": [
        ("input", inspect.Parameter.empty),
        ("target", inspect.Parameter.empty),
        ("weight", None),
        ("reduction", "mean"),
        ("grad_output", 1.0),
        ("wrt", "input"),
    ],
    "binary_cross_entropy_with_logits_value_and_grad": [
        ("input", inspect.Parameter.empty),
        ("target", inspect.Parameter.empty),
        ("weight", None),
        ("pos_weight", None),
        ("reduction", "mean"),
        ("grad_output", 1.0),
        ("wrt", "input"),
    ],
    "binary_cross_entropy_value_and_grad": [
        ("input", inspect.Parameter.empty),
        ("target", inspect.Parameter.empty),
        ("weight", None),
        ("reduction", "mean"),
        ("grad_output", 1.0),
        ("wrt", "input"),
    ],
}
CLASS_SIGNATURES = {
    "BCEWithLogitsLoss": [
        ("weight", None),
        ("size_average", None),
        ("reduce", None),
        ("reduction", "mean"),
        ("pos_weight", None),
    ],
    "BCELoss": [("weight", None), ("size_average", None), ("reduce", None), ("reduction", "mean")],
}


# Keyword-only, after torch's parameters: the pipeline arguments, whose defaults leave a call as torch's.
PIPELINE_PARAMETERS = [
    ("mask", None),
    ("label_smoothing", 0.0),
    ("axis", None),
    ("keepdims", False),
    ("out", None),
    ("nan_policy", "propagate"),
]
CLASS_PIPELINE_PARAMETERS = [("label_smoothing", 0.0), ("nan_policy", "propagate")]


def parameters(obj, keyword_only: bool = False) -> list:
    params = list(inspect.signature(obj).parameters.values())
    return [
        (p.name, p.default)
        for p in params
        if p.name != "self" and (p.kind == inspect.Parameter.KEYWORD_ONLY) == keyword_only
    ]


@pytest.mark.parametrize("name", FUNCTION_NAMES)
def test_functions_exist_with_signatures(name):
    f = getattr(fastbce, name)
    assert callable(f)
    assert parameters(f) == SIGNATURES[name]
    assert parameters(f, keyword_only=True) == PIPELINE_PARAMETERS


@pytest.mark.parametrize("name", CLASS_NAMES)
def test_classes_exist_with_signatures(name):
    cls = getattr(fastbce, name)
    assert isinstance(cls, type)
    assert parameters(cls.__init__) == CLASS_SIGNATURES[name]
    assert parameters(cls.__init__, keyword_only=True) == CLASS_PIPELINE_PARAMETERS
    for method in ("__call__", "forward", "grad", "value_and_grad"):
        assert callable(getattr(cls, method))
    assert parameters(cls.forward) == [
        ("input", inspect.Parameter.empty),
        ("target", inspect.Parameter.empty),
    ]
    expected = [
        ("input", inspect.Parameter.empty),
        ("target", inspect.Parameter.empty),
        ("grad_output", 1.0),
        ("wrt", "input"),
    ]
    assert parameters(cls.grad) == expected
    assert parameters(cls.value_and_grad) == expected


def test_thread_functions_exist():
    assert callable(fastbce.set_num_threads)
    assert callable(fastbce.get_num_threads)
    n = fastbce.get_num_threads()
    assert type(n) is int and n >= 1


def test_functional_module():
    functional = importlib.import_module("fastbce.functional")
    assert isinstance(functional, types.ModuleType)
    assert fastbce.functional is functional
    from fastbce import functional as F

    assert F is functional
    rng = np.random.default_rng(0)
    x = rng.uniform(0.05, 0.95, (4, 3))
    y = rng.uniform(0, 1, (4, 3))
    for name in FUNCTION_NAMES:
        g = getattr(functional, name)
        assert callable(g)
        assert parameters(g) == SIGNATURES[name]
        kw = {"reduction": "none"}
        a = g(x, y, **kw)
        b = getattr(fastbce, name)(x, y, **kw)
        if isinstance(a, tuple):
            for u, v in zip(a, b):
                assert_identical(u, v)
        else:
            assert_identical(a, b)


def test_package_ships_type_information():
    package = Path(fastbce.__file__).parent
    assert (package / "py.typed").is_file()


@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_set_and_get_num_threads(n, restore_threads):
    fastbce.set_num_threads(n)
    assert fastbce.get_num_threads() == n
    # results are unaffected
    x = np.linspace(-5, 5, 1001)
    y = np.linspace(0, 1, 1001)
    assert_close(fastbce.binary_cross_entropy_with_logits(x, y), reference(LOGITS, x, y)[0], np.float64)


def run_python(
    code: str, env_threads: str | None, env_simd: str | None = None
) -> subprocess.CompletedProcess:
    """Runs `code` in a fresh interpreter with FASTBCE_NUM_THREADS and FASTBCE_SIMD as given (unset
    where None)."""
    env = dict(os.environ)
    for name, value in (("FASTBCE_NUM_THREADS", env_threads), ("FASTBCE_SIMD", env_simd)):
        env.pop(name, None)
        if value is not None:
            env[name] = value
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("value", ["1", "3", "5"])
def test_env_num_threads_read_at_import(value):
    code = (
        "import numpy as np, fastbce\n"
        "print(fastbce.get_num_threads())\n"
        "x = np.linspace(-3, 3, 200001); y = np.linspace(0, 1, 200001)\n"
        "print(repr(float(fastbce.binary_cross_entropy_with_logits(x, y))))\n"
    )
    out = run_python(code, value)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split()
    assert int(lines[0]) == int(value)
    x = np.linspace(-3, 3, 200001)
    y = np.linspace(0, 1, 200001)
    assert float(lines[1]) == float(fastbce.binary_cross_entropy_with_logits(x, y))


def test_without_env_var_a_positive_thread_count():
    out = run_python("import fastbce; print(fastbce.get_num_threads())", None)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) >= 1


def test_simd_level_names_a_level_this_cpu_has():
    level = fastbce.simd_level()
    assert level in fastbce._core.simd_levels()
    # Without a cap, the best one.
    out = run_python("import fastbce; print(fastbce.simd_level())", None)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == fastbce._core.simd_levels()[-1]


@pytest.mark.parametrize("cap", ["scalar", "baseline"])
def test_env_simd_caps_the_level(cap):
    code = (
        "import numpy as np, fastbce\n"
        "print(fastbce.simd_level())\n"
        "x = np.linspace(-30, 30, 100001); y = np.linspace(0, 1, 100001)\n"
        "print(repr(float(fastbce.binary_cross_entropy_with_logits(x, y))))\n"
    )
    out = run_python(code, None, env_simd=cap)
    assert out.returncode == 0, out.stderr
    level, mean = out.stdout.split()
    baseline_name = "neon" if platform.machine().lower() in ("arm64", "aarch64") else "baseline"
    assert level == {"scalar": "scalar", "baseline": baseline_name}[cap]
    x = np.linspace(-30, 30, 100001)
    y = np.linspace(0, 1, 100001)
    assert_close(float(mean), reference(LOGITS, x, y)[0], np.float64)


# --------------------------------------------------------------------------------------------
# Legacy size_average / reduce
# --------------------------------------------------------------------------------------------

LEGACY = list(itertools.product([None, True, False], repeat=2))


def legacy_problem(function: str):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((6, 3)) if function == LOGITS else rng.uniform(0.05, 0.95, (6, 3))
    y = rng.uniform(0, 1, (6, 3))
    w = rng.uniform(0, 2, (3,))
    return x, y, w


# torch's _Reduction.legacy_get_string, spelled out (None counts as true).
LEGACY_TABLE = {
    (True, True): "mean",
    (True, None): "mean",
    (None, True): "mean",
    (False, True): "sum",
    (False, None): "sum",
    (True, False): "none",
    (None, False): "none",
    (False, False): "none",
}


def test_legacy_mapping_table():
    """fastbce maps each legacy pair as torch's table does (the recorded PyTorch calls that used
    the legacy arguments agree with it), whatever `reduction` says beside them."""
    recorded = [load_case(n).meta for n in CASE_NAMES if not load_case(n).meta["reduction_given"]]
    assert recorded, "no recorded call used the legacy arguments"
    for meta in recorded:
        pair = (meta["size_average"], meta["reduce"])
        if pair != (None, None):  # both None: not legacy, in torch as here
            assert LEGACY_TABLE[pair] == meta["reduction"], pair
    x, y = np.array([0.5, -1.0, 2.0]), np.array([1.0, 0.0, 1.0])
    for (size_average, reduce), want in LEGACY_TABLE.items():
        expected = fastbce.binary_cross_entropy_with_logits(x, y, reduction=want)
        for reduction in ("mean", "none"):
            with pytest.warns(UserWarning, match=legacy_warning_pattern(want)):
                got = fastbce.binary_cross_entropy_with_logits(
                    x, y, size_average=size_average, reduce=reduce, reduction=reduction
                )
            assert_identical(got, expected)


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("size_average,reduce", LEGACY, ids=[f"sa={a}-reduce={b}" for a, b in LEGACY])
def test_legacy_arguments_functions(size_average, reduce, function):
    x, y, w = legacy_problem(function)
    f = getattr(fastbce, function)
    expected = LEGACY_TABLE.get((size_average, reduce), "mean")  # neither given: the default
    want = f(x, y, weight=w, reduction=expected)
    assert_close(want, reference(function, x, y, w, None, expected)[0], np.float64)
    other = "none" if expected != "none" else "sum"
    if size_average is None and reduce is None:
        # not given: no warning (filterwarnings=error), and `reduction` decides, as in torch
        got = f(x, y, weight=w, size_average=None, reduce=None)
        assert_identical(got, want)
        got_other = f(x, y, weight=w, size_average=None, reduce=None, reduction=other)
        assert_identical(got_other, f(x, y, weight=w, reduction=other))
        return
    with pytest.warns(UserWarning, match=legacy_warning_pattern(expected)):
        got = f(x, y, weight=w, size_average=size_average, reduce=reduce)
    assert_identical(got, want)
    # the legacy arguments override `reduction`
    with pytest.warns(UserWarning, match=legacy_warning_pattern(expected)):
        got = f(x, y, weight=w, size_average=size_average, reduce=reduce, reduction=other)
    assert_identical(got, want)
    # positionally, in torch's order: input, target, weight, size_average, reduce, reduction
    with pytest.warns(UserWarning):
        got = f(x, y, w, size_average, reduce, other)
    assert_identical(got, want)


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("size_average,reduce", LEGACY, ids=[f"sa={a}-reduce={b}" for a, b in LEGACY])
def test_legacy_arguments_modules(size_average, reduce, function):
    x, y, w = legacy_problem(function)
    cls = CLASSES[function]
    expected = LEGACY_TABLE.get((size_average, reduce), "mean")  # neither given: the default
    other = "none" if expected != "none" else "sum"
    if size_average is None and reduce is None:
        crit = cls(weight=w, size_average=None, reduce=None)
        assert crit.reduction == "mean"
        crit = cls(weight=w, size_average=None, reduce=None, reduction=other)
        assert crit.reduction == other
        return
    with pytest.warns(UserWarning, match=legacy_warning_pattern(expected)):
        crit = cls(weight=w, size_average=size_average, reduce=reduce, reduction=other)
    assert crit.reduction == expected
    # converted once, at construction: calls do not warn (filterwarnings=error)
    got = crit(x, y)
    assert_identical(got, getattr(fastbce, function)(x, y, weight=w, reduction=expected))
    assert_identical(crit.forward(x, y), got)
    go = np.ones(x.shape) if expected == "none" else 1.0
    _, ref_gx, ref_gy = reference(function, x, y, w, None, expected, go)
    assert_close(crit.grad(x, y, grad_output=go), ref_gx, np.float64)
    assert_close(crit.value_and_grad(x, y, grad_output=go, wrt="target")[1], ref_gy, np.float64)


# --------------------------------------------------------------------------------------------
# Classes
# --------------------------------------------------------------------------------------------


def test_class_attribute_defaults():
    crit = fastbce.BCEWithLogitsLoss()
    assert crit.weight is None and crit.pos_weight is None and crit.reduction == "mean"
    crit = fastbce.BCELoss()
    assert crit.weight is None and crit.reduction == "mean"


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_class_attributes_given(reduction):
    w = np.array([1.0, 2.0, 0.5])
    pw = np.array([3.0, 1.0, 0.25])
    crit = fastbce.BCEWithLogitsLoss(weight=w, pos_weight=pw, reduction=reduction)
    assert crit.reduction == reduction
    np.testing.assert_array_equal(np.asarray(crit.weight), w)
    np.testing.assert_array_equal(np.asarray(crit.pos_weight), pw)
    crit2 = fastbce.BCELoss(weight=w, reduction=reduction)
    assert crit2.reduction == reduction
    np.testing.assert_array_equal(np.asarray(crit2.weight), w)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("function", FUNCTIONS)
def test_class_matches_functions(function, reduction):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((5, 4)) if function == LOGITS else rng.uniform(0.05, 0.95, (5, 4))
    y = rng.uniform(0, 1, (5, 4)).astype(np.float32)
    x = x.astype(np.float32)
    w = rng.uniform(0, 2, (4,)).astype(np.float32)
    kw = {"weight": w}
    if function == LOGITS:
        kw["pos_weight"] = rng.uniform(0.5, 3, (4,)).astype(np.float32)
    crit = CLASSES[function](reduction=reduction, **kw)
    f = getattr(fastbce, function)
    fg = getattr(fastbce, function + "_grad")
    fv = getattr(fastbce, function + "_value_and_grad")
    go = rng.uniform(-1, 1, (5, 4)).astype(np.float32) if reduction == "none" else 2.0
    assert_identical(crit(x, y), f(x, y, reduction=reduction, **kw))
    assert_identical(crit.forward(x, y), f(x, y, reduction=reduction, **kw))
    for wrt in ("input", "target"):
        assert_identical(
            crit.grad(x, y, grad_output=go, wrt=wrt),
            fg(x, y, reduction=reduction, grad_output=go, wrt=wrt, **kw),
        )
        loss, g = crit.value_and_grad(x, y, grad_output=go, wrt=wrt)
        loss2, g2 = fv(x, y, reduction=reduction, grad_output=go, wrt=wrt, **kw)
        assert_identical(loss, loss2)
        assert_identical(g, g2)
    ref_loss, ref_gx, _ = reference(function, x, y, w, kw.get("pos_weight"), reduction, go)
    assert_close(crit(x, y), ref_loss, np.float32)
    assert_close(crit.grad(x, y, grad_output=go), ref_gx, np.float32)


def test_value_and_grad_defaults_are_mean_and_input():
    x = np.array([[0.5, -1.0], [2.0, 0.0]])
    y = np.array([[1.0, 0.0], [0.25, 1.0]])
    loss, g = fastbce.binary_cross_entropy_with_logits_value_and_grad(x, y)
    ref_loss, ref_gx, _ = reference(LOGITS, x, y)
    assert type(loss) is np.float64
    assert_close(loss, ref_loss, np.float64)
    assert_close(g, ref_gx, np.float64)
    p = np.array([0.2, 0.9])
    t = np.array([0.0, 1.0])
    loss, g = fastbce.binary_cross_entropy_value_and_grad(p, t)
    ref_loss, ref_gx, _ = reference(PROBS, p, t)
    assert_close(loss, ref_loss, np.float64)
    assert_close(g, ref_gx, np.float64)


def test_flat_lists_of_weights_are_the_arrays_they_convert_to():
    """A flat list of numbers for weight or pos_weight (read by the binding, without NumPy's
    conversion) gives the bits NumPy's array of it gives; anything else in a list is refused."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 4)).astype(np.float32)
    y = rng.uniform(0, 1, (6, 4)).astype(np.float32)
    w = [0.3, 1.0, 2.5, 1e-3]
    pw = [1.5, 2.0, 0.1, 7.25]
    for kw in ({"weight": w}, {"pos_weight": pw}, {"weight": w, "pos_weight": pw}):
        as_arrays = {k: np.array(v) for k, v in kw.items()}
        for reduction in ("none", "mean", "sum", "weighted_mean"):
            got = fastbce.binary_cross_entropy_with_logits(x, y, reduction=reduction, **kw)
            assert_identical(
                got, fastbce.binary_cross_entropy_with_logits(x, y, reduction=reduction, **as_arrays)
            )
        got = fastbce.binary_cross_entropy_with_logits_value_and_grad(x, y, reduction="none", **kw)
        want = fastbce.binary_cross_entropy_with_logits_value_and_grad(x, y, reduction="none", **as_arrays)
        assert_identical(got[1], want[1])
    for bad in ([1.5, "a", 1.0, 1.0], [1.5, [1.0], 2.0, 1.0], [1.5, None, 1.0, 1.0]):
        with pytest.raises(TypeError, match="weight must hold real numbers"):
            fastbce.binary_cross_entropy_with_logits(x, y, weight=bad)
    with pytest.raises(ValueError, match=r"weight of shape \(2,\) does not broadcast"):
        fastbce.binary_cross_entropy_with_logits(x, y, weight=[1.5, 2.0])


def test_public_api_has_numpydoc_docstrings():
    """help() answers what the README answers: every public function and class documents its
    parameters, what it returns (classes: their attributes or methods) and what it raises."""
    import doctest

    import fastbce.accumulator

    documented = [getattr(fastbce, name) for name in fastbce.__all__ if name not in ("functional", "metrics")]
    optional_import("dask")
    import fastbce.dask

    documented += [getattr(fastbce.dask, name) for name in fastbce.dask.__all__]
    for obj in documented:
        doc = inspect.getdoc(obj) or ""
        name = getattr(obj, "__qualname__", repr(obj))
        if obj in (fastbce.get_num_threads, fastbce.simd_level):
            assert "Returns\n" in doc, name
            continue
        assert "Parameters\n----------\n" in doc, name
        assert "Raises\n------\n" in doc, name
        if isinstance(obj, type):
            assert "Methods\n-------\n" in doc or "Attributes\n----------\n" in doc, name
        else:
            assert "Returns\n-------\n" in doc, name
    assert doctest.testmod(fastbce.accumulator).failed == 0
