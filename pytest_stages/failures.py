"""Failures written for a student: what ran, what was expected, what came back."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from pytest_stages.runner import RunResult

PREFIX = "[your_program]"
STDERR_PREFIX = "[your_program:stderr]"
_SHOWN_LINES = 40


class CheckFailed(Exception):
    """Raised by a stage check; the plugin turns it into the failure report."""

    def __init__(
        self,
        summary: str,
        *,
        result: RunResult | None = None,
        expected: str,
        actual: str,
        hint: str | None = None,
    ) -> None:
        super().__init__(summary)
        self.failure = Failure(
            summary=summary,
            command=result.command_line if result else None,
            expected=expected,
            actual=actual,
            hint=hint,
        )


@dataclass(frozen=True)
class Failure:
    """The parts of a failed check, as shown to the student and written to reports."""

    summary: str
    command: str | None
    expected: str
    actual: str
    hint: str | None

    def render(self) -> str:
        """Return the failure as the text block pytest shows for the check."""
        lines = [self.summary, ""]
        if self.command:
            lines.append(_field("Command", self.command))
        lines.append(_field("Expected", self.expected))
        lines.append(_field("Got", self.actual))
        if self.hint:
            lines.append(_field("Hint", self.hint))
        return "\n".join(lines)

    def as_dict(self) -> dict[str, str | None]:
        return {
            "summary": self.summary,
            "command": self.command,
            "expected": self.expected,
            "actual": self.actual,
            "hint": self.hint,
        }


def _field(name: str, text: str) -> str:
    label = f"{name}:".ljust(10)
    body = textwrap.indent(text, " " * 10).lstrip()
    return label + body


def fail(
    summary: str,
    *,
    result: RunResult | None = None,
    expected: str,
    actual: str,
    hint: str | None = None,
) -> None:
    """Stop the check with a failure that the student can act on."""
    raise CheckFailed(
        summary, result=result, expected=expected, actual=actual, hint=hint
    )


def quote_output(data: bytes | str, max_lines: int = 12) -> str:
    """Show output for a message: quoted, escaped, and cut after ``max_lines`` lines."""
    text = data.decode("utf-8", "backslashreplace") if isinstance(data, bytes) else data
    if not text:
        return "(nothing)"
    lines = text.splitlines(keepends=True)
    shown = "".join(lines[:max_lines])
    rest = len(lines) - max_lines
    quoted = repr(shown)
    return quoted + (f" ... and {rest} more lines" if rest > 0 else "")


def format_run(result: RunResult) -> str:
    """Return one run as the transcript shows it: command, output lines, end."""
    lines = [f"$ {result.command_line}"]
    lines += _prefixed(result.stdout_text, PREFIX)
    lines += _prefixed(result.stderr_text, STDERR_PREFIX)
    end = result.describe_end()
    if result.leftover_processes:
        end += (
            f"; {result.leftover_processes} process(es) it started were still "
            "running and were killed"
        )
    lines.append(f"({end}, {result.duration:.2f} s)")
    return "\n".join(lines)


def _prefixed(text: str, prefix: str) -> list[str]:
    lines = text.splitlines()
    if len(lines) > _SHOWN_LINES:
        hidden = len(lines) - _SHOWN_LINES
        lines = lines[: _SHOWN_LINES // 2] + [f"... {hidden} lines not shown ..."]
        lines += text.splitlines()[-_SHOWN_LINES // 2 :]
    return [f"{prefix} {line}" for line in lines]
