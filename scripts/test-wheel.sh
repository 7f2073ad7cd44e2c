#!/usr/bin/env bash
# Tests the wheel that scripts/build-wheel.sh left in dist/ where users install it: in fresh virtual
# environments of the oldest and the newest supported Python that pyenv has on this machine, with no
# Rust toolchain on PATH and binaries only (nothing built from source):
#   - the oldest Python (Requires-Python's minimum) with the oldest NumPy the wheel claims (its own
#     "Requires-Dist: numpy>=X": exactly X),
#   - the newest Python with the newest NumPy.
# The wheel's test extra brings pytest, hypothesis and mpmath; scripts/run-wheel-tests.sh runs the
# tests from a copy of tests/ outside the source tree, against the installed wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

fail() {
    echo "test-wheel.sh: $*" >&2
    exit 1
}

shopt -s nullglob
wheels=(dist/fastbce-*-cp39-abi3-*manylinux_2_17_x86_64*.whl)
[ ${#wheels[@]} -eq 1 ] || fail "expected one manylinux_2_17 abi3 wheel in dist/ (scripts/build-wheel.sh), found ${#wheels[@]}"
wheel="$repo/${wheels[0]}"

# What the wheel itself declares: the Python and NumPy floors.
read -r python_floor numpy_floor < <(python3 - "$wheel" <<'EOF'
import re, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as zf:
    name = next(n for n in zf.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n))
    meta = zf.read(name).decode()
py = re.search(r"^Requires-Python: >=(\d+\.\d+)$", meta, re.M)
np_ = re.search(r"^Requires-Dist: numpy>=([\d.]+)$", meta, re.M)
if not (py and np_):
    sys.exit("the wheel's METADATA has no Requires-Python >= or numpy >= floor")
print(py.group(1), np_.group(1))
EOF
)

# The pyenv interpreters that Requires-Python admits, oldest first (free-threaded builds have no abi3).
if command -v pyenv >/dev/null; then
    pyenv_root=$(pyenv root)
else
    pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
fi
[ -d "$pyenv_root/versions" ] || fail "needs pyenv's interpreters (no $pyenv_root/versions)"
pythons=()
while read -r version path; do
    pythons+=("$version $path")
done < <(
    for py in "$pyenv_root"/versions/*/bin/python; do
        [ -x "$py" ] || continue
        "$py" - "$python_floor" "$py" <<'EOF' || true
import sys, sysconfig
floor = tuple(int(p) for p in sys.argv[1].split("."))
if sys.version_info[:2] >= floor and not sysconfig.get_config_var("Py_GIL_DISABLED"):
    print("%d.%d.%d" % sys.version_info[:3], sys.argv[2])
EOF
    done | sort -t. -k1,1n -k2,2n -k3,3n
)
[ ${#pythons[@]} -ge 2 ] || fail "needs two pyenv interpreters >= $python_floor, found: ${pythons[*]:-none}"
oldest=${pythons[0]}
newest=${pythons[-1]}
case "${oldest%% *}" in
    "$python_floor".*) ;;
    *) fail "the oldest pyenv interpreter, ${oldest%% *}, is not Python $python_floor, the oldest supported" ;;
esac

# PATH without any directory that holds cargo, rustc or rustup.
clean_path=""
IFS=: read -r -a path_dirs <<<"$PATH"
for dir in "${path_dirs[@]}"; do
    [ -n "$dir" ] || continue
    if [ -e "$dir/cargo" ] || [ -e "$dir/rustc" ] || [ -e "$dir/rustup" ]; then
        continue
    fi
    clean_path="${clean_path:+$clean_path:}$dir"
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run_one() {
    local version=$1 python=$2 numpy_spec=$3
    local venv="$work/venv-$version"
    echo "== Python $version, $numpy_spec: fresh virtual environment, the wheel, no Rust on PATH"
    "$python" -m venv "$venv"
    (
        export PATH="$venv/bin:$clean_path"
        unset CARGO_HOME RUSTUP_HOME RUSTUP_TOOLCHAIN CARGO RUSTC VIRTUAL_ENV PYTHONPATH
        if command -v cargo >/dev/null || command -v rustc >/dev/null; then
            fail "cargo or rustc still on PATH: $(command -v cargo rustc)"
        fi
        echo "no cargo or rustc on PATH"
        python -m pip install --quiet --disable-pip-version-check --only-binary=:all: \
            "${wheel}[test]" "$numpy_spec"
        bash "$repo/scripts/run-wheel-tests.sh"
    )
}

# The two environments side by side (each run is one process, mostly), each into its own log.
run_one "${oldest%% *}" "${oldest#* }" "numpy==$numpy_floor" >"$work/oldest.log" 2>&1 &
oldest_pid=$!
run_one "${newest%% *}" "${newest#* }" "numpy" >"$work/newest.log" 2>&1 &
newest_pid=$!
status=0
wait "$oldest_pid" || status=1
wait "$newest_pid" || status=1
cat "$work/oldest.log" "$work/newest.log"
[ "$status" -eq 0 ] || fail "the wheel failed its tests (above)"
echo "== the wheel passed on Python ${oldest%% *} (NumPy $numpy_floor) and ${newest%% *} (newest NumPy)"
