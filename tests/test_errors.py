"""Bad input, table-driven: ValueError for shapes, values, reductions and wrt; TypeError for types.
Every message names the argument (and the shapes, for shape errors). Nothing may panic or crash."""

from __future__ import annotations

import re
from typing import Any

import fastbce
import numpy as np
import pytest
from conftest import LOGITS, PROBS, assert_close, message_names_shape, reference

CLASSES = {LOGITS: fastbce.BCEWithLogitsLoss, PROBS: fastbce.BCELoss}

LOSS_KINDS = [
    "loss",
    "grad",
    "grad_target",
    "value_and_grad",
    "module",
    "module_grad",
    "module_value_and_grad",
]
GRAD_KINDS = ["grad", "grad_target", "value_and_grad", "module_grad", "module_value_and_grad"]

INPUT_RANGE = "all elements of input should be between 0 and 1"
TARGET_RANGE = "all elements of target should be between 0 and 1"
WEIGHT = r"(?<!pos_)weight"  # 'weight' itself, not inside 'pos_weight'


def invoke(function: str, kind: str, x: Any, y: Any, kw: dict[str, Any]) -> Any:
    """Calls one entry point; grad_output/wrt go only where they belong."""
    call_kw = {k: v for k, v in kw.items() if k not in ("grad_output", "wrt")}
    grad_kw = {k: kw[k] for k in ("grad_output", "wrt") if k in kw}
    if kind == "grad_target":
        grad_kw.setdefault("wrt", "target")
    if kind == "loss":
        return getattr(fastbce, function)(x, y, **call_kw)
    if kind in ("grad", "grad_target"):
        return getattr(fastbce, function + "_grad")(x, y, **call_kw, **grad_kw)
    if kind == "value_and_grad":
        return getattr(fastbce, function + "_value_and_grad")(x, y, **call_kw, **grad_kw)
    crit = CLASSES[function](**call_kw)
    if kind == "module":
        return crit(x, y)
    if kind == "module_grad":
        return crit.grad(x, y, **grad_kw)
    if kind == "module_value_and_grad":
        return crit.value_and_grad(x, y, **grad_kw)
    raise AssertionError(kind)


class Row:
    def __init__(
        self,
        id: str,
        x: Any,
        y: Any,
        exc: type,
        words: list[str],
        kw: dict[str, Any] | None = None,
        shapes: tuple[tuple[int, ...], ...] = (),
        functions: tuple[str, ...] = (LOGITS, PROBS),
        kinds: list[str] | None = None,
    ):
        self.id = id
        self.x = x
        self.y = y
        self.exc = exc
        self.words = words
        self.kw = kw or {}
        self.shapes = shapes
        self.functions = functions
        if kinds is None:
            kinds = GRAD_KINDS if ("grad_output" in self.kw or "wrt" in self.kw) else LOSS_KINDS
        self.kinds = kinds


P23 = np.full((2, 3), 0.5)
Y23 = np.zeros((2, 3))


def arr(shape: tuple[int, ...], value: float = 0.5) -> np.ndarray:
    return np.full(shape, value)


