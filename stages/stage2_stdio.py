"""Stage 2: pass the command's stdout and stderr through, each to its own stream."""

from pytest_stages import Stage, fail, load_instructions, quote_output
from pytest_stages.checks import (
    debug_lines,
    describe_stdout,
    exited_early_hint,
    require_finished,
)

STAGE = Stage(
    number=2,
    slug="stdio",
    title="Wire stdout and stderr",
    instructions=load_instructions(__file__, "stdio"),
)

MERGED_HINT = (
    "stderr was merged into stdout. Give the command your program's stderr as "
    "its stderr; do not redirect it to stdout (no 2>&1, no stderr=STDOUT)."
)
DEBUG_HINT = (
    "Your program prints lines of its own on stdout. stdout belongs to the "
    "command: print your own messages and debug output to stderr."
)


def _value(values, kind: str) -> str:  # noqa: ANN001
    return f"{kind}-{values.randrange(16**8):08x}"


def test_stdout_is_exactly_the_commands(program, image, explorer, values) -> None:
    """Prints exactly what the command printed on stdout, nothing more."""
    value = _value(values, "out")

    result = program.run(image, [explorer, "echo", value])

    require_finished(result)
    if result.stdout_text == f"{value}\n":
        return
    extra = debug_lines(result.stdout_text, value)
    fail(
        "stdout is not exactly the command's output.",
        result=result,
        expected=f"stdout {value + chr(10)!r}",
        actual=describe_stdout(result),
        hint=DEBUG_HINT if value in result.stdout_text and extra else None,
    )


def test_stderr_arrives_on_stderr(program, image, explorer, values) -> None:
    """Passes the command's stderr to stderr, whole, and keeps it out of stdout."""
    value = _value(values, "err")

    result = program.run(image, [explorer, "echo_stderr", value])

    require_finished(result)
    if value in result.stdout_text:
        fail(
            "The command's stderr appeared on stdout.",
            result=result,
            expected=f"{value!r} on stderr only",
            actual=describe_stdout(result),
            hint=MERGED_HINT,
        )
    if f"{value}\n" not in result.stderr_text.splitlines(keepends=True):
        fail(
            "The command's stderr line did not arrive whole on stderr.",
            result=result,
            expected=f"a line {value!r} on stderr",
            actual=describe_stdout(result),
            hint="Pass the command's stderr through unchanged.",
        )


def test_stdout_stays_off_stderr(program, image, explorer, values) -> None:
    """Keeps the command's stdout off stderr."""
    value = _value(values, "out")

    result = program.run(image, [explorer, "echo", value])

    require_finished(result)
    if value in result.stderr_text:
        fail(
            "The command's stdout appeared on stderr.",
            result=result,
            expected=f"{value!r} on stdout only",
            actual=describe_stdout(result),
            hint="Give the command your program's stdout as its stdout, not stderr.",
        )


def test_large_output_arrives_whole(program, image, explorer, values) -> None:
    """Passes output much larger than a pipe buffer, whole and in order."""
    prefix = _value(values, "line")
    count = values.randrange(15000, 25000)
    expected = "".join(f"{prefix}-{n}\n" for n in range(1, count + 1))

    result = program.run(image, [explorer, "lines", prefix, str(count)])

    require_finished(result)
    if result.stdout_text == expected:
        return
    got = result.stdout_text.splitlines()
    fail(
        "Long output did not arrive whole and in order.",
        result=result,
        expected=f"{count} lines {prefix}-1 to {prefix}-{count} ({len(expected)} bytes)",
        actual=f"{len(got)} lines ({len(result.stdout)} bytes), starting "
        f"{quote_output(chr(10).join(got[:3]))}",
        hint=exited_early_hint(result)
        or (DEBUG_HINT if len(got) > count else None)
        or (
            "Output is missing. If your program reads the command's output "
            "through a pipe, read until end of file and flush your own stdout "
            "before exiting; simpler still, let the command inherit stdout."
        ),
    )


def test_waits_for_late_output(program, image, explorer, values) -> None:
    """Waits for a command that prints only after a pause."""
    value = _value(values, "late")

    result = program.run(image, [explorer, "sleep_then_echo", "0.5", value])

    require_finished(result)
    if value not in result.stdout_text:
        fail(
            "The output the command printed after a pause was lost.",
            result=result,
            expected=f"stdout to contain {value!r}",
            actual=describe_stdout(result),
            hint=exited_early_hint(result)
            or "Wait for the command to exit before your program exits.",
        )
