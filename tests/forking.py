"""Forks children while other threads use fastbce, and reports how many hung or failed.

Run as a script by tests/test_fork.py (a small process, so that each fork is cheap):
``python forking.py SCENARIO CHILDREN``, printing one JSON line ``{"hung": h, "failed": f, ...}``.

Every child makes a call large enough to run on the thread pool, checks its result bit for bit,
and exits; one that has not exited within CHILD_SECONDS is killed and counted as hung.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import warnings
from contextlib import contextmanager
from typing import Callable, Iterator

import fastbce
import numpy as np

CHILD_SECONDS = 20.0
# Several chunks, so that a call runs on the pool.
N = 4 * fastbce._core.CHUNK + 3

rng = np.random.default_rng(0)
X = (rng.standard_normal(N) * 4).astype(np.float32)
Y = rng.uniform(0, 1, N).astype(np.float32)
EXPECTED_LOSS, EXPECTED_GRAD = fastbce.binary_cross_entropy_with_logits_value_and_grad(X, Y)


def child_call() -> bool:
    loss, grad = fastbce.binary_cross_entropy_with_logits_value_and_grad(X, Y)
    return loss == EXPECTED_LOSS and grad.tobytes() == EXPECTED_GRAD.tobytes()


@contextmanager
def background(work: Callable[[threading.Event], None], threads: int) -> Iterator[None]:
    stop = threading.Event()
    workers = [threading.Thread(target=work, args=(stop,), daemon=True) for _ in range(threads)]
    for w in workers:
        w.start()
    time.sleep(0.05)
    try:
        yield
    finally:
        stop.set()
        for w in workers:
            w.join()


def computing(stop: threading.Event) -> None:
    out = np.empty_like(X)
    while not stop.is_set():
        fastbce.binary_cross_entropy_with_logits_grad(X, Y, reduction="none", out=out)


def changing_threads(stop: threading.Event) -> None:
    count = 1
    while not stop.is_set():
        count = count % 4 + 1
        fastbce.set_num_threads(count)
        fastbce.binary_cross_entropy_with_logits(X, Y)


# A long call, writing LONG_OUT from LONG_X: a fork lands in it nearly every time.
LONG_X = (rng.standard_normal(40 * N) * 4).astype(np.float32)
LONG_Y = rng.uniform(0, 1, 40 * N).astype(np.float32)
LONG_OUT = np.empty_like(LONG_X)


def long_calls(stop: threading.Event) -> None:
    while not stop.is_set():
        fastbce.binary_cross_entropy_with_logits(LONG_X, LONG_Y, reduction="none", out=LONG_OUT)


def child_uses_the_long_calls_arrays() -> bool:
    """The child reads the array the parent's thread was writing and writes the one it was reading
    (a borrow left behind by the parent's call would refuse both)."""
    if not child_call():
        return False
    fastbce.binary_cross_entropy_with_logits(LONG_OUT[:N], Y)
    fastbce.binary_cross_entropy_with_logits(X, Y, reduction="none", out=LONG_X[:N])
    return LONG_X[:N].tobytes() == fastbce.binary_cross_entropy_with_logits(X, Y, reduction="none").tobytes()


SCENARIOS = {
    "computing": (computing, 4, child_call),
    "changing-threads": (changing_threads, 4, child_call),
    "long-call": (long_calls, 1, child_uses_the_long_calls_arrays),
}


def run(scenario: str, children: int) -> dict:
    work, threads, check = SCENARIOS[scenario]
    hung = failed = 0
    started = time.monotonic()
    fastbce.set_num_threads(2)
    with background(work, threads):
        for _ in range(children):
            with warnings.catch_warnings():
                # Python 3.12+ warns about fork in a multithreaded process: that is the point here.
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
            if pid == 0:
                signal.alarm(int(CHILD_SECONDS) + 5)
                try:
                    ok = check()
                except BaseException:
                    os._exit(3)
                os._exit(0 if ok else 2)
            deadline = time.monotonic() + CHILD_SECONDS
            while True:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    if not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0):
                        if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGALRM:
                            hung += 1
                        else:
                            failed += 1
                    break
                if time.monotonic() > deadline:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    hung += 1
                    break
                time.sleep(0.0005)
    return {
        "scenario": scenario,
        "children": children,
        "hung": hung,
        "failed": failed,
        "seconds": round(time.monotonic() - started, 2),
    }


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1], int(sys.argv[2]))))
