#!/usr/bin/env bash
# Installs fastbce with its test extra into the active Python environment and runs every test:
# the Rust kernels (cargo test, no Python involved) and the Python package (pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet ".[test]"
cargo test --quiet
python -m pytest -q
