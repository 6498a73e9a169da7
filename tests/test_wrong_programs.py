"""Every stage rejects the wrong programs it exists to catch, with the hint for each.

Each program in tests/programs is a small runtime (``run IMAGE COMMAND
[ARG...]`` runs COMMAND with its ARGs) that makes one known mistake. It is
graded with ``--stage 3`` and must fail at the stage meant to catch the
mistake, with that stage's summary line and the hint written for the mistake.
"""

from __future__ import annotations

import pytest
from conftest import Grader
from wrong_programs import WrongProgram, assert_rejected

WRONG_PROGRAMS = [
    WrongProgram(
        "prints_something_else.sh",
        stage=1,
        through=3,
        summary="The command's output did not appear on stdout.",
        hint=["called as `run IMAGE COMMAND [ARG...]`", "run COMMAND"],
    ),
    WrongProgram(
        "joins_arguments.sh",
        stage=1,
        through=3,
        summary="The command did not get its arguments as they were given.",
        hint=["Pass the arguments as a list", "never join them into one string"],
    ),
    WrongProgram(
        "hangs.sh",
        stage=1,
        through=3,
        summary="Your program did not finish.",
        hint=["wait for something that never happens", "--stages-timeout"],
        extra_options=("--stages-timeout", "2"),
    ),
    WrongProgram(
        "merges_stderr.sh",
        stage=2,
        through=3,
        summary="The command's stderr appeared on stdout.",
        hint=["stderr was merged into stdout", "no 2>&1"],
    ),
    WrongProgram(
        "debug_line_on_stdout.sh",
        stage=2,
        through=3,
        summary="stdout is not exactly the command's output.",
        hint=["prints lines of its own on stdout", "debug output to stderr"],
    ),
    WrongProgram(
        "exits_early.sh",
        stage=2,
        through=3,
        # The long output may or may not outlast the program's pause; the
        # late output always does.
        summary="*output*",
        hint=[
            "exited while the command it started was still running",
            "Wait for the command to exit",
        ],
    ),
    WrongProgram(
        "always_exits_0.sh",
        stage=3,
        through=3,
        summary="Your program exited with 0, not the command's exit code *.",
        hint=["Your program always exits 0", "exit with the same number"],
    ),
    WrongProgram(
        "exits_1_on_failure.sh",
        stage=3,
        through=3,
        summary="Your program exited with 1, not the command's exit code *.",
        hint=["exits 1 whenever the command fails", "command's own exit code"],
    ),
    WrongProgram(
        "negative_returncode.py",
        stage=3,
        through=3,
        summary="The command was killed by signal 11 (SIGSEGV), but your program "
        "exited with 245.",
        hint=["a shell reports it as 128+N", "negative return code Python gives"],
    ),
]


@pytest.mark.parametrize(
    "wrong", WRONG_PROGRAMS, ids=[wrong.program for wrong in WRONG_PROGRAMS]
)
def test_stage_rejects_wrong_program(grader: Grader, wrong: WrongProgram) -> None:
    grader.install(wrong.program)

    result = grader.run(*wrong.options, "-q")

    assert_rejected(result, wrong)


def test_reference_solution_passes(grader: Grader) -> None:
    grader.install("solution_offline.sh")

    result = grader.run("--stage", "3", "-q")

    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=10)
    result.stdout.fnmatch_lines(
        [
            "*= stages =*",
            "stage 1  exec * passed *",
            "stage 2  stdio * passed *",
            "stage 3  exit-codes * passed *",
        ]
    )
