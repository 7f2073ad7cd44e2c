#!/usr/bin/env bash
# Installs fastbce with its test extras into the active Python environment and runs every test:
# the Rust kernels (cargo test, no Python involved) and the Python package (pytest). The optional
# integrations (LightGBM, Dask, data frame libraries, scikit-learn) are installed too, and
# FASTBCE_REQUIRE_OPTIONAL=1 makes their tests fail rather than skip if they are missing.
#
# The package's release build (a wheel; most of it in one thread: one codegen unit, fat LTO) is on
# the way to pytest, and so is the installation of the test dependencies (downloads, mostly), which
# pip would otherwise start only after the build: the two run side by side. The kernel tests run
# beside them and beside pytest, at a lower priority, and report after pytest.
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
# uv installs them with 2 s of CPU where pip took 46 s of it, from the build's two cores.
python -m pip install --quiet uv
python -m uv pip install --quiet --python "$(python -c 'import sys; print(sys.executable)')" \
    -r "$work/requirements.txt" >"$work/deps.log" 2>&1 &
deps=$!
python -m pip wheel --quiet --no-deps --wheel-dir "$work/wheel" . >"$work/build.log" 2>&1 &
build=$!
nice cargo test --quiet >"$work/kernels.log" 2>&1 &
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
