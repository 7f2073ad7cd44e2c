"""Checks the release artefacts that scripts/build-wheel.sh leaves in dist/; exits non-zero on any fault.

Run with the build script's tool environment (auditwheel, and pyelftools, which auditwheel brings):

    python scripts/check_dist.py dist LICENSE

The wheel:
- one ``cp39-abi3`` wheel whose platform tags include ``manylinux_2_17_x86_64`` (manylinux2014);
- ``auditwheel show`` names a platform tag no newer than manylinux_2_17 (its report is read with its
  line breaks undone; a report in any other form fails rather than passes);
- independently of auditwheel, no extension module asks for a glibc symbol version above 2.17, and
  each is stripped (no ``.symtab``);
- LICENSE in ``.dist-info/licenses/``, byte for byte the repository's, and ``License-Expression: MIT``.

The sdist: LICENSE (the same bytes), what builds and tests the package, and none of the development
tooling that pyproject.toml's ``[tool.maturin] exclude`` leaves out.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection

# manylinux2014 = glibc 2.17 (PEP 599, PEP 600).
POLICY = (2, 17)
LEGACY_TAGS = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
# What the sdist needs to build and test; and what it must not carry.
SDIST_REQUIRED = [
    "Cargo.toml",
    "Cargo.lock",
    "pyproject.toml",
    "README.md",
    "LICENSE",
    "src/lib.rs",
    "python/fastbce/__init__.py",
    "python/fastbce/py.typed",
    "tests/conftest.py",
    "tests/kernels/main.rs",
    "tests/fixtures/torch-2.13/errors.json",
]
SDIST_FIXTURE_CASES = 603
SDIST_FORBIDDEN = (".ci/", ".github/", "benchmarks/", "docs/", "scripts/", "target/", "dist/")


def fail(message: str) -> None:
    print(f"check_dist: FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def glibc_of_tag(tag: str) -> tuple[int, int] | None:
    """The glibc version a manylinux platform tag stands for; None for any other tag."""
    m = re.fullmatch(r"manylinux_(\d+)_(\d+)_\w+", tag)
    if m:
        return int(m.group(1)), int(m.group(2))
    m = re.fullmatch(r"(manylinux1|manylinux2010|manylinux2014)_\w+", tag)
    if m:
        return LEGACY_TAGS[m.group(1)]
    return None


def check_tags(wheel: Path) -> None:
    name_parts = wheel.name[: -len(".whl")].split("-")
    python_tag, abi_tag, platform_tags = name_parts[-3:]
    if (python_tag, abi_tag) != ("cp39", "abi3"):
        fail(f"{wheel.name}: expected a cp39-abi3 wheel, got {python_tag}-{abi_tag}")
    if "manylinux_2_17_x86_64" not in platform_tags.split("."):
        fail(f"{wheel.name}: no manylinux_2_17_x86_64 platform tag")


def check_auditwheel(wheel: Path) -> str:
    auditwheel = Path(sys.executable).parent / "auditwheel"
    proc = subprocess.run([str(auditwheel), "show", str(wheel)], capture_output=True, text=True)
    report = proc.stdout + proc.stderr
    if proc.returncode != 0:
        fail(f"auditwheel show exited {proc.returncode}:\n{report}")
    # auditwheel wraps its sentences at any word, quoted tags included: undo the line breaks.
    text = " ".join(report.split())
    tags = re.findall(r'consistent with the following platform tag: "([^"]+)"', text)
    tags += re.findall(r'constrains the platform tag to "([^"]+)"', text)
    if not tags:
        fail(f"auditwheel show: no platform tag found in its report:\n{report}")
    for tag in tags:
        glibc = glibc_of_tag(tag)
        if glibc is None or glibc > POLICY:
            fail(f"auditwheel show: platform tag {tag!r} is not manylinux2014-compliant:\n{report}")
    return ", ".join(sorted(set(tags)))


def check_extensions(wheel: Path, workdir: Path) -> list[str]:
    """Each extension module's highest glibc symbol version, read from its ELF version needs."""
    found = []
    with zipfile.ZipFile(wheel) as zf:
        sos = [n for n in zf.namelist() if n.endswith(".so")]
        if not sos:
            fail(f"{wheel.name}: no extension module")
        for so in sos:
            path = workdir / Path(so).name
            path.write_bytes(zf.read(so))
            with open(path, "rb") as f:
                elf = ELFFile(f)
                if elf.get_section_by_name(".symtab") is not None:
                    fail(f"{so}: not stripped (has a .symtab)")
                versions = []
                for section in elf.iter_sections():
                    if isinstance(section, GNUVerNeedSection):
                        for _, auxiliaries in section.iter_versions():
                            for aux in auxiliaries:
                                m = re.fullmatch(r"GLIBC_(\d+)\.(\d+)(?:\.\d+)?", aux.name)
                                if m:
                                    versions.append((int(m.group(1)), int(m.group(2))))
            if not versions:
                fail(f"{so}: no GLIBC symbol versions found (not a glibc-linked extension?)")
            newest = max(versions)
            if newest > POLICY:
                fail(f"{so}: needs GLIBC_{newest[0]}.{newest[1]}, newer than manylinux2014's 2.17")
            size = path.stat().st_size
            found.append(f"{so} ({size:,} bytes, stripped, newest glibc GLIBC_{newest[0]}.{newest[1]})")
    return found