ROWS: list[Row] = [
    # --- input/target shapes: target must have exactly the input's shape
    Row(
        "target transposed",
        P23,
        arr((3, 2), 0.0),
        ValueError,
        ["target", "input"],
        shapes=((2, 3), (3, 2)),
    ),
    Row(
        "target flat, same size",
        P23,
        arr((6,), 0.0),
        ValueError,
        ["target", "input"],
        shapes=((2, 3), (6,)),
    ),
    Row(
        "target broadcastable row",
        P23,
        arr((1, 3), 0.0),
        ValueError,
        ["target"],
        shapes=((2, 3), (1, 3)),
    ),
    Row("target 0-d", P23, np.array(0.0), ValueError, ["target"], shapes=((2, 3),)),
    Row(
        "input 0-d target (1,)",
        np.array(0.5),
        arr((1,), 0.0),
        ValueError,
        ["target"],
        shapes=((1,),),
    ),
    Row(
        "empty input, one target",
        arr((0,)),
        arr((1,), 0.0),
        ValueError,
        ["target"],
        shapes=((0,), (1,)),
    ),
    Row("target longer", arr((2,)), arr((3,), 0.0), ValueError, ["target"], shapes=((2,), (3,))),
    # --- weight: broadcasts to the input's shape without enlarging it
    Row(
        "weight enlarges (extra dim)",
        P23,
        Y23,
        ValueError,
        [WEIGHT],
        {"weight": np.ones((4, 2, 3))},
        ((4, 2, 3), (2, 3)),
    ),
    Row(
        "weight enlarges (1,2,3)",
        P23,
        Y23,
        ValueError,
        [WEIGHT],
        {"weight": np.ones((1, 2, 3))},
        ((1, 2, 3), (2, 3)),
    ),
    Row(
        "weight enlarges a size-1 dim",
        arr((2, 1)),
        arr((2, 1), 0.0),
        ValueError,
        [WEIGHT],
        {"weight": np.ones((2, 3))},
        ((2, 3), (2, 1)),
    ),
    Row(
        "weight wrong last dim",
        P23,
        Y23,
        ValueError,
        [WEIGHT],
        {"weight": np.ones((2,))},
        ((2,), (2, 3)),
    ),
    Row(
        "weight wrong dims",
        P23,
        Y23,
        ValueError,
        [WEIGHT],
        {"weight": np.ones((3, 2))},
        ((3, 2), (2, 3)),
    ),
    Row("weight empty", P23, Y23, ValueError, [WEIGHT], {"weight": np.ones((0,))}, ((0,), (2, 3))),
    Row(
        "weight for empty input",
        arr((2, 0)),
        arr((2, 0), 0.0),
        ValueError,
        [WEIGHT],
        {"weight": np.ones((3,))},
        ((3,), (2, 0)),
    ),
    Row(
        "weight list too long",
        P23,
        Y23,
        ValueError,
        [WEIGHT],
        {"weight": [1.0, 2.0, 3.0, 4.0]},
        ((4,), (2, 3)),
    ),
    # --- pos_weight (with logits)
    Row(
        "pos_weight enlarges",
        P23,
        Y23,
        ValueError,
        ["pos_weight"],
        {"pos_weight": np.ones((1, 1, 3))},
        ((1, 1, 3), (2, 3)),
        (LOGITS,),
    ),
    Row(
        "pos_weight wrong last dim",
        P23,
        Y23,
        ValueError,
        ["pos_weight"],
        {"pos_weight": np.ones((4,))},
        ((4,), (2, 3)),
        (LOGITS,),
    ),
    Row(
        "pos_weight wrong dims",
        P23,
        Y23,
        ValueError,
        ["pos_weight"],
        {"pos_weight": np.ones((3, 3))},
        ((3, 3), (2, 3)),
        (LOGITS,),
    ),
    Row(
        "pos_weight enlarges size-1",
        arr((2, 1)),
        arr((2, 1), 0.0),
        ValueError,
        ["pos_weight"],
        {"pos_weight": np.ones((3,))},
        ((3,), (2, 1)),
        (LOGITS,),
    ),
    # --- grad_output
    Row(
        "grad_output wrong shape for none",
        P23,
        Y23,
        ValueError,
        ["grad_output"],
        {"reduction": "none", "grad_output": np.ones((2,))},
        ((2,), (2, 3)),
    ),
    Row(
        "grad_output transposed for none",
        P23,
        Y23,
        ValueError,
        ["grad_output"],
        {"reduction": "none", "grad_output": np.ones((3, 2))},
        ((3, 2), (2, 3)),
    ),
    Row(
        "grad_output enlarges for none",
        P23,
        Y23,
        ValueError,
        ["grad_output"],
        {"reduction": "none", "grad_output": np.ones((4, 2, 3))},
        ((4, 2, 3), (2, 3)),
    ),
    Row(
        "grad_output array for mean",
        P23,
        Y23,
        ValueError,
        ["grad_output"],
        {"reduction": "mean", "grad_output": np.ones((2,))},
        ((2,),),
    ),
    Row(
        "grad_output input-shaped for sum",
        P23,
        Y23,
        ValueError,
        ["grad_output"],
        {"reduction": "sum", "grad_output": np.ones((2, 3))},
        ((2, 3),),
    ),
    Row(
        "grad_output list for sum",
        P23,
        Y23,
        ValueError,
        ["grad_output"],
        {"reduction": "sum", "grad_output": [1.0, 2.0]},
        ((2,),),
    ),
    Row(
        "grad_output default reduction",
        P23,
        Y23,
        ValueError,
        ["grad_output"],
        {"grad_output": np.ones((2, 3))},
        ((2, 3),),
    ),
    # --- types
    Row("complex input", np.array([0.5 + 1j, 0.2]), np.array([1.0, 0.0]), TypeError, ["input"]),
    Row("complex target", np.array([0.5, 0.2]), np.array([1.0 + 0j, 0.0]), TypeError, ["target"]),
    Row(
        "complex weight",
        np.array([0.5, 0.2]),
        np.array([1.0, 0.0]),
        TypeError,
        [WEIGHT],
        {"weight": np.array([1j, 1.0])},
    ),
    Row(
        "complex pos_weight",
        np.array([0.5, 0.2]),
        np.array([1.0, 0.0]),
        TypeError,
        ["pos_weight"],
        {"pos_weight": np.array([1j, 1.0])},
        functions=(LOGITS,),
    ),
    Row(
        "complex grad_output scalar",
        np.array([0.5, 0.2]),
        np.array([1.0, 0.0]),
        TypeError,
        ["grad_output"],
        {"grad_output": 1j},
    ),
    Row(
        "complex grad_output array",
        np.array([0.5, 0.2]),
        np.array([1.0, 0.0]),
        TypeError,
        ["grad_output"],
        {"reduction": "none", "grad_output": np.array([1j, 1.0])},
    ),
    Row(
        "object input",
        np.array([0.5, 0.2], dtype=object),
        np.array([1.0, 0.0]),
        TypeError,
        ["input"],
    ),
    Row(
        "object target",
        np.array([0.5, 0.2]),
        np.array([1.0, None], dtype=object),
        TypeError,
        ["target"],
    ),
    Row("None input", None, np.array([1.0, 0.0]), TypeError, ["input"]),
    Row("None target", np.array([0.5, 0.2]), None, TypeError, ["target"]),
    Row("string input", np.array(["0.5", "0.2"]), np.array([1.0, 0.0]), TypeError, ["input"]),
    Row("string list target", np.array([0.5, 0.2]), ["1", "0"], TypeError, ["target"]),
    Row("bytes input", np.array([b"0.5", b"0.2"]), np.array([1.0, 0.0]), TypeError, ["input"]),
    Row(
        "string weight",
        np.array([0.5, 0.2]),
        np.array([1.0, 0.0]),
        TypeError,
        [WEIGHT],
        {"weight": np.array(["a", "b"])},
    ),
    Row(
        "datetime input",
        np.array(["2020-01-01", "2020-01-02"], dtype="datetime64[D]"),
        np.array([1.0, 0.0]),
        TypeError,
        ["input"],
    ),
    Row(
        "datetime target",
        np.array([0.5, 0.2]),
        np.array(["2020-01-01", "2020-01-02"], dtype="datetime64[s]"),
        TypeError,
        ["target"],
    ),
    # --- reduction
    Row(
        "reduction avg",
        P23,
        Y23,
        ValueError,
        [re.escape("'avg' is not a valid value for reduction")],
        {"reduction": "avg"},
    ),
    Row(
        "reduction MEAN",
        P23,
        Y23,
        ValueError,
        [re.escape("'MEAN' is not a valid value for reduction")],
        {"reduction": "MEAN"},
    ),
    Row(
        "reduction empty",
        P23,
        Y23,
        ValueError,
        [re.escape("'' is not a valid value for reduction")],
        {"reduction": ""},
    ),
    Row(
        "reduction None",
        P23,
        Y23,
        ValueError,
        ["None is not a valid value for reduction"],
        {"reduction": None},
    ),
    # --- wrt
    Row("wrt weight", P23, Y23, ValueError, ["wrt", "'weight'"], {"wrt": "weight"}),
    Row("wrt capitalised", P23, Y23, ValueError, ["wrt", "'Input'"], {"wrt": "Input"}),
    Row("wrt empty", P23, Y23, ValueError, ["wrt"], {"wrt": ""}),
    Row("wrt None", P23, Y23, ValueError, ["wrt"], {"wrt": None}),
    # --- BCE on probabilities: values in [0, 1], NaN refused, with PyTorch's words
    Row(
        "input above 1",
        np.array([1.5, 0.2]),
        np.array([1.0, 0.0]),
        ValueError,
        [INPUT_RANGE],
        functions=(PROBS,),
    ),
    Row(
        "input below 0",
        np.array([-0.1, 0.2]),
        np.array([1.0, 0.0]),
        ValueError,
        [INPUT_RANGE],
        functions=(PROBS,),
    ),
    Row(
        "input -0 is fine but -tiny is not",
        np.array([-5e-324, 0.2]),
        np.array([1.0, 0.0]),
        ValueError,
        [INPUT_RANGE],
        functions=(PROBS,),
    ),
    Row(
        "input just above 1",
        np.array([np.nextafter(1.0, 2.0)]),
        np.array([1.0]),
        ValueError,
        [INPUT_RANGE],
        functions=(PROBS,),
    ),
    Row(
        "float32 input just above 1",
        np.array([np.nextafter(np.float32(1), np.float32(2))]),
        np.array([1.0], np.float32),
        ValueError,
        [INPUT_RANGE],
        functions=(PROBS,),
    ),
    Row(
        "input NaN",
        np.array([np.nan, 0.2]),
        np.array([1.0, 0.0]),
        ValueError,
        [INPUT_RANGE],
        functions=(PROBS,),
    ),
    Row(
        "float32 input NaN",
        np.array([0.2, np.nan], np.float32),
        np.array([1.0, 0.0], np.float32),
        ValueError,
        [INPUT_RANGE],
        functions=(PROBS,),
    ),
    Row(
        "input inf",
        np.array([np.inf, 0.2]),
        np.array([1.0, 0.0]),
        ValueError,
        [INPUT_RANGE],
        functions=(PROBS,),
    ),
    Row(
        "input -inf",
        np.array([0.2, -np.inf]),
        np.array([1.0, 0.0]),
        ValueError,
        [INPUT_RANGE],
        functions=(PROBS,),
    ),
    Row(
        "integer input 2",
        np.array([2, 0]),
        np.array([1, 0]),
        ValueError,
        [INPUT_RANGE],
        functions=(PROBS,),
    ),
    Row(
        "0-d input above 1",
        np.array(1.5),
        np.array(1.0),
        ValueError,
        [INPUT_RANGE],
        functions=(PROBS,),
    ),
    Row(
        "target above 1",
        np.array([0.3, 0.2]),
        np.array([2.0, 0.0]),
        ValueError,
        [TARGET_RANGE],
        functions=(PROBS,),
    ),
    Row(
        "target below 0",
        np.array([0.3, 0.2]),
        np.array([-1.0, 0.0]),
        ValueError,
        [TARGET_RANGE],
        functions=(PROBS,),
    ),
    Row(
        "target NaN",
        np.array([0.3, 0.2]),
        np.array([0.0, np.nan]),
        ValueError,
        [TARGET_RANGE],
        functions=(PROBS,),
    ),
    Row(
        "target inf",
        np.array([0.3, 0.2]),
        np.array([np.inf, 0.0]),
        ValueError,
        [TARGET_RANGE],
        functions=(PROBS,),
    ),
    Row(
        "integer target -1",
        np.array([0.3, 0.2]),
        np.array([-1, 0]),
        ValueError,
        [TARGET_RANGE],
        functions=(PROBS,),
    ),
    Row(
        "float16 target above 1",
        np.array([0.3, 0.2], np.float16),
        np.array([1.5, 0.0], np.float16),
        ValueError,
        [TARGET_RANGE],
        functions=(PROBS,),
    ),
]

