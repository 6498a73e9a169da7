"""Command-line options and ini keys, and the settings resolved from them."""

from __future__ import annotations

import math
import os
import secrets
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_stages.runner import DEFAULT_TIMEOUT

DEFAULT_PROGRAMS = ("./your_program.sh", "./your_docker.sh")
BACKENDS = ("auto", "root", "userns", "docker", "podman", "none")
DEFAULT_IMAGE = "ubuntu:latest"

STAGE_HELP = "grade your program through stages 1 to N of the course (an integer)"
ONLY_STAGE_HELP = "grade only stage N, without the stages before it"
PROGRAM_HELP = (
    "the program to grade, as a command line such as './your_program.sh' or "
    "'python3 -m solution' (default: ./your_program.sh, else ./your_docker.sh)"
)
TIMEOUT_HELP = (
    f"seconds one run of the program may take before it is killed "
    f"(default {DEFAULT_TIMEOUT:g})"
)
SEED_HELP = "seed for the random values the checks use; the run header prints it"
BACKEND_HELP = (
    "where the graded session runs: auto, root, userns, docker, podman, or none "
    "(no container: only for debugging stages 1-3; default auto)"
)

REPORT_HELP = (
    "write a JSON report of the grading run to PATH at the end of the session "
    "(format: docs/reports.md)"
)
POINTS_HELP = (
    "points per stage, one 'STAGE=POINTS' a line, where STAGE is a number or a "
    "slug, such as '1=1' or 'exec=1' (default: the points each stage declares)"
)


REGISTRIES = ("hub", "docker.io")
REGISTRY_HELP = (
    "where the registry stage pulls images from: hub (the registry embedded in "
    "the session, offline; default) or docker.io (the real Docker Hub, which "
    "needs the internet)"
)


def add_options(parser: pytest.Parser) -> None:
    """Register the plugin's options and ini keys."""
    group = parser.getgroup("stages", "grading with pytest-stages")
    group.addoption("--stage", type=int, metavar="N", help=STAGE_HELP)
    group.addoption("--only-stage", type=int, metavar="N", help=ONLY_STAGE_HELP)
    group.addoption("--program", metavar="COMMAND", help=PROGRAM_HELP)
    group.addoption(
        "--stages-timeout", type=float, metavar="SECONDS", help=TIMEOUT_HELP
    )
    group.addoption("--stages-seed", type=int, metavar="SEED", help=SEED_HELP)
    group.addoption("--stages-backend", choices=BACKENDS, help=BACKEND_HELP)
    parser.addini("stages_program", PROGRAM_HELP)
    parser.addini("stages_timeout", TIMEOUT_HELP)
    parser.addini("stages_backend", BACKEND_HELP)
    group.addoption("--stages-report", metavar="PATH", help=REPORT_HELP)
    parser.addini("stages_report", REPORT_HELP)
    parser.addini("stages_points", POINTS_HELP, type="linelist")
    group.addoption("--registry", choices=REGISTRIES, help=REGISTRY_HELP)
    parser.addini("stages_registry", REGISTRY_HELP)


def is_grading_run(config: pytest.Config) -> bool:
    """Tell whether this run grades a program; without ``--stage`` the plugin is idle."""
    return (
        config.getoption("stage", None) is not None
        or config.getoption("only_stage", None) is not None
    )


@dataclass(frozen=True)
class Settings:
    """Everything that changes what a grading run does, resolved once per session."""

    program: tuple[str, ...]
    program_dir: Path
    highest_stage: int
    only: bool
    timeout: float
    seed: int
    backend: str
    registry: str = "hub"

    @property
    def program_label(self) -> str:
        return shlex.join(self.program)


def resolve_settings(config: pytest.Config) -> Settings:
    """Read the options and ini keys; raise ``pytest.UsageError`` on invalid values."""
    highest, only = _stage_selection(config)
    program, program_dir = _program(config)
    return Settings(
        program=program,
        program_dir=program_dir,
        highest_stage=highest,
        only=only,
        timeout=_timeout(config),
        seed=_seed(config),
        backend=_backend(config),
        registry=_registry(config),
    )


