"""fastbce.metrics.log_loss against sklearn.metrics.log_loss: the time of one call on the same
data, for a few common inputs, as the median of several runs (interleaved, so that a noisy
machine slows both alike), and a check that the two results agree (rtol 1e-6).

    pip install scikit-learn        # besides fastbce and NumPy
    python benchmarks/log_loss.py                   # n = 1e7
    python benchmarks/log_loss.py --sizes 1e5,1e7 --repeat 7

The cases: float64 probabilities of the positive class with 0/1 integer labels; the same in
float32; ``predict_proba``'s two columns with string labels; labels -1/1 with sample weights.
The machine's load average is printed before and after: on a shared machine, read the ratio
rather than the times.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any, Callable, Dict, List, Tuple

import fastbce
import fastbce.metrics
import numpy as np


def cases(n: int, seed: int = 0) -> Dict[str, Tuple[Any, Any, Dict[str, Any]]]:
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.001, 0.999, size=n)
    y = (rng.uniform(size=n) < p).astype(np.int64)
    return {
        "float64 p, labels 0/1": (y, p, {}),
        "float32 p, labels 0/1": (y, p.astype(np.float32), {}),
        "predict_proba (n, 2), string labels": (
            np.where(y == 1, "spam", "ham"),
            np.stack([1 - p, p], axis=1),
            {},
        ),
        "float64 p, labels -1/1, sample_weight": (2 * y - 1, p, {"sample_weight": rng.uniform(size=n)}),
    }


def bound(function: Callable[..., float], y: Any, p: Any, kwargs: Dict[str, Any]) -> Callable[[], float]:
    return lambda: function(y, p, **kwargs)


def median_times(calls: List[Callable[[], float]], repeat: int) -> List[float]:
    """Each call timed ``repeat`` times, the calls interleaved; the medians."""
    times: List[List[float]] = [[] for _ in calls]
    for _ in range(repeat):
        for i, call in enumerate(calls):
            start = time.perf_counter()
            call()
            times[i].append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1e7", help="comma-separated numbers of samples (default 1e7)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per case (default 5)")
    args = parser.parse_args()
    try:
        from sklearn.metrics import log_loss as sklearn_log_loss
    except ImportError:
        print("scikit-learn is needed: pip install scikit-learn", file=sys.stderr)
        return 1
    import sklearn

    print(
        f"fastbce {fastbce.__version__} ({fastbce.simd_level()}, {fastbce.get_num_threads()} threads), "
        f"scikit-learn {sklearn.__version__}, NumPy {np.__version__}, {os.cpu_count()} CPUs"
    )
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    for size in args.sizes.split(","):
        n = int(float(size))
        print(f"\nn = {n:,}: median of {args.repeat} runs")
        print(f"{'case':42s} {'fastbce':>11s} {'scikit-learn':>13s} {'ratio':>8s}")
        for name, (y, p, kwargs) in cases(n).items():
            ours = fastbce.metrics.log_loss(y, p, **kwargs)
            theirs = sklearn_log_loss(y, p, **kwargs)
            if not np.isclose(ours, theirs, rtol=1e-6, atol=0):
                print(f"{name}: results differ: fastbce {ours!r}, scikit-learn {theirs!r}", file=sys.stderr)
                return 1
            fast, slow = median_times(
                [bound(fastbce.metrics.log_loss, y, p, kwargs), bound(sklearn_log_loss, y, p, kwargs)],
                args.repeat,
            )
            print(f"{name:42s} {fast * 1e3:8.1f} ms {slow * 1e3:10.1f} ms {slow / fast:7.1f}x")
    print("\nload average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
