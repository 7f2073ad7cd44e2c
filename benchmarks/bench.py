"""Benchmark: fastbce against NumPy (and scikit-learn or PyTorch, where installed).

Run ``python benchmarks/bench.py --help`` for the options. The default run takes about a minute on a
2-core machine and prints, for float32 and float64 and a few sizes, the median time of:

- ``loss``: ``binary_cross_entropy_with_logits(x, y)`` (mean) against NumPy's usual stable
  expression ``(np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))).mean()``;
- ``loss+grad``: ``binary_cross_entropy_with_logits_value_and_grad(x, y)`` against the same NumPy loss
  plus its gradient ``(sigmoid(x) - y) / n`` (a stable sigmoid that reuses ``exp(-|x|)``);
- ``grad+hess``: ``binary_cross_entropy_with_logits_grad_hess(x, y)`` (per element, for gradient
  boosting) against NumPy's ``sigmoid(x) - y`` and ``e / (1 + e)^2`` sharing ``e = exp(-|x|)``, and
  scikit-learn's ``HalfBinomialLoss.gradient_hessian`` with ``--sklearn``;
- ``bce(p)``: ``binary_cross_entropy(p, y)`` (mean, on probabilities) against
  ``-(y * max(log p, -100) + (1 - y) * max(log1p(-p), -100)).mean()``;
- ``loss(pw)``: the mean loss of ``x`` and ``y`` seen as ``(n / 8, 8)``, 8 classes with one
  ``pos_weight`` each (the broadcast multi-label training uses), against NumPy's stable expression
  with ``pos_weight`` (skipped for sizes that are not a multiple of 8);

and, as the roofline, the time to read both arrays once (``x.sum() + y.sum()``). Ratios are taken
within one run: the contestants of a row are timed in interleaved rounds, so a noisy neighbour slows
them alike. Before timing, every contestant's result is checked against NumPy's.

``--dask N`` times something else instead: the mean loss of N float32 elements (4e8 by default)
that Dask generates chunk by chunk, with ``fastbce.dask`` on the threaded scheduler, against
generating and reading them alone and against NumPy's expression run by Dask.

Only NumPy is needed; matplotlib (``--plot``), scikit-learn (``--sklearn``), torch (``--torch``) and
Dask (``--dask``) are imported only when asked for.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

import fastbce

DEFAULT_SIZES = (1_000, 100_000, 1_000_000, 10_000_000)
QUICK_SIZES = (64, 1_000, 10_000)
DEFAULT_DTYPES = ("float32", "float64")
DEFAULT_REPEAT = 7
QUICK_REPEAT = 3
# One timed batch runs a call this long at least, so that small sizes are not timer noise.
DEFAULT_MIN_TIME = 0.02
QUICK_MIN_TIME = 0.002
SEED = 20240611
LOGIT_STD = 3.0
RTOL = {"float32": 1e-4, "float64": 1e-9}

Call = Callable[[], Any]


# --------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True)
class Inputs:
    """One size and dtype: logits x ~ N(0, 3), labels y in {0, 1}, probabilities p = sigmoid(x)."""

    x: np.ndarray
    y: np.ndarray
    p: np.ndarray


def make_inputs(n: int, dtype: str, seed: int = SEED) -> Inputs:
    rng = np.random.default_rng([seed, n])
    x64 = rng.normal(0.0, LOGIT_STD, n)
    y = rng.integers(0, 2, n).astype(dtype)
    p = (0.5 + 0.5 * np.tanh(0.5 * x64)).clip(0.0, 1.0).astype(dtype)
    return Inputs(x=x64.astype(dtype), y=y, p=p)


# --------------------------------------------------------------------------------------------
# Kernels: what is computed, and NumPy's way of computing it


def numpy_logits_loss(x: np.ndarray, y: np.ndarray) -> Any:
    return (np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))).mean()


def numpy_logits_loss_and_grad(x: np.ndarray, y: np.ndarray) -> tuple[Any, np.ndarray]:
    e = np.exp(-np.abs(x))
    loss = (np.maximum(x, 0) - x * y + np.log1p(e)).mean()
    r = 1 / (1 + e)
    sigmoid = np.where(x >= 0, r, e * r)
    return loss, (sigmoid - y) / x.size


def numpy_grad_hess(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    e = np.exp(-np.abs(x))
    r = 1 / (1 + e)
    sigmoid = np.where(x >= 0, r, e * r)
    return sigmoid - y, e * r * r


# ``loss(pw)``: one pos_weight per class, for 8 classes.
CLASS_POS_WEIGHT = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 1.5, 3.0)


def class_pos_weight(dtype: Any) -> np.ndarray:
    return np.array(CLASS_POS_WEIGHT, dtype=dtype)


def numpy_pos_weight_loss(x: np.ndarray, y: np.ndarray) -> Any:
    lw = 1 + (class_pos_weight(x.dtype) - 1) * y
    return ((1 - y) * x + lw * (np.log1p(np.exp(-np.abs(x))) + np.maximum(-x, 0))).mean()


def numpy_probability_loss(p: np.ndarray, y: np.ndarray) -> Any:
    with np.errstate(divide="ignore"):
        log_p = np.maximum(np.log(p), -100)
        log_q = np.maximum(np.log1p(-p), -100)
    return -(y * log_p + (1 - y) * log_q).mean()


@dataclass(frozen=True)
class Kernel:
    name: str
    fastbce_call: str  # shown in the legend
    numpy_call: str  # shown in the legend
    on_probabilities: bool
    numpy: Callable[[np.ndarray, np.ndarray], Any]
    classes: int | None = None  # operands seen as (n / classes, classes)

    def operands(self, inputs: Inputs) -> tuple[np.ndarray, np.ndarray]:
        a, b = (inputs.p if self.on_probabilities else inputs.x), inputs.y
        if self.classes is not None:
            return a.reshape(-1, self.classes), b.reshape(-1, self.classes)
        return a, b

    def takes(self, n: int) -> bool:
        """Whether the kernel runs at size ``n``."""
        return self.classes is None or n % self.classes == 0


KERNELS: dict[str, Kernel] = {
    k.name: k
    for k in (
        Kernel(
            "loss",
            "binary_cross_entropy_with_logits(x, y)",
            "(max(x,0) - x*y + log1p(exp(-|x|))).mean()",
            False,
            numpy_logits_loss,
        ),
        Kernel(
            "loss+grad",
            "binary_cross_entropy_with_logits_value_and_grad(x, y)",
            "the same loss, and (sigmoid(x) - y)/n sharing exp(-|x|)",
            False,
            numpy_logits_loss_and_grad,
        ),
        Kernel(
            "grad+hess",
            "binary_cross_entropy_with_logits_grad_hess(x, y)",
            "sigmoid(x) - y and e/(1+e)^2 per element, sharing e = exp(-|x|)",
            False,
            numpy_grad_hess,
        ),
        Kernel(
            "bce(p)",
            "binary_cross_entropy(p, y)",
            "-(y*max(log p,-100) + (1-y)*max(log1p(-p),-100)).mean()",
            True,
            numpy_probability_loss,
        ),
        Kernel(
            "loss(pw)",
            "binary_cross_entropy_with_logits(x, y, pos_weight=pw), x (n/8, 8), pw (8,)",
            "((1-y)*x + (1+(pw-1)*y)*(log1p(exp(-|x|)) + max(-x,0))).mean()",
            False,
            numpy_pos_weight_loss,
            classes=len(CLASS_POS_WEIGHT),
        ),
    )
}


# --------------------------------------------------------------------------------------------
# Backends: who computes a kernel. A backend binds a kernel to its operands and a thread count,
# giving a call without arguments (or None where it has no such kernel).

Binder = Callable[[str, np.ndarray, np.ndarray, int], Optional[Call]]


@dataclass(frozen=True)
class Backend:
    name: str
    bind: Binder
    threaded: bool = False  # timed once per --threads value
    set_threads: Callable[[int], None] | None = None  # called outside the timed region
    get_threads: Callable[[], int] | None = None


def _bind_numpy(kernel: str, a: np.ndarray, b: np.ndarray, threads: int) -> Call | None:
    fn = KERNELS[kernel].numpy
    return lambda: fn(a, b)


def _bind_fastbce(kernel: str, a: np.ndarray, b: np.ndarray, threads: int) -> Call | None:
    if kernel == "loss":
        return lambda: fastbce.binary_cross_entropy_with_logits(a, b)
    if kernel == "loss+grad":
        return lambda: fastbce.binary_cross_entropy_with_logits_value_and_grad(a, b)
    if kernel == "grad+hess":
        return lambda: fastbce.binary_cross_entropy_with_logits_grad_hess(a, b)
    if kernel == "bce(p)":
        return lambda: fastbce.binary_cross_entropy(a, b)
    if kernel == "loss(pw)":
        pw = class_pos_weight(a.dtype)
        return lambda: fastbce.binary_cross_entropy_with_logits(a, b, pos_weight=pw)
    return None


NUMPY = Backend("numpy", _bind_numpy)
FASTBCE = Backend(
    "fastbce",
    _bind_fastbce,
    threaded=True,
    set_threads=fastbce.set_num_threads,
    get_threads=fastbce.get_num_threads,
)


def sklearn_backend() -> Backend:
    """scikit-learn's HalfBinomialLoss: the same loss (log(1 + exp(x)) - y*x) and gradient
    (sigmoid(x) - y) per element, with OpenMP threads. It has no loss on probabilities."""
    loss_module = importlib.import_module("sklearn._loss.loss")
    half_binomial = loss_module.HalfBinomialLoss()

    def bind(kernel: str, a: np.ndarray, b: np.ndarray, threads: int) -> Call | None:
        if kernel == "loss":
            return lambda: half_binomial.loss(b, a, n_threads=threads).mean()
        if kernel == "loss+grad":

            def loss_and_grad() -> tuple[Any, np.ndarray]:
                loss, grad = half_binomial.loss_gradient(b, a, n_threads=threads)
                return loss.mean(), np.divide(grad, a.size, out=grad)

            return loss_and_grad
        if kernel == "grad+hess":
            return lambda: half_binomial.gradient_hessian(b, a, n_threads=threads)
        return None

    return Backend("sklearn", bind, threaded=True)


def torch_backend() -> Backend:
    """torch.nn.functional on CPU tensors sharing the NumPy arrays' memory; the gradient by
    autograd."""
    torch = importlib.import_module("torch")
    functional = torch.nn.functional

    def bind(kernel: str, a: np.ndarray, b: np.ndarray, threads: int) -> Call | None:
        at, bt = torch.from_numpy(a), torch.from_numpy(b)
        if kernel == "loss":
            return lambda: functional.binary_cross_entropy_with_logits(at, bt)
        if kernel == "loss+grad":

            def loss_and_grad() -> tuple[Any, Any]:
                leaf = at.detach().requires_grad_(True)
                loss = functional.binary_cross_entropy_with_logits(leaf, bt)
                (grad,) = torch.autograd.grad(loss, leaf)
                return loss.detach(), grad

            return loss_and_grad
        if kernel == "bce(p)":
            return lambda: functional.binary_cross_entropy(at, bt)
        if kernel == "loss(pw)":
            pw = torch.from_numpy(class_pos_weight(a.dtype))
            return lambda: functional.binary_cross_entropy_with_logits(at, bt, pos_weight=pw)
        return None

    return Backend(
        "torch",
        bind,
        threaded=True,
        set_threads=torch.set_num_threads,
        get_threads=torch.get_num_threads,
    )


OPTIONAL_BACKENDS: dict[str, Callable[[], Backend]] = {
    "sklearn": sklearn_backend,
    "torch": torch_backend,
}


# --------------------------------------------------------------------------------------------
# Agreement


def as_numpy(value: Any) -> Any:
    """Results as NumPy: tuples element-wise, torch tensors through .numpy()."""
    if isinstance(value, tuple):
        return tuple(as_numpy(v) for v in value)
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def disagreement(got: Any, want: Any, rtol: float) -> str | None:
    """None if ``got`` matches ``want`` (a scalar, an array or a tuple of them) within ``rtol``,
    relative to the largest magnitude of each part; otherwise what differs."""
    got, want = as_numpy(got), as_numpy(want)
    if isinstance(want, tuple):
        if not isinstance(got, tuple) or len(got) != len(want):
            return f"expected {len(want)} results, got {type(got).__name__}"
        for part, (g, w) in zip(("first", "second"), zip(got, want)):
            problem = disagreement(g, w, rtol)
            if problem:
                return f"{part}: {problem}"
        return None
    g, w = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if g.shape != w.shape:
        return f"shape {g.shape} instead of {w.shape}"
    if g.size == 0:
        return None
    scale = float(np.max(np.abs(w)))
    if not np.all(np.isfinite(g)):
        return f"not finite ({np.count_nonzero(~np.isfinite(g))} values)"
    err = float(np.max(np.abs(g - w)))
    if err <= rtol * scale:
        return None
    where = "" if g.ndim == 0 else " (largest difference)"
    return f"differs by {err:.3g} relative to {scale:.3g}{where}: {err / scale:.2g} > rtol {rtol:g}"


# --------------------------------------------------------------------------------------------
# Timing


@dataclass
class Contestant:
    backend: str
    threads: int | None  # None: not threaded (numpy, the roofline)
    call: Call
    prepare: Call | None = None  # run before each timed batch, outside the timing
    number: int = 1  # calls per timed batch
    times: list[float] = field(default_factory=list)  # seconds per call, one per batch


def _batch(c: Contestant, number: int) -> float:
    if c.prepare is not None:
        c.prepare()
    call = c.call
    start = time.perf_counter()
    for _ in range(number):
        call()
    return time.perf_counter() - start


def calibrate(c: Contestant, min_time: float) -> None:
    """Warm up, then choose how many calls one batch makes so that it lasts ``min_time``."""
    _batch(c, 1)
    number = 1
    while True:
        elapsed = _batch(c, number)
        if elapsed >= min_time or number >= 1 << 24:
            break
        guess = int(number * 1.2 * min_time / max(elapsed, 1e-9)) + 1
        number = min(max(2 * number, guess), 100 * number)
    c.number = number


def measure(contestants: Sequence[Contestant], repeat: int, min_time: float) -> None:
    """Times every contestant ``repeat`` times, in interleaved rounds."""
    for c in contestants:
        calibrate(c, min_time)
    for _ in range(repeat):
        for c in contestants:
            c.times.append(_batch(c, c.number) / c.number)


# --------------------------------------------------------------------------------------------
# The run


@dataclass(frozen=True)
class Config:
    sizes: tuple[int, ...]
    dtypes: tuple[str, ...]
    kernels: tuple[str, ...]
    threads: tuple[int, ...]
    repeat: int
    min_time: float
    seed: int
    backends: tuple[Backend, ...]  # compared with fastbce; numpy always included


@dataclass(frozen=True)
class Result:
    dtype: str
    n: int
    kernel: str
    backend: str  # "fastbce", "numpy", "read" (the roofline), "sklearn", "torch"
    threads: int | None
    median_s: float
    min_s: float
    times_s: tuple[float, ...]
    calls_per_batch: int

    @property
    def melem_per_s(self) -> float:
        return self.n / self.median_s / 1e6


def run_cell(
    config: Config,
    kernel: Kernel,
    inputs: Inputs,
    dtype: str,
    log: Callable[[str], None],
) -> list[Result]:
    a, b = kernel.operands(inputs)
    n = a.size
    reference = kernel.numpy(a, b)
    contestants = [Contestant("read", None, lambda: a.sum() + b.sum())]
    for backend in (NUMPY, FASTBCE, *config.backends):
        thread_counts: Sequence[int | None] = config.threads if backend.threaded else [None]
        for threads in thread_counts:
            call = backend.bind(kernel.name, a, b, threads or 1)
            if call is None:
                continue
            prepare = _setter(backend.set_threads, threads)
            if prepare is not None:
                prepare()
            if backend is not NUMPY:
                problem = disagreement(call(), reference, RTOL[dtype])
                if problem:
                    who = backend.name + (f" ({threads} threads)" if threads else "")
                    log(f"WARNING: {who} and NumPy disagree on {kernel.name}, {dtype}, n={n:,}: {problem}")
            contestants.append(Contestant(backend.name, threads, call, prepare))
    measure(contestants, config.repeat, config.min_time)
    return [
        Result(
            dtype=dtype,
            n=n,
            kernel=kernel.name,
            backend=c.backend,
            threads=c.threads,
            median_s=statistics.median(c.times),
            min_s=min(c.times),
            times_s=tuple(c.times),
            calls_per_batch=c.number,
        )
        for c in contestants
    ]


def _setter(set_threads: Callable[[int], None] | None, threads: int | None) -> Call | None:
    if set_threads is None or threads is None:
        return None
    return lambda: set_threads(threads)


@contextmanager
def threads_restored(backends: Sequence[Backend]) -> Iterator[None]:
    """Puts every backend's thread count back as it was, whatever happens in between."""
    saved = [
        (b.set_threads, b.get_threads())
        for b in backends
        if b.set_threads is not None and b.get_threads is not None
    ]
    try:
        yield
    finally:
        for set_threads, threads in saved:
            set_threads(threads)


