"""The lock files (requirements/*.txt, written by `make lock`) still meet every range in pyproject.toml.

`make install` and the Dockerfile install the pins without resolving anything, so a range edited in
pyproject.toml without `make lock` would otherwise go unnoticed until something breaks at run time.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^(?P<name>[A-Za-z0-9._-]+)==(?P<version>[^\s;\\]+)\s*(?:;\s*(?P<marker>[^\\]+?))?\s*\\?$")


def pins(lock: str) -> dict[str, Version]:
    """The version each package is pinned to for this interpreter and platform."""
    found: dict[str, Version] = {}
    for line in (ROOT / "requirements" / lock).read_text(encoding="utf-8").splitlines():
        match = PIN.match(line)
        if match is None:
            continue
        marker = match["marker"]
        if marker is None or Marker(marker).evaluate():
            found[canonicalize_name(match["name"])] = Version(match["version"])
    return found


def pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def unmet(requirements: list[str], locked: dict[str, Version]) -> list[str]:
    problems = []
    for text in requirements:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate():
            continue
        version = locked.get(canonicalize_name(req.name))
        if version is None:
            problems.append(f"{text}: not in the lock")
        elif not req.specifier.contains(version, prereleases=True):
            problems.append(f"{text}: locked at {version}")
    return problems


def test_the_runtime_lock_meets_every_dependency_range_in_pyproject() -> None:
    project = pyproject()["project"]
    assert isinstance(project, dict)
    assert unmet(project["dependencies"], pins("runtime.txt")) == [], "run `make lock`"


def test_the_dev_lock_meets_every_range_and_pins_the_runtime_packages_alike() -> None:
    project = pyproject()["project"]
    assert isinstance(project, dict)
    dev = pins("dev.txt")
    assert unmet(project["dependencies"] + project["optional-dependencies"]["dev"], dev) == [], (
        "run `make lock`"
    )
    differing = {name: (v, dev.get(name)) for name, v in pins("runtime.txt").items() if dev.get(name) != v}
    assert differing == {}


def test_the_tools_lock_meets_the_build_requirements_and_holds_uv() -> None:
    build = pyproject()["build-system"]
    assert isinstance(build, dict)
    tools = pins("tools.txt")
    assert unmet(build["requires"], tools) == [], "run `make lock`"
    assert {"pip", "uv"} <= set(tools)
