#!/usr/bin/env bash
# Installs fastbce with its test extras into the active Python environment and runs every test:
# the Rust kernels (cargo test, no Python involved) and the Python package (pytest). The optional
# integrations (LightGBM, Dask, data frame libraries) are installed too, and FASTBCE_REQUIRE_OPTIONAL=1
# makes their tests fail rather than skip if they are missing.
#
# The package's release build spends most of its time in one thread (one codegen unit, fat LTO),
# so the kernel tests build and run beside it, on the other core.
set -euo pipefail
cd "$(dirname "$0")/.."

log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "== installing fastbce and its test dependencies (release build), beside the kernel tests"
python -m pip install --quiet ".[test,lightgbm,dask,frames]" >"$log" 2>&1 &
install=$!

echo "== cargo test: the Rust kernels"
cargo test --quiet

if ! wait "$install"; then
    cat "$log"
    echo "pip install failed" >&2
    exit 1
fi

echo "== pytest: the Python package"
FASTBCE_REQUIRE_OPTIONAL=1 python -m pytest -q
