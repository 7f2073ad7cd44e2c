#!/usr/bin/env bash
# Runs the test suite against the fastbce that the `python` on PATH has installed (a wheel, with the
# package's test extra), from a copy of tests/ outside the source tree, so `import fastbce` can only
# find the installed package (checked first). scripts/test-wheel.sh (here) and
# .github/workflows/release.yml (on each platform's wheel) call it.
#
# The modules run (about 3,000 tests, about a minute): the recorded torch cases, the API, errors,
# the float64 reference, every path's bits, pipeline arguments, hardening (threads, a fork, memory),
# the hypothesis properties and the log-loss metrics. Left to scripts/test.sh, from the source tree:
# the mpmath ulp accuracy and the 300-child fork scenarios (test_accuracy.py, test_fork.py: a minute
# between them, and the same compiled code), and what needs an optional integration (LightGBM, Dask,
# data frames, the README's examples that use them).
set -euo pipefail
cd "$(dirname "$0")/.."

TESTS=(
    test_conformance.py test_api.py test_errors.py test_reference.py test_one_answer.py
    test_pipeline.py test_hardening.py test_properties.py test_metrics.py
)

suite=$(mktemp -d)
trap 'rm -rf "$suite"' EXIT
cp -R tests "$suite/tests"
rm -rf "$suite"/tests/__pycache__
# pytest's settings from pyproject.toml (warnings are errors), without the sources beside the tests.
grep -qx 'filterwarnings = \["error"\]' pyproject.toml ||
    { echo "run-wheel-tests.sh: pyproject.toml's pytest settings changed; update this script" >&2; exit 1; }
printf '[pytest]\ntestpaths = tests\nfilterwarnings = error\n' >"$suite/pytest.ini"

cd "$suite"
python - <<'EOF'
import sys
import sysconfig
from pathlib import Path

import fastbce
import numpy

where = Path(fastbce.__file__).resolve().parent
installed = {Path(sysconfig.get_paths()[k]).resolve() for k in ("purelib", "platlib")}
if where.parent not in installed:
    sys.exit(f"fastbce imported from {where}, not from the environment's site-packages {installed}")
print(
    f"fastbce {fastbce.__version__} from {where}; Python {sys.version.split()[0]}, "
    f"NumPy {numpy.__version__}, SIMD level {fastbce.simd_level()}"
)
EOF
# -rs: any skipped test is listed with its reason. The docstring check is source-level and needs
# Dask (scripts/test.sh runs it).
python -m pytest -q -rs -p no:cacheprovider "${TESTS[@]/#/tests/}" \
    --deselect tests/test_api.py::test_public_api_has_numpydoc_docstrings
