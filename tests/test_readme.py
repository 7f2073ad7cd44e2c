"""The README's Python examples run as written (in order, in one namespace), so that they stay true.
The data the prose leaves to the reader (``batches``, ``train_x``, ``train_y``) is made up here."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from conftest import optional_import

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_examples_run(restore_threads):
    blocks = python_blocks()
    assert len(blocks) >= 4, "the README's examples were not found"
    rng = np.random.default_rng(0)
    features = rng.standard_normal((500, 4))
    namespace = {
        "batches": [(rng.standard_normal((100, 5)), rng.uniform(size=(100, 5)) < 0.5) for _ in range(3)],
        "train_x": features,
        "train_y": (features[:, 0] + rng.standard_normal(500) > 0).astype(np.float64),
    }
    for block in blocks:
        for module in ("lightgbm", "dask"):
            if f"import {module}" in block:
                optional_import(module)
        exec(compile(block, str(README), "exec"), namespace)
    acc = namespace["acc"]
    assert acc.count == 1500 and np.isfinite(acc.mean)
    assert namespace["per_row"].shape == (1000,)
    assert namespace["raw_scores"].shape == (500,)
