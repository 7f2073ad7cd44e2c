"""fastbce against what PyTorch 2.13 returned (fixtures/torch-2.13, made by its generate.py), at
every instruction-set level this CPU has.

Every recorded case is checked through the functions (loss, gradient with respect to input and to
target, value-and-gradient) and through the classes. ``errors.json`` holds inputs PyTorch refuses;
``limits.json`` the exact limits at +-inf logits (where PyTorch returns NaN).
"""

from __future__ import annotations

import math
from typing import Any

import fastbce
import numpy as np
import pytest
from conftest import (
    CASE_NAMES,
    EXPECTED_CASE_COUNT,
    LOGITS,
    PROBS,
    Case,
    assert_close,
    each_simd_level,
    legacy_warning_pattern,
    load_case,
    load_json,
    message_names_shape,
)

CLASSES = {LOGITS: fastbce.BCEWithLogitsLoss, PROBS: fastbce.BCELoss}


def test_all_cases_present():
    assert len(CASE_NAMES) == EXPECTED_CASE_COUNT


def uses_legacy(case: Case) -> bool:
    return not case.meta["reduction_given"]


def legacy_warns(case: Case) -> bool:
    """torch warns (and maps) only when one of size_average/reduce is given."""
    return case.meta["size_average"] is not None or case.meta["reduce"] is not None


def check(actual: Any, case: Case, key: str, what: str) -> None:
    expected = case.arrays[key]
    actual_array = np.asarray(actual)
    assert actual_array.dtype == case.dtype, f"{what}: dtype {actual_array.dtype} != {case.dtype}"
    assert actual_array.shape == expected.shape, f"{what}: shape {actual_array.shape} != {expected.shape}"
    if key == "loss" and case.reduction != "none":
        assert isinstance(actual, np.generic), f"{what}: a mean/sum is a NumPy scalar, got {type(actual)}"
    assert_close(actual_array, expected, case.dtype, err_msg=f"{case.name} {what}")


def call_loss(case: Case) -> Any:
    f = getattr(fastbce, case.function)
    x, y = case.arrays["input"], case.arrays["target"]
    kwargs = case.weight_kwargs()
    if not uses_legacy(case):
        return f(x, y, reduction=case.reduction, **kwargs)
    legacy = {"size_average": case.meta["size_average"], "reduce": case.meta["reduce"]}
    if legacy_warns(case):
        with pytest.warns(UserWarning, match=legacy_warning_pattern(case.reduction)):
            return f(x, y, **legacy, **kwargs)
    # size_average=None and reduce=None is the default call: no warning (as in torch), reduction
    # from the `reduction` argument's default ("mean"). filterwarnings=error fails on any warning.
    return f(x, y, **legacy, **kwargs)


def make_criterion(case: Case) -> Any:
    cls = CLASSES[case.function]
    kwargs: dict[str, Any] = case.weight_kwargs()
    if not uses_legacy(case):
        return cls(reduction=case.reduction, **kwargs)
    legacy = {"size_average": case.meta["size_average"], "reduce": case.meta["reduce"]}
    if legacy_warns(case):
        with pytest.warns(UserWarning, match=legacy_warning_pattern(case.reduction)):
            return cls(**legacy, **kwargs)
    return cls(**legacy, **kwargs)


GRAD_KEY = {"input": "grad_input", "target": "grad_target"}


def check_functions(case: Case, level: str) -> None:
    """The loss, the gradients (both wrt) and value-and-gradient through the functions."""
    check(call_loss(case), case, "loss", f"[{level}] loss")
    a = case.arrays
    x, y = a["input"], a["target"]
    kwargs = {"reduction": case.reduction, "grad_output": a["grad_output"], **case.weight_kwargs()}
    for wrt in ("input", "target"):
        g = getattr(fastbce, case.function + "_grad")(x, y, wrt=wrt, **kwargs)
        check(g, case, GRAD_KEY[wrt], f"[{level}] grad wrt {wrt}")
        out = getattr(fastbce, case.function + "_value_and_grad")(x, y, wrt=wrt, **kwargs)
        assert isinstance(out, tuple) and len(out) == 2
        loss, g = out
        check(loss, case, "loss", f"[{level}] value_and_grad(wrt={wrt}) loss")
        check(g, case, GRAD_KEY[wrt], f"[{level}] value_and_grad(wrt={wrt}) grad")


