"""Smoke test of the benchmark (python -m fastbce.bench): it runs and prints its table.

No timing is asserted: benchmarks measure, tests assert results.
"""

from __future__ import annotations

import json

import pytest
from conftest import optional_import
from fastbce import bench, get_num_threads


def test_quick_run_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    threads = get_num_threads()
    assert bench.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("machine: ")
    for header in ("kernel", "fastbce", "numpy", "speedup", "read x,y", "fastbce/read"):
        assert header in out
    for section in ("float32", "float64", "loss+grad", "grad+hess", "bce(p)", "loss(pw)"):
        assert section in out
    assert "WARNING" not in out  # fastbce and NumPy agree on every kernel
    assert get_num_threads() == threads


def test_options_threads_and_json(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    threads = get_num_threads()
    path = tmp_path / "bench.json"
    argv = ["--quick", "--sizes", "64,1e3", "--dtypes", "float32", "--threads", "1,2"]
    assert bench.main([*argv, "--repeat", "2", "--json", str(path)]) == 0
    assert get_num_threads() == threads  # restored after timing other counts
    results = json.loads(path.read_text())["results"]
    assert {(r["backend"], r["threads"]) for r in results} >= {
        ("fastbce", 1),
        ("fastbce", 2),
        ("numpy", None),
        ("read", None),
    }
    assert {r["n"] for r in results} == {64, 1000}
    assert all(len(r["times_s"]) == 2 and r["median_s"] > 0 for r in results)
    assert "results written to" in capsys.readouterr().out


def test_per_class_kernel_skips_sizes_it_cannot_shape(tmp_path) -> None:
    """loss(pw) sees x as (n / 8, 8): a size that is not a multiple of 8 is left out, not an error."""
    path = tmp_path / "bench.json"
    argv = ["--quick", "--sizes", "100,64", "--dtypes", "float32", "--kernels", "loss,loss(pw)"]
    assert bench.main([*argv, "--repeat", "1", "--json", str(path)]) == 0
    results = json.loads(path.read_text())["results"]
    assert {(r["kernel"], r["n"]) for r in results} == {("loss", 100), ("loss", 64), ("loss(pw)", 64)}


def test_bad_option_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        bench.main(["--sizes", "0"])
    assert exc.value.code == 2
    assert "--sizes" in capsys.readouterr().err


def test_batch_scoring_mode_prints_its_table(capsys: pytest.CaptureFixture[str]) -> None:
    before = get_num_threads()
    assert bench.main(["--quick", "--sizes", "64", "--kernels", "loss", "--batch-scoring", "1,2"]) == 0
    out = capsys.readouterr().out
    assert "batch scoring: k Python threads" in out
    rows = [line.split() for line in out.splitlines() if line.split()[:1] in (["1"], ["2"])]
    assert [r[0] for r in rows[-2:]] == ["1", "2"]
    assert get_num_threads() == before


def test_dask_mode_prints_its_row(capsys: pytest.CaptureFixture[str]) -> None:
    """--dask N: a dataset generated chunk by chunk (here 3 chunks), its mean loss with fastbce.dask
    against NumPy's expression on the same chunks, and the generation baseline."""
    optional_import("dask.array")
    assert bench.main(["--dask", "1e7", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert "n = 10,000,000 float32 logits and labels in 3 chunks" in out
    for row in ("generate + read x, y", "fastbce.dask mean loss", "NumPy expression on Dask"):
        assert row in out
    assert "WARNING" not in out  # fastbce.dask and the NumPy expression agree