def run(config: Config, log: Callable[[str], None]) -> Iterator[tuple[str, list[Result]]]:
    """Yields, dtype after dtype, the results for that dtype."""
    with threads_restored((FASTBCE, *config.backends)):
        for dtype in config.dtypes:
            results: list[Result] = []
            for n in config.sizes:
                inputs = make_inputs(n, dtype, config.seed)
                for name in config.kernels:
                    if not KERNELS[name].takes(n):
                        continue
                    progress(f"{dtype} n={n:,} {name}")
                    results += run_cell(config, KERNELS[name], inputs, dtype, log)
                del inputs
            progress("")
            yield dtype, results


def progress(text: str) -> None:
    if sys.stderr.isatty():
        sys.stderr.write(f"\r\033[K{text and '  running ' + text + ' ...'}")
        sys.stderr.flush()


# --------------------------------------------------------------------------------------------
# Printing


def _micro() -> str:
    try:
        "\u00b5".encode(sys.stdout.encoding or "ascii")
        return "\u00b5"
    except (UnicodeEncodeError, LookupError):
        return "u"


def format_seconds(s: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), (_micro() + "s", 1e-6)):
        if s >= scale * 0.9995:
            return f"{_sig3(s / scale)} {unit}"
    return f"{_sig3(s / 1e-9)} ns"


