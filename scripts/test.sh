#!/usr/bin/env bash
# Installs fastbce with its test extras into the active Python environment and runs every test:
# the Rust kernels (cargo test, no Python involved) and the Python package (pytest). The optional
# integrations (LightGBM, Dask, data frame libraries, scikit-learn) are installed too, and
# FASTBCE_REQUIRE_OPTIONAL=1 makes their tests fail rather than skip if they are missing.
#
# The package's optimised build (a wheel) is on the way to pytest, and so is the installation of
# the test dependencies (downloads, mostly), which pip would otherwise start only after the build:
# the two run side by side. The kernel tests run beside them and beside pytest, at a lower
# priority, and report after pytest.
#
# The build here is the release profile without its link-time step: no LTO, 16 codegen units
# (25 s instead of 46 s for the crate on this 2-core machine, and less CPU time). LTO changes how
# fast the code is, not what it computes (no fast-math: every operation, fused multiply-adds
# included, is written out), and the wheel as it ships (fat LTO, one codegen unit) is tested by
# scripts/test-wheel.sh, which CI runs after this.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
kernels=
trap 'if [ -n "$kernels" ]; then kill "$kernels" 2>/dev/null || true; fi; rm -rf "$work"' EXIT

# Waits for a background job; on failure prints its log and stops.
finish() {
    if ! wait "$1"; then
        cat "$2"
        echo "$3 failed" >&2
        exit 1
    fi
}

echo "== building fastbce (release) and installing its test dependencies; cargo test beside them"
python scripts/requirements.py test lightgbm dask frames sklearn >"$work/requirements.txt"
# uv installs them with 2 s of CPU where pip took 46 s of it, from the build's two cores. Their
# bytecode is compiled once here: where PYTHONDONTWRITEBYTECODE is set (this machine sets it),
# every interpreter the tests start (the README's examples, the fork scenarios) would otherwise
# compile NumPy, Dask and pandas from source again (pytest took 96 s instead of 55 s).
python -m pip install --quiet uv
python -m uv pip install --quiet --compile-bytecode --python "$(python -c 'import sys; print(sys.executable)')" \
    -r "$work/requirements.txt" >"$work/deps.log" 2>&1 &
deps=$!
CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    python -m pip wheel --quiet --no-deps --wheel-dir "$work/wheel" . >"$work/build.log" 2>&1 &
build=$!
# Without debug information the kernel tests build in 16 s of CPU instead of 27 s.
CARGO_PROFILE_DEV_DEBUG=0 nice cargo test --quiet >"$work/kernels.log" 2>&1 &
kernels=$!

finish "$deps" "$work/deps.log" "installing the test dependencies"
finish "$build" "$work/build.log" "building fastbce"
python -m pip install --quiet --no-deps --force-reinstall "$work"/wheel/fastbce-*.whl

echo "== pytest: the Python package"
FASTBCE_REQUIRE_OPTIONAL=1 python -m pytest -q

echo "== cargo test: the Rust kernels"
job=$kernels
kernels=
finish "$job" "$work/kernels.log" "cargo test"
grep "test result" "$work/kernels.log"
