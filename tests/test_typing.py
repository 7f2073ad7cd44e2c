"""The types against the run time: the typed usage file runs and its results are of the types it
asserts (mypy checks the same file statically, tests/typing/check.py), and the Literal types of the
signatures are exactly the values the functions accept, with the reductions the overloads call
scalar exactly those that return one."""

from __future__ import annotations

import inspect
import runpy
import typing
from pathlib import Path

import fastbce
import numpy as np
import pytest
from fastbce import _plan

USAGE = Path(__file__).parent / "typing" / "usage.py"
X = np.array([[0.5, -1.0], [2.0, 0.0]], dtype=np.float32)
Y = np.array([[1.0, 0.0], [1.0, 1.0]], dtype=np.float32)


def values(alias: object) -> set:
    """The strings of a union of one-value Literals."""
    return {value for literal in typing.get_args(alias) for value in typing.get_args(literal)}


def test_usage_file_runs_with_the_types_it_asserts():
    namespace = runpy.run_path(str(USAGE))
    assert isinstance(namespace["mean"], np.floating)  # the file ran to its end
    assert "threads" in namespace


@pytest.mark.parametrize("reduction", sorted(values(_plan.Reduction)))
def test_scalar_reductions_are_those_that_return_a_scalar(reduction):
    scalar = reduction in values(_plan.ScalarReduction)
    result = fastbce.binary_cross_entropy_with_logits(X, Y, reduction=reduction)
    assert isinstance(result, np.floating if scalar else np.ndarray)
    loss, grad = fastbce.binary_cross_entropy_value_and_grad(1 / (1 + np.exp(-X)), Y, reduction=reduction)
    assert isinstance(loss, np.floating if scalar else np.ndarray) and isinstance(grad, np.ndarray)
    criterion = fastbce.BCEWithLogitsLoss(reduction=reduction)
    assert isinstance(criterion(X, Y), np.floating if scalar else np.ndarray)


def test_each_literal_type_is_what_its_argument_accepts():
    assert values(_plan.Reduction) == {"none", "mean", "sum", "weighted_mean"}
    assert values(_plan.ScalarReduction) == values(_plan.Reduction) - {"none"}
    for reduction in values(_plan.Reduction):
        fastbce.binary_cross_entropy_with_logits(X, Y, reduction=reduction)
    for wrt in values(_plan.Wrt):
        fastbce.binary_cross_entropy_with_logits_grad(X, Y, wrt=wrt)
    for policy in values(_plan.NanPolicy):
        fastbce.binary_cross_entropy_with_logits(X, Y, nan_policy=policy)
    for name, bad in [("reduction", "meen"), ("wrt", "weight"), ("nan_policy", "ignore")]:
        with pytest.raises(ValueError, match=name):
            fastbce.binary_cross_entropy_with_logits_grad(X, Y, **{name: bad})


def test_numpy_scalars_where_the_types_accept_them():
    smoothed = fastbce.binary_cross_entropy_with_logits(X, Y, label_smoothing=np.float32(0.1))
    assert smoothed == fastbce.binary_cross_entropy_with_logits(X, Y, label_smoothing=float(np.float32(0.1)))
    threads = fastbce.get_num_threads()
    fastbce.set_num_threads(np.int64(threads))
    assert fastbce.get_num_threads() == threads


def test_overloads_leave_the_run_time_function_alone():
    """help() and inspect see the implementation: its defaults, its documentation, and
    annotations that resolve."""
    for function in (fastbce.binary_cross_entropy, fastbce.binary_cross_entropy_with_logits_value_and_grad):
        assert inspect.signature(function).parameters["reduction"].default == "mean"
        assert typing.get_type_hints(function)["reduction"] == _plan.Reduction
        assert "Parameters" in function.__doc__
    assert typing.get_type_hints(fastbce.BCELoss.__init__)["nan_policy"] == _plan.NanPolicy
