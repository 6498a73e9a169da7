"""Shared fixtures: grading runs of pytest in a temporary folder, and the programs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from pytest_stages.container import NoBackendError, select_backend
from pytest_stages.explorer import CACHE_ENV, build_explorer

pytest_plugins = ["pytester"]

PROGRAMS = Path(__file__).resolve().parent / "programs"
"""Small runtimes that each make one known mistake, and one correct runtime."""


def _default_backend() -> str:
    """Pick the root or userns session container where one works, else none."""
    try:
        backend = select_backend("auto")
    except NoBackendError:
        return "none"
    return backend.name if backend.name in ("root", "userns") else "none"


BACKEND = os.environ.get("PYTEST_STAGES_TEST_BACKEND") or _default_backend()
"""The session container that every grading run in these tests uses.

By default the real one (root or userns) where this machine has it, so the
checks run as they do for a student; ``none`` runs the programs without a
container. Set PYTEST_STAGES_TEST_BACKEND to choose.
"""

RUN_TIMEOUT = 120  # seconds for one pytest run in a subprocess


@pytest.fixture(scope="session")
def explorer_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the explorer compiled once for every grading run of the session.

    pytester points HOME at a fresh folder for each test, so without this each
    run would compile the explorer again.
    """
    folder = tmp_path_factory.mktemp("explorer-cache")
    build_explorer(folder)
    return folder


class Grader:
    """Runs pytest in a subprocess in the pytester folder, as a student would."""

    def __init__(self, pytester: pytest.Pytester) -> None:
        self.pytester = pytester
        self.path = pytester.path

    def install(self, program: str, name: str = "your_program.sh") -> Path:
        """Copy a program of tests/programs into the folder, executable, as NAME."""
        target = self.path / name
        shutil.copyfile(PROGRAMS / program, target)
        target.chmod(0o755)
        return target

    def run(self, *args: str, backend: bool = True) -> pytest.RunResult:
        """Run ``python -m pytest ARGS``, with ``--stages-backend BACKEND`` if ``backend``."""
        options = ["-p", "no:cacheprovider"]
        if backend:
            options += ["--stages-backend", BACKEND]
        return self.pytester.runpytest_subprocess(*options, *args, timeout=RUN_TIMEOUT)


@pytest.fixture(autouse=True)
def same_output_as_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset CI and BUILD_NUMBER for the pytest runs the tests start.

    With either set, pytest prints each whole failure message again in its
    short summary, so the output the tests match would differ in CI.
    """
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("BUILD_NUMBER", raising=False)


@pytest.fixture
def grader(
    pytester: pytest.Pytester, explorer_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> Grader:
    """A temporary program folder and a way to grade what it holds."""
    monkeypatch.setenv(CACHE_ENV, str(explorer_cache))
    return Grader(pytester)


def backend_header() -> str:
    """Return the pattern of the header line that names the session container."""
    if BACKEND == "none":
        return "stages: session container: none (*--stages-backend none*)"
    return "stages: session container: *"
