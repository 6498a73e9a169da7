"""Stage 7 graded by pytest-stages, with the pack registered as an installation does.

The grading runs use the session container (root or user namespace backend),
because a program without a UTS namespace would otherwise rename the machine.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

PACK = Path(__file__).resolve().parent.parent
PROGRAMS = Path(__file__).resolve().parent / "programs"
ENTRY_POINT = "[pytest_stages]\nuts = stages_uts\n"


@pytest.fixture
def grader(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """Return a function that grades a program with stage 7 and returns the result.

    The pack is put on PYTHONPATH with a dist-info folder that declares its
    entry point, which is what `pip install` leaves behind.
    """
    site = pytester.path / "site"
    info = site / "pytest_stages_uts-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: pytest-stages-uts\nVersion: 0.1.0\n"
    )
    (info / "entry_points.txt").write_text(ENTRY_POINT)
    monkeypatch.setenv("PYTHONPATH", f"{site}:{PACK}")

    def grade(program: str, *options: str) -> pytest.RunResult:
        return pytester.run(
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--only-stage",
            "7",
            "--program",
            program,
            *options,
            timeout=300,
        )

    return grade


def test_reference_solution_passes(grader) -> None:  # noqa: ANN001
    result = grader("python3 -m solution")

    result.stdout.fnmatch_lines(["stage 7  hostname * passed *2 checks*"])
    assert result.ret == 0


def test_program_without_uts_namespace_fails(grader, pytester: pytest.Pytester) -> None:  # noqa: ANN001
    shutil.copy(PROGRAMS / "skips_uts_namespace.sh", pytester.path)

    result = grader("./skips_uts_namespace.sh")

    result.stdout.fnmatch_lines(
        [
            "*Setting the host name inside the container renamed the host.*",
            "*Hint:*shares the host's UTS namespace*",
            "stage 7  hostname * failed *renamed the host*",
        ]
    )
    assert result.ret == 1


def test_without_container_is_refused(grader, pytester: pytest.Pytester) -> None:  # noqa: ANN001
    shutil.copy(PROGRAMS / "skips_uts_namespace.sh", pytester.path)
    before = socket.gethostname()

    result = grader("./skips_uts_namespace.sh", "--stages-backend", "none")

    result.stdout.fnmatch_lines(["*runs only inside the session container*"])
    assert result.ret != 0
    assert socket.gethostname() == before


def test_pyproject_registers_the_pack() -> None:
    tomllib = pytest.importorskip("tomllib", reason="tomllib is new in Python 3.11")
    project = tomllib.loads((PACK / "pyproject.toml").read_text())

    entry_points = project["project"]["entry-points"]["pytest_stages"]
    assert entry_points == {"uts": "stages_uts"}
    package_data = project["tool"]["setuptools"]["package-data"]["stages_uts"]
    assert "instructions/*.md" in package_data


def test_wheel_holds_the_stage_and_instructions(tmp_path: Path) -> None:
    if not _can_build_wheels():
        pytest.skip("building wheels needs the wheel package or setuptools 70.1+")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--wheel-dir",
            str(tmp_path),
            str(PACK),
        ],
        check=True,
        timeout=300,
    )

    (wheel,) = tmp_path.glob("pytest_stages_uts-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "stages_uts/stage7_hostname.py" in names
    assert "stages_uts/instructions/hostname.en.md" in names
    assert "stages_uts/instructions/hostname.ja.md" in names
    entry_points = next(name for name in names if name.endswith("entry_points.txt"))
    assert "uts = stages_uts" in zipfile.ZipFile(wheel).read(entry_points).decode()


def _can_build_wheels() -> bool:
    try:
        import wheel  # noqa: F401
    except ImportError:
        import setuptools

        major, minor = (int(part) for part in setuptools.__version__.split(".")[:2])
        return (major, minor) >= (70, 1)
    return True
