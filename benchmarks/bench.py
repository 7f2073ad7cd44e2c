"""Benchmark: fastbce against NumPy and the peers a user would pick instead, with the roofline.

``python benchmarks/bench.py`` (``pip install ".[bench]"`` first for matplotlib and the peers) times,
for each row and size, the median of interleaved runs of:

- fastbce, and NumPy's usual stable expressions (``benchmarks/peers.py`` has them all);
- each peer that is installed (``--peers`` chooses): numba ``@njit(parallel=True)`` loops,
  ``jax.jit`` of the same expressions, torch.nn.functional on CPU, scikit-learn's HalfBinomialLoss;
- the roofline: streaming the row's bytes once with the same threads (reading the operands, and
  writing as many arrays as the row returns), which bounds how fast the row can be at large sizes.

The rows (``--rows``; ``--dtypes`` and ``--kernels`` give a grid instead):

- ``loss``: ``binary_cross_entropy_with_logits(x, y)``, the mean loss;
- ``loss+grad``: ``binary_cross_entropy_with_logits_value_and_grad(x, y)``, the mean and its
  gradient;
- ``grad+hess``: ``binary_cross_entropy_with_logits_grad_hess(x, y)``, per element, for gradient
  boosting;
- ``bce(p)``: ``binary_cross_entropy(p, y)``, the mean on probabilities;
- ``loss(pw)``: the mean loss of ``x`` and ``y`` seen as ``(n / 8, 8)``, 8 classes with one
  ``pos_weight`` each;
- ``loss+grad(soft)``, ``grad+hess(soft)``: the same with soft labels, y uniform in [0, 1].

It prints a Markdown table (each cell: the time, and in brackets that time / fastbce's, so above 1
fastbce is faster) and writes a PNG of throughput against size, one panel per row
(``benchmarks/out/bench.png`` unless ``--plot`` says otherwise). Ratios are taken within one run:
the contestants of a cell are timed in interleaved rounds, so a noisy neighbour slows them alike.
Before timing, every result (fastbce's and each peer's) is checked against a float64 reference,
and a disagreement stops the run.

``--batch-scoring K,K`` adds a table of k Python threads scoring their own batches. ``--dask N``
times something else instead: the mean loss of N float32 elements (4e8 by default) that Dask
generates chunk by chunk, with ``fastbce.dask`` on the threaded scheduler, against generating and
reading them alone and against NumPy's expression run by Dask.

Only NumPy is needed; matplotlib, the peers and Dask are imported only when present or asked for.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import math
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

# OpenBLAS's threads spin in a NumPy process even where nothing calls BLAS (3-19% of the CPU
# samples in a fastbce profile here): on a small machine, time taken from fastbce's threads and
# every threaded peer's alike. Nothing timed here uses BLAS; a value the caller set is kept.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import fastbce
import numpy as np
import peers
from peers import NUMPY, NUMPY_EXPRESSIONS, Backend, Call, class_pos_weight

DEFAULT_SIZES = (64, 1_000, 10_000, 100_000, 1_000_000, 10_000_000)
QUICK_SIZES = (64, 1_000, 10_000)
DTYPES = ("float32", "float64")
DEFAULT_ROWS = (
    ("float32", "loss"),
    ("float32", "loss+grad"),
    ("float32", "grad+hess"),
    ("float32", "bce(p)"),
    ("float32", "loss+grad(soft)"),
    ("float64", "loss"),
    ("float64", "loss+grad"),
)
DEFAULT_REPEAT = 7
QUICK_REPEAT = 3
# One timed batch runs a call this long at least, so that small sizes are not timer noise.
DEFAULT_MIN_TIME = 0.02
QUICK_MIN_TIME = 0.002
SEED = 20240611
LOGIT_STD = 3.0
# Every result against the float64 reference, relative to the largest magnitude of each part.
RTOL = {"float32": 1e-5, "float64": 1e-9}
DEFAULT_PLOT = Path(__file__).resolve().parent / "out" / "bench.png"


# --------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True)
class Inputs:
    """One size and dtype: logits x ~ N(0, 3), labels y in {0, 1}, soft labels uniform in [0, 1],
    probabilities p = sigmoid(x)."""

    x: np.ndarray
    y: np.ndarray
    y_soft: np.ndarray
    p: np.ndarray


def make_inputs(n: int, dtype: str, seed: int = SEED) -> Inputs:
    rng = np.random.default_rng([seed, n])
    x64 = rng.normal(0.0, LOGIT_STD, n)
    y = rng.integers(0, 2, n).astype(dtype)
    y_soft = rng.random(n).astype(dtype)
    p = (0.5 + 0.5 * np.tanh(0.5 * x64)).clip(0.0, 1.0).astype(dtype)
    return Inputs(x=x64.astype(dtype), y=y, y_soft=y_soft, p=p)


# --------------------------------------------------------------------------------------------
# Kernels: what a row computes


@dataclass(frozen=True)
class Kernel:
    name: str
    computes: str  # the computation in peers.py (NumPy's expression and every peer's)
    title: str  # the row's name in the table and the plot
    fastbce_call: str  # shown in the legend
    on_probabilities: bool = False
    soft_labels: bool = False
    classes: int | None = None  # operands seen as (n / classes, classes)

    def operands(self, inputs: Inputs) -> tuple[np.ndarray, np.ndarray]:
        a = inputs.p if self.on_probabilities else inputs.x
        b = inputs.y_soft if self.soft_labels else inputs.y
        if self.classes is not None:
            return a.reshape(-1, self.classes), b.reshape(-1, self.classes)
        return a, b

    def takes(self, n: int) -> bool:
        """Whether the kernel runs at size ``n``."""
        return self.classes is None or n % self.classes == 0


KERNELS: dict[str, Kernel] = {
    k.name: k
    for k in (
        Kernel("loss", "loss", "mean loss", "binary_cross_entropy_with_logits(x, y)"),
        Kernel(
            "loss+grad",
            "loss+grad",
            "loss + grad",
            "binary_cross_entropy_with_logits_value_and_grad(x, y)",
        ),
        Kernel(
            "grad+hess",
            "grad+hess",
            "grad + hess",
            "binary_cross_entropy_with_logits_grad_hess(x, y)",
        ),
        Kernel(
            "bce(p)",
            "bce(p)",
            "mean BCE on probabilities",
            "binary_cross_entropy(p, y)",
            on_probabilities=True,
        ),
        Kernel(
            "loss(pw)",
            "loss(pw)",
            "mean loss, pos_weight per class (8)",
            "binary_cross_entropy_with_logits(x, y, pos_weight=pw), x (n/8, 8), pw (8,)",
            classes=len(peers.CLASS_POS_WEIGHT),
        ),
        Kernel(
            "loss+grad(soft)",
            "loss+grad",
            "loss + grad, soft labels",
            "binary_cross_entropy_with_logits_value_and_grad(x, y), y uniform in [0, 1]",
            soft_labels=True,
        ),
        Kernel(
            "grad+hess(soft)",
            "grad+hess",
            "grad + hess, soft labels",
            "binary_cross_entropy_with_logits_grad_hess(x, y), y uniform in [0, 1]",
            soft_labels=True,
        ),
    )
}


def row_title(dtype: str, kernel: str) -> str:
    return f"{dtype} {KERNELS[kernel].title}"


# --------------------------------------------------------------------------------------------
# fastbce, and the roofline


def _bind_fastbce(computes: str, a: np.ndarray, b: np.ndarray, threads: int) -> Call | None:
    if computes == "loss":
        return lambda: fastbce.binary_cross_entropy_with_logits(a, b)
    if computes == "loss+grad":
        return lambda: fastbce.binary_cross_entropy_with_logits_value_and_grad(a, b)
    if computes == "grad+hess":
        return lambda: fastbce.binary_cross_entropy_with_logits_grad_hess(a, b)
    if computes == "bce(p)":
        return lambda: fastbce.binary_cross_entropy(a, b)
    if computes == "loss(pw)":
        pw = class_pos_weight(a.dtype)
        return lambda: fastbce.binary_cross_entropy_with_logits(a, b, pos_weight=pw)
    return None


FASTBCE = Backend(
    "fastbce",
    _bind_fastbce,
    threaded=True,
    set_threads=fastbce.set_num_threads,
    get_threads=fastbce.get_num_threads,
)

# The roofline's parts: below this many elements a part, one thread streams it all (a hand-off to
# another thread would cost more than it saves); outputs are written in blocks that stay in cache.
STREAM_MIN_PART = 1 << 16
STREAM_BLOCK = 1 << 14
_stream_pools: dict[int, ThreadPoolExecutor] = {}


def stream(a: np.ndarray, b: np.ndarray, outputs: int, threads: int) -> Call:
    """A call that streams the operands once and writes ``outputs`` arrays of their size
    (preallocated) with up to ``threads`` threads, each its own contiguous part: the memory traffic
    of a row with nothing computed. NumPy releases the GIL in its loops, so the parts run in
    parallel."""
    x, y = a.reshape(-1), b.reshape(-1)
    outs = [np.empty_like(x) for _ in range(outputs)]
    parts = max(1, min(threads, x.size // STREAM_MIN_PART))
    bounds = [x.size * i // parts for i in range(parts + 1)]

    def part(lo: int, hi: int) -> Any:
        if outputs == 0:
            return x[lo:hi].sum() + y[lo:hi].sum()
        if outputs == 1:
            return np.add(x[lo:hi], y[lo:hi], out=outs[0][lo:hi])
        for start in range(lo, hi, STREAM_BLOCK):
            end = min(start + STREAM_BLOCK, hi)
            xs, ys = x[start:end], y[start:end]
            np.add(xs, ys, out=outs[0][start:end])
            np.subtract(xs, ys, out=outs[1][start:end])
        return None

    if parts == 1:
        return lambda: part(0, x.size)
    pool = _stream_pools.get(parts) or _stream_pools.setdefault(parts, ThreadPoolExecutor(parts - 1))

    def parallel() -> None:
        others = [pool.submit(part, bounds[i], bounds[i + 1]) for i in range(1, parts)]
        part(bounds[0], bounds[1])
        for f in others:
            f.result()

    return parallel


def _bind_roofline(computes: str, a: np.ndarray, b: np.ndarray, threads: int) -> Call | None:
    return stream(a, b, ROOFLINE_OUTPUTS[computes], threads)


# Arrays of the input's size that each computation writes: what the roofline writes too.
ROOFLINE_OUTPUTS = {"loss": 0, "loss+grad": 1, "grad+hess": 2, "bce(p)": 0, "loss(pw)": 0}
ROOFLINE = Backend("roofline", _bind_roofline, threaded=True)


# --------------------------------------------------------------------------------------------
# Agreement


def as_numpy(value: Any) -> Any:
    """Results as NumPy: tuples element-wise, torch tensors through .numpy(), jax arrays by
    np.asarray."""
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


class Disagreement(Exception):
    """A contestant's result is not the reference's: the run stops rather than time it."""


# --------------------------------------------------------------------------------------------
# Timing


@dataclass
class Contestant:
    backend: str
    threads: int | None  # None: not threaded (numpy, jax)
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
    rows: tuple[tuple[str, str], ...]  # (dtype, kernel)
    threads: tuple[int, ...]
    repeat: int
    min_time: float
    seed: int
    peers: tuple[Backend, ...]  # compared with fastbce, after NumPy

    @property
    def contestants(self) -> tuple[Backend, ...]:
        """In the table's order: fastbce, NumPy, the peers, the roofline."""
        return (FASTBCE, NUMPY, *self.peers, ROOFLINE)


