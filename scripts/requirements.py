"""Prints, one per line, the requirements of fastbce and of the extras named on the command line,
as pyproject.toml declares them: what scripts/test.sh installs while the package itself builds
(pip can install an extra's dependencies only after building the package it belongs to)."""

import sys
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python < 3.11: the same parser, as pip carries it
    from pip._vendor import tomli as tomllib

project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"]
extras = project["optional-dependencies"]
unknown = [name for name in sys.argv[1:] if name not in extras]
if unknown:
    sys.exit(f"no such extra in pyproject.toml: {', '.join(unknown)}")
print("\n".join(project["dependencies"] + [r for name in sys.argv[1:] for r in extras[name]]))