def _sig3(v: float) -> str:
    return f"{v:.0f}" if v >= 99.95 else f"{v:#.3g}" if v >= 1 else f"{v:#.2g}"


def format_ratio(r: float) -> str:
    return f"{r:.0f}x" if r >= 99.95 else f"{r:#.3g}x" if r >= 1 else f"{r:.2f}x"


def format_rate(melem_per_s: float) -> str:
    return f"{melem_per_s:,.0f}" if melem_per_s >= 99.95 else f"{melem_per_s:#.3g}"


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> str:
    """Columns sized to fit; the first ``left`` columns aligned left, the others right."""
    widths = [max(len(r[i]) for r in (headers, *rows)) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


TABLE_HEADERS = (
    "kernel",
    "n",
    "threads",
    "fastbce",
    "numpy",
    "speedup",
    "fastbce M/s",
    "numpy M/s",
    "read x,y",
    "fastbce/read",
)


def dtype_table(results: Sequence[Result], extra: Sequence[str]) -> str:
    """One row per kernel, size and thread count; ``extra`` names further backends, each given a
    time column and a ratio to fastbce."""
    headers = list(TABLE_HEADERS)
    for name in extra:
        headers += [name, f"{name}/fastbce"]
    index = {(r.kernel, r.n, r.backend, r.threads): r for r in results}
    rows = []
    kernels = list(dict.fromkeys(r.kernel for r in results))
    for kernel in kernels:
        first = True
        for n in sorted({r.n for r in results if r.kernel == kernel}):
            numpy_r = index[(kernel, n, "numpy", None)]
            read = index[(kernel, n, "read", None)]
            mine = sorted(
                (r for r in results if (r.kernel, r.n, r.backend) == (kernel, n, "fastbce")),
                key=lambda r: r.threads or 0,
            )
            for fb in mine:
                row = [
                    kernel if first else "",
                    f"{n:,}",
                    str(fb.threads),
                    format_seconds(fb.median_s),
                    format_seconds(numpy_r.median_s),
                    format_ratio(numpy_r.median_s / fb.median_s),
                    format_rate(fb.melem_per_s),
                    format_rate(numpy_r.melem_per_s),
                    format_seconds(read.median_s),
                    format_ratio(fb.median_s / read.median_s),
                ]
                for name in extra:
                    other = index.get((kernel, n, name, fb.threads))
                    row += (
                        ["-", "-"]
                        if other is None
                        else [
                            format_seconds(other.median_s),
                            format_ratio(other.median_s / fb.median_s),
                        ]
                    )
                rows.append(row)
                first = False
    return render_table(headers, rows)


def machine_description() -> dict[str, Any]:
    core = getattr(fastbce, "_core", None)
    simd = getattr(core, "simd_level", None)
    affinity = getattr(os, "sched_getaffinity", None)
    return {
        "processor": _processor_name(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(affinity(0)) if affinity is not None else None,
        "system": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "fastbce": getattr(fastbce, "__version__", "?"),
        "fastbce_threads": fastbce.get_num_threads(),
        "fastbce_simd": simd() if callable(simd) else None,
    }


def _processor_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for text in f:
                if text.startswith("model name"):
                    return text.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown processor"


def machine_line(m: dict[str, Any]) -> str:
    cpus = f"{m['cpu_count']} logical CPUs"
    if m["usable_cpus"] is not None and m["usable_cpus"] != m["cpu_count"]:
        cpus += f" ({m['usable_cpus']} usable)"
    simd = f", SIMD {m['fastbce_simd']}" if m["fastbce_simd"] else ""
    return (
        f"machine: {m['processor']}, {cpus}, {m['system']}\n"
        f"software: Python {m['python']}, NumPy {m['numpy']}, fastbce {m['fastbce']} "
        f"({m['fastbce_threads']} threads{simd})"
    )


def legend(config: Config) -> str:
    width = max(len(k) for k in config.kernels)
    lines = [
        (f"inputs: x ~ N(0, {LOGIT_STD:g}) logits, y in {{0, 1}} labels, p = sigmoid(x); seed {config.seed}"),
        (
            f"times: median of {config.repeat} interleaved runs, each at least "
            f"{format_seconds(config.min_time)} of repeated calls"
        ),
        (
            "speedup: NumPy's time / fastbce's (how many times faster fastbce is); "
            "M/s: million elements per second"
        ),
        ("read x,y: x.sum() + y.sum() in NumPy (one thread), reading both arrays once (the roofline)"),
        "fastbce/read: fastbce's time / that",
    ]
    for name in config.kernels:
        k = KERNELS[name]
        lines.append(f"  {name.ljust(width)}  fastbce: {k.fastbce_call}")
        lines.append(f"  {''.ljust(width)}  numpy:   {k.numpy_call}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Files


def write_json(path: str, machine: dict[str, Any], config: Config, results: list[Result]) -> None:
    document = {
        "machine": machine,
        "config": {
            "sizes": list(config.sizes),
            "dtypes": list(config.dtypes),
            "kernels": list(config.kernels),
            "threads": list(config.threads),
            "repeat": config.repeat,
            "min_time_s": config.min_time,
            "seed": config.seed,
            "backends": ["fastbce", "numpy", *(b.name for b in config.backends)],
        },
        "results": [
            {
                "dtype": r.dtype,
                "n": r.n,
                "kernel": r.kernel,
                "backend": r.backend,
                "threads": r.threads,
                "median_s": r.median_s,
                "min_s": r.min_s,
                "times_s": list(r.times_s),
                "calls_per_batch": r.calls_per_batch,
                "melem_per_s": r.melem_per_s,
            }
            for r in results
        ],
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(document, f, indent=1)
        f.write("\n")


PLOT_COLORS = {
    "read": "black",
    "fastbce": "C0",
    "numpy": "C1",
    "sklearn": "C2",
    "torch": "C3",
}
# Several thread counts: one backend's lines in shades of one colour, darker with more threads.
PLOT_SHADES = {"fastbce": "Blues", "sklearn": "Greens", "torch": "Reds"}


def _plot_color(plt: Any, backend: str, threads: int | None, counts: Sequence[int]) -> Any:
    if threads is None or len(counts) < 2 or backend not in PLOT_SHADES:
        return PLOT_COLORS.get(backend)
    shade = 0.35 + 0.65 * sorted(counts).index(threads) / (len(counts) - 1)
    return plt.get_cmap(PLOT_SHADES[backend])(shade)


def no_matplotlib(path: str) -> str:
    return (
        f"--plot: matplotlib is not installed, so no plot will be written to {path} "
        "(pip install matplotlib, or fastbce[bench])"
    )


def write_plot(path: str, machine: dict[str, Any], config: Config, results: list[Result]) -> str:
    """Throughput against size, one panel per dtype and kernel. Returns what happened."""
    try:
        matplotlib = importlib.import_module("matplotlib")
    except ImportError:
        return no_matplotlib(path)
    matplotlib.use("Agg")
    plt = importlib.import_module("matplotlib.pyplot")
    rows, cols = len(config.dtypes), len(config.kernels)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False, sharex=True)
    for i, dtype in enumerate(config.dtypes):
        for j, kernel in enumerate(config.kernels):
            ax = axes[i][j]
            mine = [r for r in results if r.dtype == dtype and r.kernel == kernel]
            series = dict.fromkeys((r.backend, r.threads) for r in mine)
            for backend, threads in series:
                points = sorted(
                    (r.n, r.melem_per_s) for r in mine if (r.backend, r.threads) == (backend, threads)
                )
                label = "read x,y (roofline)" if backend == "read" else backend
                if threads is not None and len(config.threads) > 1:
                    label += f", {threads} thread{'s' if threads > 1 else ''}"
                ax.plot(
                    *zip(*points),
                    linestyle="--" if backend == "read" else "-",
                    marker="" if backend == "read" else "o",
                    color=_plot_color(plt, backend, threads, config.threads),
                    label=label,
                    markersize=3,
                )
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(f"{kernel}, {dtype}", fontsize=10)
            ax.grid(True, which="major", alpha=0.3)
            if i == rows - 1:
                ax.set_xlabel("elements")
            if j == 0:
                ax.set_ylabel("million elements / s")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(
        f"fastbce {machine['fastbce']} vs NumPy {machine['numpy']}: {machine['processor']}, "
        f"{machine['cpu_count']} CPUs",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return f"plot written to {path}"


# --------------------------------------------------------------------------------------------
# Command line


def _positive_ints(text: str) -> tuple[int, ...]:
    values = []
    for token in text.replace(" ", "").split(","):
        if not token:
            continue
        try:
            number = float(token)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{token!r} is not a number") from None
        if not number.is_integer() or number < 1:
            raise argparse.ArgumentTypeError(f"{token!r} is not a positive integer")
        values.append(int(number))
    if not values:
        raise argparse.ArgumentTypeError("nothing given")
    return tuple(dict.fromkeys(values))


def _choices(text: str, allowed: Sequence[str]) -> tuple[str, ...]:
    values = tuple(dict.fromkeys(t for t in text.replace(" ", "").split(",") if t))
    unknown = [v for v in values if v not in allowed]
    if unknown or not values:
        raise argparse.ArgumentTypeError(
            f"{', '.join(unknown) or 'nothing given'}: choose from {', '.join(allowed)}"
        )
    return values


def batch_scoring(
    workers: Sequence[int], batch: int, calls: int, repeat: int, seed: int = SEED
) -> list[tuple[int, float]]:
    """A batch-scoring service: k Python threads each scoring its own batches (per-row float32
    losses, reduction "none") with fastbce's own pool at one thread, so that the parallelism comes
    from the callers. Returns (k, median million rows per second) for each k."""
    inputs = [make_inputs(batch, "float32", seed + i) for i in range(8)]

    def once(k: int) -> float:
        def work() -> None:
            for i in range(calls):
                batch_inputs = inputs[i % len(inputs)]
                fastbce.binary_cross_entropy_with_logits(batch_inputs.x, batch_inputs.y, reduction="none")

        threads = [threading.Thread(target=work) for _ in range(k)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return k * calls * batch / (time.perf_counter() - start) / 1e6

    before = fastbce.get_num_threads()
    fastbce.set_num_threads(1)
    try:
        once(1)  # warm-up
        return [(k, statistics.median(once(k) for _ in range(repeat))) for k in workers]
    finally:
        fastbce.set_num_threads(before)


def batch_scoring_table(rates: Sequence[tuple[int, float]], batch: int) -> str:
    one = rates[0][1] if rates and rates[0][0] == 1 else None
    rows = [[str(k), format_rate(r), "" if one is None else format_ratio(r / one)] for k, r in rates]
    title = (
        f"batch scoring: k Python threads, each scoring float32 batches of {batch:,} rows "
        "(reduction='none', fastbce.set_num_threads(1))"
    )
    return title + "\n" + render_table(["callers", "M rows/s", "vs 1 caller"], rows)


DASK_CHUNK = 1 << 22  # elements per chunk of the --dask dataset (16 MiB of float32)
DASK_DEFAULT_N = 400_000_000
DASK_REPEAT = 3


def dask_dataset(n: int, seed: int = SEED, chunk: int = DASK_CHUNK) -> tuple[Any, Any]:
    """Logits x ~ N(0, 3) and labels y = 1[x + U(-2, 2) > 0], float32 Dask arrays of ``n``
    elements that Dask generates chunk by chunk from seeded generators when a computation asks for
    a chunk: the dataset is never in memory at once."""
    import dask.array as da

    x = da.random.default_rng(seed).standard_normal(n, chunks=chunk, dtype=np.float32) * np.float32(LOGIT_STD)
    noise = da.random.default_rng(seed + 1).random(n, chunks=chunk, dtype=np.float32)
    y = (x + (noise * np.float32(4) - np.float32(2)) > 0).astype(np.float32)
    return x, y


def dask_throughput(n: int, repeat: int, seed: int = SEED) -> tuple[dict[str, float], dict[str, float]]:
    """Median seconds of three computations over the same lazily generated dataset, on Dask's
    threaded scheduler, timed in interleaved rounds: generating it and reading it once
    (``x.sum() + y.sum()``: the bound a loss over it cannot beat), fastbce.dask's mean loss, and
    NumPy's stable expression run by Dask. Returns (times, values)."""
    import dask
    import dask.array as da

    import fastbce.dask

    x, y = dask_dataset(n, seed)
    graphs = {
        "generate + read x, y": x.sum(dtype=np.float64) + y.sum(dtype=np.float64),
        "fastbce.dask mean loss": fastbce.dask.binary_cross_entropy_with_logits(x, y),
        "NumPy expression on Dask": (da.maximum(x, 0) - x * y + da.log1p(da.exp(-abs(x)))).mean(
            dtype=np.float64
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in graphs}
    values: dict[str, float] = {}
    for _ in range(repeat):
        for name, graph in graphs.items():
            progress(f"dask: {name}")
            start = time.perf_counter()
            values[name] = float(dask.compute(graph, scheduler="threads")[0])
            times[name].append(time.perf_counter() - start)
    progress("")
    return {name: statistics.median(t) for name, t in times.items()}, values


def dask_table(n: int, repeat: int, times: dict[str, float], values: dict[str, float]) -> str:
    import dask

    chunks = -(-n // DASK_CHUNK)
    title = (
        f"dask {dask.__version__}: n = {n:,} float32 logits and labels in {chunks:,} chunks of up to "
        f"{DASK_CHUNK:,} elements, generated chunk by chunk (never in memory at once); threaded "
        f"scheduler, {os.cpu_count()} CPUs, fastbce {fastbce.get_num_threads()} threads; median of {repeat}"
    )
    generate = times["generate + read x, y"]
    rows = [
        [
            name,
            format_seconds(t),
            format_rate(n / t / 1e6),
            format_ratio(generate / t),
            "" if name.startswith("generate") else f"{values[name]:.7g}",
        ]
        for name, t in times.items()
    ]
    headers = ["computation", "time", "M elem/s", "vs generate", "mean loss"]
    table = title + "\n" + render_table(headers, rows)
    got, want = values["fastbce.dask mean loss"], values["NumPy expression on Dask"]
    problem = disagreement(got, want, RTOL["float32"])
    if problem:
        table += f"\nWARNING: fastbce.dask and the NumPy expression disagree: {problem}"
    return table


def dask_main(n: int, repeat: int, seed: int) -> int:
    print(machine_line(machine_description()))
    if importlib.util.find_spec("dask") is None:
        print("--dask: Dask is not installed (pip install fastbce[dask])")
        return 1
    times, values = dask_throughput(n, repeat, seed)
    print("\n" + dask_table(n, repeat, times, values))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python benchmarks/bench.py",
        description="Times fastbce against NumPy (and scikit-learn or torch, where installed): "
        "mean loss, loss and gradient, and BCE on probabilities, for float32 and float64.",
    )
    p.add_argument(
        "--sizes",
        type=_positive_ints,
        help="comma-separated element counts, e.g. 64,1e4,1e6 (default: 1e3,1e5,1e6,1e7; "
        "--quick: 64,1e3,1e4)",
    )
    p.add_argument(
        "--dtypes",
        type=lambda s: _choices(s, DEFAULT_DTYPES),
        default=DEFAULT_DTYPES,
        help="comma-separated, from float32,float64 (default: both)",
    )
    p.add_argument(
        "--kernels",
        type=lambda s: _choices(s, tuple(KERNELS)),
        default=tuple(KERNELS),
        help=f"comma-separated, from {','.join(KERNELS)} (default: all)",
    )
    p.add_argument(
        "--threads",
        type=_positive_ints,
        help="comma-separated fastbce thread counts to time, e.g. 1,2 (set with "
        "fastbce.set_num_threads, restored afterwards; default: the current count)",
    )
    p.add_argument(
        "--repeat",
        type=lambda s: _positive_ints(s)[0],
        help=f"timed runs per measurement; the median is reported (default {DEFAULT_REPEAT}, "
        f"--quick {QUICK_REPEAT})",
    )
    p.add_argument(
        "--min-time",
        type=float,
        help=f"seconds each timed run lasts at least, by repeating the call (default "
        f"{DEFAULT_MIN_TIME:g}, --quick {QUICK_MIN_TIME:g})",
    )
    p.add_argument("--seed", type=int, default=SEED, help="random seed for the inputs")
    p.add_argument(
        "--quick",
        action="store_true",
        help="small sizes and few runs: a smoke test in seconds",
    )
    p.add_argument("--plot", metavar="PATH", help="write a PNG of throughput vs size (matplotlib)")
    p.add_argument("--json", metavar="PATH", help="write the raw results as JSON")
    p.add_argument(
        "--sklearn",
        action="store_true",
        help="also time scikit-learn's HalfBinomialLoss (with the same thread counts)",
    )
    p.add_argument("--torch", action="store_true", help="also time torch.nn.functional (CPU)")
    p.add_argument(
        "--batch-scoring",
        type=_positive_ints,
        metavar="K,K,...",
        help="also time k Python threads scoring their own batches, for each k (e.g. 1,2)",
    )
    p.add_argument(
        "--dask",
        type=lambda s: _positive_ints(s)[0],
        nargs="?",
        const=DASK_DEFAULT_N,
        metavar="N",
        help=f"instead of the table: the mean loss of N float32 elements (default {DASK_DEFAULT_N:.0e}) "
        "with fastbce.dask on Dask's threaded scheduler, generated chunk by chunk, against generating "
        "and reading them alone (needs fastbce[dask]; --repeat runs, default "
        f"{DASK_REPEAT})",
    )
    return p


def config_from(args: argparse.Namespace, log: Callable[[str], None]) -> Config:
    backends = []
    for name, factory in OPTIONAL_BACKENDS.items():
        if getattr(args, name):
            try:
                backends.append(factory())
            except ImportError as e:
                log(f"--{name}: {name} cannot be imported ({e}); comparing without it")
    min_time = args.min_time
    if min_time is None:
        min_time = QUICK_MIN_TIME if args.quick else DEFAULT_MIN_TIME
    return Config(
        sizes=args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES),
        dtypes=args.dtypes,
        kernels=args.kernels,
        threads=args.threads or (fastbce.get_num_threads(),),
        repeat=args.repeat or (QUICK_REPEAT if args.quick else DEFAULT_REPEAT),
        min_time=max(min_time, 0.0),
        seed=args.seed,
        backends=tuple(backends),
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)

    def log(text: str) -> None:
        progress("")
        print(text, flush=True)

    if args.dask:
        return dask_main(args.dask, args.repeat or DASK_REPEAT, args.seed)
    config = config_from(args, log)
    plot = args.plot
    if plot and importlib.util.find_spec("matplotlib") is None:
        log(no_matplotlib(plot))
        plot = None
    machine = machine_description()
    print(machine_line(machine))
    print(legend(config))
    extra = [b.name for b in config.backends]
    results: list[Result] = []
    for dtype, dtype_results in run(config, log):
        results += dtype_results
        print(f"\n{dtype}")
        print(dtype_table(dtype_results, extra), flush=True)
    if args.json:
        write_json(args.json, machine, config, results)
        print(f"\nresults written to {args.json}")
    if args.batch_scoring:
        batch = 10_000 if args.quick else 100_000
        calls = 200 if args.quick else 100
        repeat = QUICK_REPEAT if args.quick else DEFAULT_REPEAT
        rates = batch_scoring(args.batch_scoring, batch, calls, repeat, args.seed)
        print("\n" + batch_scoring_table(rates, batch))
    if plot:
        print("\n" + write_plot(plot, machine, config, results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
