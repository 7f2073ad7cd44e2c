#!/usr/bin/env bash
# Installs fastbce with its test extras into the active Python environment and runs every test:
# the Rust kernels (cargo test, no Python involved) and the Python package (pytest). The optional
# integrations (LightGBM, Dask, data frame libraries, scikit-learn) are installed too, and FASTBCE_REQUIRE_OPTIONAL=1
# makes their tests fail rather than skip if they are missing.
#
# Three jobs run side by side before pytest: the package's release build (a wheel; it spends most
# of its time in one thread: one codegen unit, fat LTO), the kernel tests on the other core, and the
# installation of the test dependencies (downloads, mostly), which pip would otherwise start only
# after the build.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Waits for a background job; on failure prints its log and stops.
finish() {
    if ! wait "$1"; then
        cat "$2"
        echo "$3 failed" >&2
        exit 1
    fi
}

echo "== building fastbce (release) and installing its test dependencies, beside the kernel tests"
python scripts/requirements.py test lightgbm dask frames sklearn >"$work/requirements.txt"
python -m pip install --quiet -r "$work/requirements.txt" >"$work/deps.log" 2>&1 &
deps=$!
python -m pip wheel --quiet --no-deps --wheel-dir "$work/wheel" . >"$work/build.log" 2>&1 &
build=$!

echo "== cargo test: the Rust kernels"
cargo test --quiet

finish "$deps" "$work/deps.log" "installing the test dependencies"
finish "$build" "$work/build.log" "building fastbce"
python -m pip install --quiet --no-deps --force-reinstall "$work"/wheel/fastbce-*.whl

echo "== pytest: the Python package"
FASTBCE_REQUIRE_OPTIONAL=1 python -m pytest -q
