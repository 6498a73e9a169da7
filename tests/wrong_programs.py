"""What the wrong-program tests share: the record of a mistake and its checks."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

STAGE_LINES = {
    1: "stage 1  exec *",
    2: "stage 2  stdio *",
    3: "stage 3  exit-codes *",
    4: "stage 4  chroot *",
    5: "stage 5  pid-namespace *",
    6: "stage 6  registry-pull *",
}


@dataclass(frozen=True)
class WrongProgram:
    """A wrong program and how the grading run must reject it."""

    program: str
    stage: int
    summary: str
    """Pattern of the failed stage's summary text, after ``failed``."""
    hint: list[str]
    """Phrases that the hint line written for the mistake must contain."""
    through: int | None = None
    """Grade stages 1 to ``through``; None grades the program's stage alone."""
    extra_options: tuple[str, ...] = ()

    @property
    def options(self) -> tuple[str, ...]:
        if self.through is None:
            selection = ("--only-stage", str(self.stage))
        else:
            selection = ("--stage", str(self.through))
        return (*selection, *self.extra_options)

    @property
    def graded_stages(self) -> list[int]:
        if self.through is None:
            return [self.stage]
        return list(range(1, self.through + 1))


def expected_summary(wrong: WrongProgram) -> list[str]:
    """Return the stage summary lines, in order, for a run that fails at its stage."""
    lines = []
    for number in wrong.graded_stages:
        pattern = STAGE_LINES[number]
        if number < wrong.stage:
            lines.append(f"{pattern} passed *")
        elif number == wrong.stage:
            lines.append(f"{pattern} failed * {wrong.summary}")
        else:
            lines.append(f"{pattern} not reached*")
    return [*lines, f"Next: fix stage {wrong.stage} (*)*"]


def assert_rejected(result: pytest.RunResult, wrong: WrongProgram) -> None:
    """Check that one check failed, at the right stage, with the mistake's hint."""
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert result.parseoutcomes()["failed"] == 1
    result.stdout.fnmatch_lines(["*= stages =*", *expected_summary(wrong)])
    stage_lines = [line for line in result.outlines if line.startswith("stage ")]
    assert len(stage_lines) == len(wrong.graded_stages)
    hints = [line for line in result.outlines if line.startswith("Hint:")]
    assert len(hints) == 1
    for words in wrong.hint:
        assert words in hints[0]