def check_module(case: Case, level: str) -> None:
    """The same through the class: its call, forward, grad and value_and_grad."""
    crit = make_criterion(case)
    assert crit.reduction == case.reduction
    a = case.arrays
    x, y, go = a["input"], a["target"], a["grad_output"]
    check(crit(x, y), case, "loss", f"[{level}] criterion(input, target)")
    check(crit.forward(x, y), case, "loss", f"[{level}] criterion.forward")
    for wrt in ("input", "target"):
        check(
            crit.grad(x, y, grad_output=go, wrt=wrt),
            case,
            GRAD_KEY[wrt],
            f"[{level}] criterion.grad wrt {wrt}",
        )
        loss, g = crit.value_and_grad(x, y, grad_output=go, wrt=wrt)
        check(loss, case, "loss", f"[{level}] criterion.value_and_grad(wrt={wrt}) loss")
        check(g, case, GRAD_KEY[wrt], f"[{level}] criterion.value_and_grad(wrt={wrt}) grad")
    # the default wrt is the input
    check(crit.grad(x, y, grad_output=go), case, "grad_input", f"[{level}] criterion.grad default wrt")
    check(
        crit.value_and_grad(x, y, grad_output=go)[1],
        case,
        "grad_input",
        f"[{level}] value_and_grad default wrt",
    )


# One item per recorded case, every entry point at every level in it: pytest's cost per item is
# several times the calls' (14,605 items took 18 s, their calls 3 s).
@pytest.mark.parametrize("name", CASE_NAMES)
def test_case(name):
    case = load_case(name)
    for level in each_simd_level():
        check_functions(case, level)
        check_module(case, level)


# --------------------------------------------------------------------------------------------
# errors.json: inputs PyTorch refuses
# --------------------------------------------------------------------------------------------

ERRORS = load_json("errors.json")


def test_error_rows_present():
    assert len(ERRORS) == 13


def expected_error(row: dict[str, Any]):
    """(exception type, words the message must contain) for a row of errors.json."""
    why = row["why"]
    msg = row["torch_message"]
    if "between 0 and 1" in msg:
        return ValueError, [msg]  # PyTorch's own words, argument named in them
    if why == "unknown reduction":
        return ValueError, ["'avg' is not a valid value for reduction"]
    if why == "target size differs from input size":
        return ValueError, ["target", "input"]
    if why.startswith("pos_weight"):
        return ValueError, ["pos_weight"]
    if why.startswith("weight"):
        return ValueError, ["weight"]
    raise AssertionError(f"unclassified row: {why}")


def row_arrays(row: dict[str, Any]):
    x = np.array(row["input"], dtype=np.float64)
    y = np.array(row["target"], dtype=np.float64)
    kwargs = {k: (np.array(v) if isinstance(v, list) else v) for k, v in row["kwargs"].items()}
    return x, y, kwargs


def check_error_message(row: dict[str, Any], message: str) -> None:
    _, words = expected_error(row)
    for word in words:
        assert word in message, f"{row['why']}: {word!r} not in {message!r}"
    x, y, kwargs = row_arrays(row)
    if row["why"] == "target size differs from input size":
        assert message_names_shape(message, x.shape), f"input shape not named: {message!r}"
        assert message_names_shape(message, y.shape), f"target shape not named: {message!r}"
    for name in ("weight", "pos_weight"):
        if name in kwargs and row["why"].startswith(name):
            assert message_names_shape(message, kwargs[name].shape), f"{name} shape not named: {message!r}"
            assert message_names_shape(message, x.shape), f"input shape not named: {message!r}"


