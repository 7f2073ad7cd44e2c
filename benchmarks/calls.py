"""Times a fixed set of fastbce calls, optionally against another build of fastbce, interleaved.

    python benchmarks/calls.py                      # this interpreter's fastbce, and NumPy
    python benchmarks/calls.py --against OTHER_PY   # also the fastbce that OTHER_PY imports

Each round runs every case once in each interpreter (in a fresh subprocess, alternating which goes
first); a case's figure is the median over rounds of its per-round median. The cases are the ones
the redesign was held to: end-to-end small calls in every argument form (n = 64), calls of two
and of about six chunks (2^15 and 1e5 elements: the calling thread and the pool share them) and
the large calls (n = 1e7), with `out=` beside fresh outputs, and soft labels (uniform in [0, 1]).
Uses only arguments every build has.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import numpy as np


def cases(n_small: int, n_large: int) -> dict:
    import fastbce as fb

    rng = np.random.default_rng(0)
    out: dict = {}

    def data(n: int, dtype: type) -> tuple:
        x = rng.standard_normal(n).astype(dtype)
        y = (rng.uniform(size=n) < 0.5).astype(dtype)
        return x, y

    def soft(n: int) -> np.ndarray:
        return rng.uniform(size=n).astype(np.float32)

    xs, ys = data(n_small, np.float32)
    pw_list = [1.5] * n_small
    w64 = np.linspace(0.5, 2, n_small)
    f = fb.binary_cross_entropy_with_logits
    out["64 f32 mean loss"] = lambda: f(xs, ys)
    out["64 f32 pos_weight list"] = lambda: f(xs, ys, pos_weight=pw_list)
    out["64 f32 weight float64"] = lambda: f(xs, ys, w64)
    out["64 f32 value_and_grad"] = lambda: fb.binary_cross_entropy_with_logits_value_and_grad(xs, ys)
    out["64 f32 grad_hess"] = lambda: fb.binary_cross_entropy_with_logits_grad_hess(xs, ys)

    def numpy_loss() -> float:
        return float(np.mean(np.maximum(xs, 0) - xs * ys + np.log1p(np.exp(-np.abs(xs)))))

    out["64 f32 NumPy mean loss"] = numpy_loss

    # Two chunks and about six: what the calling thread shares with the pool's workers.
    for label, n_mid in (("2^15", 2**15), ("1e5", 100_000)):
        xm, ym = data(n_mid, np.float32)
        out[f"{label} f32 mean loss"] = lambda xm=xm, ym=ym: f(xm, ym)
        out[f"{label} f32 value_and_grad"] = lambda xm=xm, ym=ym: (
            fb.binary_cross_entropy_with_logits_value_and_grad(xm, ym)
        )
    xm, sm = data(100_000, np.float32)[0], soft(100_000)
    pm, ym = (1 / (1 + np.exp(-xm))).astype(np.float32), data(100_000, np.float32)[1]
    out["1e5 f32 probabilities mean"] = lambda: fb.binary_cross_entropy(pm, ym)
    out["1e5 f32 soft value_and_grad"] = lambda: fb.binary_cross_entropy_with_logits_value_and_grad(xm, sm)
    out["1e5 f32 soft grad_hess"] = lambda: fb.binary_cross_entropy_with_logits_grad_hess(xm, sm)

    xl, yl = data(n_large, np.float32)
    xd, yd = data(n_large, np.float64)
    pl = (1 / (1 + np.exp(-xl))).astype(np.float32)
    pw8 = np.linspace(0.5, 2, 8, dtype=np.float32)
    x8, y8 = xl.reshape(-1, 8), yl.reshape(-1, 8)
    loss_out = np.empty((), np.float32)
    grad_out = np.empty_like(xl)
    vg = fb.binary_cross_entropy_with_logits_value_and_grad
    out["1e7 f32 mean loss"] = lambda: f(xl, yl)
    out["1e7 f32 value_and_grad, fresh"] = lambda: vg(xl, yl)
    out["1e7 f32 value_and_grad, out="] = lambda: vg(xl, yl, out=(None, grad_out))
    out["1e7 f32 grad_hess"] = lambda: fb.binary_cross_entropy_with_logits_grad_hess(xl, yl)
    sl = soft(n_large)
    out["1e7 f32 soft value_and_grad"] = lambda: vg(xl, sl)
    out["1e7 f32 probabilities mean"] = lambda: fb.binary_cross_entropy(pl, yl)
    out["1e7 f32 pos_weight per class"] = lambda: f(x8, y8, pos_weight=pw8)
    out["1e7 f64 mean loss"] = lambda: f(xd, yd)
    out["1e7 f64 value_and_grad"] = lambda: vg(xd, yd)
    pd = 1 / (1 + np.exp(-xd))
    out["1e7 f64 probabilities mean"] = lambda: fb.binary_cross_entropy(pd, yd)
    del loss_out
    return out


# Calls per timing, by the size a case's name starts with (the large calls are timed one by one).
INNER = {"64": 200, "2^15": 20, "1e5": 20}


def run_once(reps_small: int, reps_large: int, n_small: int, n_large: int) -> dict:
    result = {}
    for name, call in cases(n_small, n_large).items():
        inner = INNER.get(name.split()[0], 1)
        reps = reps_small if inner > 1 else reps_large
        call()
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            for _ in range(inner):
                call()
            times.append((time.perf_counter() - t0) / inner)
        result[name] = statistics.median(times)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--against", help="another Python whose fastbce to time in the same rounds")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        print(json.dumps(run_once(25, 7, 64, 10_000_000)))
        return
    pythons = {"this": sys.executable}
    if a.against:
        pythons["other"] = a.against
    rounds: dict = {k: [] for k in pythons}
    for r in range(a.rounds):
        order = list(pythons) if r % 2 == 0 else list(reversed(pythons))
        for k in order:
            cmd = [pythons[k], __file__, "--child"]
            env = {"OPENBLAS_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
            rounds[k].append(json.loads(subprocess.run(cmd, check=True, capture_output=True, env=env).stdout))
    names = list(rounds["this"][0])
    head = "| case | this | " + ("other | this ÷ other |" if a.against else "")
    print(head)
    print("|---" * (head.count("|") - 1) + "|")
    for name in names:
        med = {k: statistics.median(rr[name] for rr in rounds[k]) for k in pythons}
        unit, scale = ("µs", 1e6) if name.split()[0] in INNER else ("ms", 1e3)
        row = f"| {name} | {med['this'] * scale:.2f} {unit} |"
        if a.against:
            row += f" {med['other'] * scale:.2f} {unit} | {med['this'] / med['other']:.2f} |"
        print(row)


if __name__ == "__main__":
    main()