@dataclass(frozen=True)
class Result:
    dtype: str
    n: int
    kernel: str
    backend: str  # "fastbce", "numpy", a peer's name, "roofline"
    threads: int | None
    median_s: float
    min_s: float
    times_s: tuple[float, ...]
    calls_per_batch: int

    @property
    def melem_per_s(self) -> float:
        return self.n / self.median_s / 1e6


def run_cell(config: Config, kernel: Kernel, inputs: Inputs, dtype: str) -> list[Result]:
    """Times one row at one size. Raises Disagreement when a result is not the float64 reference's."""
    a, b = kernel.operands(inputs)
    n = a.size
    reference = NUMPY_EXPRESSIONS[kernel.computes](a.astype(np.float64), b.astype(np.float64))
    contestants = []
    for backend in config.contestants:
        thread_counts: Sequence[int | None] = config.threads if backend.threaded else [None]
        for threads in thread_counts:
            call = backend.bind(kernel.computes, a, b, threads or 1)
            if call is None:
                continue
            prepare = _setter(backend.set_threads, threads)
            if prepare is not None:
                prepare()
            if backend.name != "roofline":
                problem = disagreement(call(), reference, RTOL[dtype])
                if problem:
                    who = backend.name + (f" ({threads} threads)" if threads else "")
                    raise Disagreement(
                        f"{who} disagrees with the float64 reference on {row_title(dtype, kernel.name)}, "
                        f"n={n:,}: {problem}"
                    )
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


