"""Stage 3: exit with the command's exit code."""

import signal

from pytest_stages import Stage, fail, load_instructions
from pytest_stages.checks import describe_stdout, require_finished

STAGE = Stage(
    number=3,
    slug="exit-codes",
    title="Pass the exit code",
    instructions=load_instructions(__file__, "exit-codes"),
)


def _exit_code_hint(got: int | None, expected: int) -> str | None:
    if got == 0:
        return (
            "Your program always exits 0. Wait for the command, read its exit "
            "status, and exit with the same number."
        )
    if got == 1 and expected not in (0, 1):
        return (
            "Your program exits 1 whenever the command fails. Exit with the "
            "command's own exit code instead."
        )
    return None


def test_passes_exit_codes(program, image, explorer, values) -> None:
    """Exits with the command's exit code, for several codes from 0 to 255."""
    codes = values.sample(range(1, 256), 4) + [0]

    for code in codes:
        result = program.run(image, [explorer, "exit", str(code)])

        require_finished(result)
        if result.exit_status != code:
            fail(
                f"Your program exited with {result.exit_status}, not the "
                f"command's exit code {code}.",
                result=result,
                expected=f"exit status {code}",
                actual=f"exit status {result.exit_status}; {describe_stdout(result)}",
                hint=_exit_code_hint(result.exit_status, code),
            )


def test_reports_a_signal_as_a_shell_does(program, image, explorer) -> None:
    """Exits with 128+N when a signal N kills the command, as a shell reports it."""
    expected = 128 + signal.SIGSEGV

    result = program.run(image, [explorer, "segfault"])

    require_finished(result)
    if result.exit_status == expected:
        return
    hint = (
        "A command killed by signal N has no exit code of its own; a shell "
        "reports it as 128+N, and so should your program."
    )
    if result.exit_status == 256 - signal.SIGSEGV:
        hint += (
            " Your program exited with the negative return code Python gives "
            "(-11), which the system turns into 245."
        )
    elif result.returncode is not None and result.returncode < 0:
        hint += " Your program itself was killed by the same signal instead."
    fail(
        f"The command was killed by signal {signal.SIGSEGV} (SIGSEGV), but your "
        f"program exited with {result.exit_status}.",
        result=result,
        expected=f"exit status {expected} (128 + {signal.SIGSEGV})",
        actual=f"exit status {result.exit_status}",
        hint=hint,
    )
