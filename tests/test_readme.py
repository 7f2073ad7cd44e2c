"""Every Python block of the README runs as written, on its own, in a fresh interpreter (imports and
data included), so that a reader can paste any one of them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import optional_import

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_the_readme_has_its_examples():
    assert len(BLOCKS) >= 6, "the README's examples were not found"


@pytest.mark.parametrize("index", range(len(BLOCKS)), ids=[f"block-{i}" for i in range(len(BLOCKS))])
def test_block_runs_on_its_own(index, tmp_path):
    block = BLOCKS[index]
    for module in ("lightgbm", "dask", "sklearn"):
        if re.search(rf"^\s*(import|from) {module}\b", block, flags=re.M):
            optional_import(module)
    done = subprocess.run(
        [sys.executable, "-c", block],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, f"block {index} failed:\n{block}\n{done.stderr}"