def run(config: Config) -> list[Result]:
    """Every row at every size, size after size (one size's inputs in memory at a time)."""
    results: list[Result] = []
    with threads_restored(config.contestants):
        for n in config.sizes:
            inputs: dict[str, Inputs] = {}
            for dtype, name in config.rows:
                kernel = KERNELS[name]
                if not kernel.takes(n):
                    continue
                if dtype not in inputs:
                    inputs[dtype] = make_inputs(n, dtype, config.seed)
                progress(f"n={n:,} {row_title(dtype, name)}")
                results += run_cell(config, kernel, inputs[dtype], dtype)
    progress("")
    return results


def progress(text: str) -> None:
    if sys.stderr.isatty():
        sys.stderr.write(f"\r\033[K{text and '  running ' + text + ' ...'}")
        sys.stderr.flush()


# --------------------------------------------------------------------------------------------
# Printing


def _symbol(wanted: str, fallback: str) -> str:
    try:
        wanted.encode(sys.stdout.encoding or "ascii")
        return wanted
    except (UnicodeEncodeError, LookupError):
        return fallback


def format_seconds(s: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), (_symbol("\u00b5", "u") + "s", 1e-6)):
        if s >= scale * 0.9995:
            return f"{_sig3(s / scale)} {unit}"
    return f"{_sig3(s / 1e-9)} ns"


