"""The starter projects build with Debian's toolchains and grade as documented.

Each starter must fail stage 1 with the expected first failure, as its
README says, and pass stage 1 after the edit its README describes. A
missing toolchain skips that language, unless PYTEST_STAGES_REQUIRE_PEERS=1
turns the skip into a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_stages import starters

REQUIRE_PEERS_VARIABLE = "PYTEST_STAGES_REQUIRE_PEERS"
BUILD_TIMEOUT = 300  # seconds; a first Rust or Nim build on a busy machine


@dataclass(frozen=True)
class Starter:
    """A starter language, its toolchain and the edit that solves stage 1."""

    language: str
    tool: str
    package: str
    source: str
    start: str
    """The first line of the TODO block in the source file."""
    end: str
    """The last line of the TODO block."""
    stage1: str
    imports: tuple[tuple[str, str], ...]


STARTERS = [
    Starter(
        "python",
        "python3",
        "python3",
        "app/main.py",
        "    # Stage 1:",
        "    return 1\n",
        "    completed = subprocess.run([command, *arguments])\n"
        "    return completed.returncode\n",
        (("import sys\n", "import subprocess\nimport sys\n"),),
    ),
    Starter(
        "c",
        "cc",
        "gcc",
        "src/main.c",
        "    /*\n     * Stage 1:",
        "    return 1;\n",
        "    (void)image;\n"
        "    pid_t child = fork();\n"
        "    if (child == 0) {\n"
        "        execvp(command[0], command);\n"
        "        _exit(127);\n"
        "    }\n"
        "    int status;\n"
        "    waitpid(child, &status, 0);\n"
        "    return 0;\n",
        (
            (
                "#include <string.h>\n",
                "#include <string.h>\n#include <sys/wait.h>\n#include <unistd.h>\n",
            ),
        ),
    ),
    Starter(
        "go",
        "go",
        "golang-go",
        "app/main.go",
        "\t// Stage 1:",
        "\tos.Exit(1)\n",
        "\t_ = image\n"
        "\tcmd := exec.Command(command, arguments...)\n"
        "\tcmd.Stdout = os.Stdout\n"
        "\tcmd.Stderr = os.Stderr\n"
        "\tif err := cmd.Run(); err != nil {\n"
        '\t\tfmt.Fprintln(os.Stderr, "your_program:", err)\n'
        "\t}\n",
        (('\t"os"\n', '\t"os"\n\t"os/exec"\n'),),
    ),
    Starter(
        "rust",
        "cargo",
        "cargo",
        "src/main.rs",
        "    // Stage 1:",
        "    ExitCode::from(1)\n",
        "    let _ = image;\n"
        "    match Command::new(command).args(arguments).status() {\n"
        "        Ok(_) => ExitCode::SUCCESS,\n"
        "        Err(_) => ExitCode::from(1),\n"
        "    }\n",
        (
            (
                "use std::process::ExitCode;\n",
                "use std::process::{Command, ExitCode};\n",
            ),
        ),
    ),
    Starter(
        "nim",
        "nim",
        "nim",
        "src/main.nim",
        "  # Stage 1:",
        "  return 1\n",
        "  discard image\n"
        "  let process = startProcess(command, args = arguments, "
        "options = {poParentStreams})\n"
        "  result = process.waitForExit()\n"
        "  process.close()\n",
        (("import std/os\n", "import std/os\nimport std/osproc\n"),),
    ),
]
BY_LANGUAGE = {starter.language: starter for starter in STARTERS}


def require_toolchain(starter: Starter) -> None:
    """Skip (or, with PYTEST_STAGES_REQUIRE_PEERS=1, fail) without the toolchain."""
    if shutil.which(starter.tool):
        return
    message = f"{starter.tool} is missing: install the Debian package {starter.package}"
    if os.environ.get(REQUIRE_PEERS_VARIABLE) == "1":
        pytest.fail(f"{message} ({REQUIRE_PEERS_VARIABLE}=1 requires every toolchain)")
    pytest.skip(message)


@pytest.fixture(params=[starter.language for starter in STARTERS])
def project(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Starter, Path]:
    """A fresh starter project of each language, with its toolchain present."""
    starter = BY_LANGUAGE[request.param]
    require_toolchain(starter)
    return starter, starters.create(starter.language, tmp_path / "project")


def run_program(folder: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["./your_program.sh", *arguments],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )


def grade_stage_1(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--stage",
            "1",
            "--stages-backend",
            "none",
            "-p",
            "no:cacheprovider",
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )


def solve_stage_1(starter: Starter, folder: Path) -> None:
    """Replace the TODO block of the starter with the edit its README describes."""
    path = folder / starter.source
    text = path.read_text()
    start = text.index(starter.start)
    end = text.index(starter.end, start) + len(starter.end)
    text = text[:start] + starter.stage1 + text[end:]
    for old, new in starter.imports:
        assert old in text
        text = text.replace(old, new, 1)
    path.write_text(text)


def test_every_language_has_a_starter() -> None:
    assert sorted(BY_LANGUAGE) == sorted(starters.LANGUAGES)


def test_starter_files(project: tuple[Starter, Path]) -> None:
    starter, folder = project

    script = folder / "your_program.sh"

    assert os.access(script, os.X_OK)
    assert script.read_text().startswith("#!/bin/sh\n")
    assert (folder / starter.source).is_file()
    assert (folder / "README.md").is_file()
    assert (folder / ".gitignore").is_file()
    assert not list(folder.rglob("__pycache__"))


def test_starter_builds_and_stops_at_todo(project: tuple[Starter, Path]) -> None:
    starter, folder = project

    result = run_program(folder, "run", "ubuntu:latest", "/bin/echo", "a  b", "c")

    assert result.stdout == ""
    assert result.returncode == 1
    assert "TODO" in result.stderr
    assert starter.source in result.stderr


def test_starter_rejects_other_arguments(project: tuple[Starter, Path]) -> None:
    _, folder = project

    for arguments in ([], ["run"], ["run", "ubuntu:latest"], ["pull", "a", "b"]):
        result = run_program(folder, *arguments)

        assert result.returncode == 2, arguments
        assert result.stdout == ""
        assert "usage: your_program.sh run IMAGE COMMAND [ARG...]" in result.stderr


def test_starter_fails_stage_1_as_documented(project: tuple[Starter, Path]) -> None:
    _, folder = project
    readme = (folder / "README.md").read_text()

    result = grade_stage_1(folder)

    summary = "The command's output did not appear on stdout."
    assert summary in readme
    assert f"stage 1  exec           failed       {summary}" in result.stdout
    assert (
        "Hint:     Your program is called as `run IMAGE COMMAND [ARG...]`"
        in result.stdout
    )
    assert result.returncode == 1


def test_starter_passes_stage_1_once_solved(project: tuple[Starter, Path]) -> None:
    starter, folder = project
    solve_stage_1(starter, folder)

    result = grade_stage_1(folder)

    assert "stage 1  exec           passed" in result.stdout, result.stdout
    assert result.returncode == 0


def test_build_errors_go_to_stderr(project: tuple[Starter, Path]) -> None:
    starter, folder = project
    if starter.language == "python":
        pytest.skip("the Python starter has no build step")
    source = folder / starter.source
    source.write_text(source.read_text() + "\nthis is not valid source code\n")

    result = run_program(folder, "run", "ubuntu:latest", "/bin/true")

    assert result.returncode != 0
    assert result.stdout == ""
    assert result.stderr.strip()
