"""The type checks of the public API, run by CI (.ci/run) once mypy is installed, with fastbce
importable (installed, or on PYTHONPATH):

- tests/typing/usage.py passes ``mypy --strict`` (its ``assert_type`` calls are what mypy must
  infer);
- tests/typing/misuse.py fails mypy with an error on each line marked ``# E: <error code>``, of
  that code, and on no other line.

Exits non-zero, saying what differs, otherwise.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ERROR = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+): error: .*\[(?P<code>[a-z-]+)\]$")
EXPECTED = re.compile(r"# E: (?P<code>[a-z-]+)\s*$")


def mypy(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mypy", "--no-error-summary", "--hide-error-context", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=HERE.parent.parent)


def errors(output: str, path: Path) -> set[tuple[int, str]]:
    found = set()
    for line in output.splitlines():
        match = ERROR.match(line)
        if match and Path(match["path"]).resolve() == path:
            found.add((int(match["line"]), match["code"]))
    return found


def expected(path: Path) -> set[tuple[int, str]]:
    marks = set()
    for number, text in enumerate(path.read_text().splitlines(), start=1):
        match = EXPECTED.search(text)
        if match:
            marks.add((number, match["code"]))
    return marks


def main() -> int:
    failed = False
    usage = HERE / "usage.py"
    result = mypy("--strict", str(usage))
    if result.returncode != 0:
        print(f"mypy --strict {usage.name} failed:\n{result.stdout}{result.stderr}")
        failed = True

    misuse = HERE / "misuse.py"
    want = expected(misuse)
    result = mypy(str(misuse))
    got = errors(result.stdout, misuse)
    if result.returncode != 1 or not want or got != want:
        print(f"mypy {misuse.name}: the errors are not the marked ones (exit {result.returncode})")
        for line, code in sorted(want - got):
            print(f"  line {line}: expected [{code}], not reported")
        for line, code in sorted(got - want):
            print(f"  line {line}: reported [{code}], not marked")
        if result.stderr or not got:
            print(result.stdout + result.stderr)
        failed = True

    if not failed:
        print(f"typing: {usage.name} passes mypy --strict; {misuse.name} fails on its {len(want)} lines")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
