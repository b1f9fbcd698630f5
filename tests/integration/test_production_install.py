"""The production install has no devnet and runs on the locked runtime dependencies alone.

The fixture takes the steps of the Dockerfile's `production` target in a fresh virtualenv (no Docker
engine needed): `uv pip sync` of requirements/runtime.txt, then a wheel built from the source without
`devnet/`, installed by pip without dependencies.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tasks.processes import free_port
from tests.fixtures.services import REDIS_PORT

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TOOLS = Path(sys.executable).parent  # this virtualenv: uv, pip and setuptools from requirements/tools.txt
NO_DEVNET = "the devnet is not installed in this image; use the `devnet` image target"
DEVNET_ONLY = {"tasks.demo", "tasks.devnet_profile"}
ALEMBIC_ONLY = {"sweeper.ledger.migrations.env"}  # runs inside `alembic upgrade`, not on import
DESTINATION = "TNPeeaaFB7K9cmo4uQpcU32zGK8G1NYqeL"
IMPORT_ALL = """
import importlib, pkgutil, sys
import config, sweeper, tasks
for package in (config, sweeper, tasks):
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if module.name not in sys.argv[1:]:
            try:
                importlib.import_module(module.name)
            except ModuleNotFoundError as exc:
                print(module.name, exc.name)
"""


def _run(*args: str | Path) -> None:
    result = subprocess.run([str(a) for a in args], check=False, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{' '.join(map(str, args))}:\n{result.stderr}"


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv installed the way the production image is; its ``bin`` directory."""
    root = tmp_path_factory.mktemp("image")
    venv, src, dist = root / "venv", root / "src", root / "dist"
    python = venv / "bin" / "python"
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    _run(
        TOOLS / "uv", "pip", "sync", "--python", python, "--require-hashes", ROOT / "requirements/runtime.txt"
    )
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for package in ("config", "sweeper", "tasks"):
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    _run(TOOLS / "pip", "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", dist, src)
    pip = (sys.executable, "-m", "pip", "--python", python)
    _run(*pip, "install", "--no-deps", "--no-index", *dist.glob("*.whl"))
    _run(*pip, "check")
    return venv / "bin"


def _in_image(
    image: Path, tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command of the installed image from an empty directory, with only the given settings."""
    clean = {"PATH": f"{image}:/usr/bin:/bin", "HOME": str(tmp_path), "SWEEPER_ENERGY__ORDER": ""}
    clean.update(env or {})
    return subprocess.run(
        [str(image / args[0]), *args[1:]],
        check=False,
        cwd=tmp_path,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_production_install_holds_no_devnet_package(image: Path, tmp_path: Path) -> None:
    result = _in_image(image, tmp_path, "python", "-c", "import devnet")
    assert result.returncode == 1
    assert "No module named 'devnet'" in result.stderr


@pytest.mark.parametrize("command", ["devnet", "demo"])
def test_devnet_commands_say_in_one_line_that_this_image_has_no_devnet(
    image: Path, tmp_path: Path, command: str
) -> None:
    result = _in_image(image, tmp_path, "sweeper", command)
    assert result.returncode == 2
    assert result.stderr.strip() == NO_DEVNET
    assert result.stdout == ""


def test_every_production_module_imports_from_the_locked_runtime_dependencies(
    image: Path, tmp_path: Path
) -> None:
    settings = {"SWEEPER_DESTINATION": DESTINATION}
    result = _in_image(image, tmp_path, "python", "-c", IMPORT_ALL, *ALEMBIC_ONLY, env=settings)
    assert result.returncode == 0, result.stderr
    missing = dict(line.split() for line in result.stdout.splitlines())
    assert missing == dict.fromkeys(DEVNET_ONLY, "devnet")


def test_the_cli_answers_in_the_production_install(image: Path, tmp_path: Path) -> None:
    result = _in_image(image, tmp_path, "sweeper", "--help")
    assert result.returncode == 0
    assert "migrate" in result.stdout


def test_the_healthcheck_passes_while_ledger_and_broker_answer(image: Path, tmp_path: Path) -> None:
    settings = {
        "SWEEPER_DESTINATION": DESTINATION,
        "SWEEPER_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.sqlite3'}",
        "SWEEPER_BROKER_URL": f"redis://127.0.0.1:{REDIS_PORT}/9",
    }
    result = _in_image(image, tmp_path, "python", "-m", "tasks.healthcheck", env=settings)
    assert (result.returncode, result.stderr) == (0, "")


def test_the_healthcheck_names_what_does_not_answer_one_line_each(image: Path, tmp_path: Path) -> None:
    settings = {
        "SWEEPER_DESTINATION": DESTINATION,
        "SWEEPER_DATABASE_URL": f"postgresql+psycopg://sweeper:s3cr3t-pw@127.0.0.1:{free_port()}/sweeper",
        "SWEEPER_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0",
    }
    result = _in_image(image, tmp_path, "python", "-m", "tasks.healthcheck", env=settings)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert [line.split(":", 1)[0] for line in lines] == ["ledger unavailable", "broker unavailable"]
    assert "Traceback" not in result.stderr
    assert "s3cr3t-pw" not in result.stderr


def test_the_healthcheck_reports_invalid_settings_instead_of_a_traceback(image: Path, tmp_path: Path) -> None:
    result = _in_image(
        image, tmp_path, "python", "-m", "tasks.healthcheck", env={"SWEEPER_DESTINATION": "nope"}
    )
    assert result.returncode == 1
    assert result.stderr.startswith("invalid configuration: ")
    assert "Traceback" not in result.stderr
