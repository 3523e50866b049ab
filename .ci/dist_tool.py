"""Helpers for the CI stages that install the built wheel: its requirements, and checks of the artifacts.

``python .ci/dist_tool.py requirements WHEEL EXTRA...`` prints the wheel's requirements (unconditional ones and
those of the named extras), one per line, for ``uv pip install -r`` (so they are *direct* requirements, which
``--resolution lowest-direct`` lowers). ``names`` prints only their project names. ``check WHEEL SDIST`` checks
the licence files, the SPDX expression and the sdist's chosen contents. ``floors REQUIREMENTS_FILE``, run with
the venv's Python after a lowest-direct install, checks that every ``>=`` floor is the version installed.
"""

from __future__ import annotations

import re
import sys
import tarfile
import zipfile
from email.message import Message
from email.parser import Parser
from pathlib import Path


def metadata(wheel: str) -> Message:
    """The wheel's core metadata (``*.dist-info/METADATA``)."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return Parser().parsestr(archive.read(name).decode())


def requirements(wheel: str, extras: list[str]) -> list[str]:
    """Unconditional requirements plus those of ``extras`` (self-references to the package are left out)."""
    meta = metadata(wheel)
    own = str(meta["Name"]).lower()
    wanted = {f'extra == "{extra}"' for extra in extras}
    result = []
    for requirement in meta.get_all("Requires-Dist") or []:
        spec, _, marker = (part.strip() for part in requirement.partition(";"))
        if spec.lower().startswith(own):
            continue
        if not marker or marker in wanted:
            result.append(spec)
    return result


def check(wheel: str, sdist: str) -> list[str]:
    """Problems with the built artifacts (an empty list when they are as intended)."""
    problems = []
    meta = metadata(wheel)
    if meta["License-Expression"] != "Apache-2.0":
        problems.append(f"wheel metadata License-Expression is {meta['License-Expression']!r}, not 'Apache-2.0'")
    if any(c.startswith("License ::") for c in meta.get_all("Classifier") or []):
        problems.append("a licence classifier is declared next to the SPDX expression")
    if not meta.get_all("Project-URL"):
        problems.append("no Project-URL in the wheel metadata")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    for licence in ("LICENSE", "NOTICE"):
        if not any(n.endswith(f".dist-info/licenses/{licence}") for n in names):
            problems.append(f"{licence} is not in the wheel")
    if any(n.startswith("tests/") for n in names):
        problems.append("the wheel ships tests/")
    with tarfile.open(sdist) as archive:
        members = [m.name.split("/", 1)[1] for m in archive.getmembers() if "/" in m.name]
    for licence in ("LICENSE", "NOTICE"):
        if licence not in members:
            problems.append(f"{licence} is not in the sdist")
    stray = [m for m in members if re.match(r"(tests|\.ci|scripts)/", m)]
    if stray:
        problems.append(f"the sdist ships files it should not (tests need the whole repository): {stray[:5]}")
    return problems


def floors(requirements_file: str) -> list[str]:
    """Requirements whose installed version is not their declared floor (run with the venv's Python)."""
    import importlib.metadata

    from packaging.requirements import Requirement
    from packaging.version import Version

    problems = []
    for line in Path(requirements_file).read_text().splitlines():
        requirement = Requirement(line)
        floor = next((Version(s.version) for s in requirement.specifier if s.operator == ">="), None)
        if floor is None:
            continue
        installed = Version(importlib.metadata.version(requirement.name))
        if installed != floor:
            problems.append(f"{requirement.name}: declared >={floor}, lowest-direct installed {installed}")
    return problems


def main(argv: list[str]) -> int:
    """Command-line entry point (see the module docstring)."""
    command, wheel, *rest = argv
    if command == "floors":
        problems = floors(wheel)
        for problem in problems:
            sys.stderr.write(f"floor is not a fact: {problem} (raise the floor in setup.cfg)\n")
        return 1 if problems else 0
    if command == "requirements":
        sys.stdout.write("".join(f"{spec}\n" for spec in requirements(wheel, rest)))
    elif command == "names":
        names = (re.split(r"[<>=!~ \[;]", spec, maxsplit=1)[0] for spec in requirements(wheel, rest))
        sys.stdout.write("".join(f"{name}\n" for name in names))
    elif command == "check":
        problems = check(wheel, rest[0])
        for problem in problems:
            sys.stderr.write(f"dist check: {problem}\n")
        return 1 if problems else 0
    else:
        sys.stderr.write(f"unknown command {command!r} (requirements, names, check)\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
