#!/usr/bin/env bash
# Builds the release artefacts into dist/: one manylinux2014 (glibc 2.17) abi3 wheel for x86-64 Linux,
# fastbce-VERSION-cp39-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl, and the sdist; then checks
# them (scripts/check_dist.py): auditwheel accepts the wheel for manylinux2014, its extension is
# stripped and asks for no glibc symbol newer than 2.17, and LICENSE is in the wheel and the sdist.
#
# Needs a Rust toolchain (cargo on PATH; the MSRV is Cargo.toml's rust-version) and python3. Everything
# else it installs from PyPI into a throwaway virtual environment: maturin, and zig (the ziglang
# package) as the linker that targets glibc 2.17 whatever the build machine's glibc is.
# The other platforms' wheels are built by .github/workflows/release.yml.
set -euo pipefail
cd "$(dirname "$0")/.."

# The tool versions this script was checked with.
TOOLS=(maturin==1.16.0 ziglang==0.17.1 auditwheel==6.8.2)

if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
    echo "build-wheel.sh: builds the x86-64 Linux wheel, on x86-64 Linux only" >&2
    exit 1
fi
if ! command -v cargo >/dev/null; then
    msrv=$(sed -n 's/^rust-version = "\(.*\)"$/\1/p' Cargo.toml)
    echo "build-wheel.sh: needs a Rust toolchain, Rust >= $msrv (no cargo on PATH)" >&2
    exit 1
fi

tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
echo "== tools: ${TOOLS[*]}, into a throwaway virtual environment"
python3 -m venv "$tools/venv"
"$tools/venv/bin/python" -m pip install --quiet --disable-pip-version-check "${TOOLS[@]}"
# maturin finds zig as `python -m ziglang`, with the python on PATH.
export PATH="$tools/venv/bin:$PATH"

rm -rf dist
echo "== wheel: maturin build --release --zig --compatibility manylinux2014 (stripped: pyproject.toml)"
maturin build --release --locked --zig --compatibility manylinux2014 --out dist
echo "== sdist"
maturin sdist --out dist

echo "== checks: auditwheel show, glibc symbol versions, stripping, LICENSE"
python scripts/check_dist.py dist LICENSE
