#!/usr/bin/env bash
# Installs fastbce with its test extras into the active Python environment and runs every test:
# the Rust kernels (cargo test, no Python involved) and the Python package (pytest). The optional
# integrations (LightGBM, Dask) are installed too, and FASTBCE_REQUIRE_OPTIONAL=1 makes their tests fail
# rather than skip if they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet ".[test,lightgbm,dask]"
cargo test --quiet
FASTBCE_REQUIRE_OPTIONAL=1 python -m pytest -q