ENTRY_POINTS = ["function", "grad", "grad_target", "value_and_grad", "module"]


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("index", range(len(ERRORS)), ids=[f"{i}-{r['why']}" for i, r in enumerate(ERRORS)])
def test_errors(index, entry):
    row = ERRORS[index]
    exc, _ = expected_error(row)
    x, y, kwargs = row_arrays(row)
    name = row["function"]
    with pytest.raises(exc) as info:
        if entry == "function":
            getattr(fastbce, name)(x, y, **kwargs)
        elif entry == "grad":
            getattr(fastbce, name + "_grad")(x, y, **kwargs)
        elif entry == "grad_target":
            getattr(fastbce, name + "_grad")(x, y, wrt="target", **kwargs)
        elif entry == "value_and_grad":
            getattr(fastbce, name + "_value_and_grad")(x, y, **kwargs)
        else:
            crit = CLASSES[name](**kwargs)
            crit(x, y)
    check_error_message(row, str(info.value))


def test_errors_match_torch_exception_kinds():
    """PyTorch raised RuntimeError or ValueError for each row; each is a ValueError itself here (not
    a subclass, nor a RuntimeError: a NumPy library reports bad values and shapes so)."""
    for row in ERRORS:
        assert row["torch_exception"] in ("RuntimeError", "ValueError")
        x, y = np.array(row["input"]), np.array(row["target"])
        kwargs = {k: np.array(v) if isinstance(v, list) else v for k, v in row["kwargs"].items()}
        with pytest.raises(Exception) as info:
            getattr(fastbce, row["function"])(x, y, **kwargs)
        assert type(info.value) is ValueError, f"{row['why']}: {type(info.value).__name__}"


# --------------------------------------------------------------------------------------------
# limits.json: +-inf logits give the exact limits
# --------------------------------------------------------------------------------------------

LIMITS = load_json("limits.json")


def test_limit_rows_present():
    assert len(LIMITS) == 8


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index", range(len(LIMITS)), ids=[str(i) for i in range(len(LIMITS))])
def test_limits(index, dtype):
    row = LIMITS[index]
    x = np.array([row["input"]], dtype=dtype)
    y = np.array([row["target"]], dtype=dtype)
    kwargs = {} if row["pos_weight"] is None else {"pos_weight": np.array([row["pos_weight"]], dtype=dtype)}
    exact_loss = np.array([row["exact_loss"]], dtype=dtype)
    exact_grad = np.array([row["exact_grad_input"]], dtype=dtype)

    for level in each_simd_level():
        loss = fastbce.binary_cross_entropy_with_logits(x, y, reduction="none", **kwargs)
        grad = fastbce.binary_cross_entropy_with_logits_grad(x, y, reduction="none", **kwargs)
        vloss, vgrad = fastbce.binary_cross_entropy_with_logits_value_and_grad(
            x, y, reduction="none", **kwargs
        )
        for what, got, want in (
            (f"[{level}] loss", loss, exact_loss),
            (f"[{level}] grad_input", grad, exact_grad),
            (f"[{level}] value_and_grad loss", vloss, exact_loss),
            (f"[{level}] value_and_grad grad", vgrad, exact_grad),
        ):
            assert got.dtype == np.dtype(dtype), what
            assert not np.isnan(got).any(), f"{what}: NaN where the limit is {want}"
            np.testing.assert_array_equal(got, want, err_msg=what)

        # reduced: the sum of one element is that element, as a scalar
        total = fastbce.binary_cross_entropy_with_logits(x, y, reduction="sum", **kwargs)
        assert not math.isnan(float(total))
        assert float(total) == row["exact_loss"]
        gsum = fastbce.binary_cross_entropy_with_logits_grad(x, y, reduction="mean", **kwargs)
        np.testing.assert_array_equal(gsum, exact_grad)