# a bad value anywhere in a large array (the checks run in chunks, possibly on several threads)
_N = 200_003
for _where in (0, _N // 2, _N - 1):
    for _dtype in (np.float32, np.float64):
        _x = np.full(_N, 0.25, _dtype)
        _y = np.full(_N, 1.0, _dtype)
        _xb = _x.copy()
        _xb[_where] = 1.0 + 1e-3
        _yb = _y.copy()
        _yb[_where] = np.nan
        ROWS.append(
            Row(
                f"large input bad at {_where} {np.dtype(_dtype)}",
                _xb,
                _y,
                ValueError,
                [INPUT_RANGE],
                functions=(PROBS,),
                kinds=["loss", "grad", "value_and_grad"],
            )
        )
        ROWS.append(
            Row(
                f"large target NaN at {_where} {np.dtype(_dtype)}",
                _x,
                _yb,
                ValueError,
                [TARGET_RANGE],
                functions=(PROBS,),
                kinds=["loss", "grad_target"],
            )
        )
# a strided bad value
_xs = np.full((300, 301), 0.5)
_xs[-1, -1] = 7.0
ROWS.append(
    Row(
        "strided input bad",
        _xs[::-1, ::3],
        np.zeros((300, 101)),
        ValueError,
        [INPUT_RANGE],
        functions=(PROBS,),
        kinds=["loss", "grad"],
    )
)


def test_range_check_reads_only_the_view():
    """A bad value outside a strided view is not part of the input: no error."""
    base = np.full((300, 301), 0.5)
    base[-1, -2] = 7.0  # column 299 is not in [::3]
    view = base[::-1, ::3]
    assert ((view >= 0) & (view <= 1)).all()
    y = np.zeros(view.shape)
    assert_close(fastbce.binary_cross_entropy(view, y), reference(PROBS, view, y)[0], np.float64)
    g = fastbce.binary_cross_entropy_grad(view, y, reduction="none")
    assert_close(g, reference(PROBS, view, y, reduction="none")[1], np.float64)


PARAMS = [
    pytest.param(row, function, kind, id=f"{row.id}-{'logits' if function == LOGITS else 'probs'}-{kind}")
    for row in ROWS
    for function in row.functions
    for kind in row.kinds
]


@pytest.mark.parametrize("row,function,kind", PARAMS)
def test_bad_input(row, function, kind):
    before = [a.tobytes() for a in (row.x, row.y) if isinstance(a, np.ndarray)]
    with pytest.raises(row.exc) as info:
        invoke(function, kind, row.x, row.y, row.kw)
    message = str(info.value)
    for word in row.words:
        assert re.search(word, message), f"{word!r} not in message {message!r}"
    for shape in row.shapes:
        assert message_names_shape(message, shape), f"shape {shape} not named in {message!r}"
    after = [a.tobytes() for a in (row.x, row.y) if isinstance(a, np.ndarray)]
    assert before == after


def test_error_kinds_are_exact():
    """Range and shape problems are ValueError itself, types TypeError itself: not a subclass that
    callers would not expect (NumPy's AxisError, PyO3's PanicException)."""
    bad_calls = [
        (ValueError, lambda: fastbce.binary_cross_entropy(np.array([1.5]), np.array([1.0]))),
        (ValueError, lambda: fastbce.binary_cross_entropy_with_logits(np.zeros(3), np.zeros(4))),
        (ValueError, lambda: fastbce.binary_cross_entropy_with_logits(np.zeros(3), np.zeros(3), np.ones(2))),
        (ValueError, lambda: fastbce.binary_cross_entropy_with_logits(np.zeros(3), np.zeros(3), axis=1)),
        (TypeError, lambda: fastbce.binary_cross_entropy_with_logits(np.array([1j]), np.array([1.0]))),
        (TypeError, lambda: fastbce.binary_cross_entropy_with_logits(np.zeros(2), np.array(["a", "b"]))),
    ]
    for kind, call in bad_calls:
        with pytest.raises(kind) as info:
            call()
        assert type(info.value) is kind, f"{type(info.value).__name__}: {info.value}"


def test_range_boundaries_are_accepted():
    """0 and 1 (and -0.0) are valid probabilities and labels, with PyTorch's values there: each
    log clamped at -100, the input gradient's denominator at 1e-12 rounded to float32."""
    p = np.array([0.0, 1.0, -0.0, 0.5])
    y = np.array([1.0, 0.0, -0.0, 1.0])
    np.testing.assert_array_equal(
        fastbce.binary_cross_entropy(p, y, reduction="none"), [100.0, 100.0, 0.0, np.log(2.0)]
    )
    eps = float(np.float32(1e-12))
    np.testing.assert_array_equal(
        fastbce.binary_cross_entropy_grad(p, y, reduction="none"), [-1 / eps, 1 / eps, 0.0, -2.0]
    )
    for reduction in ("none", "mean", "sum"):
        loss, dx, dy = reference(PROBS, p, y, reduction=reduction)
        assert_close(fastbce.binary_cross_entropy(p, y, reduction=reduction), loss, np.float64)
        assert_close(fastbce.binary_cross_entropy_grad(p, y, reduction=reduction), dx, np.float64)
        got = fastbce.binary_cross_entropy_grad(p, y, reduction=reduction, wrt="target")
        assert_close(got, dy, np.float64)


def test_valid_calls_work_after_errors():
    x = np.array([0.3, 0.6])
    y = np.array([1.0, 0.0])
    want = fastbce.binary_cross_entropy(x, y)
    for bad in (np.array([2.0, 0.5]), np.array([np.nan, 0.5])):
        with pytest.raises(ValueError):
            fastbce.binary_cross_entropy(bad, y)
    assert fastbce.binary_cross_entropy(x, y) == want


@pytest.mark.parametrize("n", [0, -1, -100])
def test_set_num_threads_refuses_non_positive(n, restore_threads):
    before = fastbce.get_num_threads()
    with pytest.raises(ValueError, match=r"(?i)thread|\bn\b"):
        fastbce.set_num_threads(n)
    assert fastbce.get_num_threads() == before


def test_module_reduction_errors():
    """A module refuses an unknown reduction when made; and every method checks the reduction it
    holds (one changed after construction is refused too, not silently taken as a mean)."""
    x = np.array([0.3, 0.6])
    y = np.array([1.0, 0.0])
    message = re.escape("'avg' is not a valid value for reduction")
    for cls in CLASSES.values():
        with pytest.raises(ValueError, match=message):
            cls(reduction="avg")
        crit = cls()
        crit.reduction = "avg"
        methods = ["__call__", "forward", "grad", "value_and_grad"]
        for method in methods:
            with pytest.raises(ValueError, match=message):
                getattr(crit, method)(x, y)