def _sig3(v: float) -> str:
    return f"{v:.0f}" if v >= 99.95 else f"{v:#.3g}" if v >= 1 else f"{v:#.2g}"


def format_ratio(r: float) -> str:
    times = _symbol("\u00d7", "x")
    return f"{r:.0f}{times}" if r >= 99.95 else f"{r:#.3g}{times}" if r >= 1 else f"{r:.2f}{times}"


def format_rate(melem_per_s: float) -> str:
    return f"{melem_per_s:,.0f}" if melem_per_s >= 99.95 else f"{melem_per_s:#.3g}"


def format_size(n: int) -> str:
    """1e7 for a power of ten from 1e3 on, otherwise the digits."""
    k = round(math.log10(n)) if n > 0 else 0
    return f"1e{k}" if k >= 3 and n == 10**k else f"{n:,}"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> str:
    """A Markdown table whose columns line up in plain text too: the first ``left`` columns
    aligned left, the others right."""
    widths = [max(len(r[i]) for r in (headers, *rows)) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        padded = (c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join(("-" * (w + 1) + ":") if i >= left else ("-" * (w + 2)) for i, w in enumerate(widths))
        + "|"
    )
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


COLUMN_NAMES = {"fastbce": "fastbce", "numpy": "NumPy", "roofline": "roofline"}


def results_table(config: Config, results: Sequence[Result]) -> str:
    """One line per row, size and thread count. fastbce's cell: its time and throughput; every other
    cell: the time, and that time / fastbce's (above 1, fastbce is faster; for the roofline, the
    fraction of the bound's speed that fastbce reaches)."""
    several = len(config.threads) > 1
    others = [b for b in config.contestants if b is not FASTBCE]
    headers = ["row", "n", *(["threads"] if several else []), "fastbce"]
    headers += [COLUMN_NAMES.get(b.name, b.name) for b in others]
    index = {(r.dtype, r.kernel, r.n, r.backend, r.threads): r for r in results}
    lines = []
    for dtype, kernel in config.rows:
        first = True
        for n in sorted({r.n for r in results if (r.dtype, r.kernel) == (dtype, kernel)}):
            for threads in config.threads:
                mine = index[(dtype, kernel, n, "fastbce", threads)]
                cells = [row_title(dtype, kernel) if first else "", format_size(n)]
                cells += [str(threads)] if several else []
                cells.append(f"{format_seconds(mine.median_s)} ({format_rate(mine.melem_per_s)} M/s)")
                for b in others:
                    other = index.get((dtype, kernel, n, b.name, threads if b.threaded else None))
                    cells.append("-" if other is None else _time_and_ratio(other, mine))
                lines.append(cells)
                first = False
    return markdown_table(headers, lines)


def _time_and_ratio(other: Result, mine: Result) -> str:
    return f"{format_seconds(other.median_s)} ({format_ratio(other.median_s / mine.median_s)})"


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
    threads = ", ".join(map(str, config.threads))
    lines = [
        f"inputs: x ~ N(0, {LOGIT_STD:g}) logits, y in {{0, 1}} labels (soft: uniform in [0, 1]), "
        f"p = sigmoid(x); seed {config.seed}",
        f"times: median of {config.repeat} interleaved runs, each at least "
        f"{format_seconds(config.min_time)} of repeated calls; {threads} thread(s) for fastbce, the "
        f"threaded peers and the roofline; OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}",
        "(x): this time / fastbce's, so above 1 fastbce is faster; M/s: million elements per second",
        "roofline: reading the operands once and writing the row's outputs (preallocated), the same "
        "threads, no arithmetic (NumPy, a contiguous part per thread): the bound at large sizes",
        NUMPY.note + "; every result checked against a float64 reference first",
    ]
    lines += [b.note for b in config.peers]
    width = max(len(row_title(d, k)) for d, k in config.rows)
    for dtype, kernel in config.rows:
        lines.append(f"  {row_title(dtype, kernel).ljust(width)}  fastbce.{KERNELS[kernel].fastbce_call}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Files


def write_json(path: str, machine: dict[str, Any], config: Config, results: list[Result]) -> None:
    document = {
        "machine": machine,
        "config": {
            "sizes": list(config.sizes),
            "rows": [list(r) for r in config.rows],
            "threads": list(config.threads),
            "repeat": config.repeat,
            "min_time_s": config.min_time,
            "seed": config.seed,
            "backends": [b.name for b in config.contestants],
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
    "roofline": "black",
    "fastbce": "C0",
    "numpy": "C1",
    "numba": "C2",
    "jax": "C4",
    "torch": "C3",
    "sklearn": "C5",
}
# Several thread counts: one backend's lines in shades of one colour, darker with more threads.
PLOT_SHADES = {
    "fastbce": "Blues",
    "numba": "Greens",
    "torch": "Reds",
    "sklearn": "copper",
    "roofline": "Greys",
}


def _plot_color(plt: Any, backend: str, threads: int | None, counts: Sequence[int]) -> Any:
    if threads is None or len(counts) < 2 or backend not in PLOT_SHADES:
        return PLOT_COLORS.get(backend)
    shade = 0.35 + 0.65 * sorted(counts).index(threads) / (len(counts) - 1)
    return plt.get_cmap(PLOT_SHADES[backend])(shade)


NO_MATPLOTLIB = "matplotlib is not installed, so no plot is written (pip install matplotlib, or .[bench])"


def write_plot(path: Path, machine: dict[str, Any], config: Config, results: list[Result]) -> str:
    """Throughput against size, one panel per row. Returns what happened."""
    try:
        matplotlib = importlib.import_module("matplotlib")
    except ImportError:
        return NO_MATPLOTLIB
    matplotlib.use("Agg")
    plt = importlib.import_module("matplotlib.pyplot")
    cols = min(4, len(config.rows))
    rows = -(-len(config.rows) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.0 * cols, 3.3 * rows + 0.4), squeeze=False)
    handles: dict[str, Any] = {}
    for index, (dtype, kernel) in enumerate(config.rows):
        ax = axes[index // cols][index % cols]
        mine = [r for r in results if (r.dtype, r.kernel) == (dtype, kernel)]
        for backend, threads in dict.fromkeys((r.backend, r.threads) for r in mine):
            points = sorted(
                (r.n, r.melem_per_s) for r in mine if (r.backend, r.threads) == (backend, threads)
            )
            label = COLUMN_NAMES.get(backend, backend)
            if threads is not None and len(config.threads) > 1:
                label += f", {threads} thread{'s' if threads > 1 else ''}"
            (line,) = ax.plot(
                *zip(*points),
                linestyle="--" if backend == "roofline" else "-",
                marker="" if backend == "roofline" else "o",
                linewidth=2.4 if backend == "fastbce" else 1.2,
                color=_plot_color(plt, backend, threads, config.threads),
                label=label,
                markersize=3,
            )
            handles.setdefault(label, line)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(row_title(dtype, kernel), fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
        ax.set_xlabel("elements", fontsize=8)
        if index % cols == 0:
            ax.set_ylabel("million elements / s", fontsize=8)
        ax.tick_params(labelsize=7)
    spare = [axes[i // cols][i % cols] for i in range(len(config.rows), rows * cols)]
    for ax in spare:
        ax.axis("off")
    bottom = 0.0
    if spare:  # the legend in the first empty panel
        spare[0].legend(handles.values(), handles.keys(), loc="center", fontsize=9, frameon=False)
    else:  # below the panels, a few entries a line
        per_line = min(len(handles), 6)
        lines = -(-len(handles) // per_line)
        fig.legend(
            handles.values(), handles.keys(), loc="lower center", ncol=per_line, fontsize=8, frameon=False
        )
        bottom = 0.28 * lines / fig.get_figheight()
    thread_counts = ", ".join(map(str, config.threads))
    fig.suptitle(
        f"fastbce {machine['fastbce']} against NumPy {machine['numpy']} and the peers, {thread_counts} "
        f"thread(s): {machine['processor']}, {machine['cpu_count']} CPUs (roofline: streaming the "
        "row's bytes)",
        fontsize=9,
    )
    fig.tight_layout(rect=(0, bottom, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
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


def _rows(text: str) -> tuple[tuple[str, str], ...]:
    rows = []
    for token in _choices(text, [f"{d}:{k}" for d in DTYPES for k in KERNELS]):
        dtype, kernel = token.split(":", 1)
        rows.append((dtype, kernel))
    return tuple(rows)


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
    return title + "\n" + markdown_table(["callers", "M rows/s", "vs 1 caller"], rows)


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
    table = title + "\n" + markdown_table(headers, rows)
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
        description="Times fastbce against NumPy, the peers that are installed (numba, jax, torch, "
        "scikit-learn) and the memory roofline; prints a Markdown table and writes a PNG plot.",
    )
    p.add_argument(
        "--sizes",
        type=_positive_ints,
        help="comma-separated element counts, e.g. 64,1e4,1e6 (default: 64,1e3,1e4,1e5,1e6,1e7; "
        "--quick: 64,1e3,1e4)",
    )
    p.add_argument(
        "--rows",
        type=_rows,
        help="comma-separated dtype:kernel pairs, e.g. float32:loss,float64:bce(p) (default: "
        + ",".join(f"{d}:{k}" for d, k in DEFAULT_ROWS)
        + f"); kernels: {','.join(KERNELS)}",
    )
    p.add_argument(
        "--dtypes",
        type=lambda s: _choices(s, DTYPES),
        help="instead of --rows: every kernel of --kernels in each of these dtypes (float32,float64)",
    )
    p.add_argument(
        "--kernels",
        type=lambda s: _choices(s, tuple(KERNELS)),
        help=f"instead of --rows: these kernels in each dtype of --dtypes; from {','.join(KERNELS)}",
    )
    p.add_argument(
        "--peers",
        type=lambda s: () if s == "none" else _choices(s, tuple(peers.PEERS)),
        help=f"comma-separated, from {','.join(peers.PEERS)}, or none (default: every one installed)",
    )
    p.add_argument(
        "--threads",
        type=_positive_ints,
        help="comma-separated thread counts to time, e.g. 1,2, for fastbce, the threaded peers and "
        "the roofline (restored afterwards; default: fastbce's current count)",
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
    p.add_argument(
        "--plot",
        metavar="PATH",
        type=Path,
        default=DEFAULT_PLOT,
        help="where the PNG of throughput against size goes (default: benchmarks/out/bench.png)",
    )
    p.add_argument("--no-plot", action="store_true", help="write no plot")
    p.add_argument("--json", metavar="PATH", help="write the raw results as JSON")
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


def config_from(args: argparse.Namespace) -> Config:
    """The run the arguments ask for. Raises ImportError if a peer named in --peers is missing."""
    wanted = peers.installed() if args.peers is None else args.peers
    chosen = []
    for name in wanted:
        module, make = peers.PEERS[name]
        if importlib.util.find_spec(module) is None:
            raise ImportError(f"--peers: {name} is not installed (pip install {module})")
        chosen.append(make())
    if args.dtypes or args.kernels:
        rows = tuple((d, k) for d in args.dtypes or DTYPES for k in args.kernels or tuple(KERNELS))
    else:
        rows = args.rows or DEFAULT_ROWS
    min_time = args.min_time
    if min_time is None:
        min_time = QUICK_MIN_TIME if args.quick else DEFAULT_MIN_TIME
    return Config(
        sizes=args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES),
        rows=rows,
        threads=args.threads or (fastbce.get_num_threads(),),
        repeat=args.repeat or (QUICK_REPEAT if args.quick else DEFAULT_REPEAT),
        min_time=max(min_time, 0.0),
        seed=args.seed,
        peers=tuple(chosen),
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.dask:
        return dask_main(args.dask, args.repeat or DASK_REPEAT, args.seed)
    try:
        config = config_from(args)
    except ImportError as e:
        print(e, file=sys.stderr)
        return 2
    plot = None if args.no_plot else args.plot
    if plot is not None and importlib.util.find_spec("matplotlib") is None:
        print(NO_MATPLOTLIB, flush=True)
        plot = None
    machine = machine_description()
    print(machine_line(machine), flush=True)
    try:
        results = run(config)
    except Disagreement as e:
        progress("")
        print(f"stopped: {e}", file=sys.stderr)
        return 1
    print("\n" + results_table(config, results))
    print("\n" + legend(config))
    if args.json:
        write_json(args.json, machine, config, results)
        print(f"\nresults written to {args.json}")
    if args.batch_scoring:
        batch = 10_000 if args.quick else 100_000
        calls = 200 if args.quick else 100
        repeat = QUICK_REPEAT if args.quick else DEFAULT_REPEAT
        rates = batch_scoring(args.batch_scoring, batch, calls, repeat, args.seed)
        print("\n" + batch_scoring_table(rates, batch))
    if plot is not None:
        print("\n" + write_plot(plot, machine, config, results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
