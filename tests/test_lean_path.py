"""The lean paths of plain calls (``functional._lean_loss``, ``_lean_gradient``, ``_lean_grad_hess``):
two C-contiguous arrays of one float dtype and shape, a mean or a sum, a number for grad_output, and
weights absent or arrays of that dtype, C-contiguous, of the input's shape or one value per
last-dimension column. They must give what the general path gives, bit for bit, be taken exactly
when they apply, and leave everything else (errors included) to the general path."""

from __future__ import annotations

from typing import Any

import fastbce
import numpy as np
import pytest
from conftest import LOGITS, PROBS, assert_close, assert_identical, reference
from fastbce import functional as F

GRADIENT_FUNCTIONS = {
    LOGITS: (F.binary_cross_entropy_with_logits_grad, F.binary_cross_entropy_with_logits_value_and_grad),
    PROBS: (F.binary_cross_entropy_grad, F.binary_cross_entropy_value_and_grad),
}


def data(function: str, shape: tuple[int, ...], dtype: Any, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 4
    if function == PROBS:
        x = 1 / (1 + np.exp(-x))
    y = rng.uniform(0, 1, shape)
    return np.asarray(x, dtype), np.asarray(y, dtype)


def unaligned(a: np.ndarray) -> np.ndarray:
    """A copy of ``a`` at an odd address, as pickled buffers (Dask's) can arrive."""
    raw = np.zeros(a.nbytes + 1, np.uint8)
    out = raw[1:].view(a.dtype).reshape(a.shape)
    out[...] = a
    assert not out.flags.aligned and out.flags.c_contiguous
    return out


def spy_on(monkeypatch: pytest.MonkeyPatch, name: str) -> list[bool]:
    """Records, per call of the lean path ``F.<name>``, whether it computed the result."""
    taken: list[bool] = []
    lean = getattr(F, name)

    def spy(*args: Any) -> Any:
        result = lean(*args)
        taken.append(result is not None)
        return result

    monkeypatch.setattr(F, name, spy)
    return taken


@pytest.fixture
def lean_calls(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Records, per gradient call, whether the lean path computed it."""
    return spy_on(monkeypatch, "_lean_gradient")


@pytest.mark.parametrize("function", [LOGITS, PROBS])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("shape", [(), (1,), (64,), (3, 5), (2, 3, 4)])
@pytest.mark.parametrize("grad_output", [1.0, 0.25, 3, -2.5])
def test_lean_path_is_the_general_path(function, dtype, reduction, shape, grad_output, lean_calls):
    grad, value_and_grad = GRADIENT_FUNCTIONS[function]
    x, y = data(function, shape, dtype)
    lean_g = grad(x, y, reduction=reduction, grad_output=grad_output)
    lean_l, lean_vg = value_and_grad(x, y, reduction=reduction, grad_output=grad_output)
    assert lean_calls == [True, True]
    # A NumPy scalar is not a Python number, so it takes the general path, with the same value.
    general = np.float64(grad_output)
    assert_identical(lean_g, grad(x, y, reduction=reduction, grad_output=general))
    general_l, general_vg = value_and_grad(x, y, reduction=reduction, grad_output=general)
    assert lean_calls == [True, True]  # not asked again
    assert_identical(lean_vg, general_vg)
    assert_identical(lean_l, general_l)
    assert type(lean_l) is np.dtype(dtype).type
    # and both against the float64 reference
    want_l, want_g, _ = reference(function, x, y, reduction=reduction, grad_output=grad_output)
    assert_close(lean_l, want_l, dtype, "loss")
    assert_close(lean_g, want_g, dtype, "grad")
    assert_close(lean_vg, want_g, dtype, "value_and_grad's grad")
    assert lean_g.flags.c_contiguous and lean_g.shape == shape


def test_lean_path_leaves_inputs_alone(lean_calls):
    x, y = data(LOGITS, (5, 4), np.float32)
    x0, y0 = x.copy(), y.copy()
    x.flags.writeable = False
    fastbce.binary_cross_entropy_with_logits_value_and_grad(x, y)
    assert lean_calls == [True]
    assert_identical(x, x0)
    assert_identical(y, y0)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda x, y: (x[:, ::2], y[:, ::2]), id="strided"),
        pytest.param(lambda x, y: (x.T, y.T), id="transposed"),
        pytest.param(lambda x, y: (x, y.astype(np.float64)), id="mixed dtypes"),
        pytest.param(lambda x, y: (x.astype(np.float16), y.astype(np.float16)), id="float16"),
        pytest.param(lambda x, y: (x.astype(">f4"), y.astype(">f4")), id="big-endian"),
        pytest.param(lambda x, y: (x[:0], y[:0]), id="empty"),
        pytest.param(lambda x, y: (unaligned(x), y), id="unaligned input"),
        pytest.param(lambda x, y: (x, unaligned(y)), id="unaligned target"),
    ],
)
def test_other_plain_calls_take_the_general_path(make, lean_calls):
    x, y = make(*data(LOGITS, (4, 6), np.float32))
    got = fastbce.binary_cross_entropy_with_logits_value_and_grad(x, y)
    want_l, want_g, _ = reference(LOGITS, x, y)
    result = np.result_type(x, y)
    assert got[1].dtype == result and got[1].shape == x.shape
    assert_close(got[0], want_l, result, "loss")
    assert_close(got[1], want_g, result, "grad")
    assert lean_calls == [False]


def test_a_target_of_another_shape_is_refused_by_the_general_path(lean_calls):
    x, y = data(LOGITS, (4, 6), np.float32)
    with pytest.raises(ValueError, match=r"target of shape \(1, 6\) must have the same shape as input"):
        fastbce.binary_cross_entropy_with_logits_value_and_grad(x, y[:1])
    assert lean_calls == [False]


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(reduction="none"),
        dict(wrt="target"),
        dict(grad_output=np.float32(1.0)),
        dict(grad_output=True),
        dict(mask=np.ones((4, 6), bool)),
        dict(label_smoothing=0.1),
        dict(axis=0),
        dict(out=(None, np.empty((4, 6), np.float32))),
    ],
)
def test_calls_with_more_arguments_skip_the_lean_path(kwargs, lean_calls):
    x, y = data(LOGITS, (4, 6), np.float32)
    fastbce.binary_cross_entropy_with_logits_value_and_grad(x, y, **kwargs)
    assert lean_calls == []


@pytest.mark.parametrize("kwargs", [dict(weight=[1.0] * 6), dict(pos_weight=np.float32(2.0))])
def test_weights_other_than_arrays_are_declined_by_the_lean_path(kwargs, lean_calls):
    x, y = data(LOGITS, (4, 6), np.float32)
    _, g = fastbce.binary_cross_entropy_with_logits_value_and_grad(x, y, **kwargs)
    assert lean_calls == [False]
    assert_close(g, reference(LOGITS, x, y, **kwargs)[1], np.float32)


WEIGHT_PATTERNS = {"same shape": lambda shape: shape, "per class": lambda shape: shape[-1:]}


def weights(which: str, pattern: str, shape: tuple[int, ...], dtype: Any) -> dict[str, np.ndarray]:
    """``weight``, ``pos_weight`` or both (``which``) as keyword arguments, random, in a pattern of
    ``WEIGHT_PATTERNS``."""
    rng = np.random.default_rng(3)
    return {
        name: rng.uniform(0.1, 3.0, WEIGHT_PATTERNS[pattern](shape)).astype(dtype)
        for name in (["weight", "pos_weight"] if which == "both" else [which])
    }


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("shape", [(), (64,), (3, 5), (2, 3, 4), (700, 3)])
@pytest.mark.parametrize("pattern", list(WEIGHT_PATTERNS))
# binary_cross_entropy has no pos_weight
@pytest.mark.parametrize(
    "function,which", [(LOGITS, "weight"), (LOGITS, "pos_weight"), (LOGITS, "both"), (PROBS, "weight")]
)
def test_lean_weighted_calls_are_the_general_path(
    function, which, dtype, reduction, shape, pattern, monkeypatch
):
    loss_calls = spy_on(monkeypatch, "_lean_loss")
    grad_calls = spy_on(monkeypatch, "_lean_gradient")
    x, y = data(function, shape, dtype)
    kwargs = weights(which, pattern, shape, dtype)
    loss_fn = F.binary_cross_entropy_with_logits if function == LOGITS else F.binary_cross_entropy
    _, value_and_grad = GRADIENT_FUNCTIONS[function]
    lean_loss = loss_fn(x, y, reduction=reduction, **kwargs)
    lean_l, lean_g = value_and_grad(x, y, reduction=reduction, grad_output=0.5, **kwargs)
    assert (loss_calls, grad_calls) == ([True], [True])
    # The same values as lists (or Python numbers) take the general path.
    general = {name: w.tolist() for name, w in kwargs.items()}
    assert_identical(lean_loss, loss_fn(x, y, reduction=reduction, **general))
    general_l, general_g = value_and_grad(x, y, reduction=reduction, grad_output=0.5, **general)
    assert (loss_calls, grad_calls) == ([True, False], [True, False])  # asked, and declined
    assert_identical(lean_l, general_l)
    assert_identical(lean_g, general_g)
    assert type(lean_loss) is np.dtype(dtype).type
    want_l, want_g, _ = reference(function, x, y, reduction=reduction, grad_output=0.5, **kwargs)
    assert_close(lean_loss, want_l, dtype, "loss")
    assert_close(lean_l, want_l, dtype, "value_and_grad's loss")
    assert_close(lean_g, want_g, dtype, "grad")


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda w: w.reshape(1, 6), id="(1, C)"),
        pytest.param(lambda w: w[:4].reshape(4, 1), id="(N, 1)"),
        pytest.param(lambda w: w.astype(np.float64), id="another dtype"),
        pytest.param(lambda w: np.repeat(w, 2)[::2], id="strided"),
        pytest.param(unaligned, id="unaligned"),
        pytest.param(lambda w: np.asarray(w[0]), id="0-d"),
    ],
)
def test_other_weights_take_the_general_path(make, monkeypatch):
    loss_calls = spy_on(monkeypatch, "_lean_loss")
    grad_calls = spy_on(monkeypatch, "_lean_gradient")
    x, y = data(LOGITS, (4, 6), np.float32)
    w = make(np.random.default_rng(5).uniform(0.1, 3.0, 6).astype(np.float32))
    loss = F.binary_cross_entropy_with_logits(x, y, pos_weight=w)
    value, grad = F.binary_cross_entropy_with_logits_value_and_grad(x, y, pos_weight=w)
    assert (loss_calls, grad_calls) == ([False], [False])
    want_l, want_g, _ = reference(LOGITS, x, y, pos_weight=w.astype(np.float32))
    assert_close(loss, want_l, np.float32, "loss")
    assert_close(value, want_l, np.float32, "value_and_grad's loss")
    assert_close(grad, want_g, np.float32, "grad")


def test_weights_of_a_wrong_shape_are_refused_by_the_general_path(monkeypatch):
    loss_calls = spy_on(monkeypatch, "_lean_loss")
    x, y = data(LOGITS, (4, 6), np.float32)
    with pytest.raises(ValueError, match=r"weight of shape \(5,\) does not broadcast"):
        F.binary_cross_entropy_with_logits(x, y, weight=np.ones(5, np.float32))
    assert loss_calls == [False]


def test_lean_path_errors_are_the_general_paths():
    x, y = data(PROBS, (8,), np.float64)
    x[3] = 1.5
    with pytest.raises(ValueError) as lean:
        F.binary_cross_entropy_grad(x, y)
    with pytest.raises(ValueError) as general:
        F.binary_cross_entropy_grad(x, y, grad_output=np.float64(1.0))
    assert str(lean.value) == str(general.value)
    with pytest.raises(ValueError, match="reduction"):
        F.binary_cross_entropy_with_logits_grad(x, y, reduction="average")
    with pytest.raises(ValueError, match="wrt"):
        F.binary_cross_entropy_with_logits_grad(x, y, wrt="inputs")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(), (1,), (64,), (3, 5)])
def test_lean_grad_hess_is_the_general_path(dtype, shape, monkeypatch):
    taken = spy_on(monkeypatch, "_lean_grad_hess")
    x, y = data(LOGITS, shape, dtype)
    g, h = F.binary_cross_entropy_with_logits_grad_hess(x, y)
    # label_smoothing as a NumPy scalar is not a Python number: the general path, same value
    g2, h2 = F.binary_cross_entropy_with_logits_grad_hess(x, y, label_smoothing=np.float64(0.0))
    assert taken == [True]
    assert_identical(g, g2)
    assert_identical(h, h2)
    assert_identical(g, F.binary_cross_entropy_with_logits_grad(x, y, reduction="none"))
    sig = 1 / (1 + np.exp(-x.astype(np.float64)))
    assert_close(h, sig * (1 - sig), dtype, "hess")
    # strided: the general path
    if x.size > 1:
        F.binary_cross_entropy_with_logits_grad_hess(x[::2], y[::2])
        assert taken == [True, False]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(), (64,), (3, 5), (700, 3)])
@pytest.mark.parametrize("pattern", list(WEIGHT_PATTERNS))
@pytest.mark.parametrize("which", ["weight", "pos_weight", "both"])
def test_lean_weighted_grad_hess_is_the_general_path(which, pattern, shape, dtype, monkeypatch):
    taken = spy_on(monkeypatch, "_lean_grad_hess")
    x, y = data(LOGITS, shape, dtype)
    kwargs = weights(which, pattern, shape, dtype)
    g, h = F.binary_cross_entropy_with_logits_grad_hess(x, y, **kwargs)
    assert taken == [True]
    g2, h2 = F.binary_cross_entropy_with_logits_grad_hess(x, y, **{k: w.tolist() for k, w in kwargs.items()})
    assert taken == [True, False]
    assert_identical(g, g2)
    assert_identical(h, h2)
    assert_close(g, reference(LOGITS, x, y, reduction="none", **kwargs)[1], dtype, "grad")
    # GUIDE §3: w ((1 - y) + pw y) sigmoid(x) sigmoid(-x), in float64
    w, pw = (np.asarray(kwargs.get(k, 1.0), np.float64) for k in ("weight", "pos_weight"))
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    sig = 1 / (1 + np.exp(-x64))
    assert_close(h, w * ((1 - y64) + pw * y64) * sig * (1 - sig), dtype, "hess")