def check_wheel_license(wheel: Path, license_bytes: bytes) -> str:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        licenses = [n for n in names if re.fullmatch(r"[^/]+\.dist-info/licenses/LICENSE", n)]
        if len(licenses) != 1:
            fail(f"{wheel.name}: expected one .dist-info/licenses/LICENSE, found {licenses}")
        if zf.read(licenses[0]) != license_bytes:
            fail(f"{wheel.name}: {licenses[0]} differs from the repository's LICENSE")
        metadata = next(n for n in names if re.fullmatch(r"[^/]+\.dist-info/METADATA", n))
        if "License-Expression: MIT" not in zf.read(metadata).decode().splitlines():
            fail(f"{wheel.name}: METADATA has no 'License-Expression: MIT'")
    return licenses[0]


def check_sdist(sdist: Path, license_bytes: bytes) -> int:
    with tarfile.open(sdist) as tf:
        members = {m.name: m for m in tf.getmembers() if m.isfile()}
        roots = {name.split("/", 1)[0] for name in members}
        if len(roots) != 1:
            fail(f"{sdist.name}: expected one top-level folder, found {sorted(roots)}")
        root = roots.pop()
        relative = {name[len(root) + 1 :] for name in members}
        missing = [r for r in SDIST_REQUIRED if r not in relative]
        if missing:
            fail(f"{sdist.name}: missing {missing}")
        cases = [r for r in relative if re.fullmatch(r"tests/fixtures/torch-2\.13/case_\d{4}\.npz", r)]
        if len(cases) != SDIST_FIXTURE_CASES:
            fail(f"{sdist.name}: {len(cases)} recorded torch cases, expected {SDIST_FIXTURE_CASES}")
        extra = sorted(r for r in relative if r.startswith(SDIST_FORBIDDEN))
        if extra:
            fail(f"{sdist.name}: holds development files it should not: {extra[:10]}")
        license_member = tf.extractfile(members[f"{root}/LICENSE"])
        assert license_member is not None
        if license_member.read() != license_bytes:
            fail(f"{sdist.name}: LICENSE differs from the repository's")
    return len(relative)


def main() -> None:
    if len(sys.argv) != 3:
        fail("usage: check_dist.py DIST_DIR LICENSE")
    dist, license_path = Path(sys.argv[1]), Path(sys.argv[2])
    license_bytes = license_path.read_bytes()
    wheels = sorted(dist.glob("*.whl"))
    sdists = sorted(dist.glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        fail(f"expected one wheel and one sdist in {dist}, found {[p.name for p in wheels + sdists]}")
    wheel, sdist = wheels[0], sdists[0]

    check_tags(wheel)
    tags = check_auditwheel(wheel)
    workdir = dist / ".check"
    workdir.mkdir(exist_ok=True)
    try:
        extensions = check_extensions(wheel, workdir)
    finally:
        for p in workdir.iterdir():
            p.unlink()
        workdir.rmdir()
    license_name = check_wheel_license(wheel, license_bytes)
    sdist_files = check_sdist(sdist, license_bytes)

    print(f"wheel: {wheel.name} ({wheel.stat().st_size:,} bytes)")
    print(f"  auditwheel show: consistent with {tags}")
    for line in extensions:
        print(f"  {line}")
    print(f"  {license_name}")
    print(f"sdist: {sdist.name} ({sdist.stat().st_size:,} bytes, {sdist_files} files, LICENSE inside)")
    print("check_dist: OK")


if __name__ == "__main__":
    main()
