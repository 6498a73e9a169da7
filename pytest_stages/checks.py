"""Diagnoses shared by the stage checks: a run that never ended, output in pieces."""

from __future__ import annotations

from pytest_stages.failures import fail, quote_output
from pytest_stages.runner import OUTPUT_LIMIT, RunResult


def require_finished(result: RunResult) -> None:
    """Fail unless the program exited by itself within the time and output limits."""
    if result.timed_out:
        fail(
            "Your program did not finish.",
            result=result,
            expected=f"it exits within {result.timeout:g} s",
            actual=f"still running after {result.timeout:g} s, so it was killed",
            hint=(
                "Does it wait for something that never happens, such as input? "
                "It gets no input: its stdin is /dev/null. Does it wait for the "
                "command's output streams after the command has exited? Give a "
                "longer limit with --stages-timeout if your program is only slow."
            ),
        )
    if result.output_limit_hit:
        fail(
            "Your program printed too much.",
            result=result,
            expected=f"at most {OUTPUT_LIMIT // 1024} KiB on each stream",
            actual=f"more than {OUTPUT_LIMIT // 1024} KiB, so it was killed",
            hint="Does it print in a loop, or print the command's output more than once?",
        )


def exited_early_hint(result: RunResult) -> str | None:
    """Explain lost output when the program left its command running."""
    if result.leftover_processes:
        return (
            "Your program exited while the command it started was still running, "
            "so the command's output was cut off. Wait for the command to exit "
            "(waitpid, Popen.wait, cmd.Wait) before your program exits."
        )
    return None


def debug_lines(stdout: str, expected: str) -> list[str]:
    """Return the stdout lines that are not part of the command's output."""
    expected_lines = set(expected.splitlines())
    return [line for line in stdout.splitlines() if line not in expected_lines]


def describe_stdout(result: RunResult) -> str:
    return f"stdout {quote_output(result.stdout)}, stderr {quote_output(result.stderr)}"