def _stage_selection(config: pytest.Config) -> tuple[int, bool]:
    stage = config.getoption("stage")
    only_stage = config.getoption("only_stage")
    if stage is not None and only_stage is not None:
        raise pytest.UsageError(
            "--stage and --only-stage were both given: use --stage N to grade "
            "stages 1 to N, or --only-stage N to grade stage N alone."
        )
    number = stage if stage is not None else only_stage
    option = "--stage" if stage is not None else "--only-stage"
    if number < 1:
        raise pytest.UsageError(
            f"{option} {number} is invalid: stages are numbered from 1."
        )
    return number, only_stage is not None


def _timeout(config: pytest.Config) -> float:
    value = config.getoption("stages_timeout")
    if value is None:
        raw = config.getini("stages_timeout")
        if not raw:
            return DEFAULT_TIMEOUT
        try:
            value = float(raw)
        except ValueError:
            raise pytest.UsageError(
                f"stages_timeout = {raw!r} in the ini file is invalid: "
                "give a number of seconds, such as 10."
            ) from None
    if not math.isfinite(value) or value <= 0:
        raise pytest.UsageError(
            f"timeout {value:g} is invalid: give a positive number of seconds."
        )
    return value


def _backend(config: pytest.Config) -> str:
    backend = config.getoption("stages_backend") or config.getini("stages_backend")
    if backend and backend not in BACKENDS:
        raise pytest.UsageError(
            f"stages_backend = {backend!r} in the ini file is invalid: "
            f"choose one of {', '.join(BACKENDS)}."
        )
    return backend or "auto"


def _registry(config: pytest.Config) -> str:
    registry = config.getoption("registry") or config.getini("stages_registry")
    if registry and registry not in REGISTRIES:
        raise pytest.UsageError(
            f"stages_registry = {registry!r} in the ini file is invalid: "
            f"choose one of {', '.join(REGISTRIES)}."
        )
    return registry or "hub"


def _seed(config: pytest.Config) -> int:
    seed = config.getoption("stages_seed")
    return seed if seed is not None else secrets.randbelow(10**6)


def _program(config: pytest.Config) -> tuple[tuple[str, ...], Path]:
    """Return the program's command line and the folder it runs in.

    A program from the ini file runs in the ini file's folder. Any other runs
    in the folder pytest was started in.
    """
    given = config.getoption("program")
    folder = config.invocation_params.dir
    if not given and config.getini("stages_program"):
        given = config.getini("stages_program")
        folder = config.inipath.parent if config.inipath else config.rootpath
    if not given:
        given = _default_program(folder)
    try:
        argv = tuple(shlex.split(given))
    except ValueError as error:
        raise pytest.UsageError(f"--program {given!r} is invalid: {error}.") from None
    if not argv:
        raise pytest.UsageError("--program is empty: name the program to grade.")
    _check_runnable(argv[0], folder)
    return argv, folder


def _default_program(folder: Path) -> str:
    for name in DEFAULT_PROGRAMS:
        if (folder / name).exists():
            return name
    raise pytest.UsageError(
        f"No program to grade: neither {' nor '.join(DEFAULT_PROGRAMS)} exists in "
        f"{folder}. Run pytest in the folder of your program, create "
        "your_program.sh there, or name it with --program COMMAND."
    )


def _check_runnable(executable: str, folder: Path) -> None:
    if "/" not in executable:
        if shutil.which(executable) is None:
            raise pytest.UsageError(
                f"The program {executable!r} was not found on PATH. Install it, "
                "or give a path such as ./your_program.sh with --program."
            )
        return
    path = folder / executable
    if not path.exists():
        raise pytest.UsageError(
            f"The program {executable} does not exist in {folder}. Check the "
            "name given with --program, or run pytest in your program's folder."
        )
    if path.is_dir() or not os.access(path, os.X_OK):
        raise pytest.UsageError(
            f"The program {path} is not executable. Make it executable with "
            f"`chmod +x {executable}` (and give it a first line such as "
            "#!/bin/sh)."
        )
